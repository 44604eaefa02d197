"""``patchseq-intake index``: the selected cells' file indexes built ahead of time, into an index store.

For each cell (``--workers`` at a time, a progress bar counting cells): its
index already in the store and sound (judged as a reader judges it) is
``present``; else it is taken from this cache (``cached``) or built in stream
mode (``built``: the headers walked, or a small file downloaded), and written
to the store (and the cache). One line per cell, in the selection's order:
``cell_specimen_id TAB checksum TAB present|cached|built|failed: why``. A run
cut short is run again to finish the rest (after Ctrl-C, the cells already
running finish and are stored, with their lines, and one line on stderr says
so; exit status 130); any failure is exit status 1. The store must outlive the
command: ``http(s)`` (read-only) and ``memory://`` stores are refused.
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import copy_context
from typing import TYPE_CHECKING

from .. import config
from ..access import index_store
from ..catalog import open_catalog
from ..errors import PatchseqError
from .dandisets import ID_HELP, ids_parameter
from .options import (
    CommandError,
    UsageError,
    add_archive_argument,
    add_filter_option,
    add_version_option,
    filters_given,
    subcommand,
    whole_number,
)

if TYPE_CHECKING:
    from ..dandi.nwb_files import CellFile

DEFAULT_WORKERS = 4


def add_index(commands: argparse._SubParsersAction) -> None:
    sub = subcommand(
        commands,
        "index",
        help="build the selected cells' file indexes ahead of time, into an index store shared beyond this cache",
        description="Build the index of each selected cell's NWB file (its sweep tables, where each sweep's samples "
        "lie) in stream mode and write it to the index store (--store, else $" + config.INDEX_STORE_ENV + ") and this "
        "cache, so that every reader sharing the store, a Dask worker, a lab member or a new machine, reads a sweep "
        "table in one request and walks no file. The named cells, or those matching the filters (neither: every "
        "cell of the archive; on a dandiset beyond 2020, its recordings by ephys_session_id). Prints one line per "
        "cell: cell_specimen_id (a recording's ephys_session_id, else its dandi_path), a tab, the file's checksum, a "
        "tab, and "
        "present (already in the store, sound), cached (taken from this cache), built, or failed: why. Cells "
        "whose index the store holds are skipped, so a run cut short is finished by running it again (Ctrl-C: "
        "the cells already being indexed finish, are stored and printed; exit status 130); any failure makes the "
        "exit status 1. The store must outlive the command: not http(s) (read-only) nor memory://.",
        examples=[
            "patchseq-intake index human --store /shared/lab/patchseq-indexes",
            "patchseq-intake index mouse --filter structure == VISp5 --store s3://lab-bucket/indexes --workers 8",
            "patchseq-intake index human 541549258 569835804   # with $" + config.INDEX_STORE_ENV + " set",
            "patchseq-intake index human_l1 --store /shared/lab/patchseq-indexes   # every recording of 000630",
        ],
        run=_run_index,
    )
    add_archive_argument(sub)
    sub.add_argument("specimen_ids", type=whole_number(), nargs="*", metavar="SPECIMEN_ID", help=ID_HELP)
    add_filter_option(sub)
    sub.add_argument("--store", metavar="URL",
                     help="the index store: a folder, or a file://, s3:// or gs:// URL (default $"
                     f"{config.INDEX_STORE_ENV}); http(s) stores are read-only, memory:// ones end with the command")
    sub.add_argument("--workers", type=whole_number(64, low=1), default=DEFAULT_WORKERS, metavar="N",
                     help=f"cells indexed at once (default {DEFAULT_WORKERS})")
    add_version_option(sub)


def _run_index(args: argparse.Namespace) -> None:
    from ..access.cell_index import store_name
    from ..transport.progress import count_bar

    url = _store(args.store)
    try:
        index_store.get(url, store_name("0" * 64))  # a store that cannot be read is said once, not once a cell
    except index_store.StoreUnusable as exc:
        raise CommandError(str(exc)) from None
    given = {**ids_parameter(args.archive, args.specimen_ids or None), "version": args.dandi_version}
    cells = open_catalog()[args.archive].ephys(
        filters=filters_given(args.filters), **{name: value for name, value in given.items() if value is not None}
    ).cells
    failed = printed = 0
    pool = ThreadPoolExecutor(args.workers)
    outcomes: list[Future[str]] = []
    try:
        with count_bar(len(cells), "indexing", "cell") as bar:
            outcomes = [pool.submit(copy_context().run, _index_one, cell, url) for cell in cells]  # this one's settings
            for outcome in outcomes:
                outcome.add_done_callback(lambda _: bar.update(1))
            for cell, outcome in zip(cells, outcomes, strict=True):
                failed += _print_line(cell, outcome.result())
                printed += 1
    except KeyboardInterrupt:
        pool.shutdown(wait=True, cancel_futures=True)  # the cells not started are left for the next run
        finished = [(cell, outcome.result()) for cell, outcome in zip(cells[printed:], outcomes[printed:])
                    if outcome.done() and not outcome.cancelled() and outcome.exception() is None]
        for cell, said in finished:  # those running when it came finished, and were stored: said too
            _print_line(cell, said)
        print(f"patchseq-intake index: interrupted: {printed + len(finished)} of {len(cells)} cells done (their "
              "lines above); running the same command again finishes the rest", file=sys.stderr, flush=True)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if failed:
        raise CommandError(f"{failed} of {len(cells)} cells' indexes could not be built or stored in {url} (see "
                           "their lines); run the command again to retry them")


def _store(given: str | None) -> str:
    """The store to write to: ``--store``'s (a plain path made absolute here), else the variable's.

    ``UsageError`` naming ``--store`` and the variable for none, for a store this command cannot fill
    (``http(s)``: read-only; ``memory://``: it ends with the command), or for a mistyped URL.
    """
    try:
        url = index_store.in_force(None if given is None else index_store.located(given))
    except ValueError as exc:  # SettingError too: the variable's value
        raise UsageError(f"--store {given}: {exc}" if given is not None else str(exc)) from None
    if url is None:
        raise UsageError(f"name the index store to write to: --store URL, or set {config.INDEX_STORE_ENV}")
    kind = index_store.protocol(url)
    if kind in index_store.READ_ONLY_PROTOCOLS:
        raise UsageError(f"the index store {url} is read-only (http): give --store a folder, or a file://, s3:// or "
                         "gs:// URL")
    if kind == "memory":
        raise UsageError(f"the index store {url} lives in this command's memory, and would end with it: the store "
                         "must outlive the command: give --store a folder, or a file://, s3:// or gs:// URL")
    return url


def _print_line(cell: CellFile, said: str) -> bool:
    """Print the cell's line: its id, its file's checksum, what was done; whether it failed."""
    print(f"{cell.key}\t{cell.checksum.value if cell.checksum else '-'}\t{said}", flush=True)
    return said.startswith("failed")


def _index_one(cell: CellFile, url: str) -> str:
    """Make sure the store at ``url`` holds the sound index of ``cell``'s file: what was done, or ``failed: why``."""
    from ..access.cell_index import STREAMED, judge, load_index, save_index, store_name
    from ..access.cell_reader import CellReader
    from ..access.modes import Access

    if cell.checksum is None:
        return "failed: DANDI gives no checksum of its file, to name and tie an index to"
    checksum, name = cell.checksum.value, store_name(cell.checksum.value)
    try:
        found = index_store.get(url, name)
        problem = None if found is None else judge(found, checksum, cell.size)[1]
        if found is not None and problem is None:
            return "present"
        index = load_index(checksum, cell.size, store="")
        done = "cached"
        if index is None:
            with index_store.using(""):  # the store was just asked: the reader builds, this writes
                index = CellReader(cell, Access("stream")).index()
            done = "built"
        if index.provenance == STREAMED and index.etag is None:
            return "failed: no dandi-etag to tie the streamed bytes to: the index is not stored"
        save_index(index, store="")  # into this cache, if it lacks it
        index_store.put(url, name, index.sealed())
    except index_store.StoreUnusable as exc:
        return f"failed: {exc}"
    except (PatchseqError, OSError) as exc:
        return f"failed: {type(exc).__name__}: {exc}"
    return done if problem is None else f"{done} (replaced the store's, {problem})"
