"""The spike times a release file already holds: IPFX's ``processing/spikes``, read with h5py.

After MIES wrote the files, the Allen pipeline ran IPFX's feature extraction
on them and appended what it found (``ipfx/nwb_append.py:
append_spike_times``, fed by ``ipfx/bin/run_feature_extraction.py:
collect_spike_times``): a processing module ``spikes`` holding one
TimeSeries ``Sweep_<sweep number>`` per sweep it analysed, whose ``data``
(and ``timestamps``, the same values) are the spike times IPFX detected:
each spike's ``threshold_t`` in seconds, as IPFX's feature extraction
measured it (``data_set_features.extract_sweep_features``): after
``align_to_start_of_epoch("experiment")``, that is from the start of the
sweep's "experiment" epoch, ``PRESTIM_STABILITY_EPOCH`` (0.5 s) before its
stimulus (the first non-zero command after the test pulse), neither from
the sweep's start nor in session time. On ``Sweep.t``'s axis a spike lies
at ``spike time + (stimulus start index - int(0.5 * rate)) / rate``
(checked against IPFX 2.1.2 on the test files: ``tests/nwb/test_spike_times.py``).
A sweep analysed without a spike has an empty series.

Three answers are told apart: a file with no ``processing/spikes`` holds no
spike times (None for the file); a module without a sweep's series did not
analyse that sweep (None for the sweep); an empty series found no spike in
it (an empty array).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np

from ..errors import NwbFormatError
from .h5values import scalar

if TYPE_CHECKING:
    import h5py
    import pandas as pd

SPIKES_MODULE = "processing/spikes"
"""Where IPFX's pipeline put the spike times it detected."""
_SWEEP_NAME = re.compile(r"Sweep_(\d+)")
_FORM = "a TimeSeries group Sweep_<sweep number> holding a 1-D numeric data of spike times (s)"


def spike_series(h5: h5py.File, label: str) -> dict[int, h5py.Group] | None:
    """The module's series by sweep number (names checked, no data read); None if the file has no module.

    ``NwbFormatError`` naming the file (``label``), the member and what it
    should be, for a member that is not ``Sweep_<whole number>``, is not a
    group, or repeats a sweep number (``Sweep_7`` and ``Sweep_07``).
    """
    import h5py

    module = h5.get(SPIKES_MODULE)
    if module is None:
        return None
    if not isinstance(module, h5py.Group):
        raise NwbFormatError(f"{label}: {SPIKES_MODULE} is a dataset; it should be a processing module (a group)")
    found: dict[int, h5py.Group] = {}
    for name, member in module.items():
        named = _SWEEP_NAME.fullmatch(name)
        where = f"{label}: {SPIKES_MODULE}/{name}"
        if named is None:
            raise NwbFormatError(f"{where} is not named Sweep_<whole number>: each member should be {_FORM}")
        if not isinstance(member, h5py.Group):
            raise NwbFormatError(f"{where} is a dataset; it should be {_FORM}")
        number = int(named[1])
        if number in found:
            raise NwbFormatError(
                f"{where} repeats sweep {number} ({found[number].name}): each sweep should be one series, Sweep_{number}"
            )
        found[number] = member
    return found


def read_spike_times(series: h5py.Group, label: str) -> np.ndarray:
    """One series' spike times: its ``data`` times its ``@conversion`` (if any), float64 seconds.

    ``NwbFormatError`` naming the file (``label``) and the series for one
    with no ``data``, or whose ``data`` is not a 1-D numeric dataset.
    """
    import h5py

    where = f"{label}: {series.name}"
    data = series.get("data")
    if not isinstance(data, h5py.Dataset):
        what = "no data" if data is None else "a group as data"
        raise NwbFormatError(f"{where} has {what}; it should be {_FORM}")
    if data.ndim != 1 or data.dtype.kind not in "fiu":
        raise NwbFormatError(
            f"{where}/data is {data.ndim}-D of type {data.dtype}; it should be 1-D and numeric: spike times (s)"
        )
    times = data[()].astype(np.float64)
    conversion = scalar(data.attrs.get("conversion", 1.0))
    if not isinstance(conversion, (int, float, np.integer, np.floating)):
        raise NwbFormatError(f"{where}/data has @conversion {conversion!r}; it should be a number (s per stored unit)")
    return times * float(conversion)


def spike_times(h5: h5py.File, label: str) -> dict[int, np.ndarray] | None:
    """Every analysed sweep's spike times, by sweep number; None if the file holds none (no module)."""
    series = spike_series(h5, label)
    if series is None:
        return None
    return {number: read_spike_times(one, label) for number, one in sorted(series.items())}


def sweep_spike_times(h5: h5py.File, sweep_number: int, label: str) -> np.ndarray | None:
    """One sweep's spike times (s, as stored); None if the file has no module or did not analyse the sweep."""
    series = spike_series(h5, label)
    if series is None or sweep_number not in series:
        return None
    return read_spike_times(series[sweep_number], label)


SPIKE_COLUMNS = {"sweep_number": "int64", "spike_time": "float64"}
"""The spike times' table: a row per spike, its sweep and its time (s from IPFX's "experiment" epoch, as stored)."""


def spike_table(found: dict[int, np.ndarray] | None) -> pd.DataFrame:
    """``spike_times``' answer as a table (``SPIKE_COLUMNS``), by sweep number then as stored; no rows for None."""
    import pandas as pd

    found = found or {}
    numbers = [number for number, times in sorted(found.items()) for _ in range(len(times))]
    times = np.concatenate([found[number] for number in sorted(found)]) if found else np.empty(0)
    return pd.DataFrame({"sweep_number": numbers, "spike_time": times}).astype(SPIKE_COLUMNS)
