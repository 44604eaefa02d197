"""How the NWB files of one dandiset version are reached: the ``access`` parameter."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import AccessError

ACCESS_MODES = ("download", "stream", "local")


@dataclass(frozen=True)
class Access:
    """An access mode (see ``nwb_access``) and the dandiset version it reads from."""

    mode: str
    dandiset: str
    version: str
    root: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in ACCESS_MODES:
            raise AccessError(f"unknown access {self.mode!r}; use one of {', '.join(ACCESS_MODES)}")
