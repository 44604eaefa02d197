"""Issue 20's cases for ``run.py``: stream mode's first contact with a file, and what spares it.

- ``cold``: a cold stream case with the first contact measured (``auto``,
  the default) or forced to walk the headers (``walk``), noting where the
  index came from (its provenance: "verified download" or "stream") and the
  choice ``access.first_contact`` logged (DEBUG, with the link it measured);
- ``walk_layouts`` (section 6): the walk's waves on each layout variant of
  the second writer (``testing.mies_recorded.variants()``) and on the
  benchmark's own writer, both header versions, step by step
  (``testing.waves.first_contact``: its own server in this process, the
  benchmark's latency, no bandwidth limit);
- ``slow_link`` (section 7): 100 ms a request and one 10 MB/s link for all
  connections: download against the cold sweep table;
- ``index_store`` (section 8): the indexes written into a store folder by a
  first reader, then read with an empty cache from the folder (a shared file
  system: no request) and from the same folder served over HTTP by the
  replica (a request, a round trip);
- ``print_targets``: the issue's targets, met or missed, from those rows.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from bench_common import MB, ONE, ONE_CELLS, Bench, Row

import patchseq_intake
from patchseq_intake import config
from patchseq_intake.testing.mies import MiesLayout, write_mies_nwb
from patchseq_intake.testing.mies_recorded import recorded_sweeps, variants, write_recorded_nwb
from patchseq_intake.testing.waves import first_contact

WAYS = ("auto", "walk")
"""``PATCHSEQ_INTAKE_FIRST_CONTACT`` of the cold cases: measured, and the walk alone."""
DECISIONS = "patchseq_intake.access.first_contact"
"""The logger ``access.first_contact`` says its choice on (DEBUG)."""
MAX_WAVES = 12
TIMES_THE_DOWNLOAD = 1.2
SLOW_LATENCY_S = 0.1
SLOW_LINK = 10 * MB
"""Section 7's network: each request's latency; one link for all connections (each connection gets it too)."""
FASTER_ON_SLOW = 3.0
LAYOUT_SWEEPS = 60
KEEP = (config.TABLES_DIR, config.DANDI_DIR)
"""What a cold case's cache holds: the tables and the asset index, fetched once per dandiset version in real use."""
STORE_ROUTE = "/index-store"


def source(cell: int, access: str):
    """The cell's ephys entry, from a new catalog (nothing held in memory from the last case)."""
    return patchseq_intake.open_catalog().human.ephys(specimen_id=cell, access=access)


def prepare(cell: int) -> None:
    """The tables and the asset index, fetched once per dandiset version in real use: not part of a read."""
    assert patchseq_intake.open_catalog().human.ephys(specimen_id=cell).cells


@contextmanager
def first_contact_as(way: str) -> Iterator[None]:
    """``PATCHSEQ_INTAKE_FIRST_CONTACT`` set to ``way`` in the block."""
    with _environment(config.FIRST_CONTACT_ENV, way):
        yield


def walking():
    """The walk alone, whatever the link."""
    return first_contact_as("walk")


@contextmanager
def store_at(url: str) -> Iterator[None]:
    """``PATCHSEQ_INTAKE_INDEX_STORE`` set to ``url`` in the block."""
    with _environment(config.INDEX_STORE_ENV, url):
        yield


@contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


class _Said(logging.Handler):
    """The messages of one logger, kept."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def decisions() -> Iterator[list[str]]:
    """What ``access.first_contact`` decided in the block, each choice shortened (numbers to 3 digits)."""
    logger = logging.getLogger(DECISIONS)
    said, level = _Said(), logger.level
    logger.addHandler(said)
    logger.setLevel(logging.DEBUG)
    shortened: list[str] = []
    try:
        yield shortened
    finally:
        logger.removeHandler(said)
        logger.setLevel(level)
        shortened.extend(_short(message.removeprefix("first contact: ")) for message in said.messages)


def _short(message: str) -> str:
    """``access.first_contact``'s message with its figures in s and MB/s, 3 digits."""
    message = re.sub(r"Link\(rtt_s=([0-9.e+-]+), connection_bytes_per_s=([0-9.e+-]+)\)",
                     lambda m: f"measured: round trip {float(m[1]):.3g} s, a connection {float(m[2]) / MB:.3g} MB/s",
                     message)
    message = re.sub(r"([0-9.e+-]+) B/s", lambda m: f"{float(m[1]) / MB:.3g} MB/s", message)
    return re.sub(r"\d+\.\d{4,}", lambda m: f"{float(m.group()):.3g}", message)


