"""The offline walk-through: the main job against a local replica of the release.

It starts a stand-in for DANDI and the release tables on 127.0.0.1 (see
``patchseq_intake.testing.world``), points the shipped catalog at it with a
throw-away cache, and goes from a metadata filter to a sweep, printing what it
finds at each step.
"""

from __future__ import annotations

import tempfile
from pathlib import Path


def run_demo(print_=print) -> None:
    """Run the walk-through, printing each step."""
    from .testing.world import build_world

    with tempfile.TemporaryDirectory(prefix="patchseq-demo-") as scratch:
        print_("Starting a local replica of DANDI and the release tables on 127.0.0.1 ...")
        world = build_world(Path(scratch) / "files")
        try:
            with world.active(cache=Path(scratch) / "cache"):
                _walk_through(print_)
        finally:
            world.stop()


def _walk_through(print_) -> None:
    import pandas as pd

    from .catalog import open_catalog

    pd.set_option("display.width", 120)
    cat = open_catalog()
    print_(f"\nCatalog {cat.name}: archives {list(cat)}; entries of mouse: {list(cat.mouse)}")

    filters = [["structure", "==", "VISp5"], ["dendrite_type", "==", "aspiny"]]
    print_(f"\n1. Filter the mouse cells: cat.mouse.metadata(filters={filters}).read()")
    cells = cat.mouse.metadata(filters=filters, columns=["cell_specimen_id", "structure", "dendrite_type", "age_days"]).read()
    print_(cells.to_string(index=False))

    specimen_id = int(cells["cell_specimen_id"].iloc[0])
    source = cat.mouse.ephys(specimen_id=specimen_id)
    cell = source.cells[0]
    print_(f"\n2. Resolve cell {specimen_id} through the manifest: cat.mouse.ephys(specimen_id={specimen_id})")
    print_(f"   NWB file {cell.file_name} ({cell.size / 1e6:.1f} MB), DANDI path {cell.dandi_path}")
    print_(f"   in dandiset {source.access.dandiset} version {source.access.version}, sha256 {cell.sha256[:16]}...")

    print_("\n3. Its sweep table: source.read()  (downloads and verifies the file once)")
    sweeps = source.read()
    print_(sweeps[["sweep_number", "stimulus_code", "stimulus_name", "clamp_mode", "sampling_rate", "duration"]].to_string(index=False))

    long_squares = sweeps[sweeps["stimulus_name"] == "Long Square"]
    number = int(long_squares["sweep_number"].iloc[0])
    print_(f"\n4. One long-square sweep: source.sweep({number})")
    sweep = source.sweep(number)
    print_(f"   {sweep}")
    _describe_step(sweep, print_)

    print_("\n5. Many cells at once, one partition per NWB file: cat.mouse.ephys(filters=...).to_dask()")
    many = cat.mouse.ephys(filters=filters)
    counts = many.to_dask().compute().groupby("cell_specimen_id")["sweep_number"].count()
    print_(f"   {many.npartitions} cells; sweeps per cell: {counts.to_dict()}")
    print_("\nDone: the same calls work against DANDI itself once the environment is not overridden.")


def _describe_step(sweep, print_) -> None:
    """Baseline, step and input resistance of a long-square sweep, found in its data."""
    import numpy as np

    rest = np.median(sweep.i[: len(sweep.i) // 20])
    stepping = np.abs(sweep.i - rest) > 1.0  # pA
    edges = np.flatnonzero(np.diff(np.concatenate([[0], stepping.astype(np.int8), [0]])))
    if len(edges) < 2:
        print_("   (no current step found)")
        return
    starts, ends = edges[0::2], edges[1::2]
    longest = int(np.argmax(ends - starts))
    first, last = starts[longest], ends[longest]
    settled = slice(first + (last - first) // 2, last)
    baseline = float(np.median(sweep.v[:first][-len(sweep.v) // 10 :]))
    step_pa = float(np.median(sweep.i[settled]) - rest)
    steady = float(np.median(sweep.v[settled]))
    print_(
        f"   baseline {baseline:.1f} mV; step {step_pa:+.0f} pA from {sweep.t[first]:.2f} s "
        f"to {sweep.t[last - 1]:.2f} s; steady state {steady:.1f} mV"
    )
    if step_pa < 0:
        resistance = (steady - baseline) / step_pa * 1e3  # mV / pA -> MOhm
        print_(f"   input resistance {resistance:.0f} MOhm")
