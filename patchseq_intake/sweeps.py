"""The sweep table and the sweeps of a Patch-seq NWB file, as IPFX 2.1.2 gives them for MIES files.

Read straight from HDF5: the sweep table touches series headers, their
small datasets and a few lab notebook columns, never a sweep's samples;
a sweep loads that sweep's two series only. Series are chosen by type and
headstage (see ``mies_series``).

Units and values follow IPFX: time in seconds from the sweep's start, ``v``
in mV, ``i`` in pA, computed as IPFX computes them (stored samples, float32
in the release, times the series' ``@conversion``, then to mV or pA), so
they agree to the bit; in current clamp ``v`` is the
response and ``i`` the command, in voltage clamp the other way round.
"""

from __future__ import annotations

import logging
import struct
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .errors import NwbFormatError, UnknownHeadstageError, UnknownSweepError
from .h5values import number, scalar, text
from .labnotebook import notebook_values
from .mies_series import (
    RESPONSE_GROUP,
    STIMULUS_GROUP,
    VOLTAGE_CLAMP_TYPES,
    SweepSeries,
    recorded_sweeps,
    sweep_series,
)
from .stimulus import stimulus_code, stimulus_name

if TYPE_CHECKING:
    import h5py
    from matplotlib.figure import Figure

    from .remote_file import RemoteFile

logger = logging.getLogger(__name__)

CURRENT_CLAMP = "CurrentClamp"
VOLTAGE_CLAMP = "VoltageClamp"
SET_SWEEP_COUNT = "Set Sweep Count"
SCALE_FACTOR = "Scale Factor"
_TO_MILLI, _TO_PICO = 1.0e3, 1.0e12

SWEEP_DTYPES = {
    "sweep_number": "int64",
    "stimulus_code": "string",
    "stimulus_code_ext": "string",
    "stimulus_name": "string",
    "clamp_mode": "string",
    "stimulus_units": "string",
    "sampling_rate": "float64",
    "duration": "float64",
    "n_samples": "int64",
    "starting_time": "float64",
    "bridge_balance_mohm": "float64",
    "leak_pa": "float64",
    "gain": "float64",
    "stimulus_scale_factor": "float64",
}
"""The sweep table's columns: IPFX's (missing values NaN or <NA> where IPFX has None) and ours."""


@dataclass(frozen=True)
class Sweep:
    """One sweep in IPFX's units: ``t`` (s from 0, float64), ``v`` (mV) and ``i`` (pA).

    ``v`` and ``i`` have the stored samples' type, as IPFX's: float32 in the
    release's files (MIES writes float64 only in its "double precision" mode).

    ``izero``: an I=0 sweep, recorded with no command (``i`` is all zeros).
    """

    sweep_number: int
    stimulus_code: str
    stimulus_name: str
    clamp_mode: str
    sampling_rate: float
    t: np.ndarray
    v: np.ndarray
    i: np.ndarray
    izero: bool = False

    def __repr__(self) -> str:
        kind = f"{self.clamp_mode}, I=0" if self.izero else self.clamp_mode
        return (
            f"Sweep({self.sweep_number}, {self.stimulus_code!r} ({self.stimulus_name}), "
            f"{kind}, {len(self.t)} samples at {self.sampling_rate:g} Hz)"
        )

    def plot(self) -> Figure:
        """Draw the sweep, command above response; needs matplotlib (the ``plot`` extra)."""
        from .plot import plot_sweep

        return plot_sweep(self)


def read_sweep_table(h5: h5py.File, headstage: int = 0, label: str | None = None) -> pd.DataFrame:
    """One row per recorded sweep of ``headstage``: ``SWEEP_DTYPES``' columns.

    Where each value comes from:

    - ``stimulus_code``: the response's ``@stimulus_description`` without a
      final ``_DA_0`` and anything from ``[``; ``stimulus_name``: its name
      (``stimulus.stimulus_name``); ``clamp_mode``: the response's type;
    - ``stimulus_code_ext``: the code and ``[<Set Sweep Count>]``, from the
      lab notebook (``[0]`` where it has none);
    - ``stimulus_units``: the stimulus series' ``@unit`` (``Amps``/``Volts``;
      missing for an I=0 sweep, which has no stimulus);
    - ``bridge_balance_mohm``, ``leak_pa``: the response's ``bridge_balance``
      (MOhm) and ``bias_current`` (pA) as stored; missing in voltage clamp or
      where not written;
    - ``stimulus_scale_factor``: the lab notebook's ``Scale Factor`` (the
      amplifier's output gain), missing where it has none;
    - ``sampling_rate`` (Hz): the stimulus' ``starting_time/@rate`` (the
      response's without one); ``n_samples`` and ``duration`` (s): the
      stored samples; ``starting_time`` (s in the session) and ``gain``: the
      response's.

    ``UnknownHeadstageError`` lists the headstages the file has. A sweep with
    two responses (as a second device's) is left out, with a warning.
    """
    label = label or str(h5.filename)
    sweeps = _headstage_sweeps(h5, headstage, label, warn_of_ambiguous=True)
    notebook = notebook_values(h5, [SET_SWEEP_COUNT, SCALE_FACTOR], headstage)
    rows = [_sweep_row(series, notebook) for series in sweeps.values()]
    return pd.DataFrame(rows, columns=list(SWEEP_DTYPES)).astype(SWEEP_DTYPES)


