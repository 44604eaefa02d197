"""The ``patchseq-intake`` command (also ``python -m patchseq_intake``).

Subcommands: ``cells`` (the metadata of selected cells), ``files`` (their NWB
files as DANDI holds them), ``sweeps`` (a cell's sweep table, or one sweep's
samples), ``fetch`` (NWB files into the cache), ``cache`` (what the cache
holds; clear it) and ``demo``.

A bad input is one line on stderr, ``patchseq-intake: <message>``, and exit
status 1; a usage error is argparse's, with exit status 2.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from . import __version__, config
from .access import ACCESS_MODES
from .atomic import atomic_output
from .errors import ManifestMismatchWarning, PatchseqError
from .filters import OPERATORS, SET_OPERATORS

if TYPE_CHECKING:
    import pandas as pd

    from .catalog import ArchiveCatalog
    from .ephys_source import EphysSource
    from .sweeps import Sweep

PROG = "patchseq-intake"
ARCHIVES = ("human", "mouse")
FORMATS = ("table", "csv", "json", "parquet")


class CachePart(NamedTuple):
    """A subdirectory of the cache, the files in it that count, and what they are."""

    directory: str
    pattern: str
    label: str


CACHE_PARTS = (
    CachePart(config.TABLES_DIR, "*.parquet", "tables"),
    CachePart(config.DANDI_DIR, "*.json", "dandi asset indexes"),
    CachePart(config.NWB_DIR, "*.nwb", "nwb files"),
    CachePart(config.INDEX_DIR, "*.json", "nwb file indexes"),
)


class CommandError(PatchseqError):
    """A request the command cannot answer, such as filters no cell matches."""


class UsageError(Exception):
    """Options that do not go together; reported by argparse, with exit status 2."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default", ManifestMismatchWarning)  # shown even where a caller ignores it
            warnings.showwarning = _show_warning
            args.run(args)
    except UsageError as exc:
        args.usage_error(str(exc))
    except BrokenPipeError:
        _silence_stdout()  # the reader went away, as `| head` does
        return 1
    except (PatchseqError, OSError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


class _HelpFormatter(argparse.HelpFormatter):
    """Wraps one-line texts to the terminal; keeps texts with line breaks (the examples) as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def build_parser() -> argparse.ArgumentParser:
    """The parser of the command and its subcommands."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="The Allen Institute's Patch-seq release through Intake catalogs.",
        epilog="example: patchseq-intake cells human --filter structure == MTG --format csv\n"
        "Run 'patchseq-intake COMMAND --help' for a command's options and examples.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_cells, _add_files, _add_sweeps, _add_fetch, _add_cache, _add_gui, _add_demo):
        add(commands)
    return parser


# --- the subcommands --------------------------------------------------------------------------


def _add_cells(commands: argparse._SubParsersAction) -> None:
    sub = _subcommand(
        commands,
        "cells",
        help="the metadata of the selected cells",
        description="The cell metadata of an archive, one row per cell: every cell, or those "
        "matching the filters. No cell matching the filters is an error.",
        examples=[
            "patchseq-intake cells human",
            "patchseq-intake cells mouse --filter structure in VISp5,VISp4 --filter dendrite_type == aspiny",
            "patchseq-intake cells mouse --columns cell_specimen_id structure age_days --format csv",
            "patchseq-intake cells human -o human_cells.parquet",
        ],
        run=_run_cells,
    )
    _add_table_options(sub)


def _run_cells(args: argparse.Namespace) -> None:
    _emit_table(args, _archive(args.archive).metadata, "cell")


def _add_files(commands: argparse._SubParsersAction) -> None:
    sub = _subcommand(
        commands,
        "files",
        help="the cells' NWB files as DANDI holds them",
        description="The NWB file of every cell that has one in the dandiset version, one row per "
        "cell: cell_specimen_id, ephys_session_id, dandi_path, asset_id, size (bytes) and sha256 "
        "(DANDI's: what downloads are verified against), in_manifest, manifest_sha256 and "
        "manifest_matches (whether the release manifest's size and SHA-256 are DANDI's). "
        "Reads the release tables and the version's asset listing, never an NWB file.",
        examples=[
            "patchseq-intake files mouse --filter in_manifest == false",
            "patchseq-intake files human --filter manifest_matches == false --columns cell_specimen_id size",
            "patchseq-intake files mouse -o mouse_nwb_files.parquet",
        ],
        run=_run_files,
    )
    _add_table_options(sub)
    _add_version_option(sub)


def _run_files(args: argparse.Namespace) -> None:
    versioned = {"version": args.dandi_version} if args.dandi_version else {}
    _emit_table(args, _archive(args.archive).nwb_files, "NWB file", **versioned)


def _emit_table(args: argparse.Namespace, entry: Callable[..., Any], row: str, **parameters: Any) -> None:
    """Write the rows (each a ``row``) of a table entry that ``--filter`` keeps, with ``--columns``.

    No row is an error.
    """
    output_format = _output_format(args)
    filters = _filters(args.filters)
    frame = entry(filters=filters, columns=_columns(args.columns), **parameters).read()
    if frame.empty:
        raise CommandError(f"no {args.archive} {row} matches the filters {filters}")
    _emit(frame, output_format, args.output)


def _add_sweeps(commands: argparse._SubParsersAction) -> None:
    sub = _subcommand(
        commands,
        "sweeps",
        help="a cell's sweep table, or one sweep's samples",
        description="The sweep table of a cell's NWB file, one row per sweep (stimulus code and "
        "name, clamp mode, sampling rate, duration, ...), as IPFX gives it. With --sweep N, the "
        "samples of sweep N instead: t_s (s from the sweep's start), v_mv (mV) and i_pa (pA), "
        "up to the last recorded sample (--all-samples: every stored one).",
        examples=[
            "patchseq-intake sweeps human 541549258",
            "patchseq-intake sweeps mouse 601506507 --access stream --format csv",
            "patchseq-intake sweeps human 541549258 --sweep 42 -o sweep42.parquet",
            "patchseq-intake sweeps human 541549258 --root ~/dandi   # a local copy of the dandiset",
        ],
        run=_run_sweeps,
    )
    _add_archive_argument(sub)
    sub.add_argument("specimen_id", type=int, metavar="SPECIMEN_ID", help="the cell's cell_specimen_id")
    sub.add_argument("--sweep", type=int, metavar="N", help="give the samples of sweep N, not the table")
    sub.add_argument(
        "--all-samples", action="store_true", help="with --sweep: every stored sample, not cut at the recording's end"
    )
    sub.add_argument("--headstage", type=int, metavar="H", help="the headstage to read (default 0)")
    sub.add_argument(
        "--access",
        choices=ACCESS_MODES,
        help="download: the whole verified file into the cache (the default); stream: HTTP "
        "range reads; local: a local copy of the dandiset (the default with --root)",
    )
    sub.add_argument(
        "--root",
        metavar="DIR",
        help=f"for --access local: the directory holding the dandiset (default ${config.LOCAL_ROOT_ENV})",
    )
    _add_version_option(sub)
    _add_output_options(sub)


def _run_sweeps(args: argparse.Namespace) -> None:
    output_format = _output_format(args)
    if args.all_samples and args.sweep is None:
        raise UsageError("--all-samples goes with --sweep N")
    source = _ephys(
        args.archive,
        specimen_id=[args.specimen_id],
        access=_access(args.access, args.root),
        root=args.root,
        version=args.dandi_version,
        headstage=args.headstage,
    )
    if args.sweep is None:
        frame = source.read()
    else:
        sweep = source.sweep(args.sweep, trim=not args.all_samples)
        if sweep.izero:
            warnings.warn(f"sweep {args.sweep} was recorded in I=0 mode, with no command: i_pa is 0", stacklevel=1)
        frame = _samples(sweep)
    _emit(frame, output_format, args.output)


def _add_fetch(commands: argparse._SubParsersAction) -> None:
    sub = _subcommand(
        commands,
        "fetch",
        help="download cells' NWB files into the cache",
        description="Download the NWB files of the named cells, or of the cells matching the "
        "filters (both: the named cells that match), into the cache, each verified against "
        "DANDI's SHA-256 and size of it; files already cached are not fetched again. Prints "
        "the cached files' paths, one per line.",
        examples=[
            "patchseq-intake fetch human 541549258 569835804",
            "patchseq-intake fetch mouse --filter structure == VISp5 --filter dendrite_type == aspiny",
        ],
        run=_run_fetch,
    )
    _add_archive_argument(sub)
    sub.add_argument("specimen_ids", type=int, nargs="*", metavar="SPECIMEN_ID", help="cell_specimen_id of a cell")
    _add_filter_option(sub)
    _add_version_option(sub)


def _run_fetch(args: argparse.Namespace) -> None:
    if not args.specimen_ids and not args.filters:
        raise UsageError("name the cells: SPECIMEN_ID ... or --filter COLUMN OP VALUE")
    source = _ephys(
        args.archive,
        specimen_id=args.specimen_ids,
        filters=_filters(args.filters),
        version=args.dandi_version,
    )
    for path in source.fetch():
        print(path, flush=True)


def _add_cache(commands: argparse._SubParsersAction) -> None:
    sub = _subcommand(
        commands,
        "cache",
        help="where the cache is and what it holds; clear it",
        description="info (the default): the cache directory and what it holds: release tables, "
        "DANDI asset indexes and NWB files, with their counts and sizes. clear: delete them, "
        "without asking (everything in the cache is fetched again when needed); files that "
        f"patchseq-intake did not put there are left alone. Set ${config.CACHE_ENV} to move "
        "the cache.",
        examples=["patchseq-intake cache", "patchseq-intake cache clear"],
        run=_run_cache,
    )
    sub.add_argument(
        "action", nargs="?", choices=("info", "clear"), default="info", metavar="ACTION", help="info or clear"
    )


def _run_cache(args: argparse.Namespace) -> None:
    root = config.cache_dir()
    if args.action == "clear":
        _clear_cache(root)
    else:
        _print_cache_info(root)


def _add_demo(commands: argparse._SubParsersAction) -> None:
    _subcommand(
        commands,
        "demo",
        help="walk through the main job against a local replica (no network needed)",
        description="Start a local replica of DANDI and the release tables on 127.0.0.1, "
        "then filter cells, resolve one to its NWB file, read its sweep table and a sweep.",
        examples=["patchseq-intake demo"],
        run=_run_demo,
    )


def _add_gui(commands: argparse._SubParsersAction) -> None:
    sub = _subcommand(
        commands,
        "gui",
        help="serve the cell browser on 127.0.0.1 (filter cells, open one, see its sweeps)",
        description="Serve the cell browser at http://127.0.0.1:PORT/: an archive's cells with filters, "
        "a cell's metadata, links and sweep table, a sweep's command and response. --demo serves it "
        "on the offline demo's local replica. Needs the gui extra: pip install 'patchseq-intake[gui]'.",
        examples=["patchseq-intake gui", "patchseq-intake gui --archive mouse --port 5007", "patchseq-intake gui --demo"],
        run=_run_gui,
    )
    sub.add_argument("--port", type=int, default=5006, help="port on 127.0.0.1 (0: any free one); default 5006")
    sub.add_argument("--archive", choices=["human", "mouse"], default="human", help="the archive shown first")
    sub.add_argument("--demo", action="store_true", help="on the demo's local replica: no network needed")


def _run_gui(args: argparse.Namespace) -> None:
    from contextlib import nullcontext

    from .browser_server import demo_replica, serve_browser

    with demo_replica() if args.demo else nullcontext():
        server = serve_browser(args.port, args.archive, threaded=True)
        print(f"Serving the cell browser at http://127.0.0.1:{server.port}/ (Ctrl-C to stop)", flush=True)
        try:
            server.join()
        finally:
            server.stop()


def _run_demo(args: argparse.Namespace) -> None:
    from .demo import run_demo

    run_demo()


# --- options shared by subcommands ------------------------------------------------------------


def _subcommand(
    commands: argparse._SubParsersAction,
    name: str,
    *,
    help: str,
    description: str,
    examples: list[str],
    run: Callable[[argparse.Namespace], None],
) -> argparse.ArgumentParser:
    sub = commands.add_parser(
        name,
        help=help,
        description=description,
        epilog="examples:\n" + "\n".join(f"  {example}" for example in examples),
        formatter_class=_HelpFormatter,
    )
    sub.set_defaults(run=run, usage_error=sub.error)
    return sub


def _add_table_options(sub: argparse.ArgumentParser) -> None:
    """ARCHIVE, --filter, --columns, --format and -o: the options of a table's subcommand."""
    _add_archive_argument(sub)
    _add_filter_option(sub)
    sub.add_argument(
        "--columns",
        nargs="+",
        metavar="COLUMN",
        default=[],
        help="the columns to show, in this order (space- or comma-separated; default all)",
    )
    _add_output_options(sub)


def _add_archive_argument(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("archive", choices=ARCHIVES, metavar="ARCHIVE", help="human or mouse")


def _add_filter_option(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--filter",
        dest="filters",
        nargs=3,
        action="append",
        default=[],
        metavar=("COLUMN", "OP", "VALUE"),
        help=f"keep the cells whose COLUMN compares so with VALUE; OP is one of {' '.join(OPERATORS)} "
        "(quote 'not in'); for in and not in, VALUE is a comma-separated list. "
        "Repeat to combine with AND.",
    )


def _add_version_option(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--dandi-version",
        metavar="VERSION",
        help="the dandiset version: a published version id or draft (default: the catalog's)",
    )


def _add_output_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--format",
        choices=FORMATS,
        help="table (for reading), csv, json (a list of records) or parquet (needs -o); "
        "default: from the suffix of -o, else table",
    )
    sub.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")


# --- from options to sources ------------------------------------------------------------------


def _filters(raw: list[list[str]]) -> list[list[Any]]:
    """``--filter`` triples as the drivers take them; a set operator's value is split at commas."""
    return [
        [column, op, [item.strip() for item in value.split(",")] if op in SET_OPERATORS else value]
        for column, op, value in raw
    ]


def _columns(raw: list[str]) -> list[str]:
    """``--columns`` names, given apart or joined by commas."""
    return [name for item in raw for name in item.split(",") if name]


def _access(access: str | None, root: str | None) -> str | None:
    """The access mode: as asked, or ``local`` when only a root is given."""
    if root and access not in (None, "local"):
        raise UsageError(f"--root is for --access local, not --access {access}")
    return "local" if root else access


def _archive(name: str) -> ArchiveCatalog:
    from .catalog import open_catalog

    return open_catalog()[name]


def _ephys(archive: str, **parameters: Any) -> EphysSource:
    """The archive's ephys source, with the parameters given (None: the catalog's default)."""
    given = {name: value for name, value in parameters.items() if value is not None}
    return _archive(archive).ephys(**given)


def _samples(sweep: Sweep) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({"t_s": sweep.t, "v_mv": sweep.v, "i_pa": sweep.i})


# --- output -----------------------------------------------------------------------------------


def _output_format(args: argparse.Namespace) -> str:
    """The asked format, else the one the suffix of ``-o`` names, else ``table``."""
    chosen = args.format
    if chosen is None:
        suffix = Path(args.output).suffix.lstrip(".").lower() if args.output else ""
        chosen = suffix if suffix in FORMATS else "table"
    if chosen == "parquet" and not args.output:
        raise UsageError("--format parquet writes a file: give -o FILE")
    return chosen


def _emit(frame: pd.DataFrame, output_format: str, output: str | None) -> None:
    """Write ``frame`` in ``output_format`` to the file ``output`` (atomically), or to stdout."""
    if output is None:
        sys.stdout.write(_render(frame, output_format))
        sys.stdout.flush()
        return
    with atomic_output(Path(output)) as partial:
        if output_format == "parquet":
            frame.to_parquet(partial, index=False)
        else:
            partial.write_text(_render(frame, output_format))


def _render(frame: pd.DataFrame, output_format: str) -> str:
    if output_format == "csv":
        return frame.to_csv(index=False)
    if output_format == "json":
        return frame.to_json(orient="records") + "\n"
    return frame.to_string(index=False) + "\n"


def _show_warning(message: Warning | str, category: type[Warning], *where: Any, **more: Any) -> None:
    """Warnings as one line of the command's own, without the source location."""
    print(f"{PROG}: warning: {message}", file=sys.stderr)


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that flushing it at exit raises nothing more."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


# --- the cache --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Usage:
    """A number of files and their total size."""

    files: int
    size: int

    @classmethod
    def of(cls, paths: list[Path]) -> _Usage:
        return cls(len(paths), sum(path.stat().st_size for path in paths))


def _files(directory: Path, pattern: str = "*") -> list[Path]:
    return [path for path in directory.rglob(pattern) if path.is_file()] if directory.is_dir() else []


def _print_cache_info(root: Path) -> None:
    if not root.is_dir():
        print(f"cache: {root} (empty: nothing is cached yet)")
        return
    print(f"cache: {root}")
    print(f"  {'':<20} {'files':>6} {'size':>10}")
    for part in CACHE_PARTS:
        usage = _Usage.of(_files(root / part.directory, part.pattern))
        print(f"  {part.label:<20} {usage.files:>6} {_human_size(usage.size):>10}")
    print(f"  {'total':<20} {'':>6} {_human_size(_Usage.of(_files(root)).size):>10}")


def _clear_cache(root: Path) -> None:
    """Delete the cache's parts; the directory too if nothing else is left in it."""
    parts = [root / part.directory for part in CACHE_PARTS if (root / part.directory).is_dir()]
    size = _Usage.of([path for part in parts for path in _files(part)]).size
    for part in parts:
        shutil.rmtree(part)
    if root.is_dir() and not any(root.iterdir()):
        root.rmdir()
    print(f"removed {_human_size(size)} from {root}")


def _human_size(size: float) -> str:
    """``size`` bytes in decimal units: 950 B, 1.2 kB, 45.0 MB."""
    if size < 1000:
        return f"{size:.0f} B"
    for unit in ("kB", "MB", "GB", "TB"):
        size /= 1000
        if size < 1000:
            break
    return f"{size:.1f} {unit}"
