"""How the NWB files are reached: the ``access`` parameter, and where their indexes are shared (``index_store``)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import AccessError

ACCESS_MODES = ("download", "stream", "local")


@dataclass(frozen=True)
class Access:
    """An access mode (see ``opening``), for ``local`` the directory holding the dandisets, and the index store.

    ``index_store``: the URL of a store of files' indexes shared beyond this
    cache (see ``index_store``); None or empty: ``$PATCHSEQ_INTAKE_INDEX_STORE``'s,
    if set. A plain relative path is made absolute when the ``Access`` is made,
    in the caller's process (``index_store.located``): it travels with the access
    mode, to Dask's workers too (an ``Access`` is pickled to them, not made
    again), and names the same folder there whatever their working directory.
    ``AccessError`` naming ``index_store`` for a plain path with ``//`` (a mistyped URL).
    """

    mode: str
    root: str | None = None
    index_store: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in ACCESS_MODES:
            raise AccessError(f"unknown access {self.mode!r}; use one of {', '.join(ACCESS_MODES)}")
        if self.index_store is not None:
            from .index_store import located

            try:
                store = located(self.index_store)
            except ValueError as exc:
                raise AccessError(f"index_store={self.index_store!r}: {exc}") from None
            object.__setattr__(self, "index_store", store or None)
