"""How the NWB files are reached: the ``access`` parameter."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import AccessError

ACCESS_MODES = ("download", "stream", "local")


@dataclass(frozen=True)
class Access:
    """An access mode (see ``opening``) and, for ``local``, the directory holding the dandisets."""

    mode: str
    root: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in ACCESS_MODES:
            raise AccessError(f"unknown access {self.mode!r}; use one of {', '.join(ACCESS_MODES)}")
