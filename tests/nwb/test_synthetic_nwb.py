"""The synthetic NWB files: MIES' layout, and the physiology their summaries promise."""

from __future__ import annotations

import hashlib
from datetime import datetime

import h5py
import numpy as np
import pynwb
import pytest

from patchseq_intake.testing.nwb import write_cell_nwb
from patchseq_intake.testing.physiology import (
    CURRENT_CLAMP,
    IZERO,
    LONG_SQUARE,
    RAMP,
    RAMP_SLOPE_PA_PER_S,
    SHORT_SQUARE,
    VOLTAGE_CLAMP,
    CellSpec,
    SweepSpec,
    WrittenCell,
    default_sweeps,
    nwb_file_name,
    realistic_sweeps,
)

# A fast membrane, so 0.1 s steps settle; everything else as the defaults.
FAST_CELL = CellSpec(tau_s=0.002)
QUIET_CELL = CellSpec(noise_mv=0.0, noise_pa=0.0)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> WrittenCell:
    path = tmp_path_factory.mktemp("nwb") / nwb_file_name(601462951, 601506492)
    sweeps = default_sweeps(scale=0.1, sampling_rate=10_000.0)
    return write_cell_nwb(
        path, specimen_id=601506507, session_id=601506492, subject_id=601462951, sweeps=sweeps, cell=FAST_CELL
    )


@pytest.fixture(scope="module")
def nwb(written: WrittenCell):
    with pynwb.NWBHDF5IO(str(written.path), "r", load_namespaces=True) as io:
        yield io.read()


def _in_si(series) -> np.ndarray:
    return np.asarray(series.data[()], dtype=np.float64) * series.conversion


def _window(summary, values: np.ndarray, start: float, end: float) -> np.ndarray:
    rate = summary.sampling_rate
    return values[round(start * rate) : round(end * rate)]


def _late_in_stimulus(summary, values: np.ndarray) -> np.ndarray:
    """The last fifth of the stimulus, where a step has settled."""
    width = summary.stimulus_end - summary.stimulus_start
    return _window(summary, values, summary.stimulus_end - width / 5, summary.stimulus_end)


def test_file_name_follows_the_release():
    assert nwb_file_name(601462951, 601506492) == "sub-601462951_ses-601506492_icephys.nwb"


def test_default_protocol_covers_the_families():
    sweeps = default_sweeps()
    codes = {sweep.stimulus_code for sweep in sweeps}
    assert {"X1PS_SubThresh", "X3LP_Rheo", "X4PS_SupraThresh", "X6SP_Rheo", "X7Ramp"} <= codes
    assert {"EXTPSMOKET180424", "EXTPINBATH180424", "EXTPBREAKN180424"} <= codes
    assert [s.stimulus_code for s in sweeps if s.clamp_mode == VOLTAGE_CLAMP] == ["EXTPINBATH180424"]
    numbers = [sweep.sweep_number for sweep in sweeps]
    assert numbers == sorted(set(numbers)) and 3 not in numbers
    long_squares = [s for s in sweeps if s.kind == LONG_SQUARE]
    assert min(s.amplitude for s in long_squares) < 0 < max(s.amplitude for s in long_squares)
    assert {s.duration for s in long_squares} == {3.0}
    assert all(s.sampling_rate == 50_000.0 for s in sweeps)


def test_legacy_codes():
    codes = {sweep.stimulus_code for sweep in default_sweeps(legacy_codes=True)}
    assert {"C1LSCOARSE150216", "C1SSCOARSE150112"} <= codes
    assert not codes & {"X1PS_SubThresh", "X4PS_SupraThresh", "X6SP_Rheo"}


def test_realistic_protocol_has_about_sixty_full_sweeps():
    sweeps = realistic_sweeps()
    assert 55 <= len(sweeps) <= 65
    assert sum(sweep.duration == 3.0 for sweep in sweeps) >= 50


