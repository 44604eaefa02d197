"""The command's arguments: the options subcommands share, and turning them into the drivers' parameters."""

from __future__ import annotations

import argparse
import re
import shlex
from collections.abc import Callable
from typing import Any

from .. import config
from ..archives.release_files import TECHNIQUES as RELEASE_TECHNIQUES
from ..dandi.dandisets import find, known_names
from ..drivers.parameters import INT64_MAX
from ..errors import InvalidQueryError, PatchseqError, UnknownDandisetError, brief
from ..tables.filters import OPERATORS, SET_OPERATORS

FORMATS = ("table", "csv", "json", "parquet")


class CommandError(PatchseqError):
    """A request the command cannot answer, such as filters no cell matches."""


class UsageError(Exception):
    """Options that do not go together; reported by argparse, with exit status 2."""


class HelpFormatter(argparse.HelpFormatter):
    """Wraps one-line texts to the terminal; keeps texts with line breaks (the examples) as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def subcommand(
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
        formatter_class=HelpFormatter,
    )
    sub.set_defaults(run=run, usage_error=sub.error)
    return sub


def add_table_options(sub: argparse.ArgumentParser) -> None:
    """ARCHIVE, --filter, --columns, --format and -o: the options of a table's subcommand."""
    add_archive_argument(sub)
    add_filter_option(sub)
    sub.add_argument(
        "--columns",
        nargs="+",
        metavar="COLUMN",
        default=[],
        help="the columns to show, in this order (space- or comma-separated; default all)",
    )
    add_output_options(sub)


ARCHIVE_HELP = ("human or mouse (the 2020 release: 000023, 000020), or any Allen Patch-seq dandiset by id (000636, 636) "
                "or short name (human_interneurons)")


def add_archive_argument(sub: argparse.ArgumentParser, nargs: str | None = None) -> None:
    """ARCHIVE: ``human``, ``mouse`` or any Allen Patch-seq dandiset (``archive_name``)."""
    sub.add_argument("archive", nargs=nargs, type=archive_name, metavar="ARCHIVE", help=ARCHIVE_HELP)


def archive_name(text: str) -> str:
    """argparse type of ARCHIVE: the root catalog's entry name of the dandiset named (``"636"`` ->
    ``human_interneurons``, ``"000023"`` -> ``human``); argparse's usage error (exit status 2) listing the ids and
    names the catalog knows for anything else."""
    try:
        return find(text).name
    except UnknownDandisetError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an Allen Institute Patch-seq dandiset the catalog knows: "
                                         f"give human, mouse, or a dandiset's id or short name; {known_names()}") from None


def dandiset_id(text: str) -> str:
    """argparse type of ``--dandiset``: the id (``"000636"``) of the dandiset named, as ``archive_name`` takes it."""
    return find(archive_name(text)).dandiset


def add_filter_option(sub: argparse.ArgumentParser) -> None:
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


def add_version_option(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--dandi-version",
        metavar="VERSION",
        help="the dandiset version: a published version id or draft (default: the catalog's)",
    )


EPHYS = "intracellular_electrophysiology"
TECHNIQUES = (EPHYS, *RELEASE_TECHNIQUES)
"""``--technique``'s values: the manifest's techniques (NWB files on DANDI, SWC on BIL, transcriptomes on NeMO)."""


def add_technique_option(sub: argparse.ArgumentParser, what: str) -> None:
    """``--technique T``: the files of which modality ``what`` (a verb phrase: ``lists``) handles."""
    sub.add_argument(
        "--technique",
        choices=TECHNIQUES,
        default=EPHYS,
        help=f"the files it {what}: {EPHYS} (the default: the NWB files on DANDI), morphology (SWC and marker "
        "files on BIL) or transcriptomics (FASTQ pairs, BAM files and the expression matrices on NeMO; mouse only)",
    )


