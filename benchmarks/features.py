"""IPFX's features of 64 cells: the package's features entry against today's way (download the files, run IPFX).

Over ``run.py``'s replica and simulated network (default 40 ms a request,
50 MB/s a connection, 400 MB/s for all connections together), each cell a
synthetic MIES-layout file of its own (``realistic_sweeps`` without its I=0
sweep, which IPFX's reader refuses: 59 sweeps, 23 MB; a seed per cell, so
every file has other bytes and another checksum: no cell's cached index or
result serves another's). It prints, side by side:

1. today's way: the files downloaded whole, 6 at once (the dandi CLI's
   default ``--jobs``), each checked against its SHA-256; then IPFX's
   ``run_feature_collection`` on the files (``ipfx_files.py``), one file at a
   time and on a Pool of 8 processes;
2. the package, stream mode, empty cache (the tables and DANDI's asset
   index fetched before, as once per version in real use), 8 workers:
   ``scheduler="processes"`` and a ``dask.distributed`` LocalCluster;
3. the package, download mode, empty cache, 8 processes;
4. warm (features cached), a new process: every cell's row;
5. one cell, warm index (the cache holds the file's index, not its
   features), against IPFX on the downloaded file, both in this process;

then the issue's targets beside the figures, and whether each is met.
``--unread-sweeps N`` adds N sweeps of 20 s the features do not read
(current clamp, standing in for noise, chirp and search sweeps: an
assumption; how many the release's files hold is not known here).

Usage: python benchmarks/features.py [--quick] [--cells 64] [--unread-sweeps 0] [--dir DIR]
       [--latency-ms 40] [--bandwidth-mb-s 50] [--link-mb-s 400]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import requests

sys.path.insert(0, str(Path(__file__).parent))

from ipfx_files import features_of  # noqa: E402
from replica_process import ReplicaProcess  # noqa: E402
from run import MB, Bench, Row, _print  # noqa: E402

import patchseq_intake  # noqa: E402
from patchseq_intake import config  # noqa: E402
from patchseq_intake.access.cell_reader import MOST_OF_THE_FILE  # noqa: E402
from patchseq_intake.testing.mies import write_mies_nwb  # noqa: E402
from patchseq_intake.testing.physiology import (  # noqa: E402
    CURRENT_CLAMP, IZERO, LONG_SQUARE, RAMP, SHORT_SQUARE, TEST, SweepSpec, WrittenCell, realistic_sweeps,
)
from patchseq_intake.testing.world import CellPlan  # noqa: E402

WORKERS = 8
DOWNLOAD_JOBS = 6  # the dandi CLI's `download --jobs` default
FIRST_ID = 700000000
UNREAD_SECONDS = 20.0
UNREAD_CODES = ("C1NSSEED_1", "C2CHIRP180503", "X2LP_Search")  # IPFX's Noise 1, a chirp, a search (FACTS.md's codes)
FEATURE_KINDS = (LONG_SQUARE, SHORT_SQUARE, RAMP)
KEEP_INDEXED = (config.TABLES_DIR, config.DANDI_DIR, config.INDEX_DIR)


@dataclass
class LoadedBench(Bench):
    """``run.py``'s ``Bench``, noting the machine's load as each case ends (its 1-minute load average)."""

    loads: dict[int, float] = field(default_factory=dict)

    def measure(self, *args, **kwargs) -> Row:
        row = super().measure(*args, **kwargs)
        self.loads[id(row)] = os.getloadavg()[0]
        return row

    def noted(self) -> list[Row]:
        """The rows, each measured one's note ending with its load."""
        for row in self.rows:
            if id(row) in self.loads:
                row.note += f"; load {self.loads[id(row)]:.1f}"
        return self.rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 cells, 2 workers, no LocalCluster, one run of section 5: about a minute")
    parser.add_argument("--cells", type=int, default=64, help="how many cells (default 64)")
    parser.add_argument("--unread-sweeps", type=int, default=0, help="20 s sweeps the features do not read (assumed)")
    parser.add_argument("--dir", type=Path, help="keep the written files here, and reuse them next time")
    parser.add_argument("--latency-ms", type=float, default=40.0, help="added to every request (default 40)")
    parser.add_argument("--bandwidth-mb-s", type=float, default=50.0, help="per connection (default 50)")
    parser.add_argument("--link-mb-s", type=float, default=400.0, help="all connections together (default 400)")
    args = parser.parse_args()
    cells, workers = (2, 2) if args.quick else (args.cells, WORKERS)
    with tempfile.TemporaryDirectory(prefix="patchseq-features-bench-") as scratch:
        folder = args.dir or Path(scratch) / "files"
        files, protocol = _files(folder, cells, args.unread_sweeps)
        replica = ReplicaProcess(files, None, None)
        try:
            os.environ.update(replica.environment)
            replica.network(args.latency_ms / 1e3, args.bandwidth_mb_s * MB, args.link_mb_s * MB)
            sizes = {plan.specimen_id: written.size for plan, written in files.items()}
            bench = LoadedBench(replica, Path(scratch), args.latency_ms / 1e3, args.bandwidth_mb_s * MB, [], sizes)
            targets = _run(bench, files, protocol, workers, quick=args.quick)
        finally:
            replica.stop()
    _print(bench.noted(), args)
    _print_targets(targets)