def test_specs_are_checked(tmp_path):
    with pytest.raises(ValueError, match="kind"):
        SweepSpec(0, "X7Ramp", CURRENT_CLAMP, "sawtooth", 25.0, 1.0)
    with pytest.raises(ValueError, match="I=0"):
        SweepSpec(0, "N/A", VOLTAGE_CLAMP, IZERO, 0.0, 1.0)
    twice = [SweepSpec(5, "X7Ramp", CURRENT_CLAMP, RAMP, 25.0, 0.3, 10_000.0)] * 2
    with pytest.raises(ValueError, match="unique"):
        write_cell_nwb(tmp_path / "x.nwb", specimen_id=1, session_id=2, subject_id=3, sweeps=twice)


def test_summary_describes_the_file(written: WrittenCell):
    assert written.size == written.path.stat().st_size > 0
    assert written.sha256 == hashlib.sha256(written.path.read_bytes()).hexdigest()
    assert [s.sweep_number for s in written.sweeps] == [s.sweep_number for s in default_sweeps()]
    assert written.sweep(4).stimulus_code == "X1PS_SubThresh"
    with pytest.raises(KeyError):
        written.sweep(3)


def test_file_metadata(nwb, written: WrittenCell):
    assert nwb.session_id == "601506492"
    assert nwb.institution == "Allen Institute for Brain Science"
    assert nwb.subject.subject_id == "601462951"
    assert isinstance(nwb.session_start_time, datetime) and nwb.session_start_time.utcoffset() is not None
    assert nwb.session_description and nwb.identifier
    electrode = nwb.icephys_electrodes["electrode_0"]
    assert electrode.description == "Headstage 0"
    assert electrode.device.name == "ITC18USB_Dev_0"


def test_series_types_and_names(nwb, written: WrittenCell):
    responses = {s.response_name for s in written.sweeps}
    stimuli = {s.stimulus_name for s in written.sweeps if s.stimulus_name}
    assert set(nwb.acquisition) == responses
    assert set(nwb.stimulus) == stimuli
    for summary in written.sweeps:
        response = nwb.acquisition[summary.response_name]
        assert type(response).__name__ == summary.response_type
        if summary.stimulus_name is None:
            continue
        kind = (
            "VoltageClampStimulusSeries"
            if summary.clamp_mode == VOLTAGE_CLAMP
            else "CurrentClampStimulusSeries"
        )
        assert type(nwb.stimulus[summary.stimulus_name]).__name__ == kind
    izero = [s for s in written.sweeps if s.kind == IZERO]
    assert len(izero) == 1 and izero[0].stimulus_name is None
    assert type(nwb.acquisition[izero[0].response_name]).__name__ == "IZeroClampSeries"


def test_series_attributes(nwb, written: WrittenCell):
    for summary in written.sweeps:
        series = [nwb.acquisition[summary.response_name]]
        if summary.stimulus_name:
            series.append(nwb.stimulus[summary.stimulus_name])
        for one in series:
            assert one.sweep_number == summary.sweep_number
            assert one.stimulus_description == summary.stimulus_description
            assert one.rate == summary.sampling_rate == 10_000.0
            assert one.starting_time == summary.starting_time
            assert one.data.shape == (summary.n_samples,)
            assert one.data.dtype == np.float32
    assert written.sweep(4).stimulus_description == "X1PS_SubThresh_DA_0"
    starts = [s.starting_time for s in written.sweeps]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)


def test_units_and_conversions(nwb, written: WrittenCell):
    current_clamp, voltage_clamp = written.sweep(4), written.sweep(1)
    cc_response = nwb.acquisition[current_clamp.response_name]
    cc_command = nwb.stimulus[current_clamp.stimulus_name]
    vc_response = nwb.acquisition[voltage_clamp.response_name]
    vc_command = nwb.stimulus[voltage_clamp.stimulus_name]
    assert (cc_response.unit, cc_response.conversion) == ("volts", 1e-3)
    assert (cc_command.unit, cc_command.conversion) == ("amperes", 1e-12)
    assert (vc_response.unit, vc_response.conversion) == ("amperes", 1e-12)
    assert (vc_command.unit, vc_command.conversion) == ("volts", 1e-3)
    assert cc_response.bias_current == FAST_CELL.bias_current_pa
    assert cc_response.bridge_balance == FAST_CELL.bridge_balance_mohm
    assert cc_response.gain == current_clamp.response_gain
    assert cc_command.gain == current_clamp.stimulus_gain


