"""What the command writes: tables in a chosen format, to stdout or to a file written atomically."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..transport.atomic import atomic_output
from .options import FORMATS, UsageError

if TYPE_CHECKING:
    import pandas as pd

    from ..nwb.sweep import Sweep


def sweep_samples(sweep: Sweep) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({"t_s": sweep.t, "v_mv": sweep.v, "i_pa": sweep.i})


def chosen_format(args: argparse.Namespace) -> str:
    """The asked format, else the one the suffix of ``-o`` names, else ``table``."""
    chosen = args.format
    if chosen is None:
        suffix = Path(args.output).suffix.lstrip(".").lower() if args.output else ""
        chosen = suffix if suffix in FORMATS else "table"
    if chosen == "parquet" and not args.output:
        raise UsageError("--format parquet writes a file: give -o FILE")
    return chosen


def emit(frame: pd.DataFrame, output_format: str, output: str | None) -> None:
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


