"""A synthetic sweep's samples: the command, an RC membrane's response with planted spikes, and its summary.

``synthesize`` makes what a ``SweepSpec`` asks for (see ``physiology`` for
the units and what is planted); ``summarize`` says what a reader must find.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .physiology import (
    CURRENT_CLAMP,
    IZERO,
    LONG_SQUARE,
    RAMP,
    SHORT_SQUARE,
    STIMULUS_GAIN,
    TEST,
    VOLTAGE_CLAMP,
    CellSpec,
    SweepSpec,
    SweepSummary,
    sample_index,
)

_MILLI = 1e-3
_SPIKE_RISE_S = 0.0005
_SPIKE_FALL_S = 0.0015
_FIRING_KINDS = (LONG_SQUARE, SHORT_SQUARE, RAMP)


@dataclass(frozen=True)
class Traces:
    """A sweep's command and response as stored (mV and pA), and its planted spike peaks (s)."""

    command: np.ndarray
    response: np.ndarray
    spike_peak_times: tuple[float, ...] = ()


@dataclass(frozen=True)
class _Kink:
    """A change in the command at sample ``index``: a jump and a change of slope (per s)."""

    index: int
    step: float
    slope: float = 0.0


def synthesize(spec: SweepSpec, cell: CellSpec, rng: np.random.Generator) -> Traces:
    """Command and response of one sweep, in the units MIES stores (mV, pA), with its tails."""
    kinks = _kinks(spec)
    n, rate = spec.n_samples, spec.sampling_rate
    command = _command(kinks, n, rate)
    if spec.clamp_mode == VOLTAGE_CLAMP:
        response = _voltage_clamp_response(command, kinks, n, rate, cell) + rng.normal(0.0, cell.noise_pa, n)
        peaks: tuple[float, ...] = ()
    else:
        passive = cell.baseline_mv + cell.input_resistance_mohm * _MILLI * _lowpass(kinks, n, rate, cell.tau_s)
        onsets = _spike_onsets(spec, cell, passive, command)
        response = _held_at_threshold(passive, onsets, spec, cell)
        peaks = _add_spikes(response, onsets, rate, cell.spike_peak_mv)
        response = response + rng.normal(0.0, cell.noise_mv, n)
    if spec.zeros_from is not None:
        response[sample_index(spec.zeros_from, rate) :] = 0.0
    if spec.stopped_at is not None:
        stopped = sample_index(spec.stopped_at, rate)
        command[stopped:] = np.nan
        response[stopped:] = np.nan
    return Traces(command, response, tuple(t for t in peaks if t < spec.recorded_samples / rate))


def summarize(spec: SweepSpec, cell: CellSpec, starting_time: float, traces: Traces) -> SweepSummary:
    """The summary of a synthesized sweep; writers ``replace`` the fields that are theirs."""
    window = _stimulus_window(spec)
    voltage_clamp = spec.clamp_mode == VOLTAGE_CLAMP
    return SweepSummary(
        sweep_number=spec.sweep_number,
        stimulus_code=spec.stimulus_code,
        stimulus_description=spec.stimulus_description,
        clamp_mode=spec.clamp_mode,
        kind=spec.kind,
        response_type=_response_type(spec),
        sampling_rate=float(spec.sampling_rate),
        n_samples=spec.n_samples,
        recorded_samples=spec.recorded_samples,
        starting_time=starting_time,
        stimulus_start=window[0] if window else None,
        stimulus_end=window[1] if window else None,
        amplitude=spec.amplitude,
        amplitude_unit="mV" if voltage_clamp else ("pA/s" if spec.kind == RAMP else "pA"),
        baseline=cell.holding_current_pa if voltage_clamp else cell.baseline_mv,
        expected_deflection=_expected_deflection(spec, cell),
        spike_peak_times=traces.spike_peak_times,
        stimulus_gain=None if spec.kind == IZERO else STIMULUS_GAIN,
    )


