"""Sweeps of a MIES-written NWB file, read straight from HDF5.

Reading the sweep table touches only attributes and scalar datasets, never a
sweep's samples; reading a sweep loads that sweep's two series only. Series
are keyed by their ``sweep_number`` attribute, as MIES writes it.

Units follow IPFX: time in seconds from the sweep's start, ``v`` in mV,
``i`` in pA. In current clamp ``v`` is the response and ``i`` the command; in
voltage clamp the other way round.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .errors import UnknownSweepError
from .stimulus import code_with_extension, stimulus_code, stimulus_name

if TYPE_CHECKING:
    import h5py
    from matplotlib.figure import Figure

    from .remote_file import RemoteFile

logger = logging.getLogger(__name__)

RESPONSE_GROUP = "acquisition"
STIMULUS_GROUP = "stimulus/presentation"
CURRENT_CLAMP = "CurrentClamp"
VOLTAGE_CLAMP = "VoltageClamp"
_VOLTAGE_CLAMP_TYPES = {"VoltageClampSeries", "VoltageClampStimulusSeries"}
_MILLI = 1e3
_PICO = 1e12

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


@dataclass(frozen=True)
class Sweep:
    """One sweep in IPFX's units: ``t`` (s, from 0), ``v`` (mV), ``i`` (pA)."""

    sweep_number: int
    stimulus_code: str
    stimulus_name: str
    clamp_mode: str
    sampling_rate: float
    t: np.ndarray
    v: np.ndarray
    i: np.ndarray

    def __repr__(self) -> str:
        return (
            f"Sweep({self.sweep_number}, {self.stimulus_code!r} ({self.stimulus_name}), "
            f"{self.clamp_mode}, {len(self.t)} samples at {self.sampling_rate:g} Hz)"
        )

    def plot(self) -> Figure:
        """Draw the sweep, command above response; needs matplotlib (the ``plot`` extra)."""
        from .plot import plot_sweep

        return plot_sweep(self)


@dataclass(frozen=True)
class _SweepSeries:
    response: h5py.Group
    stimulus: h5py.Group | None


def read_sweep_table(h5: h5py.File) -> pd.DataFrame:
    """One row per sweep, with IPFX's columns plus ``sampling_rate``, ``duration`` and ``gain``."""
    rows = [_sweep_row(number, series) for number, series in sorted(_series_by_sweep(h5).items())]
    return pd.DataFrame(rows, columns=list(SWEEP_DTYPES)).astype(SWEEP_DTYPES)


def read_sweep(h5: h5py.File, sweep_number: int, label: str | None = None) -> Sweep:
    """The samples of one sweep; ``UnknownSweepError`` lists the sweeps there are.

    ``label`` names the file in that message (e.g. its cell), else its file name.
    """
    series = _series_of(h5, sweep_number, label or str(h5.filename))
    response = _in_si(series.response)
    clamp = _clamp_mode(series.response)
    command = _in_si(series.stimulus) if series.stimulus is not None else np.zeros_like(response)
    samples = min(len(response), len(command))
    response, command = response[:samples], command[:samples]
    if clamp == CURRENT_CLAMP:
        v, i = response * _MILLI, command * _PICO
    else:
        v, i = command * _MILLI, response * _PICO
    rate = _rate(series.response)
    code = stimulus_code(_description(series))
    return Sweep(
        sweep_number=sweep_number,
        stimulus_code=code,
        stimulus_name=stimulus_name(code),
        clamp_mode=clamp,
        sampling_rate=rate,
        t=np.arange(samples) / rate,
        v=v,
        i=i,
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


def _series_of(h5: h5py.File, sweep_number: int, label: str) -> _SweepSeries:
    """A sweep's series: first where MIES names them, checked; else by scanning every series."""
    named = (f"{RESPONSE_GROUP}/data_{sweep_number:05d}_AD0", f"{STIMULUS_GROUP}/data_{sweep_number:05d}_DA0")
    groups = [h5[name] if name in h5 else None for name in named]
    if groups[0] is not None and all(_sweep_number(g) == sweep_number for g in groups if g is not None):
        return _SweepSeries(groups[0], groups[1])
    everything = _series_by_sweep(h5)
    if sweep_number not in everything:
        raise UnknownSweepError(
            f"{label} has no sweep {sweep_number}; its sweeps are {sorted(everything)}"
        )
    return everything[sweep_number]


def _sweep_number(group: h5py.Group) -> int | None:
    number = group.attrs.get("sweep_number")
    return None if number is None else int(_scalar(number))


def _series_by_sweep(h5: h5py.File) -> dict[int, _SweepSeries]:
    responses = _groups_by_sweep(h5, RESPONSE_GROUP)
    stimuli = _groups_by_sweep(h5, STIMULUS_GROUP)
    return {number: _SweepSeries(group, stimuli.get(number)) for number, group in responses.items()}


def _groups_by_sweep(h5: h5py.File, parent: str) -> dict[int, h5py.Group]:
    if parent not in h5:
        return {}
    found = {}
    for group in h5[parent].values():
        number = _sweep_number(group)
        if number is not None and "data" in group:
            found[number] = group
    return found


def _sweep_row(number: int, series: _SweepSeries) -> dict[str, Any]:
    response = series.response
    clamp = _clamp_mode(response)
    description = _description(series)
    code = stimulus_code(description)
    rate = _rate(response)
    samples = response["data"].shape[0]
    return {
        "sweep_number": number,
        "stimulus_code": code,
        "stimulus_code_ext": code_with_extension(description),
        "stimulus_name": stimulus_name(code),
        "clamp_mode": clamp,
        "stimulus_units": "Amps" if clamp == CURRENT_CLAMP else "Volts",
        "sampling_rate": rate,
        "duration": samples / rate,
        "n_samples": samples,
        "starting_time": _number(response, "starting_time"),
        "bridge_balance_mohm": _number(response, "bridge_balance"),
        "leak_pa": _number(response, "bias_current"),
        "gain": _number(response, "gain"),
        "stimulus_scale_factor": _number(series.stimulus, "gain"),
    }


def _clamp_mode(series: h5py.Group) -> str:
    kind = _text(series.attrs.get("neurodata_type", ""))
    return VOLTAGE_CLAMP if kind in _VOLTAGE_CLAMP_TYPES else CURRENT_CLAMP


def _description(series: _SweepSeries) -> str:
    for group in (series.stimulus, series.response):
        if group is not None and "stimulus_description" in group.attrs:
            return _text(group.attrs["stimulus_description"])
    return ""


def _rate(series: h5py.Group) -> float:
    return float(_scalar(series["starting_time"].attrs["rate"]))


def _in_si(series: h5py.Group) -> np.ndarray:
    data = series["data"]
    conversion = float(_scalar(data.attrs.get("conversion", 1.0)))
    offset = float(_scalar(data.attrs.get("offset", 0.0)))
    return data[()].astype(np.float64) * conversion + offset


def _number(group: h5py.Group | None, name: str) -> float:
    if group is None or name not in group:
        return float("nan")
    return float(_scalar(group[name][()]))


def _scalar(value: Any) -> Any:
    """A scalar from an HDF5 value that may be a scalar or a 1-element array."""
    array = np.asarray(value)
    return array.reshape(-1)[0] if array.size == 1 else value


def _text(value: Any) -> str:
    value = _scalar(value)
    return value.decode() if isinstance(value, bytes) else str(value)