# --- files ------------------------------------------------------------------------------------------


def _protocol(unread: int) -> list[SweepSpec]:
    """``realistic_sweeps`` without its I=0 sweep (IPFX refuses a file whose sweep has no stimulus), and ``unread``
    20 s current-clamp sweeps after it that no feature reads."""
    sweeps = [spec for spec in realistic_sweeps() if spec.kind != IZERO]
    last = sweeps[-1].sweep_number
    return sweeps + [
        SweepSpec(last + 1 + n, UNREAD_CODES[n % len(UNREAD_CODES)], CURRENT_CLAMP, TEST, -30.0, UNREAD_SECONDS)
        for n in range(unread)
    ]


def _plan(n: int) -> CellPlan:
    return CellPlan("mouse", FIRST_ID + n, FIRST_ID + 100000 + n, FIRST_ID + 200000 + n, "VISp5", "aspiny", "P56", "400000")


def _write(folder: Path, n: int, protocol: list[SweepSpec]) -> WrittenCell:
    plan = _plan(n)
    return write_mies_nwb(folder / f"cell-{n}.nwb", specimen_id=plan.specimen_id, session_id=plan.session_id,
                          subject_id=plan.subject_id, sweeps=protocol, seed=n + 1)


def _files(folder: Path, cells: int, unread: int) -> tuple[dict[CellPlan, WrittenCell], list[SweepSpec]]:
    """Each cell's file, written with a seed of its own (in ``folder``; reused from it if written there before)."""
    protocol = _protocol(unread)
    folder = folder / f"unread-{unread}"
    folder.mkdir(parents=True, exist_ok=True)
    described = folder / "written.pickle"
    known: dict[int, WrittenCell] = pickle.loads(described.read_bytes()) if described.exists() else {}
    missing = [n for n in range(cells) if n not in known or not known[n].path.exists()]
    if missing:
        print(f"writing {len(missing)} MIES-layout NWB files ({len(protocol)} sweeps each) ...", file=sys.stderr)
        with ProcessPoolExecutor(os.cpu_count() or 1) as pool:
            known |= dict(zip(missing, pool.map(_write, [folder] * len(missing), missing, [protocol] * len(missing))))
        described.write_bytes(pickle.dumps(known))
    return {_plan(n): known[n] for n in range(cells)}, protocol


# --- the cases -----------------------------------------------------------------------------------------


