"""IPFX itself finds the physiology planted in a synthetic cell.

The default protocol (without its I=0 sweep, which IPFX's reader refuses)
is written at 50 kHz for the default ``CellSpec`` and analysed in this
process as ``ipfx/bin/run_feature_collection.py`` does: IPFX's
``create_ephys_data_set``, ``categorize_iclamp_sweeps`` and
``extract_features`` (and, for its spike times, the ``preprocess_*``
steps ``extract_features`` runs). The features must be the planted values,
within what IPFX's measurement allows (each tolerance says why).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pytest
from ipfx import script_utils
from ipfx.bin.run_feature_collection import extract_features
from ipfx.dataset.create import create_ephys_data_set

from patchseq_intake.testing.mies import write_mies_nwb
from patchseq_intake.testing.physiology import (
    IZERO,
    LONG_SQUARE,
    RAMP,
    SHORT_SQUARE,
    CellSpec,
    WrittenCell,
    default_sweeps,
    nwb_file_name,
)
from patchseq_intake.testing.traces import synthesize

CELL = CellSpec()
THRESHOLD_TOLERANCE_MV = 1.0
"""IPFX's threshold is where the (10 kHz Bessel-filtered) dV/dt, walking back from the upstroke, falls to a
fraction of the mean upstroke (5 %; short squares at least 10 %): about 12-23 mV/ms of a 230 mV/ms upstroke.
The planted upstroke leaves the threshold with zero slope, so that point lies within a few 20 µs samples of the
spike's onset, where v is the threshold plus the passive rise of one sample (at most 0.2 mV on a short square)
and the noise (0.1 mV sd)."""

PEAK_TOLERANCE_S = 0.0001
"""5 samples at 50 kHz: see ``test_ipfx_finds_each_planted_spike_in_every_kind_of_stimulus``."""


@dataclass(frozen=True)
class Analysed:
    """A written cell, IPFX's cell features of it, and the spike peaks IPFX found in each analysed sweep (s)."""

    written: WrittenCell
    features: dict
    peaks: dict[int, np.ndarray]


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> Analysed:
    path = tmp_path_factory.mktemp("planted") / nwb_file_name(3, 2)
    sweeps = [spec for spec in default_sweeps(sampling_rate=50_000.0) if spec.kind != IZERO]
    written = write_mies_nwb(path, specimen_id=1, session_id=2, subject_id=3, sweeps=sweeps, cell=CELL)
    data_set = create_ephys_data_set(nwb_file=str(path))
    ontology = data_set.ontology
    long_squares = script_utils.categorize_iclamp_sweeps(data_set, ontology.long_square_names)
    short_squares = script_utils.categorize_iclamp_sweeps(data_set, ontology.short_square_names)
    ramps = script_utils.categorize_iclamp_sweeps(data_set, ontology.ramp_names)
    features = extract_features(data_set, ramps, short_squares, long_squares)
    peaks: dict[int, np.ndarray] = {}
    for (sweep_set, per_sweep, *_) in (
        script_utils.preprocess_long_square_sweeps(data_set, long_squares),
        script_utils.preprocess_short_square_sweeps(data_set, short_squares),
        script_utils.preprocess_ramp_sweeps(data_set, ramps),
    ):
        for sweep, spikes in zip(sweep_set.sweeps, per_sweep["spikes_set"], strict=True):
            peaks[sweep.sweep_number] = spikes["peak_t"].to_numpy() if len(spikes) else np.array([])
    return Analysed(written, features, peaks)


def _of_kind(written: WrittenCell, kind: str) -> list:
    return [s for s in written.sweeps if s.kind == kind]


def test_ipfx_finds_each_planted_spike_in_every_kind_of_stimulus(analysed: Analysed):
    analysed_numbers = {s.sweep_number for kind in (LONG_SQUARE, SHORT_SQUARE, RAMP)
                        for s in _of_kind(analysed.written, kind)}
    assert set(analysed.peaks) == analysed_numbers
    for number, found in analysed.peaks.items():
        # IPFX's peak is the highest sample: the planted top falls by less than the noise (0.1 mV sd) in its
        # first 2 samples after the peak, so the highest may be one of those.
        np.testing.assert_allclose(found, analysed.written.sweep(number).spike_peak_times, atol=PEAK_TOLERANCE_S)
    firing = {analysed.written.sweep(n).kind for n, found in analysed.peaks.items() if len(found)}
    silent = {analysed.written.sweep(n).kind for n, found in analysed.peaks.items() if not len(found)}
    assert (firing, silent) == ({LONG_SQUARE, SHORT_SQUARE, RAMP}, {LONG_SQUARE, SHORT_SQUARE})


def test_short_squares_fire_once_from_where_a_3_ms_step_reaches_threshold(analysed: Analysed):
    short = _of_kind(analysed.written, SHORT_SQUARE)
    reaching = CELL.step_threshold_pa(short[0].stimulus_end - short[0].stimulus_start)
    assert {s.amplitude for s in short if s.spike_peak_times} == {s.amplitude for s in short if s.amplitude >= reaching}
    assert all(len(s.spike_peak_times) == 1 for s in short if s.spike_peak_times)
    firing = min(s.amplitude for s in short if s.spike_peak_times)
    assert analysed.features["short_square_current"] == firing


