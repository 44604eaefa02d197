"""SWC reconstructions read from their bytes: one row per sample, and the header's comments.

An SWC file (Cannon et al. 1998; the Allen's reconstructions are written by
Vaa3D and the Allen's neuron_morphology) holds one sample per line: seven
whitespace-separated numbers ``id type x y z radius parent``, x, y, z and
radius in micrometres, ``parent`` the id of the sample it hangs from, -1 for
a root (the soma). ``read_swc`` takes the file as the field writes it:
spaces or tabs, ``#`` comments (a header, and anywhere after a sample or on a
line of its own), blank lines, CRLF line ends, ids from any number and in any
order, children before their parents. Ids, types and parents are integers
(written ``5`` or ``5.0``). Checked: every line is seven numbers (finite),
ids are unique, every parent is -1 or an id in the file, there is a sample.
Not checked: cycles, the soma's shape, types (any integer): what morphology
libraries refuse, they say (``libraries``).
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ReleaseFileFormatError, brief
from .text import file_text, line_error, lines_of

COLUMNS = ("id", "type", "x", "y", "z", "radius", "parent")
"""The columns of ``Reconstruction.points``, in the file's order: ``id, type, parent`` int64, the rest float64 (µm)."""
_INTEGERS = (0, 1, 6)
_FORMAT = "an SWC file"
_SEVEN = "an SWC sample is 7 numbers: id type x y z radius parent"
_DIGITS_TO_NUL = bytes.maketrans(b"0123456789.", b"\0" * 11)
_LONG_NUMBER = b"\0" * 13
_LARGE_EXPONENT = re.compile(rb"[eE][+-]?0*[1-9][0-9]")
"""What pandas 2's C parser reads otherwise than Python: 13 digits or more, an exponent of 10 or more (not
correctly rounded there: the last bit off; ``1e4294967297`` read as 10; a segmentation fault at an exponent of
2**31). The text holds no NUL (``file_text``): a run of 13 NULs after the translation is one of 13 digits."""

SWC_TYPES: dict[int, str] = {
    0: "undefined",
    1: "soma",
    2: "axon",
    3: "basal dendrite",
    4: "apical dendrite",
}
"""The standard SWC type codes and their names; 5 and above are custom (``swc_type_name``)."""


def swc_type_name(code: int) -> str:
    """The name of SWC type ``code``: ``SWC_TYPES``' for 0-4, ``custom`` for 5 and above, else ``undefined``."""
    return SWC_TYPES.get(code, "custom" if code >= 5 else "undefined")


@dataclass(frozen=True, eq=False)
class Reconstruction:
    """One SWC file's content.

    ``points``: one row per sample in file order, the ``COLUMNS`` (µm);
    ``comments``: the header's comment lines (those before the first sample),
    each the text after its first ``#`` as written (spaces kept, line end dropped).
    """

    points: pd.DataFrame
    comments: tuple[str, ...]


def read_swc(data: bytes, source: str) -> Reconstruction:
    """The samples and header comments of the SWC file ``data``; ``source`` names it (URL or path) in errors.

    ``ReleaseFileFormatError`` naming ``source``, the line number and the line
    for a line that is not seven numbers, a non-integer id, type or parent, a
    duplicate id, a parent that is neither -1 nor an id in the file; naming
    ``source`` for a file without a sample and for bytes that are not an SWC
    file's text (an HTML page, gzip, binary).

    The numbers are those Python's ``float`` reads. pandas' C parser reads
    them in one pass: with its own number parser where that reads them alike
    (up to 12 digits, exponents up to 9: the Allen's ``%.4f``, ``%.10e``), else
    with Python's (``round_trip``, twice as slow). A file that fails a check
    there, or whose first sample is of other than seven fields (pandas would
    drop the others), is read line by line with Python's parser, which also
    names the first line at fault.
    """
    text = file_text(data, source, _FORMAT)
    comments, width = _header(text)
    encoded = text.encode()
    misread = _LONG_NUMBER in encoded.translate(_DIGITS_TO_NUL) or _LARGE_EXPONENT.search(encoded) is not None
    values = _parsed(encoded, exactly=misread) if width == 7 else None
    if values is None or not _acceptable(values):
        values = _read_by_line(text, source)
    points = pd.DataFrame({
        name: values[:, n].astype(np.int64) if n in _INTEGERS else values[:, n] for n, name in enumerate(COLUMNS)
    })
    return Reconstruction(points, comments)