def speed(ratio: float) -> str:
    """``ratio`` (another's time over this one's) as "N.Nx faster" or "N.Nx slower"."""
    return f"{ratio:.1f}x faster" if ratio >= 1 else f"{1 / ratio:.1f}x slower"


def cold(bench: Bench, section: str, cell: int, way: str, case: str, work: Callable[[], object],
         download: Row, fetched: Row | None = None, runs: int = 1) -> Row:
    """A cold stream case (each run from a cache holding the tables and the asset index) with the first contact
    ``way``; the median of ``runs``.

    Its note: the bytes' share, its time against ``download`` (the sweep table by download mode) and
    ``fetched`` (the verified file alone), where the index came from, the choice logged, the target.
    """
    def attempt() -> tuple[Row, tuple[list[str], str]]:
        with bench.cache(keep=KEEP), first_contact_as(way), decisions() as said:
            row = bench.measure(section, f"stream cold, first contact {way}: {case}", work)
            return row, (said, provenance(cell))

    row, (said, built_from) = bench.median(runs, attempt)
    size = bench.sizes[cell]
    notes = [row.note] if row.note else []
    notes.append(f"{row.megabytes * MB / size:.0%} of the bytes")
    if fetched is not None:
        notes.append(f"{row.seconds / download.seconds:.2f}x the download")
        notes.append(f"{row.seconds / fetched.seconds:.2f}x the verified file alone")
    else:
        notes.append(f"{speed(download.seconds / row.seconds)} than the download")
    notes.append(f"index from: {built_from}")
    notes.extend(f"chose {message}" for message in said)
    if way == "walk":
        notes.append(f"target <= {MAX_WAVES} waves")
    elif fetched is not None:
        notes.append(f"target <= {TIMES_THE_DOWNLOAD}x the download")
    else:
        notes.append(f"target >= {FASTER_ON_SLOW:g}x faster than the download")
    row.note = "; ".join(notes)
    return row


def provenance(cell: int) -> str:
    """How the cached index of the cell's file was built ("verified download" or "stream"); "none" if not cached."""
    from patchseq_intake.access.cell_index import load_index

    file = source(cell, "stream").cells[0]
    index = load_index(file.checksum.value, file.size, store="")  # the cache's only
    return "none" if index is None else index.provenance


# --- 6. the walk's waves by layout ------------------------------------------------------------------------


def walk_layouts(folder: Path, latency_s: float) -> tuple[list[Row], str]:
    """Section 6's rows, and the second writer's variant whose walk moved most bytes (both header versions together:
    its waves are bounded, its time is mostly the client's work, which the machine's load makes noisy)."""
    print("6. the walk's waves by layout", file=sys.stderr)
    folder.mkdir(parents=True, exist_ok=True)
    section = f"6 the walk's waves, {LAYOUT_SWEEPS} sweeps, each layout"
    rows, by_variant = [], {}
    for writer, version2 in ((name, v2) for name in ("benchmark writer", *variants()) for v2 in (False, True)):
        path = folder / f"{writer.replace(' ', '-')}-v{2 if version2 else 1}.nwb"
        ids = dict(specimen_id=1, session_id=2, subject_id=3, seed=len(rows))
        if writer == "benchmark writer":
            sweeps = [spec for spec in recorded_sweeps(LAYOUT_SWEEPS)]
            write_mies_nwb(path, sweeps=sweeps, layout=MiesLayout(newer_mies=version2), **ids)
        else:
            layout = replace(variants()[writer], version2=version2)
            write_recorded_nwb(path, sweeps=recorded_sweeps(LAYOUT_SWEEPS), layout=layout, **ids)
        walk = first_contact(path, latency_s=latency_s)
        path.unlink()
        steps = ", ".join(f"{step} {cost.waves} ({cost.seconds:.2f} s)" for step, cost in walk.steps.items())
        name = writer if writer == "benchmark writer" else f"second writer, {writer!r}"
        row = Row(section, f"{name}, v{2 if version2 else 1} headers ({walk.size / MB:.0f} MB): cold walk",
                  walk.total.seconds, walk.total.bytes / MB, walk.total.requests, walk.total.waves,
                  f"{walk.share:.0%} of the bytes; waves (seconds) per step: {steps}; target <= {MAX_WAVES} waves")
        rows.append(row)
        print(f"  {row.case}: {walk.total.waves} waves", file=sys.stderr)
        if writer != "benchmark writer":
            by_variant[writer] = by_variant.get(writer, 0) + walk.total.bytes
    worst = max(by_variant, key=by_variant.get)
    for row in rows:
        if f"{worst!r}" in row.case:
            row.note += "; the variant section 2's second-writer files use (the walk's most bytes)"
    return rows, worst


