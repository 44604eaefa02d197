"""Benchmark patchseq-intake against the ways scientists reach the release today.

Runs everything against the local replica (127.0.0.1) with a simulated
wide-area network, and prints one table, every figure measured in this run:

1. release tables, cold and warm, against pandas and against the IPFX way;
2. one realistic cell (about 35 MB, 60 sweeps): sweep table, one sweep and
   every sweep, in stream and download mode, against a whole-file download
   then pynwb, pynwb streaming as its tutorial shows it, and remfile;
3. sweep tables of 16 cells: Dask on a 2-worker LocalCluster and fetch(),
   against a sequential loop;
4. peak memory reading one sweep, against the file's size;
5. finding every mouse cell's file on DANDI (with ../shared: the real tables
   and listing): the listing shipped with the catalog, the API's paged
   listing, and one API lookup per cell as the dandi client does it.

Usage: python benchmarks/run.py [--latency-ms 40] [--bandwidth-mb-s 50]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import patchseq_intake
from patchseq_intake import config
from patchseq_intake.tables import table_path
from patchseq_intake.testing.mies import write_mies_nwb
from patchseq_intake.testing.physiology import default_sweeps, realistic_sweeps
from patchseq_intake.testing.server import LocalServer
from patchseq_intake.testing.world import CellPlan, World, serve_world

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
REFERENCE_TABLES = REFERENCE / "ipfx-data-release"
REFERENCE_ASSETS = REFERENCE / "dandi-assets"
ONE_CELL = 541549258
LOOKED_UP = 20  # cells looked up one by one through the API, as the dandi client does
MANY = 16
MB = 1e6


@dataclass
class Row:
    section: str
    case: str
    seconds: float | None = None
    megabytes: float | None = None
    requests: int | None = None
    note: str = ""


@dataclass
class Bench:
    server: LocalServer
    world: World
    scratch: Path
    rows: list[Row]

    @contextmanager
    def fresh_cache(self):
        """A new, empty cache for the duration of the block (for child processes too)."""
        with tempfile.TemporaryDirectory(dir=self.scratch) as cache:
            os.environ[config.CACHE_ENV] = cache
            try:
                yield Path(cache)
            finally:
                del os.environ[config.CACHE_ENV]

    def measure(self, section: str, case: str, work: Callable[[], object], note: str = "") -> Row:
        """Run ``work`` once, recording time, bytes and requests seen by the server."""
        self.server.wait_until_idle()
        self.server.log.clear()
        started = time.perf_counter()
        work()
        seconds = time.perf_counter() - started
        row = Row(section, case, seconds, self.server.bytes_sent() / MB, len(self.server.log), note)
        self.rows.append(row)
        print(f"  {case}: {seconds:.2f} s", file=sys.stderr)
        return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency-ms", type=float, default=40.0, help="added to every request (default 40)")
    parser.add_argument("--bandwidth-mb-s", type=float, default=50.0, help="per connection (default 50)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="patchseq-bench-") as scratch:
        bench = _setup(Path(scratch), args.latency_ms / 1e3, args.bandwidth_mb_s * MB)
        try:
            _tables(bench)
            _one_cell(bench)
            _many_cells(bench)
            _memory(bench)
            _resolving(bench)
        finally:
            bench.server.stop()
    _print(bench.rows, args)


# --- setup ---------------------------------------------------------------------------------


def _setup(scratch: Path, latency_s: float, bandwidth: float) -> Bench:
    print("writing synthetic NWB files ...", file=sys.stderr)
    files = {}
    human = CellPlan("human", ONE_CELL, 541549227, 541516760, "MTG", "spiny", "28 yrs", "H16.03.007")
    files[human] = write_mies_nwb(
        scratch / "one.nwb", specimen_id=ONE_CELL, session_id=human.session_id, subject_id=human.subject_id,
        sweeps=realistic_sweeps(sampling_rate=25_000.0),
    )
    for n in range(MANY):
        plan = CellPlan("mouse", 700000000 + n, 700100000 + n, 700200000 + n, "VISp5", "aspiny", "P56", "400000")
        files[plan] = write_mies_nwb(
            scratch / f"mouse-{n}.nwb", specimen_id=plan.specimen_id, session_id=plan.session_id,
            subject_id=plan.subject_id, sweeps=default_sweeps(scale=0.5), seed=n,
        )
    world = serve_world(files, listings=REFERENCE_ASSETS if REFERENCE_ASSETS.is_dir() else None)
    if REFERENCE_TABLES.is_dir():
        for path in REFERENCE_TABLES.glob("*.csv"):
            world.server.serve_file(f"/release/{path.name}", path)
    world.server.faults.latency_s = latency_s
    world.server.faults.bandwidth_bytes_per_s = bandwidth
    os.environ.update(world.environment())
    return Bench(world.server, world, scratch, rows=[])


# --- 1. release tables ----------------------------------------------------------------------------


def _tables(bench: Bench) -> None:
    import pandas as pd

    print("1. release tables", file=sys.stderr)
    real = REFERENCE_TABLES.is_dir()
    base = f"{bench.server.url}/release" if real else f"{bench.server.url}/tables"
    label = "real" if real else "synthetic (../shared absent)"
    section = f"1 tables ({label} mouse)"
    os.environ[config.TABLES_ENV] = base
    with bench.fresh_cache():
        mouse = patchseq_intake.open_catalog().mouse
        for kind in ("metadata", "manifest"):
            bench.measure(section, f"{kind}.read() cold (fetch, verify, parquet)", lambda: mouse[kind].read())
            warm = _median(lambda: mouse[kind].read(), runs=15)  # a new source each time, as users call it
            parquet = table_path(mouse[kind].spec)  # the cached file, already there
            plain = _median(lambda: pd.read_parquet(parquet), runs=15)
            bench.rows.append(Row(section, f"cat.mouse.{kind}.read() warm", warm, note=f"{warm / plain:.2f}x pandas.read_parquet of the cached file ({plain:.3f} s); target <= 2x"))
        ours = _median_process(
            "import patchseq_intake; patchseq_intake.open_catalog().mouse.metadata.read()", runs=5
        )
        csv = REFERENCE_TABLES / "20200625_patchseq_metadata_mouse.csv"
        if real:
            ipfx = _median_process(f"import pandas; pandas.read_csv({str(csv)!r})", runs=5)
            note = f"{ours / ipfx:.2f}x a process reading the local CSV with pandas ({ipfx:.2f} s, the IPFX way); target <= 1.5x"
        else:
            note = "no local CSV to compare with"
        bench.rows.append(Row(section, "new process: open catalog, read mouse metadata (warm)", ours, note=note))
    os.environ[config.TABLES_ENV] = bench.world.environment()[config.TABLES_ENV]


# --- 2. one cell ---------------------------------------------------------------------------------


def _one_cell(bench: Bench) -> None:
    print("2. one cell", file=sys.stderr)
    written = bench.world.written[ONE_CELL]
    size_mb = written.size / MB
    numbers = [summary.sweep_number for summary in written.sweeps]
    one = numbers[len(numbers) // 2]
    section = f"2 one cell ({size_mb:.0f} MB, {len(numbers)} sweeps)"
    physical = written.size / bench.server.faults.bandwidth_bytes_per_s
    url = bench.world.replica.blob_url(bench.world.assets[ONE_CELL])
    for access in ("stream", "download"):
        for case, work in _our_cases(access, one, numbers).items():
            with bench.fresh_cache():
                _warm_tables()
                _warm_index()
                row = bench.measure(section, f"patchseq-intake {access}: {case}", work)
                row.note = _share(row, written.size)
                if access == "download" and case == "sweep table":
                    row.note += f"; transfer at the simulated bandwidth alone: {physical:.2f} s ({row.seconds / physical:.2f}x, target <= 1.3x)"
    for name, opener in _baselines(bench, url).items():
        for case, work in _baseline_cases(opener, one).items():
            with bench.fresh_cache():
                row = bench.measure(section, f"{name}: {case}", work)
                row.note = _share(row, written.size)


def _warm_tables() -> None:
    catalog = patchseq_intake.open_catalog()
    catalog.human.metadata.read()
    catalog.human.manifest.read()


def _warm_index() -> None:
    """The asset index, fetched once per dandiset version in real use: not part of a read."""
    from patchseq_intake.dandi import DandisetVersion

    DandisetVersion("000023", patchseq_intake.open_catalog().human.metadata["dandi_version"]).index()


def _our_cases(access: str, one: int, numbers: list[int]) -> dict[str, Callable[[], object]]:
    source = lambda: patchseq_intake.open_catalog().human.ephys(specimen_id=ONE_CELL, access=access)  # noqa: E731

    def every_sweep():
        cell = source()
        return [cell.sweep(number) for number in numbers]

    return {
        "sweep table": lambda: source().read(),
        "one sweep": lambda: source().sweep(one),
        "every sweep": every_sweep,
    }


def _baselines(bench: Bench, url: str) -> dict[str, Callable]:
    """Ways to open the file as scientists do today: each yields an open pynwb NWBFile."""
    import h5py
    import pynwb

    @contextmanager
    def whole_download():
        import requests

        path = config.cache_dir() / "whole.nwb"
        with requests.get(url, stream=True) as reply, path.open("wb") as out:
            for chunk in reply.iter_content(1 << 20):
                out.write(chunk)
        with pynwb.NWBHDF5IO(str(path), "r", load_namespaces=True) as io:
            yield io.read()

    @contextmanager
    def pynwb_tutorial():
        import fsspec
        from fsspec.implementations.cached import CachingFileSystem

        fs = CachingFileSystem(fs=fsspec.filesystem("http"), cache_storage=str(config.cache_dir() / "fsspec"))
        with fs.open(url, "rb") as remote, h5py.File(remote, "r") as h5:
            with pynwb.NWBHDF5IO(file=h5, load_namespaces=True) as io:
                yield io.read()

    @contextmanager
    def with_remfile():
        import remfile

        with h5py.File(remfile.File(url), "r") as h5, pynwb.NWBHDF5IO(file=h5, load_namespaces=True) as io:
            yield io.read()

    return {
        "download + pynwb": whole_download,
        "pynwb tutorial (fsspec CachingFileSystem + h5py)": pynwb_tutorial,
        "remfile + pynwb": with_remfile,
    }


def _baseline_cases(opener: Callable, one: int) -> dict[str, Callable[[], object]]:
    def sweep_table():
        with opener() as nwb:
            return [(s.sweep_number, s.stimulus_description, s.rate) for s in nwb.acquisition.values()]

    def one_sweep():
        with opener() as nwb:
            return nwb.acquisition[f"data_{one:05d}_AD0"].data[:], nwb.stimulus[f"data_{one:05d}_DA0"].data[:]

    def every_sweep():
        with opener() as nwb:
            return [s.data[:] for s in list(nwb.acquisition.values()) + list(nwb.stimulus.values())]

    return {"sweep table": sweep_table, "one sweep": one_sweep, "every sweep": every_sweep}


def _share(row: Row, size: int) -> str:
    return f"{row.megabytes * MB / size:.0%} of the file's bytes"


# --- 3. many cells ---------------------------------------------------------------------------------


def _many_cells(bench: Bench) -> None:
    print("3. many cells", file=sys.stderr)
    ids = [cell.specimen_id for cell in bench.world.cells if cell.archive == "mouse"]
    total = sum(bench.world.written[i].size for i in ids)
    section = f"3 {len(ids)} cells ({total / MB:.0f} MB)"
    source = lambda: patchseq_intake.open_catalog().mouse.ephys(specimen_id=ids)  # noqa: E731

    def prepared():
        catalog = patchseq_intake.open_catalog()
        catalog.mouse.metadata.read(), catalog.mouse.manifest.read()
        from patchseq_intake.dandi import DandisetVersion

        DandisetVersion("000020", catalog.mouse.metadata["dandi_version"]).index()

    def sequential():
        catalog = patchseq_intake.open_catalog()
        return [catalog.mouse.ephys(specimen_id=i).read() for i in ids]

    def on_dask():
        import distributed

        with distributed.LocalCluster(n_workers=2, threads_per_worker=2, dashboard_address=None) as cluster:
            with distributed.Client(cluster):
                return source().to_dask().compute()

    cases = {"sequential loop of read()": sequential, "to_dask() on a 2-worker LocalCluster": on_dask}
    for concurrency in (1, 2, 4, 8):
        cases[f"fetch(max_concurrent={concurrency}) then read()"] = (
            lambda c=concurrency: (source().fetch(max_concurrent=c), source().read())
        )
    for case, work in cases.items():
        with bench.fresh_cache():
            prepared()
            row = bench.measure(section, case, work)
            row.note = f"{row.megabytes / row.seconds:.0f} MB/s"


# --- 4. memory -----------------------------------------------------------------------------------


def _memory(bench: Bench) -> None:
    print("4. memory", file=sys.stderr)
    written = bench.world.written[ONE_CELL]
    one = written.sweeps[len(written.sweeps) // 2]
    script = (  # tracemalloc sees numpy's buffers, where h5py reads the samples to
        "import tracemalloc, patchseq_intake\n"
        f"source = patchseq_intake.open_catalog().human.ephys(specimen_id={ONE_CELL})\n"
        "source.read()\n"
        "tracemalloc.start()\n"
        f"sweep = source.sweep({one.sweep_number})\n"
        "print(tracemalloc.get_traced_memory()[1])\n"
    )
    with bench.fresh_cache():
        _warm_tables()
        patchseq_intake.open_catalog().human.ephys(specimen_id=ONE_CELL).fetch()
        grown = int(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout)
    sweep_bytes = one.n_samples * 8 * 3  # t, v, i as float64
    bench.rows.append(
        Row(
            "4 memory", f"peak memory allocated reading sweep {one.sweep_number} (MB column)", megabytes=grown / MB,
            note=f"file {written.size / MB:.0f} MB; the sweep's own arrays {sweep_bytes / MB:.1f} MB",
        )
    )


# --- 5. finding the files --------------------------------------------------------------------------


def _resolving(bench: Bench) -> None:
    print("5. finding every mouse cell's file", file=sys.stderr)
    if not (REFERENCE_TABLES.is_dir() and REFERENCE_ASSETS.is_dir()):
        bench.rows.append(Row("5 files", "skipped", note="needs ../shared/reference (real tables and listing)"))
        return
    import pandas as pd
    import requests

    section = "5 every mouse cell's file (4435, tables cached)"
    api = os.environ[config.DANDI_API_ENV]
    os.environ[config.TABLES_ENV] = f"{bench.server.url}/release"
    read: list[pd.DataFrame] = []
    files = lambda: read.append(patchseq_intake.open_catalog().mouse.nwb_files.read())  # noqa: E731
    with bench.fresh_cache():
        catalog = patchseq_intake.open_catalog()
        catalog.mouse.metadata.read(), catalog.mouse.manifest.read()
        del os.environ[config.DANDI_API_ENV]  # DANDI's own API: the catalog's pinned listing, no request
        try:
            row = bench.measure(section, "nwb_files.read(), first use: the pinned listing", files)
        finally:
            os.environ[config.DANDI_API_ENV] = api
        row.note = f"{len(read[-1])} files, their sizes and SHA-256, with no request to DANDI"
        row = bench.measure(section, "nwb_files.read(), first use: the API's listing (metadata=1)", files)
        row.note = f"{len(read[-1])} files; for other versions and mirrors; cached after the first use"
    paths = list(read[-1]["dandi_path"][:LOOKED_UP])
    listing = f"{api}/dandisets/000020/versions/0.210913.1639/assets/"

    def one_by_one():
        with requests.Session() as http:
            for path in paths:
                (found,) = [a for a in http.get(listing, params={"path": path}).json()["results"] if a["path"] == path]
                http.get(f"{listing}{found['asset_id']}/").json()["digest"]

    row = bench.measure(section, f"today: the dandi client's lookups, {LOOKED_UP} cells (path, then metadata)", one_by_one)
    per_cell = row.seconds / LOOKED_UP
    row.note = f"{per_cell * 4435 / 60:.1f} min and {row.requests // LOOKED_UP * 4435} requests for 4435 cells"
    os.environ[config.TABLES_ENV] = bench.world.environment()[config.TABLES_ENV]


# --- helpers -----------------------------------------------------------------------------------


def _median(work: Callable[[], object], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _median_process(code: str, runs: int) -> float:
    return _median(lambda: subprocess.run([sys.executable, "-c", code], check=True), runs)


def _print(rows: list[Row], args: argparse.Namespace) -> None:
    print(
        f"\npatchseq-intake {patchseq_intake.__version__} benchmark: {args.latency_ms:g} ms per request, "
        f"{args.bandwidth_mb_s:g} MB/s per connection; Python {platform.python_version()} on "
        f"{platform.machine()}, {os.cpu_count()} cores, {_memory_total()}\n"
    )
    header = ("section", "case", "time s", "MB moved", "requests", "note")
    table = [header] + [
        (
            row.section,
            row.case,
            "" if row.seconds is None else f"{row.seconds:.3f}",
            "" if row.megabytes is None else f"{row.megabytes:.2f}",
            "" if row.requests is None else str(row.requests),
            row.note,
        )
        for row in rows
    ]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for line in table[1:]:
        print("| " + " | ".join(line) + " |")


def _memory_total() -> str:
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        return f"{pages * size / 2**30:.0f} GiB memory"
    except (ValueError, OSError):
        return "memory unknown"


if __name__ == "__main__":
    main()