# --- protocols ------------------------------------------------------------------


def _kinks(spec: SweepSpec) -> list[_Kink]:
    """The command as jumps and slope changes, on the sample grid."""
    if spec.kind == IZERO:
        return []
    epochs, rate = spec.epochs, spec.sampling_rate
    if spec.kind == TEST:
        return _pulse(epochs.test_pulse_start, epochs.test_pulse_width, spec.amplitude, rate)
    test_pulse = _pulse(epochs.test_pulse_start, epochs.test_pulse_width, spec.test_pulse_amplitude, rate)
    shape = _ramp if spec.kind == RAMP else _pulse
    return test_pulse + shape(epochs.stimulus_start, epochs.stimulus_width, spec.amplitude, rate)


def _pulse(start: float, width: float, amplitude: float, rate: float) -> list[_Kink]:
    first, end = sample_index(start, rate), sample_index(start + width, rate)
    return [_Kink(first, amplitude), _Kink(end, -amplitude)]


def _ramp(start: float, width: float, slope: float, rate: float) -> list[_Kink]:
    first, end = sample_index(start, rate), sample_index(start + width, rate)
    return [_Kink(first, 0.0, slope), _Kink(end, -slope * (end - first) / rate, -slope)]


def _command(kinks: Sequence[_Kink], n: int, rate: float) -> np.ndarray:
    command = np.zeros(n)
    for kink in kinks:
        elapsed = np.arange(n - kink.index) / rate
        command[kink.index :] += kink.step + kink.slope * elapsed
    return command


def _lowpass(kinks: Sequence[_Kink], n: int, rate: float, tau: float) -> np.ndarray:
    """The command through a unit-gain first-order low-pass: the sum of each kink's exact response."""
    filtered = np.zeros(n)
    for kink in kinks:
        elapsed = np.arange(n - kink.index) / rate
        rise = -np.expm1(-elapsed / tau)
        filtered[kink.index :] += kink.step * rise + kink.slope * (elapsed - tau * rise)
    return filtered


def _voltage_clamp_response(
    command: np.ndarray, kinks: Sequence[_Kink], n: int, rate: float, cell: CellSpec
) -> np.ndarray:
    """Current (pA) through the access resistance into the RC membrane, for a command in mV.

    The admittance is ``1/Ra`` at once, relaxing to ``1/(Ra + Rin)`` with the
    voltage clamp time constant.
    """
    peak = 1e3 / cell.access_resistance_mohm
    steady = 1e3 / (cell.access_resistance_mohm + cell.input_resistance_mohm)
    transient = _lowpass(kinks, n, rate, cell.voltage_clamp_tau_s)
    return cell.holding_current_pa + peak * command - (peak - steady) * transient


def _spike_onsets(spec: SweepSpec, cell: CellSpec, passive: np.ndarray, command: np.ndarray) -> list[int]:
    """Samples where spikes start: wherever the passive response (mV) is at threshold during a stimulus.

    Long squares, short squares and ramps in current clamp fire alike: a
    first spike at the first sample of the stimulus (its end included) where
    ``passive`` reaches ``cell.spike_threshold_mv``, then one every ``1/f``
    s while it stays there, ``f`` (Hz) growing with the command ``I`` (pA)
    at the last spike: ``rheobase_rate_hz + fi_slope_hz_per_pa * (I -
    rheobase_pa)``, never below ``rheobase_rate_hz``. A later spike starts
    only if its whole shape fits before the stimulus ends: a 3 ms short
    square fires once, a long square a regular train from its latency on, a
    ramp from its crossing on at a rate rising with its current.
    """
    if spec.kind not in _FIRING_KINDS or spec.clamp_mode != CURRENT_CLAMP:
        return []
    rate = spec.sampling_rate
    first, end = _stimulus_samples(spec)
    above = passive >= cell.spike_threshold_mv
    last_start = end - sum(_spike_samples(rate))
    onsets: list[int] = []
    candidate, stop = first, end + 1
    while candidate < stop:
        crossed = np.flatnonzero(above[candidate:stop])
        if not crossed.size:
            break
        onset = candidate + int(crossed[0])
        onsets.append(onset)
        excess_pa = command[onset] - cell.rheobase_pa
        rate_hz = max(cell.rheobase_rate_hz + cell.fi_slope_hz_per_pa * excess_pa, cell.rheobase_rate_hz)
        candidate, stop = onset + max(1, sample_index(1.0 / rate_hz, rate)), last_start
    return onsets


