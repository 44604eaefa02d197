"""The subcommands of the release's files beyond the NWB files: SWC files on BIL, transcriptomes on NeMO.

``files --technique morphology|transcriptomics`` (the catalog's ``files``
entry, through ``release_files_entry``), ``fetch --technique ...``
(``release_fetch``: the cells' files, or the release-wide matrices, into the
cache, verified against the manifest's SHA-256), ``morphology`` (a cell's
reconstruction as a points table, the ``morphology`` entry) and
``expression`` (cells x genes, the ``transcriptomics`` entry). Errors and
warnings speak the command's words (``--accept-other-bytes``, ``--genes``,
``patchseq-intake files mouse --technique morphology``), not Python's.
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..drivers.morphology import KINDS
from ..errors import NoMatchingCellsError, NoReleaseFileError
from .dandisets import only_2020
from .options import (
    EPHYS,
    CommandError,
    UsageError,
    add_accept_option,
    add_archive_argument,
    add_filter_option,
    add_output_options,
    columns_given,
    filters_given,
    python_words_replaced,
    subcommand,
    whole_number,
)
from .output import chosen_format, emit

if TYPE_CHECKING:
    from ..archives.release_files import ReleaseFile
    from ..catalog import ArchiveCatalog
    from ..drivers.release_files import ReleaseFilesSource

VALUES = ("counts", "cpm", "exon", "intron")
"""``expression --values``: the transcriptomics entry's ``values`` (its ``matrices`` in catalogs/mouse.yaml)."""


# --- files and fetch of other techniques than the NWB files' ----------------------------------


def release_files_entry(args: argparse.Namespace) -> Callable[..., Any]:
    """The archive's ``files`` entry, for ``files --technique T`` (T: morphology or transcriptomics).

    ``UsageError`` for ``--dandi-version``; ``CommandError`` where the release has no files of T (human
    transcriptomics).
    """
    _no_dandi_version(args)
    entry = _catalog(args.archive).files
    _of_technique(entry().files, args.archive, args.technique)
    return entry


def nwb_fetch_flags(args: argparse.Namespace) -> None:
    """``UsageError`` for ``fetch``'s flags not for the NWB files (``--file-type``, ``--accept-other-bytes``)."""
    flags = (("--file-type", args.file_type), ("--accept-other-bytes", args.accept_other_bytes))
    given = [flag for flag, value in flags if value]
    if given:
        raise UsageError(f"{' and '.join(given)} {'are' if len(given) > 1 else 'is'} for --technique morphology or "
                         f"transcriptomics: the NWB files ({EPHYS}) are verified against DANDI's own SHA-256")


def release_fetch(args: argparse.Namespace) -> None:
    """``fetch --technique morphology|transcriptomics``: the chosen files into the cache, verified; one line per file.

    Each line: the ``cell_specimen_id`` (``-`` for the release-wide matrices), a tab, the file type, a tab, the
    cached file's path; cell by cell, in the order named (with filters alone: the metadata's), each cell's files
    in the manifest's order.
    """
    from ..archives.fetching import fetch_release_files

    _no_dandi_version(args)
    source = _catalog(args.archive).files()
    files = _of_technique(source.files, args.archive, args.technique)
    if args.file_type is not None:
        _check_file_type(source.files, args.archive, args.technique, args.file_type)
        files = [file for file in files if file.file_type == args.file_type]
    release_wide = all(file.specimen_id is None for file in files)  # the matrices: --file-type csv
    groups = _release_wide(files, args) if release_wide else _cells_files(source, files, args)
    with warnings_in_command_words():
        for cell, chosen in groups:
            for fetched in fetch_release_files(chosen, accept_other_bytes=args.accept_other_bytes, homes=source.homes):
                print(f"{'-' if cell is None else cell}\t{fetched.file.file_type}\t{fetched.path}", flush=True)


def _of_technique(files: list[ReleaseFile], archive: str, technique: str) -> list[ReleaseFile]:
    """The ``files`` of ``technique``; ``CommandError`` naming the techniques the archive has if there are none."""
    chosen = [file for file in files if file.technique == technique]
    if not chosen:
        present = [EPHYS, *dict.fromkeys(file.technique for file in files)]
        raise CommandError(f"the {archive} release has no {technique} files (its manifest lists none): its files are "
                           f"of --technique {' or '.join(present)}")
    return chosen