def _parsed(encoded: bytes, exactly: bool) -> np.ndarray | None:
    """Every sample's seven fields as float64 (n x 7; a missing field NaN); None where pandas refuses the text.

    ``exactly``: with Python's float parser (pandas' ``round_trip``, twice as slow), not pandas' own."""
    try:
        table = pd.read_csv(
            io.BytesIO(encoded), sep=r"\s+", comment="#", header=None, names=list(COLUMNS), index_col=False,
            dtype=np.float64, quoting=csv.QUOTE_NONE, keep_default_na=False, na_values=[""], engine="c",
            float_precision="round_trip" if exactly else None,
        )
    except (ValueError, pd.errors.ParserError):
        return None
    return table.to_numpy()


def _acceptable(values: np.ndarray) -> bool:
    """Whether the samples pass every check: finite numbers, integer ids, types and parents, unique ids, parents
    that are -1 or ids in the file, at least one sample."""
    if values.shape[0] == 0 or not np.isfinite(values).all():
        return False
    integers = values[:, _INTEGERS]
    if ((integers != np.round(integers)) | (np.abs(integers) >= 2.0**63)).any():
        return False
    ids, parents = values[:, 0], values[:, 6]
    return not pd.Index(ids).has_duplicates and bool(((parents == -1) | np.isin(parents, ids)).all())


def _header(text: str) -> tuple[tuple[str, ...], int]:
    """The comments before the first sample (each the text after its first ``#``), and that sample's number of
    fields (0: no sample)."""
    comments = []
    for line in io.StringIO(text, newline=None):  # read lazily up to the first sample; \r\n and \r read as \n
        before, mark, after = line.rstrip("\n").partition("#")
        if before.strip():
            return tuple(comments), len(before.split())
        if mark:
            comments.append(after)
    return tuple(comments), 0


def _read_by_line(text: str, source: str) -> np.ndarray:
    """The samples of ``text`` read line by line with Python's parser (n x 7 float64); the error for the first line
    at fault, the checks in the order ``read_swc``'s docstring gives them."""
    lines = lines_of(text)
    fields = [line.partition("#")[0].split() for line in lines]
    rows = [n for n, found in enumerate(fields) if found]
    if not rows:
        comments = sum(1 for line in lines if line.lstrip().startswith("#"))
        held = f"only {comments} comment line(s)" if comments else "no line but blank ones"
        raise ReleaseFileFormatError(f"{source}: no sample at all ({held}); {_SEVEN}, one per line")
    seen: dict[float, int] = {}
    for n in rows:
        problem = _fault_of_line(fields[n], seen, n)
        if problem:
            raise line_error(source, n + 1, lines[n], problem)
    values = np.array([[float(field) for field in fields[n]] for n in rows], dtype=np.float64)
    for n, parent in zip(rows, values[:, 6]):
        if parent != -1 and parent not in seen:
            raise line_error(source, n + 1, lines[n], f"parent {int(parent)} is no sample's id in the file; "
                                                      "a parent is -1 (a root) or the id of a sample")
    return values


def _fault_of_line(fields: list[str], seen: dict[float, int], n: int) -> str | None:
    """What is wrong with one sample's ``fields`` (line ``n + 1``), ``seen`` the ids of the lines before it
    (-> their line index; this line's id is added); None if nothing."""
    if len(fields) != 7:
        return f"{len(fields)} fields; {_SEVEN}"
    for column, (name, field) in enumerate(zip(COLUMNS, fields)):
        try:
            number = float(field)
        except ValueError:
            number = float("nan")
        if not math.isfinite(number):
            return f"{name} is {brief(field)}, not a finite number; {_SEVEN}"
        if column in _INTEGERS and (number != round(number) or abs(number) >= 2.0**63):
            return f"{name} is {brief(field)}, not an integer; ids, types and parents are integers"
    sample = float(fields[0])
    if sample in seen:
        return f"id {int(sample)} again (line {seen[sample] + 1} has it); each sample needs an id of its own"
    seen[sample] = n
    return None