# --- 7. a slow link ------------------------------------------------------------------------------------------


def slow_link(bench: Bench, label: str, section: str) -> None:
    """Download against the cold sweep table (auto and walk), at ``SLOW_LATENCY_S`` and one ``SLOW_LINK``."""
    cell = ONE_CELLS[label].cell
    section = f"{section}, {SLOW_LATENCY_S * 1e3:.0f} ms, one {SLOW_LINK / MB:.0f} MB/s link"
    print(f"7. {section}", file=sys.stderr)
    with bench.cache():
        prepare(cell)
    bench.network(SLOW_LATENCY_S, SLOW_LINK, SLOW_LINK)
    try:
        with bench.cache(keep=KEEP):
            download = bench.measure(section, "download: sweep table (the file, verified, indexed)",
                                     lambda: source(cell, "download").read())
        download.note = "the time the cold sweep table is compared with"
        bench.found[label, "slow download"] = download
        for way in WAYS:
            row = cold(bench, section, cell, way, "sweep table", lambda: source(cell, "stream").read(), download)
            bench.found[label, f"slow {way} sweep table"] = row
    finally:
        bench.network()


# --- 8. a populated index store ----------------------------------------------------------------------------


def index_store(bench: Bench, sections: dict[str, str]) -> None:
    """The indexes written into a store folder by ``patchseq-intake index``; then, with an empty cache, read from it."""
    folder = bench.scratch / "index-store"
    print("8. a populated index store", file=sys.stderr)
    cells = [str(ONE_CELLS[label].cell) for label in sections]
    with bench.cache():
        for cell in cells:
            prepare(int(cell))
    command = ["index", "human", *cells, "--store", str(folder)]
    done = []
    with bench.cache(keep=KEEP):
        row = bench.measure(f"8 {len(cells)} cells of section 2, index store",
                            f"patchseq-intake {' '.join(command[:2])} <{len(cells)} ids> --store FOLDER: the store "
                            "populated (a new process, empty cache)",
                            lambda: done.append(subprocess.run([sys.executable, "-c", CLI, *command], env=os.environ,
                                                               capture_output=True, text=True, check=True).stdout))
    said = [line.split("\t")[-1] for line in done[0].splitlines()]
    row.note = ", ".join(f"{said.count(what)} {what}" for what in sorted(set(said))) + (
        "; the store a local folder; Python's start and imports included")
    served = bench.replica.serve_folder(STORE_ROUTE, folder)
    for kind, url in (("folder (shared file system)", str(folder)), ("http (the folder served by the replica)", served)):
        with store_at(url):
            for label, section in sections.items():
                _from_store(bench, label, f"{section}, index store", kind)


CLI = "import sys; from patchseq_intake.cli import main; sys.exit(main())"
"""The package's command line, in the interpreter running the benchmark (``python -c CLI index ...``)."""