def _check_file_type(files: list[ReleaseFile], archive: str, technique: str, file_type: str) -> None:
    """``CommandError`` for a ``--file-type`` the archive's ``technique`` has no file of, naming the valid ones."""
    types = {name: list(dict.fromkeys(file.file_type for file in files if file.technique == name))
             for name in dict.fromkeys(file.technique for file in files)}
    if file_type in types[technique]:
        return
    other = next((name for name, names in types.items() if file_type in names), None)
    what = f"is a file type of --technique {other}" if other else f"is no file type of the {archive} release"
    raise CommandError(f"--file-type {file_type} {what}: --technique {technique} takes --file-type "
                       f"{' or '.join(types[technique])}")


def _release_wide(files: list[ReleaseFile], args: argparse.Namespace) -> list[tuple[None, list[ReleaseFile]]]:
    """The release's files of no cell (the matrices: ``--file-type csv``); ``UsageError`` if cells are named too."""
    if args.specimen_ids or args.filters:
        raise UsageError(f"--file-type {args.file_type}: these files are the release's, of no cell "
                         f"({', '.join(file.file_name for file in files)}): give no SPECIMEN_ID or --filter with it")
    return [(None, files)]


def _cells_files(
    source: ReleaseFilesSource, files: list[ReleaseFile], args: argparse.Namespace
) -> list[tuple[int, list[ReleaseFile]]]:
    """The chosen cells' ``files`` (of cells only), cell by cell (``archives.cell_files``).

    ``UsageError`` if no cell is named; ``CommandError`` naming the named cells without such files; cells chosen by
    ``--filter`` alone without them are left out with a warning naming them (``CommandError`` if none has any).
    """
    from ..archives.cell_files import cell_files

    if not args.specimen_ids and not args.filters:
        release_wide = any(file.specimen_id is None for file in files)
        matrices = " (or --file-type csv: the release's expression matrices)" if release_wide else ""
        raise UsageError(f"name the cells: SPECIMEN_ID ... or --filter COLUMN OP VALUE{matrices}")
    what = f"{args.technique} files" + (f" of --file-type {args.file_type}" if args.file_type else "")
    listed = f"patchseq-intake files {args.archive} --technique {args.technique} lists them"
    try:
        chosen = cell_files(source.archive, files, args.specimen_ids, filters_given(args.filters), entry="files",
                            what=what, listed=listed)
    except (NoReleaseFileError, NoMatchingCellsError) as exc:
        raise CommandError(str(exc)) from None
    return [(cell.specimen_id, list(cell.files)) for cell in chosen]


def _no_dandi_version(args: argparse.Namespace) -> None:
    if args.dandi_version is not None:
        raise UsageError(f"--dandi-version chooses the NWB files' dandiset version: it goes with --technique {EPHYS}, "
                         f"not --technique {args.technique}")


# --- morphology ---------------------------------------------------------------------------------


def add_morphology(commands: argparse._SubParsersAction) -> None:
    sub = subcommand(
        commands,
        "morphology",
        help="a cell's reconstruction (SWC points, or its marker file) from the Brain Image Library",
        description="The reconstruction of a cell, one row per SWC sample: cell_specimen_id, "
        "neuron_reconstruction_type (full or dendrite-only, from the metadata), then the SWC's id, type "
        "(1 soma, 2 axon, 3 basal dendrite, 4 apical dendrite), x, y, z and radius (micrometres) and parent. "
        "--kind marker gives the marker file's points instead. The file is fetched once from BIL, verified "
        "against the release manifest's SHA-256 and cached. A cell without a reconstruction is an error.",
        examples=[
            "patchseq-intake morphology mouse 601506507",
            "patchseq-intake morphology human 541549258 --kind raw --format csv",
            "patchseq-intake morphology mouse 601506507 --kind marker",
            "patchseq-intake morphology mouse 601506507 -o 601506507.parquet",
        ],
        run=_run_morphology,
    )
    add_archive_argument(sub)
    sub.add_argument("specimen_id", type=whole_number(), metavar="SPECIMEN_ID", help="the cell's cell_specimen_id")
    sub.add_argument(
        "--kind",
        choices=KINDS,
        default="transformed",
        help="transformed (the default: upright, as the release aligned it), raw (as traced) or marker "
        "(the marker file: points of interest, such as where a dendrite was cut)",
    )
    add_accept_option(sub, "a file")
    add_output_options(sub)


