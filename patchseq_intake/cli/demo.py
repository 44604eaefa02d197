"""The offline walk-through: the main job against a local replica of the release.

It starts a stand-in for DANDI and the release tables on 127.0.0.1 (see
``patchseq_intake.testing.world``: real cells with synthetic NWB files, and
the real listing of both dandisets, as the catalogs ship it), points the
shipped catalog at it with a throw-away cache, and goes from a metadata
filter to a sweep, then to a cell's reconstruction (the BIL stand-in) and
genes (the NeMO stand-in), and the cells' IPFX features (with the
``features`` extra), printing what it finds at each step.

``serve_demo`` (``demo --serve``) serves the same replica for another
process instead: it prints the shell lines that point one's own Python at
it and serves until stopped.
"""

from __future__ import annotations

import shlex
import threading
import warnings
from collections.abc import Callable
from pathlib import Path


def run_demo(print_=print) -> None:
    """Run the walk-through, printing each step."""
    from .. import config
    from ..errors import ManifestMismatchWarning, UnpinnedTablesWarning
    from ..testing.world import demo_world

    print_("Starting a local replica of DANDI, BIL, NeMO and the release tables on 127.0.0.1 ...")
    print_("(its tables hold a few real cells, with some values made up, so they are taken unpinned:"
           " PATCHSEQ_INTAKE_UNPINNED_TABLES=1)")
    with demo_world() as (world, settings):
        with world.active(cache=Path(settings[config.CACHE_ENV])), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ManifestMismatchWarning)
            warnings.simplefilter("ignore", UnpinnedTablesWarning)  # said once, above
            _walk_through(print_, caught)


def serve_demo(stop: threading.Event, print_: Callable[[str], None] = print) -> None:
    """Serve the demo's replica until ``stop`` is set, after printing the lines that point a shell at it.

    The lines are a shell script (``export``/``unset`` lines, the rest ``#`` comments), written at once;
    the replica's temporary folder (its files and the cache the lines name) is removed at the end, also
    when the wait is interrupted (Ctrl-C).
    """
    from ..testing.world import demo_world

    with demo_world() as (world, settings):
        print_(f"# The demo's replica of DANDI, BIL, NeMO and the release tables serves at {world.server.url} "
               "(made-up tables, taken unpinned).")
        print_("# Run these lines in the shell that starts Python; its catalogs then read the replica:")
        for name, value in settings.items():
            if value is not None:
                print_(f"export {name}={shlex.quote(value)}")
        print_("unset " + " ".join(name for name, value in settings.items() if value is None))
        for cell in world.cells:
            sweeps = [sweep.sweep_number for sweep in world.written[cell.specimen_id].sweeps]
            shape = f"; {cell.reconstruction_type} reconstruction" if cell.files and cell.reconstruction_type else ""
            genes = "; transcriptome" if any(row["technique"] == "transcriptomics" for row in cell.files) else ""
            print_(f"# {cell.archive} cell {cell.specimen_id} ({cell.structure}): sweeps {_spans(sweeps)}{shape}{genes}")
        print_("# The replica's tables hold these cells only; its DANDI listing names every real asset, but only "
               "these files are served. Ctrl-C stops the replica and removes its files and that cache.")
        while not stop.wait(0.2):
            pass


def _spans(numbers: list[int]) -> str:
    """Sorted numbers as runs: ``0-2, 4-17``."""
    runs: list[list[int]] = []
    for number in sorted(numbers):
        if runs and number == runs[-1][-1] + 1:
            runs[-1].append(number)
        else:
            runs.append([number])
    return ", ".join(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]) for run in runs)


def _walk_through(print_, caught: list[warnings.WarningMessage]) -> None:
    import pandas as pd

    from ..catalog import open_catalog

    pd.set_option("display.width", 120)
    cat = open_catalog()
    print_(f"\nCatalog {cat.name}: archives {list(cat)}; entries of mouse: {list(cat.mouse)}")

    filters = [["dendrite_type", "==", "aspiny"], ["age_days", "<", 58]]
    print_(f"\n1. Filter the mouse cells: cat.mouse.metadata(filters={filters}).read()")
    cells = cat.mouse.metadata(filters=filters, columns=["cell_specimen_id", "structure", "dendrite_type", "age"]).read()
    print_(cells.to_string(index=False))

    ids = [int(cell) for cell in cells["cell_specimen_id"]]
    print_(f"\n2. Their NWB files as DANDI holds them: cat.mouse.nwb_files(filters=[['cell_specimen_id', 'in', {ids}]])")
    print_("   (the replica serves synthetic files at the real paths: sizes and SHA-256 are theirs, not DANDI's)")
    files = cat.mouse.nwb_files(filters=[["cell_specimen_id", "in", ids]]).read()
    print_(files[["cell_specimen_id", "dandi_path", "size", "in_manifest", "manifest_matches"]].to_string(index=False))
    absent, differ = int((~files["in_manifest"]).sum()), int((files["manifest_matches"] == False).sum())  # noqa: E712
    print_(f"   {absent} not in the release manifest (found by ephys_session_id); {differ} whose manifest size and "
           "SHA-256 describe an earlier export.\n   Downloads are verified against DANDI's checksums.")

    specimen_id = int(files.loc[~files["in_manifest"], "cell_specimen_id"].iloc[0])
    source = cat.mouse.ephys(specimen_id=specimen_id)
    cell = source.cells[0]
    print_(f"\n3. A cell the manifest has no file for: cat.mouse.ephys(specimen_id={specimen_id})")
    print_(f"   found by its ephys_session_id {cell.session_id}: {cell.dandi_path} ({cell.size / 1e6:.1f} MB)")
    print_(f"   in {source.dandi}, {cell.checksum.label} {cell.checksum.value[:16]}...")

    print_("\n4. Its sweep table: source.read()  (downloads and verifies the file once)")
    sweeps = source.read()
    columns = ["sweep_number", "stimulus_code_ext", "stimulus_name", "clamp_mode", "sampling_rate", "stimulus_scale_factor"]
    print_(sweeps[columns].to_string(index=False))

    long_squares = sweeps[sweeps["stimulus_name"] == "Long Square"]
    number = int(long_squares["sweep_number"].iloc[0])
    print_(f"\n5. One long-square sweep: source.sweep({number})")
    sweep = source.sweep(number)
    print_(f"   {sweep}")
    _describe_step(sweep, print_)

    print_("\n6. Many cells at once, one partition per NWB file: cat.mouse.ephys(filters=...).to_dask()")
    many = cat.mouse.ephys(filters=filters)
    counts = many.to_dask().compute().groupby("cell_specimen_id")["sweep_number"].count()
    print_(f"   {many.npartitions} cells; sweeps per cell: {counts.to_dict()}")
    _shape_and_genes(cat, print_)
    _features(cat, filters, print_)
    _every_dandiset(cat, print_)
    for warning in caught:
        print_(f"   warning: {warning.message}")
    print_("\nDone: the same calls work against DANDI itself once the environment is not overridden.")