def _run(bench: LoadedBench, files: dict[CellPlan, WrittenCell], protocol: list[SweepSpec], workers: int,
         quick: bool) -> list[tuple[str, str, bool]]:
    ids = [plan.specimen_id for plan in files]
    total = sum(written.size for written in files.values())
    section = f"features of {len(ids)} cells ({total / MB:.0f} MB, {len(protocol)} sweeps each)"
    with bench.cache():
        assert patchseq_intake.open_catalog().mouse.ephys(specimen_id=ids).cells  # tables and asset index
    print(f"1. today's way: {section}", file=sys.stderr)
    today = Path(tempfile.mkdtemp(dir=bench.scratch))
    expected = {plan.specimen_id: written.sha256 for plan, written in files.items()}
    download = bench.measure(f"1 {section}", f"today: download the files whole, {DOWNLOAD_JOBS} at once, SHA-256 checked",
                             lambda: _download_whole(bench, expected, today))
    download.note = f"{download.megabytes / download.seconds:.0f} MB/s"
    paths = {cell: str(today / f"{cell}.nwb") for cell in ids}
    ipfx = {}
    for processes in (1, workers):
        how = "one file at a time" if processes == 1 else f"a Pool of {processes} processes"
        row, ipfx = _ipfx_files(bench, f"1 {section}", paths, processes, how)
        row.note += f"; with the download: {download.seconds + row.seconds:.1f} s"
    today_total = download.seconds + bench.rows[-1].seconds
    found = {}
    runs = [("download", "processes")] + ([] if quick else [("stream", "LocalCluster")]) + [("stream", "processes")]
    for access, scheduler in runs:
        print(f"2-3. the package, {access}, {scheduler}", file=sys.stderr)
        with bench.cache(keep=(config.TABLES_DIR, config.DANDI_DIR)):
            row, found[access, scheduler] = _package(bench, f"2 {section}", ids, access, scheduler, workers)
            row.note = f"{row.megabytes / download.megabytes:.0%} of today's bytes; " + _agreement(found[access, scheduler], ipfx)
            row.note += f"; {row.seconds / today_total:.2f}x today's download + IPFX on {workers} processes"
    stream = bench.rows[-1]
    print("4. warm, a new process", file=sys.stderr)
    with bench.cache(keep=(*KEEP_INDEXED, config.FEATURES_DIR)):
        warm, inside = _warm(bench, f"4 {section}", ids)
    print("5. one cell, warm index, not cached", file=sys.stderr)
    one, against = _one_cell(bench, "5 one cell, warm index, features not cached", ids[0], paths[ids[0]], 1 if quick else 3)
    share = _feature_share(files, protocol)
    bench.rows.append(Row("6 the files", "share of a file's bytes the features read (long squares, short squares, ramps)",
                          note=f"{share:.0%} (stream mode downloads the file where this is over {MOST_OF_THE_FILE:.0%})"))
    return [
        ("stream, empty cache: at most half the bytes of downloading the files", f"{stream.megabytes / download.megabytes:.0%}"
         f" ({stream.megabytes:.0f} MB against {download.megabytes:.0f} MB)", stream.megabytes <= download.megabytes / 2),
        (f"stream, empty cache: at most the time of the download then IPFX per file ({workers} processes)",
         f"{stream.seconds:.1f} s against {today_total:.1f} s", stream.seconds <= today_total),
        ("warm, new process: under 1 s for all the cells (open_catalog() to read())",
         f"{inside:.2f} s ({warm.seconds:.2f} s with Python's start and imports)", inside < 1),
        ("warm: no request", f"{warm.requests} requests", warm.requests == 0),
        ("one cell, warm index, not cached: under 2x IPFX's time on the downloaded file",
         f"{one:.2f} s against {against:.2f} s: {one / against:.2f}x", one < 2 * against),
    ]


def _download_whole(bench: Bench, expected: dict[int, str], folder: Path) -> None:
    """Each file in one GET from its blob URL, hashed as it arrives, ``DOWNLOAD_JOBS`` at once (as the dandi CLI)."""

    def one(cell: int) -> None:
        digest = hashlib.sha256()
        with requests.get(bench.replica.blob_urls[cell], stream=True, timeout=60) as reply, \
                (folder / f"{cell}.nwb").open("wb") as out:
            reply.raise_for_status()
            for block in reply.iter_content(1 << 20):
                digest.update(block)
                out.write(block)
        if digest.hexdigest() != expected[cell]:
            raise RuntimeError(f"{cell}: the download's SHA-256 is not the file's")

    with ThreadPoolExecutor(DOWNLOAD_JOBS) as pool:
        list(pool.map(one, expected))


def _ipfx_files(bench: Bench, section: str, paths: dict[int, str], processes: int, how: str) -> tuple[Row, dict]:
    """``ipfx_files.py`` in a process of its own: its wall time, with Python's start and IPFX's import."""
    listed, out = bench.scratch / "files.json", bench.scratch / "ipfx.json"
    listed.write_text(json.dumps(paths))
    script = [sys.executable, str(Path(__file__).parent / "ipfx_files.py"), str(listed), str(out), "--processes", str(processes)]
    row = bench.measure(section, f"today: IPFX's run_feature_collection on the files, {how}",
                        lambda: subprocess.run(script, check=True, env=os.environ))
    result = json.loads(out.read_text())
    failed = sum(not features for features in result["features"].values())
    row.note = f"{result['seconds']:.1f} s after the imports; {failed} of {len(paths)} cells without features"
    return row, {int(cell): features for cell, features in result["features"].items()}


def _package(bench: Bench, section: str, ids: list[int], access: str, scheduler: str, workers: int):
    """``cat.mouse.features(...).read()`` from a cache holding only the tables and the asset index."""
    table = {}

    def work() -> None:
        source = patchseq_intake.open_catalog().mouse.features(
            specimen_id=ids, access=access, scheduler="processes", num_workers=workers)
        table["read"] = source.read()

    if scheduler == "LocalCluster":
        from distributed import Client, LocalCluster

        started = time.perf_counter()
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                Client(cluster):
            ready = time.perf_counter() - started
            row = bench.measure(section, f"package, {access} mode, empty cache: read() on a LocalCluster of {workers} workers",
                                work)
        row.note = f"the cluster's start ({ready:.1f} s) not counted"
    else:
        row = bench.measure(section, f"package, {access} mode, empty cache: read(), scheduler='processes', "
                                     f"num_workers={workers}", work)
    return row, table["read"]