def add_file_type_option(sub: argparse.ArgumentParser) -> None:
    """``--file-type FT``: one of the manifest's file types of the ``--technique``."""
    sub.add_argument(
        "--file-type",
        metavar="FT",
        help="only the files of this type of the manifest's: transformed_swc, raw_swc or marker_swc (morphology); "
        "forward_fastq, reverse_fastq, bam_file or csv (transcriptomics; csv: the release-wide expression "
        "matrices, of no cell); default: every type of the technique's but csv",
    )


def add_accept_option(sub: argparse.ArgumentParser, what: str) -> None:
    """``--accept-other-bytes``: take ``what`` (``a file``) whose live home holds other bytes than the manifest's."""
    sub.add_argument(
        "--accept-other-bytes",
        action="store_true",
        help=f"take {what} whose live home holds other bytes than the release manifest's SHA-256 (cached under "
        "their own SHA-256, said in a warning and in the files table's bytes_match); default: refused",
    )


def add_output_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--format",
        choices=FORMATS,
        help="table (for reading), csv, json (a list of records) or parquet (needs -o); "
        "default: from the suffix of -o, else table",
    )
    sub.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")


def filters_given(raw: list[list[str]]) -> list[list[Any]]:
    """``--filter`` triples as the drivers take them; a set operator's value is split at commas."""
    return [
        [column, op, [item.strip() for item in value.split(",")] if op in SET_OPERATORS else value]
        for column, op, value in raw
    ]


def filter_words(item: list[Any]) -> str:
    """A filter as ``--filter`` takes it (``--filter structure in VISp5,VISp4``), quoted for a shell where need be."""
    column, op, value = item
    if op in SET_OPERATORS and isinstance(value, list):
        value = ",".join(map(str, value))
    return "--filter " + " ".join(shlex.quote(str(part)) for part in (column, op, value))


PYTHON_WORDS = (
    ("access='local': ", ""),
    ("pass accept_other_bytes=True", "give --accept-other-bytes"),
    ("accept_other_bytes=True", "--accept-other-bytes"),
)
"""Python's words in messages of the layers below, and the command's for them (the command has no access=)."""


def in_command_words(error: BaseException, raw_filters: list[list[str]]) -> str:
    """The message of ``error`` in the command's words: flags (``--filter age_days == abc``, ``--columns``,
    ``--root``) where the package's Python messages name parameters and show filters as Python lists."""
    if isinstance(error, InvalidQueryError) and error.parameter == "filters" and isinstance(error.given, list):
        return f"{filter_words(error.given)}: {error.problem}"
    if isinstance(error, InvalidQueryError) and error.parameter in ("columns", "genes"):
        return f"--{error.parameter}: {error.problem}"
    message = str(error)
    filters = filters_given(raw_filters)
    if filters:
        words = " ".join(map(filter_words, filters))
        message = message.replace(f"the filters {brief(filters)}", words).replace(brief(filters), words)
    return python_words_replaced(message)


def python_words_replaced(message: str) -> str:
    """``message`` with the ``PYTHON_WORDS`` in the command's (for warnings, which name no filter)."""
    for python, command in PYTHON_WORDS:
        message = message.replace(python, command)
    return message


def columns_given(raw: list[str]) -> list[str]:
    """``--columns`` names, given apart or joined by commas."""
    return [name for item in raw for name in item.split(",") if name]


def access_given(access: str | None, root: str | None) -> str | None:
    """The access mode: as asked, or ``local`` when only a root is given."""
    if root and access not in (None, "local"):
        raise UsageError(f"--root is for --access local, not --access {access}")
    if access == "local" and not root and config.local_root() is None:
        raise UsageError(f"--access local needs the folder holding the dandisets: --root DIR (or set {config.LOCAL_ROOT_ENV})")
    return "local" if root else access


def whole_number(high: int = INT64_MAX, low: int = 0) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high`` in ASCII digits; argparse's usage error otherwise.

    (``int`` would take ``1_000``, spaces and other scripts' digits, ``１２``.)
    """

    def parse(text: str) -> int:
        if not re.fullmatch(r"[0-9]{1,19}", text) or not low <= int(text) <= high:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a whole number from {low} to {high} (ASCII digits, e.g. {max(low, 7)})"
            )
        return int(text)

    return parse
