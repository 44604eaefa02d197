"""Progress bars for long transfers: shown in a terminal or notebook, silent otherwise."""

from __future__ import annotations

import sys

from tqdm.auto import tqdm


def interactive() -> bool:
    """True when someone is watching: stderr is a terminal, or this runs in a Jupyter kernel."""
    stderr_is_terminal = bool(getattr(sys.stderr, "isatty", lambda: False)())
    return stderr_is_terminal or "ipykernel" in sys.modules


def progress_bar(total_bytes: int | None, label: str) -> tqdm:
    """A byte-counting bar, disabled when nobody is watching (see ``interactive``)."""
    return tqdm(
        total=total_bytes,
        desc=label,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        disable=not interactive(),
        leave=False,
        file=sys.stderr,
    )


def count_bar(total: int, label: str, unit: str) -> tqdm:
    """A bar counting ``total`` items of ``unit`` (cells, files), disabled when nobody is watching."""
    return tqdm(total=total, desc=label, unit=unit, disable=not interactive(), leave=False, file=sys.stderr)
