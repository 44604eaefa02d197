"""A few keys of the MIES lab notebook, per sweep, read column by column.

The notebook (``general/labnotebook/<device>/``) holds ``numericalKeys``
(3 x N text: name, unit, tolerance) and ``numericalValues`` (rows x N x 9
float64: a layer per headstage, the ninth for entries of no headstage),
chunked 32 x 32 x 32 and compressed, thousands of rows. A key's value for a
sweep is IPFX's: among the rows whose ``SweepNum`` (on the first layer,
where MIES always writes it) is the sweep, the last value that is not NaN,
on the headstage's layer (IPFX reads layer 0, the first headstage); a key
the notebook lacks has no value.

Only the key names and the column blocks that hold ``SweepNum`` and the keys
asked for are read: one hyperslab per block of 32 columns (a chunk's width),
all rows, on the layers up to the headstage's.

Every MIES from the release's (2020, labnotebook version 37) to MIES 3.0
(2026, version 85) writes this layout (MIES' ``labnotebook-docs.rst``;
``ED_InitNewRow`` puts ``SweepNum`` in column 0 of every layer), with two
changes a reader meets: since MIES 2.5 (2022, version 56) the keys have 6
rows (name, unit, tolerance, description, headstage contingency, clamp
modes), and the values are no longer padded to a power of two rows. Later
versions add keys and rename some (``A: B`` became ``A [B]`` in version
49, the unit ``MOhm`` became ``MΩ``), none of those read here. A notebook
laid out otherwise (no numerical datasets, other dimensions, no
``SweepNum``) is refused with an ``NwbFormatError`` naming what it holds,
never read as having no values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import NwbFormatError, brief
from .h5values import text

if TYPE_CHECKING:
    import h5py

NOTEBOOKS = "general/labnotebook"
SWEEP_KEY = "SweepNum"


def notebook_values(
    h5: h5py.File, keys: Sequence[str], headstage: int = 0, device: str | None = None, label: str | None = None
) -> dict[str, dict[int, float]]:
    """For each of ``keys``: ``{sweep number: value}``, on ``headstage``'s layer, in ``device``'s notebook.

    A key the notebook lacks, or a file without that notebook, gives ``{}``.
    Without a ``device``, the first device's notebook is read, as IPFX does
    (a file of one device has only that one). ``NwbFormatError`` (``label``
    names the file) for a notebook of a layout MIES does not write (see the
    module docstring).
    """
    found: dict[str, dict[int, float]] = {key: {} for key in keys}
    group = _notebook_group(h5, device)
    if group is None:
        return found
    label = label or str(h5.filename)
    check_layout(group, headstage, label)
    columns = key_columns(group, [SWEEP_KEY, *keys])
    if SWEEP_KEY not in columns:
        names = [text(name) for name in group["numericalKeys"][0, :]]
        raise NwbFormatError(
            f"{label}: the lab notebook {group.name} has no {SWEEP_KEY!r} key, which ties its rows to sweeps in "
            f"every MIES notebook; its keys are {brief(names)}"
        )
    read = _read_columns(group["numericalValues"], list(columns.values()), headstage)
    sweeps = read[columns[SWEEP_KEY]][:, 0]
    for key in keys:
        if key not in columns:
            continue
        values = read[columns[key]][:, headstage]
        kept = np.isfinite(sweeps) & np.isfinite(values)
        last = pd.Series(values[kept]).groupby(sweeps[kept].astype(np.int64)).last()
        found[key] = {int(sweep): float(value) for sweep, value in last.items()}
    return found


def check_layout(group: h5py.Group, headstage: int, label: str) -> None:
    """``NwbFormatError`` naming what the notebook ``group`` holds, unless MIES' layout with ``headstage``'s layer."""
    import h5py

    datasets = {name: group.get(name) for name in ("numericalKeys", "numericalValues")}
    if not all(isinstance(one, h5py.Dataset) for one in datasets.values()):
        problem = f"it holds {sorted(group)}, not the datasets numericalKeys and numericalValues"
    else:
        keys, values = datasets["numericalKeys"], datasets["numericalValues"]
        problem = None
        if keys.ndim != 2 or values.ndim != 3 or values.dtype.kind != "f" or keys.shape[1] != values.shape[1]:
            problem = f"numericalKeys is {keys.shape} {keys.dtype}, numericalValues {values.shape} {values.dtype}"
        elif headstage >= values.shape[2]:
            problem = f"numericalValues has {values.shape[2]} layers, none for headstage {headstage}"
    if problem is not None:
        raise NwbFormatError(
            f"{label}: the lab notebook {group.name} is not laid out as MIES writes one ({problem}); MIES 2.0 to 3.0 "
            "write numericalKeys as 3 (6 since MIES 2.5) x N text, the key names first, and numericalValues as "
            "rows x N x 9 numbers (a layer per headstage, the ninth for none)"
        )


def _notebook_group(h5: h5py.File, name: str | None) -> h5py.Group | None:
    """The notebook group of device ``name`` (None: the first one), whatever it holds; None if there is none."""
    import h5py

    if name is None:
        notebooks = h5.get(NOTEBOOKS)
        if not isinstance(notebooks, h5py.Group) or not len(notebooks):
            return None
        name = next(iter(notebooks))
    group = h5.get(f"{NOTEBOOKS}/{name}")
    return group if isinstance(group, h5py.Group) else None


def first_device(h5: h5py.File) -> h5py.Group | None:
    """The first device's notebook group (IPFX reads that one); None if the file has no numerical notebook."""
    if NOTEBOOKS not in h5 or not len(h5[NOTEBOOKS]):
        return None
    device = h5[NOTEBOOKS][next(iter(h5[NOTEBOOKS]))]
    return device if "numericalKeys" in device and "numericalValues" in device else None


def key_columns(device: h5py.Group, keys: Sequence[str]) -> dict[str, int]:
    """``{key: column}`` in ``numericalValues`` for those of ``keys`` that ``numericalKeys`` names (its first row)."""
    names = [text(name) for name in device["numericalKeys"][0, :]]
    return {key: names.index(key) for key in keys if key in names}


def _read_columns(values: h5py.Dataset, columns: Sequence[int], last_layer: int) -> dict[int, np.ndarray]:
    """The columns' values (rows x layers 0 to ``last_layer``): one read per block of columns a chunk holds."""
    if not 0 <= last_layer < values.shape[2]:
        raise IndexError(f"the lab notebook has layers 0 to {values.shape[2] - 1}, not {last_layer}")
    width = values.chunks[1] if values.chunks else values.shape[1]
    blocks: dict[int, list[int]] = {}
    for column in columns:
        blocks.setdefault(column // width, []).append(column)
    read = {}
    for wanted in blocks.values():
        first, last = min(wanted), max(wanted)
        block = values[:, first : last + 1, : last_layer + 1]
        read.update({column: block[:, column - first, :] for column in wanted})
    return read