def _held_at_threshold(passive: np.ndarray, onsets: Sequence[int], spec: SweepSpec, cell: CellSpec) -> np.ndarray:
    """The membrane (mV) of a cell that fires: held at threshold from its first spike to the stimulus' end.

    Between spikes the membrane rests at ``cell.spike_threshold_mv`` (no
    after-hyperpolarisation); when the stimulus ends, its excess over the
    passive response decays with the membrane's time constant, as any RC
    membrane's does from another starting value. Without spikes: ``passive``.
    """
    if not onsets:
        return passive.copy()
    _, end = _stimulus_samples(spec)
    held = passive.copy()
    held[onsets[0] : end] = cell.spike_threshold_mv
    if end < len(held):
        after = np.arange(len(held) - end) / spec.sampling_rate
        held[end:] -= (passive[end] - cell.spike_threshold_mv) * np.exp(-after / cell.tau_s)
    return held


def _add_spikes(v: np.ndarray, onsets: Sequence[int], rate: float, peak_mv: float) -> tuple[float, ...]:
    """Pull ``v`` up to ``peak_mv`` and back at each onset; return the peak times (s)."""
    rise, fall = _spike_samples(rate)
    upstroke = (1 - np.cos(np.pi * np.arange(rise) / rise)) / 2
    downstroke = (1 + np.cos(np.pi * np.arange(fall) / fall)) / 2
    shape = np.concatenate([upstroke, downstroke])
    for onset in onsets:
        window = slice(onset, onset + len(shape))
        v[window] += (peak_mv - v[window]) * shape[: len(v[window])]
    return tuple((onset + rise) / rate for onset in onsets)


def _spike_samples(rate: float) -> tuple[int, int]:
    """A spike's upstroke and downstroke in samples (at least one each)."""
    return max(1, sample_index(_SPIKE_RISE_S, rate)), max(1, sample_index(_SPIKE_FALL_S, rate))


# --- summaries ------------------------------------------------------------------


def _stimulus_window(spec: SweepSpec) -> tuple[float, float] | None:
    """Start and end (s) of the stimulus proper, on the sample grid; a test sweep's is its test pulse."""
    if spec.kind == IZERO:
        return None
    first, end = _stimulus_samples(spec)
    return first / spec.sampling_rate, end / spec.sampling_rate


def _stimulus_samples(spec: SweepSpec) -> tuple[int, int]:
    """The samples where the stimulus proper (a test sweep's: its test pulse) starts and ends; not for I=0."""
    start, end = _kinks(spec)[-2:]
    return start.index, end.index


def _expected_deflection(spec: SweepSpec, cell: CellSpec) -> float | None:
    if spec.kind in (RAMP, IZERO):
        return None
    if spec.clamp_mode == VOLTAGE_CLAMP:
        return spec.amplitude * 1e3 / (cell.access_resistance_mohm + cell.input_resistance_mohm)
    passive = spec.amplitude * cell.input_resistance_mohm * _MILLI
    return min(passive, cell.spike_threshold_mv - cell.baseline_mv) if spec.kind in _FIRING_KINDS else passive


def _response_type(spec: SweepSpec) -> str:
    if spec.kind == IZERO:
        return "IZeroClampSeries"
    return "VoltageClampSeries" if spec.clamp_mode == VOLTAGE_CLAMP else "CurrentClampSeries"