def test_sweep_table_lists_every_series(nwb, written: WrittenCell):
    table = nwb.sweep_table.to_dataframe()
    rows = [
        (int(number), series[0].name) for number, series in zip(table.sweep_number, table.series, strict=True)
    ]
    expected = []
    for summary in written.sweeps:
        expected.append((summary.sweep_number, summary.response_name))
        if summary.stimulus_name:
            expected.append((summary.sweep_number, summary.stimulus_name))
    assert rows == expected


def test_hdf5_layout(written: WrittenCell):
    with h5py.File(written.path, "r") as h5:
        data = h5["acquisition/data_00000_AD0/data"]
        assert h5["acquisition/data_00000_AD0"].attrs["sweep_number"] == 0
        assert "stimulus/presentation/data_00000_DA0" in h5
        assert "acquisition/data_00003_AD0" not in h5
        assert data.chunks is None and data.compression is None
        assert data.attrs["conversion"] == 1e-3
        assert "general/intracellular_ephys/sweep_table" in h5
        generated_by = [[cell.decode() for cell in row] for row in h5["general/generated_by"][()]]
        assert ["Package", "MIES"] in generated_by


def test_file_is_valid_nwb(written: WrittenCell):
    assert pynwb.validate(path=str(written.path)) == []


def test_current_clamp_steps_settle_at_baseline_plus_i_times_r(nwb, written: WrittenCell):
    steps = [s for s in written.sweeps if s.kind == LONG_SQUARE and not s.spike_peak_times]
    assert len(steps) >= 5
    for summary in steps:
        v = _in_si(nwb.acquisition[summary.response_name]) * 1e3
        i = _in_si(nwb.stimulus[summary.stimulus_name]) * 1e12
        expected = FAST_CELL.baseline_mv + summary.amplitude * FAST_CELL.input_resistance_mohm / 1e3
        assert summary.expected_deflection == pytest.approx(expected - summary.baseline)
        assert np.mean(_late_in_stimulus(summary, v)) == pytest.approx(expected, abs=0.05)
        assert np.mean(v[: round(0.005 * summary.sampling_rate)]) == pytest.approx(summary.baseline, abs=0.05)
        assert np.all(_window(summary, i, summary.stimulus_start, summary.stimulus_end) == summary.amplitude)
        assert np.all(i[round(summary.stimulus_end * summary.sampling_rate) :] == 0)


def test_voltage_clamp_test_sweep(nwb, written: WrittenCell):
    summary = written.sweep(1)
    assert (summary.clamp_mode, summary.amplitude, summary.amplitude_unit) == (VOLTAGE_CLAMP, 10.0, "mV")
    current = _in_si(nwb.acquisition[summary.response_name]) * 1e12
    command = _in_si(nwb.stimulus[summary.stimulus_name]) * 1e3
    steady = summary.baseline + 10.0 * 1e3 / (
        FAST_CELL.access_resistance_mohm + FAST_CELL.input_resistance_mohm
    )
    assert summary.expected_deflection == pytest.approx(steady - summary.baseline)
    assert np.allclose(_window(summary, command, summary.stimulus_start, summary.stimulus_end), 10.0)
    assert np.mean(_late_in_stimulus(summary, current)) == pytest.approx(steady, abs=2.0)
    assert np.mean(current[: round(summary.stimulus_start * summary.sampling_rate)]) == pytest.approx(
        FAST_CELL.holding_current_pa, abs=1.0
    )
    onset = current[round(summary.stimulus_start * summary.sampling_rate)]
    assert onset == pytest.approx(summary.baseline + 10.0 * 1e3 / FAST_CELL.access_resistance_mohm, abs=8.0)


