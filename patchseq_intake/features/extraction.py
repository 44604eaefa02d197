"""Which of IPFX's steps run on a cell, with which parameters; every value is IPFX's.

Per cell, as ``ipfx/bin/run_feature_collection.py`` (IPFX 2.1) does for
files on a file system (``data_source="filesystem"``):

1. **Sweep QC: none.** Every sweep of the table is a candidate, as in
   ``run_feature_collection`` reading files (its ``categorize_iclamp_sweeps``
   with ``sweep_qc_option="none"``); the release's QC states live in LIMS,
   which no one outside the Institute reaches.
2. **Stimulus selection:** IPFX's ``script_utils.categorize_iclamp_sweeps``
   with its default ontology's long-square, short-square and ramp names,
   current clamp only.
3. **Features:** IPFX's ``run_feature_collection.extract_features`` on those
   sweeps, with ``amp_interval`` and ``max_above_rheo`` (the amplitude
   windows of the supra-threshold long-square features: every
   ``amp_interval`` pA above rheobase, up to ``max_above_rheo`` pA). Inside
   it IPFX's own ``preprocess_*_sweeps`` run with their defaults
   (``extra_dur=0.2`` s, ``subthresh_min_amp=-100`` pA, detection
   parameters per stimulus type).

One difference from ``run_feature_collection``, on purpose: it runs the
three stimulus types in one call and drops the whole cell when one fails;
here each type runs in its own call of ``extract_features`` (the same
function, given one type's sweeps), so a cell whose short squares never
spike keeps its long-square features, and the failure is named in
``CellFeatures.errors``.

``spike_tables`` gives, for those who want them, IPFX's per-sweep features
(``sweeps``) and per-spike features (``spikes``) of the same sweeps, from
IPFX's ``preprocess_long_square_sweeps``, ``preprocess_short_square_sweeps``
and ``preprocess_ramp_sweeps``.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..nwb.sweep import CURRENT_CLAMP
from .ipfx_library import ipfx

STIMULI = ("ramp", "short_square", "long_square")
"""The stimulus types whose features are computed, in ``extract_features``' order."""
_ONTOLOGY_NAMES = {"ramp": "ramp_names", "short_square": "short_square_names", "long_square": "long_square_names"}
_ARGUMENT = {"ramp": "ramp_sweep_numbers", "short_square": "ssq_sweep_numbers", "long_square": "lsq_sweep_numbers"}
SPIKE_FEATURES = ("threshold_v", "peak_v", "upstroke", "downstroke", "upstroke_downstroke_ratio", "width", "fast_trough_v")
"""The action potential features ``run_feature_collection`` takes of a first (or mean) spike: its functions'
``feature_list`` default."""
SWEEP_FEATURES = ("first_isi", "avg_rate", "isi_cv", "latency", "median_isi", "adapt")
"""The supra-threshold long-square sweep features ``extract_features`` takes per amplitude (its local list)."""
LONG_SQUARE = (
    "input_resistance", "tau", "v_baseline", "sag_nearest_minus_100", "sag_measured_at", "rheobase_i",
    "fi_linear_fit_slope",
)
"""``extract_features``' long-square cell features, in its order."""


@dataclass(frozen=True)
class FeatureParameters:
    """The parameters of IPFX's ``extract_features`` (pA): amplitude windows above rheobase."""

    amp_interval: int = 20
    max_above_rheo: int = 100

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class CellFeatures:
    """One cell's features (``feature_columns``' names, NaN where not computed) and what failed, by stimulus type."""

    features: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def error(self) -> str | None:
        """What failed, ``<stimulus type>: <why>`` joined by ``; ``; None if nothing did."""
        return "; ".join(f"{kind}: {why}" for kind, why in self.errors.items()) or None

    def to_json(self) -> dict[str, Any]:
        return {"features": {k: None if np.isnan(v) else v for k, v in self.features.items()}, "errors": self.errors}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CellFeatures:
        features = {str(k): np.nan if v is None else float(v) for k, v in data["features"].items()}
        return cls(features, {str(k): str(v) for k, v in data["errors"].items()})


@dataclass(frozen=True)
class SpikeTables:
    """IPFX's per-sweep (``sweeps``) and per-spike (``spikes``) features of one cell, and what failed, by type.

    Both lead with ``stimulus`` (one of ``STIMULI``) and ``sweep_number``;
    ``spikes`` has a row per spike with IPFX's spike features (``threshold_t``,
    ``threshold_v``, ``peak_t``, ``peak_v``, ``upstroke``, ``downstroke``,
    ``width``, ``fast_trough_v``, ...: s, mV, mV/ms), ``sweeps`` a row per
    analysed sweep (``stim_amp`` pA, ``avg_rate`` Hz, ``latency`` s, ...).
    """

    sweeps: pd.DataFrame
    spikes: pd.DataFrame
    errors: dict[str, str] = field(default_factory=dict)


