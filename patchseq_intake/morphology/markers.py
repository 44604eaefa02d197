"""The release's marker files (file_type ``marker_swc``): Vaa3D marker files, read from their bytes.

A Vaa3D marker file is comma-separated text: a header line
``##x,y,z,radius,shape,name,comment, color_r,color_g,color_b`` and one line
per marker, as Vaa3D writes them (``%5.3f, %5.3f, %5.3f, %d, %d, %s, %s,
%d,%d,%d``: spaces after the commas, an empty comment as ``, ,``). In the
Allen's reconstructions ``name`` is the marker's code; the Allen's
neuron_morphology (``constants.py``, ``marker.py``,
``validation/marker_validation.py``, ``transforms/*_correction``) knows three:

- 10 ``cut_dendrite`` (``CUT_DENDRITE``): a dendrite cut at the slice's
  surface; its validators expect it at a tip of a basal or apical dendrite;
- 20 ``no_reconstruction`` (``NO_RECONSTRUCTION``): where the axon's
  reconstruction ends; expected at an axon tip, at most one per file;
- 30 ``type_30`` (``TYPE_30``, unnamed there): the soma marker, exactly one
  per file; its tilt and scale corrections take it as the soma's position,
  with z on the slice's surface.

Coordinates are given as written (µm). They are not the SWC's: Vaa3D writes
markers 1-based ("marker file is 1-based", Vaa3D's marker writer), and
neuron_morphology's ``Marker`` subtracts one voxel, ``ONE_VOXEL_UM`` =
(0.1144, 0.1144, 0.28) µm in x, y, z, to bring them onto the reconstruction's
samples (its validators compare ``x - 1`` instead); this reader does not:
subtract ``ONE_VOXEL_UM`` to do as ``Marker`` does. Which of a cell's SWC
files the markers lie on the release does not say; neuron_morphology uses
them with the reconstruction in the slice's image coordinates (the raw one).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..errors import ReleaseFileFormatError, brief
from .text import file_text, line_error, lines_of

MARKER_TYPES: dict[int, str] = {10: "cut_dendrite", 20: "no_reconstruction", 30: "type_30"}
"""Marker codes -> names, as neuron_morphology's ``constants`` names them (30 is its soma marker)."""
UNKNOWN_MARKER = "unknown"
"""The ``marker_type`` of a code neuron_morphology does not know."""
ONE_VOXEL_UM = (0.1144, 0.1144, 0.28)
"""One voxel of the Allen's reconstruction images, x, y, z (µm): neuron_morphology's ``constants.SPACING``,
the offset its ``Marker`` subtracts from the marker file's coordinates."""

COLUMNS: dict[str, str] = {
    "x": "float64", "y": "float64", "z": "float64", "radius": "float64", "shape": "int64", "name": "int64",
    "comment": "string", "color_r": "int64", "color_g": "int64", "color_b": "int64", "marker_type": "string",
}
"""The columns of ``read_markers``' table and their pandas dtypes."""
_FIELDS = [name for name in COLUMNS if name != "marker_type"]
_FORMAT = "a Vaa3D marker file"
_ROW = "a marker is 10 comma-separated fields: x,y,z,radius,shape,name,comment,color_r,color_g,color_b"


def read_markers(data: bytes, source: str) -> pd.DataFrame:
    """The markers of the Vaa3D marker file ``data``, one row per marker in file order, ``COLUMNS``; ``source``
    names the file (URL or path) in errors.

    ``#`` lines (the header) and blank lines are skipped. A comment holding
    commas makes a line of more than 10 fields: the fields between ``name``
    and the colours are its comment. A file of only a header is a file
    without markers (an empty table). ``ReleaseFileFormatError`` naming
    ``source``, the line number and the line for a line of fewer than 10
    fields, an x, y, z or radius that is not a finite number, a shape, name
    (the marker's code) or colour that is not an integer; naming ``source``
    for a file of neither a header nor a marker, and bytes that are not text.
    """
    lines = lines_of(file_text(data, source, _FORMAT))
    rows = []
    for n, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        rows.append(_marker(line, n, source))
    if not rows and not any(line.lstrip().startswith("#") for line in lines):
        raise ReleaseFileFormatError(f"{source}: neither a header nor a marker: not {_FORMAT}; {_ROW}")
    table = pd.DataFrame(rows, columns=_FIELDS)
    table["marker_type"] = table["name"].map(MARKER_TYPES).fillna(UNKNOWN_MARKER)
    return table.astype(COLUMNS)


def _marker(line: str, n: int, source: str) -> tuple:
    """One marker line's fields, typed; ``ReleaseFileFormatError`` for the first field at fault."""
    fields = [field.strip() for field in line.split(",")]
    if len(fields) < 10:
        raise line_error(source, n, line, f"{len(fields)} fields; {_ROW}")
    values: list = [_number(name, field, line, n, source) for name, field in zip(_FIELDS[:4], fields[:4])]
    values += [_integer(name, field, line, n, source) for name, field in zip(("shape", "name"), fields[4:6])]
    values.append(",".join(fields[6:-3]))
    values += [_integer(name, field, line, n, source) for name, field in zip(_FIELDS[-3:], fields[-3:])]
    return tuple(values)


def _number(name: str, field: str, line: str, n: int, source: str) -> float:
    try:
        number = float(field)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise line_error(source, n, line, f"{name} is {brief(field)}, not a finite number; {_ROW}")
    return number


def _integer(name: str, field: str, line: str, n: int, source: str) -> int:
    try:
        number = float(field)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number != round(number) or abs(number) > np.iinfo(np.int64).max:
        what = "the marker's code" if name == "name" else name
        raise line_error(source, n, line, f"{what} is {brief(field)}, not an integer; {_ROW}")
    return int(number)
