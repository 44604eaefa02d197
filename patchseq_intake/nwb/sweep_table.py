"""The sweep table of a Patch-seq NWB file, as IPFX 2.1.2 gives it for MIES files, read from HDF5.

It touches series headers, their small datasets and a few lab notebook
columns, never a sweep's samples. Series are chosen by type and headstage
(see ``mies_series``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .h5values import number, text
from .labnotebook import notebook_values
from .mies_series import SweepSeries, headstage_sweeps
from .stimulus import stimulus_code, stimulus_name
from .sweep import CURRENT_CLAMP
from .sweeps import CLAMP_UNITS, clamp_mode, rate, unit_name

if TYPE_CHECKING:
    import h5py

SET_SWEEP_COUNT = "Set Sweep Count"
SCALE_FACTOR = "Scale Factor"
NOTEBOOK_KEYS = (SET_SWEEP_COUNT, SCALE_FACTOR)
"""The lab notebook keys a sweep table reads (besides ``SweepNum``)."""

SWEEP_DTYPES = {
    "sweep_number": "int64",
    "stimulus_units": "string",
    "bridge_balance_mohm": "float64",
    "leak_pa": "float64",
    "stimulus_scale_factor": "float64",
    "stimulus_code": "string",
    "stimulus_code_ext": "string",
    "clamp_mode": "string",
    "stimulus_name": "string",
    "device": "string",
    "sampling_rate": "float64",
    "duration": "float64",
    "n_samples": "int64",
    "starting_time": "float64",
    "gain": "float64",
}
"""The sweep table's columns: IPFX's, in IPFX's order (missing values NaN or <NA> where IPFX has None), then ours."""


def read_sweep_table(
    h5: h5py.File, headstage: int = 0, label: str | None = None, warn: bool = True, device: str | None = None
) -> pd.DataFrame:
    """One row per recorded sweep of ``headstage`` and device (``device`` only, if given): ``SWEEP_DTYPES``' columns.

    Rows by device, in the order the devices started recording (their first
    sweep's ``starting_time``), then sweep number; a file of one device (the
    release's) has one row per sweep, in number order, as IPFX gives them.

    Where each value comes from:

    - ``stimulus_code``: the response's ``@stimulus_description`` without a
      final ``_DA_0`` and anything from ``[``; ``stimulus_name``: its name
      (``stimulus.stimulus_name``); ``clamp_mode``: the response's type;
    - ``stimulus_code_ext``: the code and ``[<Set Sweep Count>]``, from the
      lab notebook (``[0]`` where it has none);
    - ``stimulus_units``: the stimulus series' ``@unit`` (``Amps``/``Volts``;
      for an I=0 sweep, which has none, the clamp's: ``Amps``);
    - ``bridge_balance_mohm``, ``leak_pa``: the response's ``bridge_balance``
      (MOhm) and ``bias_current`` (pA) as stored; missing in voltage clamp or
      where not written;
    - ``stimulus_scale_factor``: the lab notebook's ``Scale Factor`` (the
      amplifier's output gain), missing where it has none; the lab notebook
      is the sweep's device's, as IPFX reads a file of that device alone;
    - ``device``: the device that recorded the sweep (see ``devices``;
      missing where it cannot be told);
    - ``sampling_rate`` (Hz): the stimulus' ``starting_time/@rate`` (the
      response's without one); ``n_samples`` and ``duration`` (s): the
      stored samples; ``starting_time`` (s in the session) and ``gain``: the
      response's.

    ``UnknownHeadstageError`` lists the headstages the file has,
    ``InvalidQueryError`` the devices of the headstage for another ``device``;
    ``NwbFormatError`` for a file without recorded sweeps (see
    ``mies_series.recorded_sweeps``). A sweep with two responses on a device
    not told apart is left out, with a warning (``warn=False``: silently).
    """
    label = label or str(h5.filename)
    sweeps = headstage_sweeps(h5, headstage, label, warn_of_ambiguous=warn, device=device)
    devices = {series.device for series in sweeps}
    notebooks = {name: notebook_values(h5, NOTEBOOK_KEYS, headstage, name, label) for name in devices}
    rows = [_sweep_row(series, notebooks[series.device]) for series in sweeps]
    return _in_recording_order(pd.DataFrame(rows, columns=list(SWEEP_DTYPES)).astype(SWEEP_DTYPES))


def table_sweeps(table: pd.DataFrame) -> list[tuple[int, str | None]]:
    """The ``(sweep_number, device)`` of each row of a sweep table, in its order (device None where unknown)."""
    return [(int(n), None if pd.isna(d) else str(d)) for n, d in zip(table["sweep_number"], table["device"])]


def _in_recording_order(table: pd.DataFrame) -> pd.DataFrame:
    """``table``'s devices in the order they started recording, each device's rows kept in number order."""
    if table["device"].nunique(dropna=False) < 2:
        return table
    started = table.groupby("device", dropna=False)["starting_time"].transform("min")
    return table.assign(_started=started).sort_values("_started", kind="stable").drop(columns="_started").reset_index(
        drop=True
    )


def _sweep_row(series: SweepSeries, notebook: dict[str, dict[int, float]]) -> dict[str, Any]:
    response, stimulus, sweep = series.response, series.stimulus, series.sweep_number
    clamp = clamp_mode(series.response_type)
    code = stimulus_code(text(response.attrs.get("stimulus_description", "")))
    sampling_rate = rate(stimulus if stimulus is not None else response)
    samples = response["data"].shape[0]
    current_clamp = clamp == CURRENT_CLAMP
    count = notebook[SET_SWEEP_COUNT].get(sweep, 0.0)
    command_unit = CLAMP_UNITS[clamp][1]  # an I=0 sweep's, which has no stimulus series
    return {
        "sweep_number": sweep,
        "stimulus_code": code,
        "stimulus_code_ext": f"{code}[{int(count)}]",
        "stimulus_name": stimulus_name(code),
        "clamp_mode": clamp,
        "stimulus_units": unit_name(stimulus["data"].attrs.get("unit")) if stimulus is not None else command_unit,
        "device": series.device,
        "sampling_rate": sampling_rate,
        "duration": samples / sampling_rate,
        "n_samples": samples,
        "starting_time": _stored(response, "starting_time"),
        "bridge_balance_mohm": _stored(response, "bridge_balance") if current_clamp else np.nan,
        "leak_pa": _stored(response, "bias_current") if current_clamp else np.nan,
        "gain": _stored(response, "gain"),
        "stimulus_scale_factor": notebook[SCALE_FACTOR].get(sweep, np.nan),
    }


def _stored(group: h5py.Group, name: str) -> float:
    """A small dataset's value; NaN where it is not written."""
    return number(group[name][()]) if name in group else np.nan