def read_sweep(
    h5: h5py.File, sweep_number: int, headstage: int = 0, trim: bool = True, label: str | None = None
) -> Sweep:
    """One sweep's samples, as IPFX's ``EphysDataSet.sweep`` gives them.

    The response's trailing exact zeros become NaN; with ``trim`` (IPFX's
    "recording" epoch) ``t``, ``v`` and ``i`` stop at the last response
    sample that is not NaN, and without it every stored sample is returned
    as stored. ``UnknownSweepError`` lists the sweeps there are; ``label``
    names the file (e.g. its cell) in messages. ``NwbFormatError`` for a
    sweep with no stimulus that is not an I=0 sweep (its command is not
    known), with two responses, or whose stimulus and response differ in
    rate or length.
    """
    label = label or str(h5.filename)
    series = sweep_series(h5, sweep_number, headstage, label) if RESPONSE_GROUP in h5 else None
    if series is None:
        sweeps = _headstage_sweeps(h5, headstage, label, warn_of_ambiguous=False)  # what there is, for the message
        raise UnknownSweepError(
            f"{label} has no recorded sweep {sweep_number} on headstage {headstage}; its sweeps are {sorted(sweeps)}"
        )
    response, stimulus, rate = _samples(series, label)
    clamp = _clamp_mode(series)
    if trim:
        response = _nan_trailing_zeros(response)
        end = _last_recorded(response) + 1
        response, stimulus = response[:end], stimulus[:end]
    v, i = (response, stimulus) if clamp == CURRENT_CLAMP else (stimulus, response)
    code = stimulus_code(text(series.response.attrs.get("stimulus_description", "")))
    return Sweep(
        sweep_number=sweep_number,
        stimulus_code=code,
        stimulus_name=stimulus_name(code),
        clamp_mode=clamp,
        sampling_rate=rate,
        t=np.arange(len(response)) / rate,
        v=v,
        i=i,
        izero=series.izero,
    )


def prefetch_sweep_metadata(h5: h5py.File, remote: RemoteFile) -> None:
    """Fetch, in a few concurrent batches, the metadata the sweep table will read.

    Over a network each HDF5 header is a round trip if h5py asks for them one
    by one; ``hdf5_layout.crawl`` finds them a level ahead instead.
    """
    from .hdf5_layout import crawl, readable_layout

    if not readable_layout(h5):
        return
    parents = [name for name in (RESPONSE_GROUP, STIMULUS_GROUP) if name in h5]
    starts = [_address(h5[name]) for name in parents]
    try:
        crawl(remote.read_at, remote.prefetch, starts, depth=2)
    except (struct.error, ValueError, OverflowError) as exc:
        # Only a speed-up: on a structure it misreads, h5py reads on demand instead.
        logger.debug("prefetching the sweep table's metadata stopped: %s", exc)


def _address(obj: h5py.HLObject) -> int:
    """The file address of an open HDF5 object's header."""
    import h5py

    return int(h5py.h5o.get_info(obj.id).addr)


def _headstage_sweeps(h5: h5py.File, headstage: int, label: str, warn_of_ambiguous: bool) -> dict[int, SweepSeries]:
    if RESPONSE_GROUP not in h5:
        raise NwbFormatError(f"{label} is not an NWB file of recordings: it has no {RESPONSE_GROUP!r} group")
    recorded = recorded_sweeps(h5)
    if headstage not in recorded.headstages:
        raise UnknownHeadstageError(
            f"{label} has no recording on headstage {headstage}; its headstages are {recorded.headstages}"
        )
    ambiguous = sorted(number for hs, number in recorded.ambiguous if hs == headstage)
    if ambiguous and warn_of_ambiguous:
        warnings.warn(
            f"{label}: sweeps {ambiguous} of headstage {headstage} have two series of a kind (a second "
            "device?) and are left out of the sweep table",
            stacklevel=3,
        )
    return recorded.of_headstage(headstage)