def _shape_and_genes(cat, print_) -> None:
    """Steps 7 and 8: a cell's reconstruction from the BIL stand-in, and its genes from the NeMO stand-in."""
    specimen_id = 601506507
    print_(f"\n7. A reconstructed cell's shape: cat.mouse.morphology(specimen_id={specimen_id}).read()")
    print_("   (its SWC from BIL, verified against the manifest's SHA-256)")
    points = cat.mouse.morphology(specimen_id=specimen_id).read()
    kinds = {1: "soma", 2: "axon", 3: "basal dendrite", 4: "apical dendrite"}
    counts = points["type"].map(kinds).value_counts()
    soma = points[points["type"] == 1].iloc[0]
    print_(f"   {len(points)} samples ({', '.join(f'{n} {kind}' for kind, n in counts.items())}); "
           f"{points['neuron_reconstruction_type'].iloc[0]} reconstruction; soma at x {soma.x:.1f}, "
           f"y {soma.y:.1f}, z {soma.z:.1f} µm")
    genes = ["Gad1", "Slc17a7", "Pvalb", "Sst", "Vip", "Lamp5"]
    print_(f"\n8. The aspiny cells' genes: cat.mouse.transcriptomics(genes={genes}, values='cpm', filters=[...]).read()")
    print_("   (the CPM matrix from NeMO, taken out of its tar, verified, converted once into a store; synthetic "
           "values here)")
    expression = cat.mouse.transcriptomics(genes=genes, values="cpm",
                                           filters=[["dendrite_type", "==", "aspiny"]]).read()
    print_(expression.round(1).to_string(index=False))


def _features(cat, filters: list[list], print_) -> None:
    """Step 9: IPFX's features of the filtered cells, or the line that says how to install IPFX."""
    from ..features.ipfx_library import IpfxMissingError

    print_(f"\n9. IPFX's features of those cells: cat.mouse.features(filters={filters}).read()")
    print_("   (computed by IPFX from the sweeps it needs, cached: a second read computes nothing)")
    try:
        table = cat.mouse.features(filters=filters, scheduler="sync").read()
    except IpfxMissingError as exc:
        print_(f"   {exc}")
        return
    columns = ["cell_specimen_id", "rheobase_i", "input_resistance", "tau", "v_baseline", "fi_linear_fit_slope"]
    print_(table[columns].round(3).to_string(index=False))
    failed = table.dropna(subset=["error"])
    for row in failed.itertuples():
        print_(f"   cell {row.cell_specimen_id}: {row.error}")


def _every_dandiset(cat, print_) -> None:
    """Step 10: every recording across the Allen Patch-seq dandisets, and one of a dandiset since 2020."""
    from ..testing.world import DEMO_RECORDINGS

    print_("\n10. Every Allen Patch-seq recording on DANDI, a row per session: cat.sessions.read()")
    print_("   (the replica lists every asset of the dandisets the catalog ships a listing of, with one file replaced by "
           "synthetic bytes: on DANDI, 6826 rows and 70 of differing copies)")
    every = cat.sessions.read()
    by_species = every.groupby("species")["dandi_path"].count().to_dict()
    print_(f"   {len(every)} rows: {by_species}; {int(every['copies_differ'].sum())} rows of sessions whose copies "
           f"differ; {int(every['ephys_session_id'].isna().sum())} files without a session id")
    (dandiset, session), = DEMO_RECORDINGS
    name = cat[dandiset].name
    print_(f"\n11. A recording of {name} (DANDI {dandiset}): cat.{name}.ephys(session_id={session}).read()")
    sweeps = cat[dandiset].ephys(session_id=session).read()
    columns = ["ephys_session_id", "sweep_number", "stimulus_code", "clamp_mode"]
    print_(sweeps[columns].head(4).to_string(index=False))
    print_(f"   ... {len(sweeps)} sweeps, read as the 2020 cells' (a synthetic file at the session's real path)")
    mine = every[(every["ephys_session_id"] == session) & (every["dandiset"] == dandiset)].iloc[0]
    if mine["copies_differ"]:  # the synthetic bytes are not those of the session's copy elsewhere
        print_("   the replica's file is synthetic, so its bytes differ from the session's copy in another dandiset "
               f"(on DANDI they are the same): the table keeps the two apart, never merged: {mine['other_copies']}")


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