def feature_columns(parameters: FeatureParameters) -> list[str]:
    """The per-cell features ``extract_features`` can give, in its order, for these amplitude windows.

    Built from ``SPIKE_FEATURES``, ``LONG_SQUARE`` and ``SWEEP_FEATURES`` (IPFX's
    lists, restated so that a table of cached results needs no import of IPFX;
    ``tests/features`` check them against IPFX's own).
    """
    columns = [f"ap_1_{name}_ramp" for name in SPIKE_FEATURES]
    columns += [f"ap_1_{name}_short_square" for name in SPIKE_FEATURES] + ["short_square_current", *LONG_SQUARE]
    for label in range(parameters.max_above_rheo // parameters.amp_interval + 1):
        columns += [f"ap_1_{name}_{label}_long_square" for name in SPIKE_FEATURES]
        columns += [f"ap_mean_{name}_{label}_long_square" for name in SPIKE_FEATURES]
        columns += [f"{name}_{label}_long_square" for name in SWEEP_FEATURES]
        columns.append(f"stimulus_amplitude_{label}_long_square")
    return [*columns, "fi_sqrt_fit_A", "fi_sqrt_fit_Ic"]


def cell_features(data: Any, parameters: FeatureParameters) -> CellFeatures:
    """IPFX's features of one cell, from ``data`` (an ``ipfx_data.PackageSweeps``: IPFX's data interface).

    The chosen sweeps are loaded first, in one call (errors reaching them
    propagate: they are not the cell's); then each stimulus type runs in
    its own ``extract_features`` call, its exception recorded as the type's
    error. A cell with no current-clamp long square has that error too.
    """
    ipfx()
    from ipfx.bin.run_feature_collection import extract_features

    data_set, chosen = _chosen_sweeps(data)
    errors = {} if len(chosen["long_square"]) else {"long_square": _no_long_squares(data_set)}
    values: dict[str, float] = {}
    for kind in STIMULI:
        if not len(chosen[kind]):
            continue
        numbers = {argument: [] for argument in _ARGUMENT.values()} | {_ARGUMENT[kind]: chosen[kind]}
        try:
            with _quiet():
                found = extract_features(data_set, **numbers, **parameters.as_dict())
        except Exception as exc:  # IPFX's failure on this cell's sweeps: the cell's row says it
            errors[kind] = f"{type(exc).__name__}: {exc}"
            continue
        values.update({name: _number(value) for name, value in found.items()})
    columns = feature_columns(parameters)
    return CellFeatures({name: values.get(name, np.nan) for name in columns}, errors)


def spike_tables(data: Any) -> SpikeTables:
    """IPFX's per-sweep and per-spike features of one cell's long squares, short squares and ramps (see ``SpikeTables``)."""
    ipfx()
    import ipfx.script_utils as su

    data_set, chosen = _chosen_sweeps(data)
    steps = {
        "long_square": su.preprocess_long_square_sweeps,
        "short_square": su.preprocess_short_square_sweeps,
        "ramp": su.preprocess_ramp_sweeps,
    }
    sweeps, spikes, errors = [], [], {}
    for kind, step in steps.items():
        if not len(chosen[kind]):
            continue
        try:
            with _quiet():
                analysed, features = step(data_set, chosen[kind])[:2]
        except Exception as exc:  # as in cell_features: the type's error
            errors[kind] = f"{type(exc).__name__}: {exc}"
            continue
        numbers = [sweep.sweep_number for sweep in analysed.sweeps]
        table = features["sweeps"].reset_index(drop=True)
        sweeps.append(_led(table, kind, numbers))
        for number, spiked in zip(numbers, features["spikes_set"], strict=True):
            spikes.append(_led(spiked.reset_index(drop=True), kind, [number] * len(spiked)))
    return SpikeTables(_stacked(sweeps), _stacked(spikes), errors)


def _chosen_sweeps(data: Any) -> tuple[Any, dict[str, list[int]]]:
    """IPFX's data set on ``data`` and its current-clamp sweeps of each stimulus type (loaded, in one call)."""
    import ipfx.script_utils as su
    from ipfx.dataset.ephys_data_set import EphysDataSet

    data_set = EphysDataSet(data)
    ontology = data_set.ontology
    with _quiet():  # IPFX warns of each code its ontology lacks (an I=0 sweep's), which no feature reads
        chosen = {
            kind: [int(n) for n in su.categorize_iclamp_sweeps(data_set, getattr(ontology, _ONTOLOGY_NAMES[kind]))]
            for kind in STIMULI
        }
    data.preload(sorted({n for numbers in chosen.values() for n in numbers}))
    return data_set, chosen


def _no_long_squares(data_set: Any) -> str:
    table = data_set.sweep_table
    codes = sorted(set(table.loc[table["clamp_mode"] == CURRENT_CLAMP, "stimulus_code"].dropna()))
    return (
        "no current-clamp long square sweeps (IPFX's ontology names them by codes such as C1LSCOARSE or "
        f"X1PS_SubThresh); the file's current-clamp stimulus codes: {', '.join(codes) or 'none'}"
    )


def _led(table: pd.DataFrame, kind: str, numbers: list[int]) -> pd.DataFrame:
    table = table.copy()
    table.insert(0, "sweep_number", np.asarray(numbers, dtype="int64"))
    table.insert(0, "stimulus", kind)
    return table


def _stacked(tables: list[pd.DataFrame]) -> pd.DataFrame:
    if not tables:
        return pd.DataFrame({"stimulus": pd.Series(dtype=object), "sweep_number": pd.Series(dtype="int64")})
    return pd.concat(tables, ignore_index=True)


def _number(value: Any) -> float:
    """An IPFX feature value as a float (NaN for None)."""
    return np.nan if value is None else float(value)


_IPFX_RUNS = threading.Lock()
"""Held while IPFX computes: Python's warning filters are process-wide, so one thread's silencing must not end
while another's IPFX call runs. Threads still overlap their reads of sweeps, which happen outside it."""


@contextmanager
def _quiet() -> Iterator[None]:
    """IPFX's warnings (empty means, divisions by zero on cells without spikes, codes its ontology lacks) are not
    the user's: what failed is in the result's errors. One thread at a time (``_IPFX_RUNS``)."""
    ipfx()
    with _IPFX_RUNS, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