def test_a_ramp_fires_from_its_crossing_at_a_rate_rising_with_its_current(analysed: Analysed):
    (ramp,) = _of_kind(analysed.written, RAMP)
    peaks = np.array(ramp.spike_peak_times)
    assert len(peaks) >= 3 and np.all(np.diff(np.diff(peaks)) < 0)
    passive_crossing = ramp.stimulus_start + CELL.rheobase_pa / ramp.amplitude + CELL.tau_s
    assert peaks[0] == pytest.approx(passive_crossing, abs=0.002)
    assert peaks[-1] < ramp.stimulus_end


def test_passive_properties_are_the_planted_ones(analysed: Analysed):
    features = analysed.features
    # IPFX takes each step's lowest sample: noise (0.1 mV sd) moves it by ~0.4 mV, of 4.5-10.5 mV deflections.
    assert features["input_resistance"] == pytest.approx(CELL.input_resistance_mohm, rel=0.05)
    # An exponential fitted to a noisy charging curve from 10 % of its deflection on.
    assert features["tau"] == pytest.approx(CELL.tau_s, rel=0.10)
    # The mean of 100 ms before each step, over 9 sweeps, of a baseline with 0.1 mV sd noise.
    assert features["v_baseline"] == pytest.approx(CELL.baseline_mv, abs=1.0)
    # A passive membrane has no sag; the lowest sample's noise makes at most a few hundredths of it.
    assert features["sag_nearest_minus_100"] == pytest.approx(0.0, abs=0.05)


def test_rheobase_is_the_first_long_square_above_the_planted_one(analysed: Analysed):
    amplitudes = sorted(s.amplitude for s in _of_kind(analysed.written, LONG_SQUARE))
    firing = [s.amplitude for s in _of_kind(analysed.written, LONG_SQUARE) if s.spike_peak_times]
    assert analysed.features["rheobase_i"] == min(firing)
    below = amplitudes[amplitudes.index(min(firing)) - 1]
    assert below < CELL.rheobase_pa < min(firing)


def test_first_spike_of_every_kind_starts_at_the_planted_threshold(analysed: Analysed):
    for kind in ("short_square", "ramp", "0_long_square"):
        assert analysed.features[f"ap_1_threshold_v_{kind}"] == pytest.approx(
            CELL.spike_threshold_mv, abs=THRESHOLD_TOLERANCE_MV
        )
        assert analysed.features[f"ap_1_peak_v_{kind}"] == pytest.approx(CELL.spike_peak_mv, abs=1.0)
        width = analysed.features[f"ap_1_width_{kind}"]
        assert 0.0005 < width < 0.002  # half height of a 0.5 ms rise and 1.5 ms fall
    # Between spikes the membrane rests at the threshold: every spike of a train starts there.
    assert analysed.features["ap_mean_threshold_v_0_long_square"] == pytest.approx(
        CELL.spike_threshold_mv, abs=THRESHOLD_TOLERANCE_MV
    )


def test_fi_slope_is_the_planted_one_within_a_spike_per_step(analysed: Analysed):
    """IPFX's rate is a 1 s step's spike count: each is off the planted rate by less than 1 Hz.

    The least-squares slope through the spiking steps is then off by at most
    ``sum(|d|) / sum(d**2)`` Hz/pA, ``d`` the amplitudes less their mean.
    """
    amplitudes = np.array([s.amplitude for s in _of_kind(analysed.written, LONG_SQUARE) if s.spike_peak_times])
    deviations = amplitudes - amplitudes.mean()
    bound = np.abs(deviations).sum() / (deviations**2).sum()
    assert analysed.features["fi_linear_fit_slope"] == pytest.approx(CELL.fi_slope_hz_per_pa, abs=bound)


def test_a_firing_membrane_rests_at_threshold_between_spikes_and_relaxes_from_there():
    quiet = replace(CELL, noise_mv=0.0)
    spec = next(s for s in default_sweeps(sampling_rate=10_000.0) if s.kind == LONG_SQUARE and s.amplitude == 330.0)
    traces = synthesize(spec, quiet, np.random.default_rng(0))
    t = np.arange(spec.n_samples) / spec.sampling_rate
    end = spec.epochs.stimulus_start + spec.epochs.stimulus_width
    in_a_spike = np.zeros(spec.n_samples, dtype=bool)
    for peak in traces.spike_peak_times:  # 0.5 ms up, 1.5 ms down
        in_a_spike |= (t > peak - 0.0006) & (t < peak + 0.0016)
    first_onset = traces.spike_peak_times[0] - 0.0005
    assert len(traces.spike_peak_times) > 10 and first_onset > spec.epochs.stimulus_start
    between = (t >= first_onset) & (t < end) & ~in_a_spike
    np.testing.assert_allclose(traces.response[between], quiet.spike_threshold_mv)
    relaxing = quiet.baseline_mv + (quiet.spike_threshold_mv - quiet.baseline_mv) * np.exp(-(t - end) / quiet.tau_s)
    np.testing.assert_allclose(traces.response[t >= end], relaxing[t >= end], atol=1e-9)
