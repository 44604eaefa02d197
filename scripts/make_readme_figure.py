"""Regenerate ``docs/sweep.png``, the README's picture of a sweep, from the demo data.

It starts the local replica of the release (``patchseq_intake.testing.world``)
with a throw-away cache, reads a supra-threshold long square sweep of a demo
cell and saves its plot. Needs the ``plot`` extra. Run from anywhere:

    python scripts/make_readme_figure.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import matplotlib

from patchseq_intake import open_catalog
from patchseq_intake.nwb.sweep import Sweep, plot_sweep
from patchseq_intake.testing.world import build_world

OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "sweep.png"
ARCHIVE = "human"
SPECIMEN_ID = 541549258
DPI = 150


def main() -> None:
    """Plot the demo cell's first supra-threshold long square into ``OUTPUT``."""
    matplotlib.use("Agg")
    with tempfile.TemporaryDirectory(prefix="patchseq-figure-") as scratch:
        world = build_world(Path(scratch) / "files")
        try:
            with world.active(cache=Path(scratch) / "cache"):
                sweep = suprathreshold_sweep()
        finally:
            world.stop()
    figure = plot_sweep(sweep)
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(OUTPUT, dpi=DPI)
    print(f"wrote {OUTPUT}: {sweep}")


def suprathreshold_sweep() -> Sweep:
    """The first long square above rheobase (stimulus code ``*SupraThresh``) of the demo cell."""
    source = open_catalog()[ARCHIVE].ephys(specimen_id=SPECIMEN_ID)
    table = source.read()
    chosen = table[(table["stimulus_name"] == "Long Square") & table["stimulus_code"].str.contains("SupraThresh")]
    return source.sweep(int(chosen["sweep_number"].iloc[0]))


if __name__ == "__main__":
    main()