def _sweep_row(series: SweepSeries, notebook: dict[str, dict[int, float]]) -> dict[str, Any]:
    response, stimulus, sweep = series.response, series.stimulus, series.sweep_number
    clamp = _clamp_mode(series)
    code = stimulus_code(text(response.attrs.get("stimulus_description", "")))
    rate = _rate(stimulus if stimulus is not None else response)
    samples = response["data"].shape[0]
    current_clamp = clamp == CURRENT_CLAMP
    count = notebook[SET_SWEEP_COUNT].get(sweep, 0.0)
    return {
        "sweep_number": sweep,
        "stimulus_code": code,
        "stimulus_code_ext": f"{code}[{int(count)}]",
        "stimulus_name": stimulus_name(code),
        "clamp_mode": clamp,
        "stimulus_units": _unit_name(stimulus["data"].attrs.get("unit")) if stimulus is not None else None,
        "sampling_rate": rate,
        "duration": samples / rate,
        "n_samples": samples,
        "starting_time": _stored(response, "starting_time"),
        "bridge_balance_mohm": _stored(response, "bridge_balance") if current_clamp else np.nan,
        "leak_pa": _stored(response, "bias_current") if current_clamp else np.nan,
        "gain": _stored(response, "gain"),
        "stimulus_scale_factor": notebook[SCALE_FACTOR].get(sweep, np.nan),
    }


def _samples(series: SweepSeries, label: str) -> tuple[np.ndarray, np.ndarray, float]:
    """Response and command in IPFX's units (float32), and the sampling rate (the stimulus')."""
    response = _in_si(series.response)
    if series.stimulus is None:
        if not series.izero:
            raise NwbFormatError(
                f"{label}: sweep {series.sweep_number} has a response ({series.response.name}) but no stimulus "
                "series, and is not an I=0 sweep: its command is not known"
            )
        rate = _rate(series.response)  # I=0: no command was given
        scale = _TO_MILLI if _clamp_mode(series) == CURRENT_CLAMP else _TO_PICO
        return response * scale, np.zeros_like(response), rate
    stimulus = _in_si(series.stimulus)
    rate, response_rate = _rate(series.stimulus), _rate(series.response)
    if len(stimulus) != len(response) or rate != response_rate:
        raise NwbFormatError(
            f"{label}: sweep {series.sweep_number}: the stimulus {series.stimulus.name} has {len(stimulus)} "
            f"samples at {rate:g} Hz and the response {series.response.name} {len(response)} at "
            f"{response_rate:g} Hz; they must be alike"
        )
    if _unit_name(series.stimulus["data"].attrs.get("unit")) == "Volts":
        return response * _TO_PICO, stimulus * _TO_MILLI, rate
    return response * _TO_MILLI, stimulus * _TO_PICO, rate


def _in_si(series: h5py.Group) -> np.ndarray:
    """The stored samples times ``@conversion``, float32 as IPFX computes it."""
    data = series["data"]
    return data[()] * float(scalar(data.attrs.get("conversion", 1.0)))


def _nan_trailing_zeros(response: np.ndarray) -> np.ndarray:
    """IPFX's view of a sweep's end: trailing exact zeros after a non-zero value are NaN."""
    nonzero = np.flatnonzero(response)
    if len(nonzero) == 0 or nonzero[-1] + 1 >= len(response):
        return response
    response = response.copy()
    response[nonzero[-1] + 1 :] = np.nan
    return response


def _last_recorded(response: np.ndarray) -> int:
    """The index of the last response sample that is not NaN (0 if none is)."""
    recorded = np.flatnonzero(~np.isnan(response))
    return int(recorded[-1]) if len(recorded) else 0


def _clamp_mode(series: SweepSeries) -> str:
    return VOLTAGE_CLAMP if series.response_type in VOLTAGE_CLAMP_TYPES else CURRENT_CLAMP


def _unit_name(unit: Any) -> str:
    """IPFX's long name of a unit: ``Amps``, ``Volts``, ``Unknown`` for none, else as stored."""
    unit = text(unit) if unit is not None else ""
    if not unit:
        return "Unknown"
    if unit in ("Amps", "A", "amps", "amperes"):
        return "Amps"
    if unit in ("Volts", "V", "volts"):
        return "Volts"
    return unit


def _rate(series: h5py.Group) -> float:
    return number(series["starting_time"].attrs["rate"])


def _stored(group: h5py.Group, name: str) -> float:
    """A small dataset's value; NaN where it is not written."""
    return number(group[name][()]) if name in group else np.nan