def _from_store(bench: Bench, label: str, section: str, kind: str) -> None:
    """The sweep table, and one sweep, each with an empty cache, from the store; and one sweep in a new process."""
    cell = ONE_CELLS[label].cell
    http = kind.startswith("http")
    for case, work, target in (
        ("sweep table", lambda: source(cell, "stream").read(), 1),
        ("one sweep", lambda: source(cell, "stream").sweep(ONE), 2),
    ):
        with bench.cache(keep=KEEP):
            row = bench.measure(section, f"store {kind}, empty cache: {case}", work)
            row.note = f"the store's index, built from: {provenance(cell)}"
            if http:
                row.note += f"; target {target} round trip{'s' if target > 1 else ''}"
                bench.found[label, f"store {case}"] = row
            else:
                row.note += "; the store's reads are no requests to the replica"
    if http:
        script = ("import patchseq_intake\n"
                  f"patchseq_intake.open_catalog().human.ephys(specimen_id={cell}, access='stream').sweep({ONE})\n")
        with bench.cache(keep=KEEP):
            row = bench.measure(section, f"store {kind}, empty cache, a new process: one sweep",
                                lambda: subprocess.run([sys.executable, "-c", script], check=True, env=os.environ))
            row.note = "Python's start and imports included; target 2 round trips"
            bench.found[label, "store new process"] = row


# --- the targets -------------------------------------------------------------------------------------------


def print_targets(bench: Bench, labels: list[str]) -> None:
    """Issue 20's targets against this run's rows: what each file gave, and whether every file met it."""
    found = bench.found

    def each(key: str, figure: Callable[[str, Row], float], fmt: str | Callable[[float], str],
             ok: Callable[[float], bool]) -> tuple[str, str]:
        shown = [(label, figure(label, found[label, key])) for label in labels if (label, key) in found]
        if not shown:
            return "not run", ""
        text = "; ".join(f"{label}: {fmt(value) if callable(fmt) else fmt.format(value)}" for label, value in shown)
        return text, "yes" if all(ok(value) for _, value in shown) else "**no**"

    def times_download(label: str, row: Row) -> float:
        return row.seconds / found[label, "download"].seconds

    def faster_on_slow(label: str, row: Row) -> float:
        return found[label, "slow download"].seconds / row.seconds

    walks = [(label, found[label, "walk sweep table"].waves) for label in labels if (label, "walk sweep table") in found]
    walks += [(row.case.removesuffix(": cold walk"), row.waves) for row in bench.rows if row.section.startswith("6 ")]
    below = f"<= {TIMES_THE_DOWNLOAD}x the download's sweep table"
    targets = [
        (f"40 ms: cold sweep table (auto) {below}",
         *each("auto sweep table", times_download, "{:.2f}x", lambda x: x <= TIMES_THE_DOWNLOAD)),
        (f"40 ms: cold one sweep (auto) {below}",
         *each("auto one sweep", times_download, "{:.2f}x", lambda x: x <= TIMES_THE_DOWNLOAD)),
        (f"{SLOW_LATENCY_S * 1e3:.0f} ms, {SLOW_LINK / MB:.0f} MB/s: cold sweep table (auto) >= {FASTER_ON_SLOW:g}x "
         "faster than the download", *each("slow auto sweep table", faster_on_slow, speed,
                                            lambda x: x >= FASTER_ON_SLOW)),
        (f"walk: <= {MAX_WAVES} waves on every file, both writers, both header versions",
         "; ".join(f"{name}: {n}" for name, n in walks) or "not run",
         ("yes" if all(n <= MAX_WAVES for _, n in walks) else "**no**") if walks else ""),
        ("populated store (http), empty cache: sweep table 1 round trip",
         *each("store sweep table", lambda _, row: row.waves, "{:.0f}", lambda n: n <= 1)),
        ("populated store (http), empty cache: one sweep 2 round trips",
         *each("store one sweep", lambda _, row: row.waves, "{:.0f}", lambda n: n <= 2)),
        ("warm sweep table: no request",
         *each("warm sweep table", lambda _, row: row.requests, "{:.0f}", lambda n: n == 0)),
        ("warm one sweep: one round trip", *each("warm one sweep", lambda _, row: row.waves, "{:.0f}", lambda n: n == 1)),
    ]
    print("\n| target | result | met |\n|---|---|---|")
    for target, result, met in targets:
        print(f"| {target} | {result} | {met} |")
