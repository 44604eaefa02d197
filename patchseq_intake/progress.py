"""Progress bars for long transfers: shown in a terminal or notebook, silent otherwise."""

from __future__ import annotations

from tqdm.auto import tqdm


def progress_bar(total_bytes: int | None, label: str) -> tqdm:
    """A byte-counting bar, disabled automatically when output is not interactive."""
    return tqdm(
        total=total_bytes,
        desc=label,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        disable=None,
        leave=False,
    )