def _run_morphology(args: argparse.Namespace) -> None:
    only_2020(args.archive, "reconstructions", "morphology")
    output_format = chosen_format(args)
    source = _catalog(args.archive).morphology(specimen_id=args.specimen_id, kind=args.kind,
                                               accept_other_bytes=args.accept_other_bytes)
    with warnings_in_command_words():
        try:
            frame = source.read()
        except NoReleaseFileError as exc:  # its advice names the Python entry
            advice = f"patchseq-intake files {args.archive} --technique morphology"
            raise CommandError(str(exc).replace(f"cat.{args.archive}.files", advice)) from None
    emit(frame, output_format, args.output)


# --- expression ---------------------------------------------------------------------------------


def add_expression(commands: argparse._SubParsersAction) -> None:
    sub = subcommand(
        commands,
        "expression",
        help="cells x genes: the cells' expression from the release's matrices on NeMO (mouse)",
        description="Gene expression of the named cells, or of the cells matching the filters (neither: every "
        "cell the matrix has), one row per cell: cell_specimen_id, transcriptomics_sample_id, then one column "
        "per gene asked, in that order. The first use downloads the matrix of --values (370-870 MB, with "
        "progress, resumed if cut), verifies it against the release manifest's SHA-256 and converts it once into "
        "a store in the cache; later uses read only the genes and cells asked. Cells chosen by filters that the "
        "matrix has no sample of are left out with a warning. The human release has no transcriptomes.",
        examples=[
            "patchseq-intake expression mouse 601506507 601790961 --genes Pvalb Sst Vip",
            "patchseq-intake expression mouse --filter structure == VISp5 --genes Pvalb,Sst --values cpm --format csv",
            "patchseq-intake expression mouse --genes Gad1 Slc17a7 -o gad1_slc17a7.parquet   # every cell",
        ],
        run=_run_expression,
    )
    add_archive_argument(sub)
    sub.add_argument(
        "specimen_ids", type=whole_number(), nargs="*", metavar="SPECIMEN_ID", help="cell_specimen_id of a cell"
    )
    add_filter_option(sub)
    sub.add_argument("--genes", nargs="+", required=True, metavar="GENE",
                     help="gene symbols, as the matrix names them (e.g. Pvalb Sst; space- or comma-separated)")
    sub.add_argument("--values", choices=VALUES, default="counts",
                     help="counts (the default: reads per gene), cpm (counts per million), exon or intron (counts)")
    add_accept_option(sub, "a matrix")
    add_output_options(sub)


def _run_expression(args: argparse.Namespace) -> None:
    only_2020(args.archive, "transcriptomes (the mouse release)", "expression")
    output_format = chosen_format(args)
    genes = columns_given(args.genes)
    if not genes:
        raise UsageError("--genes names no gene: give gene symbols, e.g. --genes Pvalb Sst")
    catalog = _catalog(args.archive)
    if "transcriptomics" not in catalog:
        raise CommandError(f"the {args.archive} release has no transcriptomes (no transcriptomics files in its "
                           "manifest): expression reads the mouse release's matrices, "
                           "patchseq-intake expression mouse ...")
    chosen = {"specimen_id": args.specimen_ids} if args.specimen_ids else {}
    source = catalog.transcriptomics(genes=genes, filters=filters_given(args.filters), values=args.values,
                                     accept_other_bytes=args.accept_other_bytes, **chosen)
    with warnings_in_command_words():
        frame = source.read()
    emit(frame, output_format, args.output)


# --- shared ---------------------------------------------------------------------------------------


@contextmanager
def warnings_in_command_words() -> Iterator[None]:
    """Warnings shown in the block speak the command's words (``--accept-other-bytes``), not Python's."""
    shown = warnings.showwarning

    def show(message: Warning | str, category: type[Warning], *where: Any, **more: Any) -> None:
        shown(python_words_replaced(str(message)), category, *where, **more)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = shown


def _catalog(archive: str) -> ArchiveCatalog:
    from ..catalog import open_catalog

    return open_catalog()[archive]