def _agreement(table: pd.DataFrame, ipfx: dict[int, dict]) -> str:
    """How the package's values compare with IPFX's on the downloaded files, over every feature both give."""
    worst, differ, errors = 0.0, 0, int(table["error"].notna().sum())
    for row in table.to_dict("records"):
        theirs = ipfx.get(int(row["cell_specimen_id"]), {})
        for name, value in theirs.items():
            if name not in row or name == "specimen_id":
                continue
            ours, other = row[name], float("nan") if value is None else float(value)
            if pd.isna(ours) and pd.isna(other):
                continue
            gap = abs(ours - other) / max(abs(other), 1e-12)
            worst = max(worst, gap if gap == gap else float("inf"))
            differ += not gap <= 1e-9
    return f"{errors} rows with an error; {differ} values differ from IPFX's on the files (largest gap {worst:.1e})"


def _warm(bench: Bench, section: str, ids: list[int]) -> tuple[Row, float]:
    """Every cell's row in a new process, from a cache holding their features: the process's wall time, and its
    time from ``open_catalog()`` to ``read()``'s return."""
    code = (
        "import json, time, patchseq_intake\n"
        "started = time.perf_counter()\n"
        f"table = patchseq_intake.open_catalog().mouse.features(specimen_id={ids!r}, access='stream').read()\n"
        "print(json.dumps({'seconds': time.perf_counter() - started, 'rows': len(table)}))\n"
    )
    said = {}

    def work() -> None:
        said.update(json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                              text=True, env=os.environ).stdout))

    row = bench.measure(section, f"package, warm (features cached), a new process: read() of {len(ids)} cells", work)
    row.note = f"{said['seconds']:.3f} s from open_catalog() to read()'s {said['rows']} rows; the rest is Python's start and imports"
    return row, said["seconds"]


def _one_cell(bench: LoadedBench, section: str, cell: int, path: str, runs: int = 3) -> tuple[float, float]:
    """Median of ``runs``: the package's features of one cell from its cached index, and IPFX's on the downloaded file."""
    rows = []
    for _ in range(runs):
        with bench.cache(keep=KEEP_INDEXED):
            rows.append(bench.measure(section, "package, stream mode: read() of one cell (its index cached)",
                                      lambda: patchseq_intake.open_catalog().mouse.features(specimen_id=cell,
                                                                                            access="stream").read()))
    row = sorted(rows, key=lambda r: r.seconds)[runs // 2]
    bench.rows[-runs:] = [row]
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        assert features_of(cell, path)
        times.append(time.perf_counter() - started)
    against = statistics.median(times)
    row.note = f"median of {runs}; {row.seconds / against:.2f}x IPFX's {against:.2f} s on the downloaded file (median of {runs})"
    bench.rows.append(Row(section, "today: IPFX's run_feature_collection on the downloaded file, in this process",
                          against, note=f"median of {runs}, IPFX imported"))
    bench.loads[id(bench.rows[-1])] = os.getloadavg()[0]
    return row.seconds, against


def _feature_share(files: dict[CellPlan, WrittenCell], protocol: list[SweepSpec]) -> float:
    """The share of the first cell's file that the feature sweeps' stored arrays take (from its cached index)."""
    from patchseq_intake.access.cell_index import load_index

    plan, written = next(iter(files.items()))
    file = patchseq_intake.open_catalog().mouse.ephys(specimen_id=plan.specimen_id).cells[0]
    index = load_index(file.checksum.value, file.size)
    numbers = [spec.sweep_number for spec in protocol if spec.kind in FEATURE_KINDS]
    stored = 0
    for number in numbers:
        entry = index.sweep(number, 0, "")
        stored += sum(size for name in entry.names() if name for _, size in index.arrays[name].ranges())
    return stored / written.size


def _print_targets(targets: list[tuple[str, str, bool]]) -> None:
    print("\n| target | result | met |\n|---|---|---|")
    for target, result, met in targets:
        print(f"| {target} | {result} | {'yes' if met else '**no**'} |")


if __name__ == "__main__":
    warnings.simplefilter("ignore", category=DeprecationWarning)
    main()
