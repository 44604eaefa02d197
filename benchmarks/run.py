"""Benchmark patchseq-intake against the ways scientists reach the release today.

Everything runs against a local replica of DANDI and the release tables on
127.0.0.1, in a process of its own (``replica_process``), over a simulated
wide-area network (default 40 ms a request, 50 MB/s a connection, 400 MB/s
for all connections together), and the table it prints holds every figure
measured in this run: seconds, requests, request waves (round trips) and
megabytes moved, as the replica counted them.

1. release tables, cold and warm, against pandas and against the IPFX way;
2. one cell, on files written as the release's were (MIES layout), by two
   writers: this benchmark's (``testing.mies``: a 60-sweep cell with
   version-1 headers, the same with version-2 headers, a 145-sweep cell) and
   one writing in recording order (``testing.mies_recorded``, its layout
   variant whose walk moved most bytes: 60 and 145 sweeps, both header
   versions); download mode; stream mode cold (empty cache), its first
   contact chosen by measuring the link (``auto``) and forced to walk the
   headers (``walk``), and warm (the cache holds the file's index, not the
   file); against a whole download then pynwb, pynwb's tutorial way, and
   remfile;
3. the sweep tables of 64 cells on Dask, 8 at once, stream against download,
   on threads and on processes; then on processes through a link all
   connections share (default 25 MB/s: 200 Mbit/s, a good home or office
   link);
4. peak memory reading one sweep, against its own arrays;
5. finding every mouse cell's file on DANDI (with ../shared: the real
   tables and listing);
6. the walk's waves on each layout variant of the second writer, both header
   versions, step by step (``testing.waves``);
7. a slow link (100 ms, one 10 MB/s link for all connections): download
   against the cold sweep table, on every file of section 2;
8. a populated index store (a folder, then the same folder served over HTTP
   by the replica) and an empty cache: the sweep table and one sweep.

Then the issue-20 targets, met or missed, from the figures above.

Usage: python benchmarks/run.py [--latency-ms 40] [--bandwidth-mb-s 50] [--total-mb-s 400] [--link-mb-s 25]
       [--only 2,7] [--variant NAME]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import first_contacts  # noqa: E402
from bench_common import MB, ONE, ONE_CELLS, SECOND_WRITER, Bench, OneFile, Row, print_rows  # noqa: E402
from replica_process import ReplicaProcess  # noqa: E402

import patchseq_intake  # noqa: E402
from patchseq_intake import config  # noqa: E402
from patchseq_intake.tables.release import table_path  # noqa: E402
from patchseq_intake.testing.mies import MiesLayout, write_mies_nwb  # noqa: E402
from patchseq_intake.testing.mies_recorded import recorded_sweeps, variants, write_recorded_nwb  # noqa: E402
from patchseq_intake.testing.physiology import default_sweeps  # noqa: E402
from patchseq_intake.testing.world import CellPlan  # noqa: E402

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
REFERENCE_TABLES = REFERENCE / "ipfx-data-release"
REFERENCE_ASSETS = REFERENCE / "dandi-assets"
MANY = 64
AT_ONCE = 8
LOOKED_UP = 20  # cells looked up one by one through the API, as the dandi client does
SECTIONS = (1, 2, 3, 4, 5, 6, 7, 8)
RUNS = 3
"""Section 2's cases the first-contact target is judged on (download mode's sweep table, the cold auto cases) run this
many times: the median is shown (the machine's load makes single runs noisy)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency-ms", type=float, default=40.0, help="added to every request (default 40)")
    parser.add_argument("--bandwidth-mb-s", type=float, default=50.0, help="per connection (default 50)")
    parser.add_argument("--total-mb-s", type=float, default=400.0,
                        help="all connections together, in every case but those naming a link (default 400)")
    parser.add_argument("--link-mb-s", type=float, default=25.0,
                        help="all connections together, for section 3's last rows (default 25: 200 Mbit/s)")
    parser.add_argument("--only", default=",".join(map(str, SECTIONS)),
                        help="the sections to run, e.g. 2,7 (default: all)")
    parser.add_argument("--variant", default=None, choices=sorted(variants()),
                        help="the second writer's layout (default: the one whose walk moved most bytes in section 6, "
                             "measured first)")
    args = parser.parse_args()
    only = {int(part) for part in args.only.split(",")}
    with tempfile.TemporaryDirectory(prefix="patchseq-bench-") as scratch:
        layouts: list[Row] = []
        variant = args.variant
        if 6 in only or (variant is None and only & {2, 7, 8}):
            layouts, worst = first_contacts.walk_layouts(Path(scratch) / "layouts", args.latency_ms / 1e3)
            variant = variant or worst
        bench = _setup(Path(scratch), args, only, variant or "recorded")
        try:
            _sections(bench, only, args, layouts)
        finally:
            bench.replica.stop()
    _print(bench.rows, args)
    first_contacts.print_targets(bench, list(ONE_CELLS))


def _sections(bench: Bench, only: set[int], args: argparse.Namespace, layouts: list[Row]) -> None:
    if 1 in only:
        _tables(bench)
    if 2 in only:
        for label in ONE_CELLS:
            _one_cell(bench, label)
        _baselines(bench, "60 sweeps, v1 headers")
    if 3 in only:
        _many_cells(bench, args.link_mb_s * MB)
    if 4 in only:
        _memory(bench)
    if 5 in only:
        _finding_files(bench)
    bench.rows.extend(layouts)
    if 7 in only:
        for label in ONE_CELLS:
            first_contacts.slow_link(bench, label, _section_name(bench, label, 7))
    if 8 in only:
        first_contacts.index_store(bench, {label: _section_name(bench, label, 8) for label in ONE_CELLS})


# --- setup -----------------------------------------------------------------------------------------


def _setup(scratch: Path, args: argparse.Namespace, only: set[int], variant: str) -> Bench:
    print("writing MIES-layout NWB files ...", file=sys.stderr)
    files = {}
    if only & {2, 4, 7, 8}:
        for one in ONE_CELLS.values():
            cell = one.cell
            plan = CellPlan("human", cell, cell - 31, cell - 32498, "MTG", "spiny", "28 yrs", "H16.03.007")
            files[plan] = _write_one(scratch / f"{cell}.nwb", plan, one, variant)
    if 3 in only:
        for n in range(MANY):
            plan = CellPlan("mouse", 700000000 + n, 700100000 + n, 700200000 + n, "VISp5", "aspiny", "P56", "400000")
            files[plan] = write_mies_nwb(
                scratch / f"mouse-{n}.nwb", specimen_id=plan.specimen_id, session_id=plan.session_id,
                subject_id=plan.subject_id, sweeps=_protocol(40), seed=n,
            )
    replica = ReplicaProcess(
        files,
        REFERENCE_ASSETS if REFERENCE_ASSETS.is_dir() else None,
        REFERENCE_TABLES if REFERENCE_TABLES.is_dir() else None,
    )
    os.environ.update(replica.environment)
    sizes = {plan.specimen_id: written.size for plan, written in files.items()}
    bench = Bench(replica, scratch, args.latency_ms / 1e3, args.bandwidth_mb_s * MB, rows=[], sizes=sizes,
                  total=args.total_mb_s * MB, variant=variant)
    bench.network()
    return bench


def _write_one(path: Path, plan: CellPlan, one: OneFile, variant: str):
    """The cell's file, by its writer; the second writer's in ``variant``'s layout."""
    ids = dict(specimen_id=plan.specimen_id, session_id=plan.session_id, subject_id=plan.subject_id, seed=plan.specimen_id)
    if one.second:
        layout = replace(variants()[variant], version2=one.version2)
        return write_recorded_nwb(path, sweeps=recorded_sweeps(one.sweeps), layout=layout, **ids)
    return write_mies_nwb(path, sweeps=_protocol(one.sweeps), layout=MiesLayout(newer_mies=one.version2), **ids)


def _section_name(bench: Bench, label: str, number: int) -> str:
    """The section's name for the file of ``label``: its writer's layout variant, its size."""
    one = ONE_CELLS[label]
    named = label.replace(SECOND_WRITER, f"{SECOND_WRITER} ({bench.variant})") if one.second else label
    return f"{number} {named} ({bench.sizes[one.cell] / MB:.0f} MB)"


def _protocol(sweeps: int):
    """A 50 kHz protocol of about ``sweeps`` sweeps, in the release's proportions."""
    rest = sweeps - 6  # test sweeps, rheobase, I=0, a ramp
    return default_sweeps(
        n_subthreshold=rest * 3 // 8, n_suprathreshold=rest * 3 // 8, n_short_square=rest - 2 * (rest * 3 // 8),
        n_ramp=1,
    )


# --- 1. release tables -------------------------------------------------------------------------------


def _tables(bench: Bench) -> None:
    import pandas as pd

    print("1. release tables", file=sys.stderr)
    real = REFERENCE_TABLES.is_dir()
    _use_tables(bench, real)
    section = f"1 tables ({'real' if real else 'synthetic'} mouse)"
    with bench.cache():
        mouse = patchseq_intake.open_catalog().mouse
        for kind in ("metadata", "manifest"):
            table = mouse[kind]
            bench.measure(section, f"{kind}.read() cold (fetch, verify, parquet)", table.read)
            warm = _median(table.read, runs=15)
            plain = _median(lambda table=table: pd.read_parquet(table_path(table.spec)), runs=15)
            bench.rows.append(Row(section, f"cat.mouse.{kind}.read() warm", warm,
                                  note=f"{warm / plain:.2f}x pandas.read_parquet of the cached file; target <= 2x"))
        ours = _median_process("import patchseq_intake; patchseq_intake.open_catalog().mouse.metadata.read()", runs=5)
        note = "no local CSV to compare with"
        if real:
            csv = REFERENCE_TABLES / "20200625_patchseq_metadata_mouse.csv"
            ipfx = _median_process(f"import pandas; pandas.read_csv({str(csv)!r})", runs=5)
            note = f"{ours / ipfx:.2f}x a process reading the local CSV with pandas (the IPFX way); target <= 1.5x"
        bench.rows.append(Row(section, "new process: open catalog, read mouse metadata (warm)", ours, note=note))
    _use_tables(bench, real=False)


def _use_tables(bench: Bench, real: bool) -> None:
    """The catalog reads the real release's tables from the replica, checked against the catalog's pins,
    or (``real`` False) the replica's made-up ones, taken unpinned."""
    made_up = bench.replica.environment
    os.environ[config.TABLES_ENV] = f"{bench.replica.url}/release" if real else made_up[config.TABLES_ENV]
    if real:
        os.environ.pop(config.UNPINNED_TABLES_ENV, None)
    else:
        os.environ[config.UNPINNED_TABLES_ENV] = made_up[config.UNPINNED_TABLES_ENV]


# --- 2. one cell --------------------------------------------------------------------------------------


def _one_cell(bench: Bench, label: str) -> None:
    cell = ONE_CELLS[label].cell
    size = bench.sizes[cell]
    section = _section_name(bench, label, 2)
    print(f"2. {section}", file=sys.stderr)
    source = lambda access: first_contacts.source(cell, access)  # noqa: E731
    single = size / bench.bandwidth
    keep = (config.TABLES_DIR, config.DANDI_DIR)
    with bench.cache():
        first_contacts.prepare(cell)
        row = bench.measure(section, "download: the file, verified (fetch())", lambda: source("download").fetch())
        row.note = f"{row.seconds / single:.2f}x one connection's transfer time ({single:.2f} s); target <= 0.6x"
    bench.found[label, "fetch"] = row
    def download_table() -> tuple[Row, None]:
        with bench.cache(keep=keep):
            return bench.measure(section, "download: sweep table (the file, verified, indexed)",
                                 lambda: source("download").read()), None

    row, _ = bench.median(RUNS, download_table)
    row.note += "; the time stream mode's first contact is compared with"
    bench.found[label, "download"] = row
    download = row.seconds
    with bench.cache(keep=keep):
        row = bench.measure(section, "download: every sweep", lambda: source("download").sweeps())
        row.note = f"{row.megabytes * MB / size:.0%} of the bytes"
    download_every = row.seconds
    for way in first_contacts.WAYS:
        for case, work in (("sweep table", lambda: source("stream").read()), ("one sweep", lambda: source("stream").sweep(ONE))):
            row = first_contacts.cold(bench, section, cell, way, case, work, bench.found[label, "download"],
                                      bench.found[label, "fetch"], runs=RUNS if way == "auto" else 1)
            bench.found[label, f"{way} {case}"] = row
    with bench.cache(keep=keep):
        row = bench.measure(section, "stream cold: every sweep", lambda: source("stream").sweeps())
        row.note = _against(row, size, download_every, "target: within 1.5x of downloading every sweep")
        row.note = row.note.replace("the download", "downloading every sweep")
    if not ONE_CELLS[label].second and ONE_CELLS[label].sweeps == 60:
        with bench.cache(keep=keep), first_contacts.walking(), _headers_on_demand():
            row = bench.measure(section, "stream cold: sweep table, headers read on demand", lambda: source("stream").read())
            row.note = "the walk's prefetch off (h5py asks for each header as it needs it): what fetching ahead saves"
    for case, work, target in (
        ("sweep table", lambda: source("stream").read(), "target: no request"),
        ("one sweep", lambda: source("stream").sweep(ONE), "target: one round trip, <= 1.2x its stored bytes"),
        ("every sweep", lambda: source("stream").sweeps(), "target: within 1.5x of the download"),
    ):
        with bench.cache(keep=(*keep, config.INDEX_DIR)):
            row = bench.measure(section, f"stream warm (index cached): {case}", work)
            row.note = _against(row, size, download_every if case == "every sweep" else download, target)
            if case == "every sweep":
                row.note = row.note.replace("the download", "downloading every sweep")
            if case == "one sweep":
                row.note += f"; the sweep's stored bytes {_stored_bytes(cell, ONE) / MB:.2f} MB"
            bench.found[label, f"warm {case}"] = row


@contextmanager
def _headers_on_demand():
    """Stream mode without fetching HDF5 headers ahead: h5py asks for each as it needs it."""
    from patchseq_intake.access import opening

    ahead = opening.prefetch_sweep_table
    opening.prefetch_sweep_table = lambda h5, remote: None
    try:
        yield
    finally:
        opening.prefetch_sweep_table = ahead


def _stored_bytes(cell: int, sweep: int) -> int:
    from patchseq_intake.access.cell_index import load_index

    file = patchseq_intake.open_catalog().human.ephys(specimen_id=cell).cells[0]
    index = load_index(file.checksum.value, file.size)
    entry = index.sweep(sweep, 0, "")
    return sum(size for path in entry.names() if path for _, size in index.arrays[path].ranges())


def _against(row: Row, size: int, download: float, target: str) -> str:
    return f"{row.megabytes * MB / size:.0%} of the bytes; {row.seconds / download:.2f}x the download; {target}"


def _baselines(bench: Bench, label: str) -> None:
    """The ways people read a cell today, on the 60-sweep file: each opens it with pynwb."""
    import h5py
    import pynwb

    cell = ONE_CELLS[label].cell
    url = bench.replica.blob_urls[cell]
    section = f"2 {label}: today's ways"
    print(f"2. {section}", file=sys.stderr)

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

    def sweep_table(opener):
        with opener() as nwb:
            return [(s.sweep_number, s.stimulus_description, s.rate) for s in nwb.acquisition.values()]

    import warnings

    for name, opener in (("download + pynwb", whole_download), ("pynwb tutorial (fsspec cache + h5py)", pynwb_tutorial),
                         ("remfile + pynwb", with_remfile)):
        with bench.cache(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            row = bench.measure(section, f"{name}: sweep table", lambda opener=opener: sweep_table(opener))
            row.note = f"{row.megabytes * MB / bench.sizes[cell]:.0%} of the bytes"


# --- 3. many cells ------------------------------------------------------------------------------------


def _many_cells(bench: Bench, link: float) -> None:
    ids = [700000000 + n for n in range(MANY)]
    total = sum(bench.sizes[i] for i in ids)
    section = f"3 sweep tables of {MANY} cells ({total / MB:.0f} MB), Dask, {AT_ONCE} at once"
    print(f"3. {section}", file=sys.stderr)
    runs = [(access, scheduler, None) for access in ("download", "stream") for scheduler in ("threads", "processes")]
    runs += [(access, "processes", link) for access in ("download", "stream")]
    tables, rows = {}, {}
    for access, scheduler, limit in runs:
        bench.network(link=limit)
        with bench.cache():
            assert patchseq_intake.open_catalog().mouse.ephys(specimen_id=ids).cells  # tables, asset index
            lazy = patchseq_intake.open_catalog().mouse.ephys(specimen_id=ids, access=access).to_dask()

            def work(lazy=lazy, key=(access, scheduler, limit)):
                tables[key] = lazy.compute(scheduler=key[1], num_workers=AT_ONCE)

            where = "" if limit is None else f", a {limit / MB:.0f} MB/s link shared by all"
            row = bench.measure(section, f"{access}: to_dask().compute(scheduler={scheduler!r}){where}", work)
            row.note = f"{row.megabytes / row.seconds:.0f} MB/s"
            rows[access, scheduler, limit] = row
    bench.network()
    with bench.cache(keep=(config.TABLES_DIR, config.DANDI_DIR, config.INDEX_DIR)):  # the last run's indexes
        lazy = patchseq_intake.open_catalog().mouse.ephys(specimen_id=ids, access="stream").to_dask()

        def again(lazy=lazy):
            tables["warm"] = lazy.compute(scheduler="threads", num_workers=AT_ONCE)

        row = bench.measure(section, "stream warm (indexes cached): to_dask().compute(scheduler='threads')", again)
        download = min(r.seconds for (a, _, lim), r in rows.items() if a == "download" and lim is None)
        row.note = f"{download / row.seconds:.0f}x faster than the faster download; a second look, in any process"
    first = next(iter(tables.values())).reset_index(drop=True)
    assert all(table.reset_index(drop=True).equals(first) for table in tables.values())
    for access, scheduler, limit in runs:
        if access == "stream":
            download = min(r.seconds for (a, _, lim), r in rows.items() if a == "download" and lim == limit)
            ratio = download / rows[access, scheduler, limit].seconds
            speed = f"{ratio:.1f}x faster" if ratio >= 1 else f"{1 / ratio:.1f}x slower"
            rows[access, scheduler, limit].note += f"; {speed} than the faster download on this network; target >= 3x faster"
    rows["stream", "threads", None].note += " (h5py runs one call at a time in a process: cold reads queue)"


# --- 4. memory -----------------------------------------------------------------------------------------


def _memory(bench: Bench) -> None:
    cell = ONE_CELLS["60 sweeps, v1 headers"].cell
    print("4. memory", file=sys.stderr)
    script = (  # tracemalloc sees numpy's buffers
        "import tracemalloc, patchseq_intake\n"
        f"source = patchseq_intake.open_catalog().human.ephys(specimen_id={cell}, access='stream')\n"
        "source.read()\n"
        "tracemalloc.start()\n"
        "sweep = source.sweep(10)\n"
        "print(tracemalloc.get_traced_memory()[1], sweep.t.nbytes + sweep.v.nbytes + sweep.i.nbytes)\n"
    )
    with bench.cache():
        first_contacts.prepare(cell)
        grown, own = map(int, subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                                             check=True, env=os.environ).stdout.split())
    bench.rows.append(Row("4 memory", "peak memory reading one sweep, stream warm (MB column)", megabytes=grown / MB,
                          note=f"{grown / own:.1f}x the sweep's own arrays ({own / MB:.1f} MB); target < 3x"))


# --- 5. finding the files ---------------------------------------------------------------------------------


def _finding_files(bench: Bench) -> None:
    print("5. finding every mouse cell's file", file=sys.stderr)
    if not (REFERENCE_TABLES.is_dir() and REFERENCE_ASSETS.is_dir()):
        bench.rows.append(Row("5 files", "skipped", note="needs ../shared/reference (real tables and listing)"))
        return
    import requests

    section = "5 every mouse cell's file (4435, tables cached)"
    api = os.environ[config.DANDI_API_ENV]
    _use_tables(bench, real=True)
    read: list = []
    files = lambda: read.append(patchseq_intake.open_catalog().mouse.nwb_files.read())  # noqa: E731
    with bench.cache():
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
    row.note = f"{row.seconds / LOOKED_UP * 4435 / 60:.1f} min and {row.requests // LOOKED_UP * 4435} requests for 4435 cells"
    _use_tables(bench, real=False)


# --- helpers -----------------------------------------------------------------------------------------------


def _median(work: Callable[[], object], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _median_process(code: str, runs: int) -> float:
    return _median(lambda: subprocess.run([sys.executable, "-c", code], check=True, env=os.environ), runs)


_print = print_rows  # features.py prints its table with it


if __name__ == "__main__":
    main()