def test_steps_that_reach_threshold_spike_where_planted(nwb, written: WrittenCell):
    firing = {s.sweep_number for s in written.sweeps if s.spike_peak_times}
    reaching = {
        s.sweep_number for s in written.sweeps
        if s.kind in (LONG_SQUARE, SHORT_SQUARE)
        and s.amplitude >= FAST_CELL.step_threshold_pa(s.stimulus_end - s.stimulus_start)
    }
    assert firing == reaching
    assert {s.kind for s in written.sweeps if s.sweep_number in firing} == {LONG_SQUARE, SHORT_SQUARE}
    for summary in written.sweeps:
        if summary.kind == IZERO or summary.clamp_mode != CURRENT_CLAMP:
            continue
        v = _in_si(nwb.acquisition[summary.response_name]) * 1e3
        crossings = np.flatnonzero((v[:-1] < 0) & (v[1:] >= 0)) / summary.sampling_rate
        assert len(crossings) == len(summary.spike_peak_times)
        for crossing, peak in zip(crossings, summary.spike_peak_times, strict=True):
            assert crossing < peak < crossing + 0.001
            assert v[round(peak * summary.sampling_rate)] == pytest.approx(FAST_CELL.spike_peak_mv, abs=0.5)


def test_ramp_rises_at_its_slope(nwb, written: WrittenCell):
    summary = next(s for s in written.sweeps if s.kind == RAMP)
    assert (summary.amplitude, summary.amplitude_unit, summary.expected_deflection) == (
        RAMP_SLOPE_PA_PER_S, "pA/s", None
    )
    command = _in_si(nwb.stimulus[summary.stimulus_name]) * 1e12
    ramp = _window(summary, command, summary.stimulus_start, summary.stimulus_end)
    assert np.allclose(np.diff(ramp) * summary.sampling_rate, RAMP_SLOPE_PA_PER_S, rtol=1e-3)
    assert ramp[0] == 0.0 and command[-1] == 0.0


def test_izero_sweep_has_no_command(nwb, written: WrittenCell):
    summary = next(s for s in written.sweeps if s.kind == IZERO)
    response = nwb.acquisition[summary.response_name]
    assert response.stimulus_description == "N/A" == summary.stimulus_code
    assert (response.bias_current, response.bridge_balance) == (0.0, 0.0)
    assert np.mean(_in_si(response) * 1e3) == pytest.approx(summary.baseline, abs=0.05)


def test_rc_response_is_the_exact_first_order_filter(tmp_path):
    """Compare with the sample-by-sample recursion of an RC membrane under a held command."""
    spec = default_sweeps(scale=0.1, sampling_rate=10_000.0)[4]
    assert spec.kind == LONG_SQUARE
    written = write_cell_nwb(
        tmp_path / "rc.nwb", specimen_id=1, session_id=2, subject_id=3, sweeps=[spec], cell=QUIET_CELL
    )
    summary = written.sweeps[0]
    with pynwb.NWBHDF5IO(str(written.path), "r") as io:
        nwb = io.read()
        v = _in_si(nwb.acquisition[summary.response_name]) * 1e3
        i = _in_si(nwb.stimulus[summary.stimulus_name]) * 1e12
    decay = np.exp(-1.0 / (QUIET_CELL.tau_s * summary.sampling_rate))
    membrane = np.zeros_like(i)
    for n in range(1, len(i)):
        membrane[n] = decay * membrane[n - 1] + (1 - decay) * i[n - 1]
    expected = QUIET_CELL.baseline_mv + membrane * QUIET_CELL.input_resistance_mohm / 1e3
    assert np.max(np.abs(v - expected)) < 1e-4


def test_samples_are_deterministic_given_the_seed(tmp_path):
    sweeps = default_sweeps(scale=0.1, sampling_rate=10_000.0)[4:5]

    def response(name: str, seed: int) -> np.ndarray:
        written = write_cell_nwb(
            tmp_path / name, specimen_id=1, session_id=2, subject_id=3, sweeps=sweeps, seed=seed
        )
        with h5py.File(written.path, "r") as h5:
            return h5[f"acquisition/{written.sweeps[0].response_name}/data"][()]

    first = response("a.nwb", seed=7)
    assert np.array_equal(first, response("b.nwb", seed=7))
    assert not np.array_equal(first, response("c.nwb", seed=8))
