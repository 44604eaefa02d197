"""The ``patchseq-intake`` command (also ``python -m patchseq_intake``).

Subcommands: ``cells`` (the metadata of selected cells), ``files`` (their NWB
files as DANDI holds them; with ``--technique``, their SWC files and
transcriptomes on BIL and NeMO), ``sweeps`` (a cell's sweep table, or one
sweep's samples), ``fetch`` (those files into the cache), ``morphology`` (a
cell's reconstruction) and ``expression`` (cells x genes), the techniques
other than NWB's in ``release_commands``, ``features`` (IPFX's features of
cells, in ``features_command``), ``index`` (cells' file indexes built ahead
of time into an index store, in ``index_command``), ``cache`` (what the cache holds;
clear it, in ``cache_command``), ``gui`` (the cell browser) and ``demo``
(``demo``: the main job against a local replica). ``options`` holds the
arguments subcommands share, ``output`` what they write.

A bad input is one line on stderr, ``patchseq-intake: <message>``, and exit
status 1 (what the file system refuses in the cache names the file and what
to do); a usage error is argparse's, with exit status 2.

The top of the pipeline: may import anything in the package (the catalog,
the drivers, ``gui``, and ``testing`` for the demo); nothing imports it.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import config
from ..access.modes import ACCESS_MODES
from ..errors import DeviceChoiceError, ManifestMismatchWarning, PatchseqError, UnknownCellError
from ..features.ipfx_library import IpfxMissingError
from ..gui.serving import port_number
from ..version import __version__
from .cache_command import add_cache
from .dandisets import ID_HELP, command_words, id_word, ids_parameter, is_2020, only_2020
from .features_command import add_features
from .index_command import add_index
from .options import (
    ARCHIVE_HELP,
    EPHYS,
    CommandError,
    HelpFormatter,
    UsageError,
    access_given,
    add_accept_option,
    add_archive_argument,
    add_file_type_option,
    add_filter_option,
    add_output_options,
    add_table_options,
    add_technique_option,
    add_version_option,
    archive_name,
    columns_given,
    filter_words,
    filters_given,
    in_command_words,
    subcommand,
    whole_number,
)
from .output import chosen_format, emit, sweep_samples
from .release_commands import add_expression, add_morphology, nwb_fetch_flags, release_fetch, release_files_entry
from .sessions_command import add_sessions

if TYPE_CHECKING:
    from ..catalog import ArchiveCatalog
    from ..drivers.ephys import EphysSource

PROG = "patchseq-intake"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default", ManifestMismatchWarning)  # shown even where a caller ignores it
            warnings.showwarning = _show_warning
            config.check()
            args.run(args)
    except UsageError as exc:
        args.usage_error(str(exc))
    except BrokenPipeError:
        _silence_stdout()  # the reader went away, as `| head` does
        return 1
    except UnknownCellError as exc:
        hint = f": patchseq-intake {args.command} {exc.elsewhere} ..." if exc.elsewhere else ""
        print(f"{PROG}: {exc.without_advice}{hint}", file=sys.stderr)
        return 1
    except (PatchseqError, OSError) as exc:
        message = in_command_words(_in_the_cache(exc), getattr(args, "filters", None) or [])
        print(f"{PROG}: {command_words(message, args.command, getattr(args, 'archive', None))}", file=sys.stderr)
        return 1
    except IpfxMissingError as exc:  # an ImportError: the features extra is not installed
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The parser of the command and its subcommands."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="The Allen Institute's Patch-seq release through Intake catalogs.",
        epilog="example: patchseq-intake cells human --filter structure == MTG --format csv\n"
        "Run 'patchseq-intake COMMAND --help' for a command's options and examples.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_cells, _add_files, _add_sweeps, _add_fetch, add_morphology, add_expression, add_features, add_index,
                add_sessions, add_cache, _add_gui, _add_demo):
        add(commands)
    return parser


# --- the subcommands --------------------------------------------------------------------------


def _add_cells(commands: argparse._SubParsersAction) -> None:
    sub = subcommand(
        commands,
        "cells",
        help="the metadata of the selected cells (a dandiset beyond 2020: its sessions table)",
        description="The cell metadata of an archive, one row per cell: every cell, or those "
        "matching the filters. On a dandiset beyond the 2020 release (any but human and mouse), its sessions "
        "table instead, one row per NWB file: ephys_session_id, donor, species, sex, age_days, dandiset, version, "
        "dandi_path, asset_id, size, sha256, dandisets, chosen_because, copies_differ, other_copies. "
        "No row matching the filters is an error.",
        examples=[
            "patchseq-intake cells human",
            "patchseq-intake cells human_interneurons --filter donor == 1000181910   # or cells 000636, cells 636",
            "patchseq-intake cells mouse --filter structure in VISp5,VISp4 --filter dendrite_type == aspiny",
            "patchseq-intake cells mouse --columns cell_specimen_id structure age_days --format csv",
            "patchseq-intake cells human -o human_cells.parquet",
        ],
        run=_run_cells,
    )
    add_table_options(sub)


def _run_cells(args: argparse.Namespace) -> None:
    catalog = _archive(args.archive)
    _emit_table(args, *((catalog.metadata, "cell") if is_2020(args.archive) else (catalog.sessions, "recording")))


def _add_files(commands: argparse._SubParsersAction) -> None:
    sub = subcommand(
        commands,
        "files",
        help="the cells' files: NWB files as DANDI holds them, or (--technique) SWC files and transcriptomes",
        description="The NWB file of every cell that has one in the dandiset version, one row per "
        "cell: cell_specimen_id, ephys_session_id, dandi_path, asset_id, size (bytes) and sha256 "
        "(DANDI's: what downloads are verified against), in_manifest, manifest_sha256 and "
        "manifest_matches (whether the release manifest's size and SHA-256 are DANDI's). "
        "Reads the release tables and the version's asset listing, never an NWB file. "
        "With --technique morphology or transcriptomics, the release's files on BIL or NeMO instead, one row "
        "per file: cell_specimen_id (empty for the expression matrices), technique, file_type, file_name, "
        "size (bytes) and sha256 (the manifest's, of the file itself, also where it is packed in a tar), "
        "archive, manifest_uri (the manifest's dead link), url (where it is fetched from today), packed_in (the "
        "tar at url holding it), and what this cache fetched: bytes_match, found_url, found_name, found_sha256. "
        "On a dandiset beyond the 2020 release, its NWB files are its sessions table (as cells gives it); it has no "
        "--technique but the NWB files'.",
        examples=[
            "patchseq-intake files mouse --filter in_manifest == false",
            "patchseq-intake files human --filter manifest_matches == false --columns cell_specimen_id size",
            "patchseq-intake files mouse -o mouse_nwb_files.parquet",
            "patchseq-intake files human --technique morphology --filter file_type == transformed_swc",
            "patchseq-intake files mouse --technique transcriptomics --filter file_type == csv --columns file_name url packed_in",
            "patchseq-intake files human_l1 --columns ephys_session_id dandi_path size",
        ],
        run=_run_files,
    )
    add_table_options(sub)
    add_technique_option(sub, "lists")
    add_version_option(sub)


def _run_files(args: argparse.Namespace) -> None:
    if args.technique != EPHYS:
        only_2020(args.archive, "files of other techniques than the NWB files", f"--technique {args.technique}")
        _emit_table(args, release_files_entry(args), f"{args.technique} file", technique=args.technique)
        return
    versioned = {"version": args.dandi_version} if args.dandi_version else {}
    catalog = _archive(args.archive)
    _emit_table(args, catalog.nwb_files if is_2020(args.archive) else catalog.sessions, "NWB file", **versioned)


def _emit_table(args: argparse.Namespace, entry: Callable[..., Any], row: str, **parameters: Any) -> None:
    """Write the rows (each a ``row``) of a table entry that ``--filter`` keeps, with ``--columns``.

    No row is an error.
    """
    output_format = chosen_format(args)
    filters = filters_given(args.filters)
    frame = entry(filters=filters, columns=columns_given(args.columns), **parameters).read()
    if frame.empty:
        raise CommandError(f"no {args.archive} {row} matches {' '.join(map(filter_words, filters))}")
    emit(frame, output_format, args.output)


def _add_sweeps(commands: argparse._SubParsersAction) -> None:
    sub = subcommand(
        commands,
        "sweeps",
        help="a cell's (or recording's) sweep table, or one sweep's samples (or an NWB file's: --file)",
        description="The sweep table of a cell's NWB file (on a dandiset beyond 2020: a recording's, named by its "
        "ephys_session_id), one row per sweep (stimulus code and "
        "name, clamp mode, device, sampling rate, duration, ...), as IPFX gives it. With --sweep N, the "
        "samples of sweep N instead: t_s (s from the sweep's start), v_mv (mV) and i_pa (pA), "
        "up to the last recorded sample (--all-samples: every stored one). With --file PATH, the same "
        "of any NWB 2 file MIES wrote, read where it lies (no archive, no cell, no network).",
        examples=[
            "patchseq-intake sweeps human 541549258",
            "patchseq-intake sweeps mouse 601506507 --access stream --format csv",
            "patchseq-intake sweeps human 541549258 --sweep 42 -o sweep42.parquet",
            "patchseq-intake sweeps human 541549258 --root ~/dandi   # a local copy of the dandiset",
            "patchseq-intake sweeps human_l1 839897299 --sweep 5   # a recording of 000630, by its ephys_session_id",
            "patchseq-intake sweeps --file recording.nwb",
            "patchseq-intake sweeps --file recording.nwb --device ITC18USB_Dev_0 --sweep 0",
        ],
        run=_run_sweeps,
    )
    add_archive_argument(sub, nargs="?")
    sub.add_argument("specimen_id", nargs="?", type=whole_number(), metavar="SPECIMEN_ID", help=ID_HELP)
    sub.add_argument("--file", metavar="PATH", help="read this NWB file instead of a cell's (no ARCHIVE, no SPECIMEN_ID)")
    sub.add_argument("--sweep", type=whole_number(), metavar="N", help="give the samples of sweep N, not the table")
    sub.add_argument(
        "--all-samples", action="store_true", help="with --sweep: every stored sample, not cut at the recording's end"
    )
    sub.add_argument("--headstage", type=whole_number(7), metavar="H", help="the headstage to read, 0 to 7 (default 0)")
    sub.add_argument(
        "--device",
        metavar="D",
        help="the device whose sweeps to read, where several recorded the headstage (e.g. ITC18USB_Dev_0; "
        "default: every device's in the table, and --sweep N of the one device that recorded it)",
    )
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
    add_version_option(sub)
    add_output_options(sub)


def _run_sweeps(args: argparse.Namespace) -> None:
    output_format = chosen_format(args)
    if args.all_samples and args.sweep is None:
        raise UsageError("--all-samples goes with --sweep N")
    source = _sweeps_source(args)
    try:
        if args.sweep is None:
            frame = source.read()
        else:
            sweep = source.sweep(args.sweep, trim=not args.all_samples)
            if sweep.izero:
                warnings.warn(f"sweep {args.sweep} was recorded in I=0 mode, with no command: i_pa is 0", stacklevel=1)
            frame = sweep_samples(sweep)
    except DeviceChoiceError as exc:
        raise CommandError(f"{exc.what}: choose one with {' or '.join(f'--device {d}' for d in exc.devices)}") from None
    emit(frame, output_format, args.output)


def _sweeps_source(args: argparse.Namespace) -> Any:
    """The source ``sweeps`` reads: the NWB file of ``--file``, or the cell ARCHIVE SPECIMEN_ID (usage errors else)."""
    if args.file is None:
        if args.archive is None or args.specimen_id is None:
            raise UsageError("name a cell, ARCHIVE SPECIMEN_ID (e.g. human 541549258), or an NWB file: --file PATH "
                             "(on a dandiset beyond 2020, a recording by its ephys_session_id: human_l1 839897299)")
        return _ephys(
            args.archive,
            **ids_parameter(args.archive, [args.specimen_id]),
            access=access_given(args.access, args.root),
            root=args.root,
            version=args.dandi_version,
            headstage=args.headstage,
            device=args.device,
        )
    if args.archive is not None or args.specimen_id is not None:
        raise UsageError("--file reads the NWB file named: give no ARCHIVE or SPECIMEN_ID with it")
    given = [flag for flag, value in (("--access", args.access), ("--root", args.root),
                                      ("--dandi-version", args.dandi_version)) if value is not None]
    if given:
        verb = "choose" if len(given) > 1 else "chooses"
        raise UsageError(f"{' and '.join(given)} {verb} how a cell's file is reached: not with --file")
    from ..drivers.nwb_file import NwbFileSource

    return NwbFileSource(args.file, headstage=args.headstage or 0, device=args.device)


def _add_fetch(commands: argparse._SubParsersAction) -> None:
    sub = subcommand(
        commands,
        "fetch",
        help="download cells' files into the cache: NWB files, or (--technique) SWC files and transcriptomes",
        description="Download the NWB files of the named cells, or of the cells matching the "
        "filters (both: the named cells that match), into the cache, each verified against "
        "DANDI's SHA-256 and size of it; files already cached are not fetched again. Prints "
        "one line per cell: its cell_specimen_id, a tab, and the path of its cached file (named by "
        "the file's SHA-256), in the order the cells were named (with filters alone: the metadata table's). "
        "On a dandiset beyond 2020, its recordings: named by ephys_session_id, filters on its sessions table, one "
        "line per file: its ephys_session_id (its dandi_path for a file without one), a tab, its path. "
        "With --technique morphology or transcriptomics, the cells' files of that technique from BIL or NeMO "
        "(--file-type: of one type), each verified against the release manifest's SHA-256 (of the file, also "
        "where NeMO packs it in a tar); it prints one line per file: its cell_specimen_id (- for the "
        "release-wide expression matrices, --file-type csv, which need no cell), a tab, its file_type, a tab, "
        "and its cached path.",
        examples=[
            "patchseq-intake fetch human 541549258 569835804",
            "patchseq-intake fetch mouse --filter structure == VISp5 --filter dendrite_type == aspiny",
            "patchseq-intake fetch human 541549258 | cut -f2   # the paths alone",
            "patchseq-intake fetch human_interneurons 1000781418   # a recording of 000636, by its ephys_session_id",
            "patchseq-intake fetch mouse 601506507 --technique morphology --file-type transformed_swc",
            "patchseq-intake fetch mouse 601506507 --technique transcriptomics   # its FASTQ pair and BAM file",
            "patchseq-intake fetch mouse --technique transcriptomics --file-type csv   # the four matrices",
        ],
        run=_run_fetch,
    )
    add_archive_argument(sub)
    sub.add_argument("specimen_ids", type=whole_number(), nargs="*", metavar="SPECIMEN_ID", help=ID_HELP)
    add_filter_option(sub)
    add_technique_option(sub, "fetches")
    add_file_type_option(sub)
    add_accept_option(sub, "a file")
    add_version_option(sub)


def _run_fetch(args: argparse.Namespace) -> None:
    if args.technique != EPHYS:
        only_2020(args.archive, "files of other techniques than the NWB files", f"--technique {args.technique}")
        release_fetch(args)
        return
    nwb_fetch_flags(args)
    if not args.specimen_ids and not args.filters:
        named = "" if is_2020(args.archive) else f" (the ephys_session_id of a recording of {args.archive})"
        raise UsageError(f"name the {id_word(args.archive)}s: SPECIMEN_ID{named} ... or --filter COLUMN OP VALUE")
    source = _ephys(
        args.archive,
        **ids_parameter(args.archive, args.specimen_ids or None),
        filters=filters_given(args.filters),
        version=args.dandi_version,
    )
    paths = source.fetch()
    for cell, path in zip(source.cells, paths, strict=True):
        print(f"{cell.key}\t{path}", flush=True)


def _add_demo(commands: argparse._SubParsersAction) -> None:
    sub = subcommand(
        commands,
        "demo",
        help="walk through the main job against a local replica (no network needed)",
        description="Start a local replica of DANDI and the release tables on 127.0.0.1, "
        "then filter cells, resolve one to its NWB file, read its sweep table and a sweep. "
        "With --serve, serve the replica for one's own Python instead: print the shell lines "
        "(export ...) that point a process at it, with a throw-away cache, and serve until Ctrl-C "
        "(or SIGTERM), then remove its files and that cache.",
        examples=[
            "patchseq-intake demo",
            "patchseq-intake demo --serve   # then, in another shell: run the export lines it printed, then python",
        ],
        run=_run_demo,
    )
    sub.add_argument("--serve", action="store_true", help="serve the replica for another process until stopped")


def _add_gui(commands: argparse._SubParsersAction) -> None:
    sub = subcommand(
        commands,
        "gui",
        help="serve the cell browser on 127.0.0.1 (find or filter cells, open one, see its sweeps)",
        description="Serve the cell browser at http://127.0.0.1:PORT/: an archive's cells with a search box "
        "(cell_specimen_id, donor) and filters, a cell's metadata, links and sweep table, a sweep's command and "
        "response; on a dandiset beyond 2020, its sessions table instead (search by ephys_session_id or donor), a "
        "recording's sweep table and sweeps. --cell opens it on a cell (--session on a recording); --demo serves it "
        "on the offline demo's local replica. Needs the gui extra: pip install 'patchseq-intake[gui]'.",
        examples=["patchseq-intake gui", "patchseq-intake gui --archive mouse --port 5007",
                  "patchseq-intake gui --cell 541549258", "patchseq-intake gui --archive 000636   # or human_interneurons",
                  "patchseq-intake gui --archive human_l1 --session 839897299", "patchseq-intake gui --demo"],
        run=_run_gui,
    )
    sub.add_argument("--port", type=port_number, default=5006, help="port on 127.0.0.1 (0: any free one); default 5006")
    sub.add_argument("--archive", type=archive_name, default="human",
                     help=f"the archive shown first: {ARCHIVE_HELP}; default human")
    sub.add_argument("--cell", type=whole_number(), metavar="CELL_SPECIMEN_ID",
                     help="open the browser on this cell of the archive (human or mouse)")
    sub.add_argument("--session", type=whole_number(), metavar="EPHYS_SESSION_ID",
                     help="open the browser on this recording of the archive (a dandiset beyond 2020)")
    sub.add_argument("--demo", action="store_true", help="on the demo's local replica: no network needed")


def _run_gui(args: argparse.Namespace) -> None:
    from ..gui.browser_server import run_browser

    if args.cell is not None and not is_2020(args.archive):
        raise UsageError(f"--cell names a cell of human or mouse; the recordings of {args.archive} are named by their "
                         f"ephys_session_id: --session {args.cell}")
    if args.session is not None and is_2020(args.archive):
        raise UsageError(f"--session names a recording of a dandiset beyond 2020; the files of {args.archive} are "
                         f"named by cell: --cell CELL_SPECIMEN_ID")
    run_browser(args.port, args.archive, demo=args.demo, cell=args.cell if args.session is None else args.session)


def _run_demo(args: argparse.Namespace) -> None:
    import threading

    from .demo import run_demo, serve_demo

    if not args.serve:
        run_demo()
        return
    # SIGTERM stops the serving as Ctrl-C does, so that the replica's temporary files are removed (a flag,
    # as in _run_gui: an exception raised in the handler could be lost).
    terminated = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: terminated.set())
    serve_demo(terminated, print_=lambda line: print(line, flush=True))
    raise SystemExit(128 + signal.SIGTERM)


def _archive(name: str) -> ArchiveCatalog:
    from ..catalog import open_catalog

    return open_catalog()[name]


def _ephys(archive: str, **parameters: Any) -> EphysSource:
    """The archive's ephys source, with the parameters given (None: the catalog's default)."""
    given = {name: value for name, value in parameters.items() if value is not None}
    return _archive(archive).ephys(**given)


def _show_warning(message: Warning | str, category: type[Warning], *where: Any, **more: Any) -> None:
    """Warnings as one line of the command's own, without the source location."""
    print(f"{PROG}: warning: {message}", file=sys.stderr)


def _in_the_cache(exc: BaseException) -> BaseException:
    """``exc``; an ``OSError`` of the cache's place (``transport.cache.of_the_cache``: no space, no permission,
    a file where a folder should be) about a path inside the cache as a ``CacheError`` (the full path, what to
    do). Others (a file removed meanwhile) stay as they are."""
    from ..transport.cache import cache_error, of_the_cache

    if isinstance(exc, PatchseqError) or not isinstance(exc, OSError):
        return exc
    if not exc.filename or not isinstance(exc.filename, (str, bytes, os.PathLike)):
        return exc
    path, cache = Path(os.fsdecode(exc.filename)).absolute(), config.cache_dir().absolute()
    return cache_error(exc, path, "use") if path.is_relative_to(cache) and of_the_cache(exc, path) else exc


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that flushing it at exit raises nothing more."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


