"""What the command writes: tables in a chosen format, to stdout or to ``-o PATH``.

``-o PATH``: a regular file, or a path where there is nothing yet, is written
atomically (a temporary file beside it, renamed over it when complete); a
symbolic link is followed, as the shell's ``>`` does, and the file it points
to is written so (the link stays); a character device or a FIFO
(``/dev/null``, ``/dev/stdout``, a named pipe) is written to directly, never
replaced; a directory, block device or socket is refused. Any failure to
write is one line naming the path (``cannot write /dev/full: No space left
on device``).

Float32 values (the samples MIES stores, and values read from them, such as
the sweep table's ``gain``, widened to float64 there) are written in CSV,
JSON and the text table as the shortest decimals that read back as the same
float32 (``0.02``, not ``0.019999999552965164``); parquet keeps each column's
type and bits.
"""

from __future__ import annotations

import argparse
import io
import os
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..transport.atomic import atomic_output
from .options import FORMATS, CommandError, UsageError

if TYPE_CHECKING:
    import pandas as pd

    from ..nwb.sweep import Sweep


def sweep_samples(sweep: Sweep) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({"t_s": sweep.t, "v_mv": sweep.v, "i_pa": sweep.i})


TABLE_SUFFIXES = ("", "txt")
"""Suffixes of ``-o`` that mean a text table (none: ``/dev/stdout``, ``out``)."""


def chosen_format(args: argparse.Namespace) -> str:
    """The asked format, else the one the suffix of ``-o`` names (``.txt`` or none: ``table``).

    ``UsageError`` for another suffix (``out.xlsx``): the file would not be
    what its name says.
    """
    chosen = args.format
    if chosen is None:
        suffix = Path(args.output).suffix.lstrip(".").lower() if args.output else ""
        if suffix not in FORMATS and suffix not in TABLE_SUFFIXES:
            raise UsageError(
                f"-o {args.output}: no format is written as .{suffix}; use .csv, .json, .parquet or .txt "
                "(a text table), or give --format"
            )
        chosen = suffix if suffix in FORMATS else "table"
    if chosen == "parquet" and not args.output:
        raise UsageError("--format parquet writes a file: give -o FILE")
    return chosen


def emit(frame: pd.DataFrame, output_format: str, output: str | None, float32_decimals: bool = True) -> None:
    """Write ``frame`` in ``output_format`` to ``output`` (see the module docstring), or to stdout.

    ``float32_decimals``: float values a float32 holds exactly are written as
    their shortest float32 decimals (samples, gains); False keeps every
    float64's own digits (computed values, which must read back equal).
    ``CommandError`` names the path when it cannot be written.
    """
    if output is None:
        sys.stdout.write(_render(frame, output_format, float32_decimals))
        sys.stdout.flush()
        return
    data = _encoded(frame, output_format, float32_decimals)
    try:
        _write(Path(output), data)
    except OSError as error:
        raise CommandError(f"cannot write {output}: {error.strerror or error}") from None


_NOT_WRITTEN = {stat.S_IFDIR: "a directory", stat.S_IFBLK: "a block device", stat.S_IFSOCK: "a socket"}


def _write(path: Path, data: bytes) -> None:
    try:
        mode = path.stat().st_mode  # of what a symbolic link points to
    except FileNotFoundError:
        mode = None
    if mode is None or stat.S_ISREG(mode):
        with atomic_output(Path(os.path.realpath(path))) as partial:
            partial.write_bytes(data)
    elif stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
        with open(path, "wb") as stream:
            stream.write(data)
    else:
        raise CommandError(f"cannot write {path}: it is {_NOT_WRITTEN.get(stat.S_IFMT(mode), 'not a file')}; "
                           "give the path of a file")


def _encoded(frame: pd.DataFrame, output_format: str, float32_decimals: bool = True) -> bytes:
    if output_format == "parquet":
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        return buffer.getvalue()
    return _render(frame, output_format, float32_decimals).encode()


def _render(frame: pd.DataFrame, output_format: str, float32_decimals: bool = True) -> str:
    narrow = float32_columns(frame) if float32_decimals else []
    if output_format == "csv":  # pandas writes a float32 column's values as their shortest float32 decimals
        return frame.astype({name: "float32" for name in narrow}).to_csv(index=False)
    if output_format == "json":
        return frame.assign(**{name: _shortest_float32(frame[name]) for name in narrow}).to_json(orient="records") + "\n"
    return frame.to_string(index=False, formatters={name: _float32_text for name in narrow}) + "\n"


def float32_columns(frame: pd.DataFrame) -> list[str]:
    """The columns holding float32 values: of type float32, or float64 with every finite value a float32 one.

    A float64 value that a float32 holds exactly was, but for a chance of 2**-29 per value, a float32
    widened (``gain``); one that differs in its last 29 bits was not, and keeps its float64 digits.
    """
    import numpy as np

    found = []
    for name, column in frame.items():
        if column.dtype == np.float32:
            found.append(name)
        elif column.dtype == np.float64:
            values = column.to_numpy()
            finite = values[np.isfinite(values)]
            with np.errstate(over="ignore"):
                if finite.size and np.array_equal(finite.astype(np.float32).astype(np.float64), finite):
                    found.append(name)
    return found


def _float32_text(value: float) -> str:
    """A float32 value as its shortest decimal (``0.02``, ``1e+20``, ``nan``)."""
    import numpy as np

    return str(np.float32(value))


def _shortest_float32(column: pd.Series) -> pd.Series:
    """The float64 values whose decimals are those of the column's float32 values: what JSON should write."""
    import numpy as np
    import pandas as pd

    values = column.to_numpy(dtype=np.float32)
    return pd.Series([float(_float32_text(value)) for value in values], index=column.index, dtype="float64")


