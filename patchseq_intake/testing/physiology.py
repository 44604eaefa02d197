"""What the synthetic cells hold: sweep protocols, planted physiology, and summaries to check readers by.

A sweep is specified by a ``SweepSpec``; ``traces.synthesize`` makes its command and
response in the units MIES stores (current clamp: response mV, command pA;
voltage clamp the other way round): a passive RC membrane (the exact
first-order response to the piecewise-linear command), stereotyped spikes
wherever that passive response reaches the threshold during a long square,
short square or ramp in current clamp (the membrane then rests at the
threshold between spikes), Gaussian noise, and, where asked, the tails
the release's files can have (a sweep stopped early ends in NaN on both
channels; a response that ends in exact zeros). Samples are deterministic
given the random generator.

The writers (``mies``, ``nwb``) return a ``WrittenCell`` whose
``SweepSummary`` rows say what a reader must find, in its units: mV, pA, s
from the sweep's start.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

CURRENT_CLAMP = "CurrentClamp"
VOLTAGE_CLAMP = "VoltageClamp"
LONG_SQUARE = "long_square"
SHORT_SQUARE = "short_square"
RAMP = "ramp"
TEST = "test"
IZERO = "izero"
KINDS = (LONG_SQUARE, SHORT_SQUARE, RAMP, TEST, IZERO)

IZERO_CODE = "I0BASELINE"
"""The stimset of the default I=0 sweep: a code neither IPFX's ontology nor ours knows."""
RESPONSE_GAIN = 0.02  # arbitrary, not 1, so a reader that wrongly applies gains shows it
STIMULUS_GAIN = 0.5
INTER_SWEEP_INTERVAL_S = 2.0

_TEST_PULSE_WIDTH_S = 0.010
_SHORT_SQUARE_WIDTH_S = 0.003
_RAMP_WIDTH_S = 1.8
RAMP_SLOPE_PA_PER_S = 200.0
"""The default protocol's ramp (pA/s): steeper than the release's 25 pA/s, so that its 1.8 s (at ``scale=1``)
reach a cell's rheobase in a 3 s sweep: the default cell's 0.85 s into the ramp, a 95 MOhm cell's at 1.34 s."""
SHORT_SQUARE_RANGE_PA = (500.0, 2000.0)
"""The default protocol's short squares (pA), lowest to highest: a cell of 90 to 350 MOhm (rest, threshold and
tau as the default's) fires on the highest 3 ms step and not on the lowest, ``CellSpec.step_threshold_pa(0.003)``
lying between them (the default cell's: 1197 pA)."""


@dataclass(frozen=True)
class Epochs:
    """When a sweep's test pulse and stimulus happen, in s from the sweep's start."""

    test_pulse_start: float = 0.1
    test_pulse_width: float = _TEST_PULSE_WIDTH_S
    stimulus_start: float = 1.02
    stimulus_width: float = 1.0


@dataclass(frozen=True)
class SweepSpec:
    """One sweep to write.

    ``amplitude`` is in the command's unit: pA in current clamp (pA/s for a
    ramp's slope), mV in voltage clamp. A ``test`` sweep's command is its test
    pulse, of height ``amplitude``; other sweeps start with a test pulse of
    ``test_pulse_amplitude``. An ``izero`` sweep has no command at all.
    ``stopped_at`` (s): the sweep was stopped then, and both channels hold
    NaN from there on, as MIES pre-fills a sweep; ``zeros_from`` (s): the
    response holds exact zeros from there on.
    """

    sweep_number: int
    stimulus_code: str
    clamp_mode: str
    kind: str
    amplitude: float
    duration: float
    sampling_rate: float = 50_000.0
    epochs: Epochs = Epochs()
    test_pulse_amplitude: float = -30.0
    stopped_at: float | None = None
    zeros_from: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {self.kind!r}")
        if self.clamp_mode not in (CURRENT_CLAMP, VOLTAGE_CLAMP):
            raise ValueError(f"clamp_mode must be {CURRENT_CLAMP!r} or {VOLTAGE_CLAMP!r}")
        if self.kind == IZERO and self.clamp_mode != CURRENT_CLAMP:
            raise ValueError("an I=0 sweep is a current clamp sweep")
        if self.sweep_number < 0 or self.duration <= 0 or self.sampling_rate <= 0:
            raise ValueError("sweep_number must be >= 0, duration and sampling_rate > 0")
        for tail in (self.stopped_at, self.zeros_from):
            if tail is not None and not 0 < tail < self.duration:
                raise ValueError(f"a tail must start within the sweep (0 to {self.duration} s), not at {tail}")

    @property
    def stimulus_description(self) -> str:
        """As MIES writes it: the stimset's name, the code with ``_DA_0``."""
        return f"{self.stimulus_code}_DA_0"

    @property
    def n_samples(self) -> int:
        """Samples per series."""
        return round(self.duration * self.sampling_rate)

    @property
    def recorded_samples(self) -> int:
        """Samples up to the last one recorded: before a NaN or zero tail."""
        ends = [sample_index(tail, self.sampling_rate) for tail in (self.stopped_at, self.zeros_from) if tail is not None]
        return min([self.n_samples, *ends])


@dataclass(frozen=True)
class CellSpec:
    """The planted physiology of the cell and the recording."""

    baseline_mv: float = -70.0
    input_resistance_mohm: float = 150.0
    tau_s: float = 0.02
    bias_current_pa: float = -12.0
    bridge_balance_mohm: float = 12.5
    access_resistance_mohm: float = 20.0
    holding_current_pa: float = -20.0
    noise_mv: float = 0.1
    noise_pa: float = 2.0
    spike_threshold_mv: float = -45.0
    spike_peak_mv: float = 30.0
    rheobase_rate_hz: float = 4.0
    fi_slope_hz_per_pa: float = 0.1

    @property
    def rheobase_pa(self) -> float:
        """The smallest long square (pA) that makes the cell fire: its passive response settles at threshold."""
        return (self.spike_threshold_mv - self.baseline_mv) / self.input_resistance_mohm * 1e3

    def step_threshold_pa(self, width_s: float) -> float:
        """The smallest step (pA) of ``width_s`` seconds whose passive response reaches the threshold by its end."""
        return self.rheobase_pa / -np.expm1(-width_s / self.tau_s)

    @property
    def voltage_clamp_tau_s(self) -> float:
        """Time constant of the capacitive transient in voltage clamp."""
        access = self.access_resistance_mohm
        return self.tau_s * access / (access + self.input_resistance_mohm)


@dataclass(frozen=True)
class SweepSummary:
    """What was written for one sweep, in the units readers report: mV, pA, s from the sweep's start.

    ``baseline`` is mV in current clamp, pA (holding current) in voltage clamp.
    ``expected_deflection`` is the asymptotic response to ``amplitude`` (mV in
    current clamp, pA in voltage clamp), reached when the step lasts several
    time constants (a step that fires: the threshold, where the membrane rests
    between spikes); None for ramps and I=0 sweeps. The fields after
    ``spike_peak_times`` are the writer's: where the series are, and what the
    lab notebook and the series' small datasets hold (None: not written).
    """

    sweep_number: int
    stimulus_code: str
    stimulus_description: str
    clamp_mode: str
    kind: str
    response_type: str
    sampling_rate: float
    n_samples: int
    recorded_samples: int
    starting_time: float
    stimulus_start: float | None
    stimulus_end: float | None
    amplitude: float
    amplitude_unit: str
    baseline: float
    expected_deflection: float | None
    spike_peak_times: tuple[float, ...]
    response_name: str = ""
    stimulus_name: str | None = None
    headstage: int = 0
    response_gain: float = RESPONSE_GAIN
    stimulus_gain: float | None = STIMULUS_GAIN
    leak_pa: float | None = None
    bridge_balance_mohm: float | None = None
    set_sweep_count: int | None = None
    scale_factor: float | None = None


@dataclass(frozen=True)
class WrittenCell:
    """A written file and what it holds: ``sweeps`` on headstage 0, ``other_headstages`` by number."""

    path: Path
    specimen_id: int
    session_id: int
    subject_id: str
    cell: CellSpec
    sweeps: tuple[SweepSummary, ...]
    size: int
    sha256: str
    other_headstages: Mapping[int, tuple[SweepSummary, ...]] = field(default_factory=dict)

    @classmethod
    def of_file(
        cls,
        path: Path,
        *,
        specimen_id: int,
        session_id: int,
        subject_id: int | str,
        cell: CellSpec,
        sweeps: Sequence[SweepSummary],
        other_headstages: Mapping[int, tuple[SweepSummary, ...]] | None = None,
    ) -> WrittenCell:
        """The description of the file just written at ``path``: with its size and SHA-256."""
        return cls(
            path=path,
            specimen_id=specimen_id,
            session_id=session_id,
            subject_id=str(subject_id),
            cell=cell,
            sweeps=tuple(sweeps),
            size=path.stat().st_size,
            sha256=_file_sha256(path),
            other_headstages=dict(other_headstages or {}),
        )

    def sweep(self, sweep_number: int, headstage: int = 0) -> SweepSummary:
        """The summary of one sweep, by number (and headstage)."""
        summaries = self.sweeps if headstage == 0 else self.other_headstages[headstage]
        for summary in summaries:
            if summary.sweep_number == sweep_number:
                return summary
        raise KeyError(sweep_number)


def nwb_file_name(subject_id: int | str, session_id: int | str) -> str:
    """The release's file name, ``sub-<subject>_ses-<session>_icephys.nwb``."""
    return f"sub-{subject_id}_ses-{session_id}_icephys.nwb"


def default_sweeps(
    scale: float = 1.0,
    sampling_rate: float = 50_000.0,
    *,
    n_subthreshold: int = 5,
    n_suprathreshold: int = 3,
    n_short_square: int = 3,
    n_ramp: int = 1,
    legacy_codes: bool = False,
) -> list[SweepSpec]:
    """A realistic protocol, in the order MIES records it.

    Test sweeps (current clamp, and one in voltage clamp), sub-threshold, rheobase
    and supra-threshold long squares (of the default cell: -110 to 50 pA, then
    180, 210 to 330 pA), 3 ms short squares (``SHORT_SQUARE_RANGE_PA``: the
    default cell fires on all but the lowest), ramps (``RAMP_SLOPE_PA_PER_S`` for
    1.8 s: the default cell fires from 0.85 s into the ramp on), and an I=0
    sweep at the end. Sweep number 3 is missing, as if that sweep had been aborted.
    ``scale`` shrinks durations and epoch times (not the 10 ms test pulse nor the
    3 ms short square): ``scale=0.1, sampling_rate=10e3`` writes 0.3 s sweeps.
    ``legacy_codes`` uses the older ``C1LSCOARSE``/``C1SSCOARSE`` codes.
    """
    long_code = "C1LSCOARSE150216" if legacy_codes else None
    short_code = "C1SSCOARSE150112" if legacy_codes else "X6SP_Rheo"
    subthreshold = [(long_code or "X1PS_SubThresh", a) for a in _ladder(-110, 50, n_subthreshold)]
    suprathreshold = [(long_code or "X4PS_SupraThresh", a) for a in _ladder(210, 330, n_suprathreshold)]
    planned = [
        (CURRENT_CLAMP, TEST, "EXTPSMOKET180424", -30.0),
        (VOLTAGE_CLAMP, TEST, "EXTPINBATH180424", 10.0),
        (CURRENT_CLAMP, TEST, "EXTPBREAKN180424", -30.0),
        *((CURRENT_CLAMP, LONG_SQUARE, code, a) for code, a in subthreshold),
        (CURRENT_CLAMP, LONG_SQUARE, long_code or "X3LP_Rheo", 180.0),
        *((CURRENT_CLAMP, LONG_SQUARE, code, a) for code, a in suprathreshold),
        *((CURRENT_CLAMP, SHORT_SQUARE, short_code, a) for a in _ladder(*SHORT_SQUARE_RANGE_PA, n_short_square)),
        *((CURRENT_CLAMP, RAMP, "X7Ramp", RAMP_SLOPE_PA_PER_S) for _ in range(n_ramp)),
        (CURRENT_CLAMP, IZERO, IZERO_CODE, 0.0),
    ]
    numbers = [0, 1, 2, *range(4, len(planned) + 1)]
    return [
        SweepSpec(
            sweep_number=number,
            stimulus_code=code,
            clamp_mode=clamp,
            kind=kind,
            amplitude=amplitude,
            duration=(1.0 if kind in (TEST, IZERO) else 3.0) * scale,
            sampling_rate=sampling_rate,
            epochs=_scaled_epochs(kind, scale),
        )
        for number, (clamp, kind, code, amplitude) in zip(numbers, planned, strict=True)
    ]


def varied_sweeps(scale: float = 1.0, sampling_rate: float = 50_000.0) -> list[SweepSpec]:
    """``default_sweeps`` with the variants real files can hold.

    The voltage clamp test sweep (1) at four times the rate (200 kHz by
    default); a sub-threshold long square (5) whose response ends in exact
    zeros for its last tenth; a supra-threshold one (11) stopped at 70%; the
    I=0 sweep (17) as before.
    """
    changes = {
        1: lambda spec: {"sampling_rate": spec.sampling_rate * 4},
        5: lambda spec: {"zeros_from": spec.duration * 0.9},
        11: lambda spec: {"stopped_at": spec.duration * 0.7},
    }
    return [
        replace(spec, **changes[spec.sweep_number](spec)) if spec.sweep_number in changes else spec
        for spec in default_sweeps(scale, sampling_rate)
    ]


def realistic_sweeps(sampling_rate: float = 50_000.0) -> list[SweepSpec]:
    """About 60 full-length sweeps, for benchmarks (some 70 MB at 50 kHz)."""
    return default_sweeps(
        sampling_rate=sampling_rate,
        n_subthreshold=20,
        n_suprathreshold=20,
        n_short_square=12,
        n_ramp=3,
    )


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_unique_numbers(specs: Sequence[SweepSpec]) -> None:
    """Refuse a protocol that gives two sweeps one number."""
    numbers = [spec.sweep_number for spec in specs]
    if len(set(numbers)) != len(numbers):
        raise ValueError(f"sweep numbers must be unique: {numbers}")


def _ladder(first: float, last: float, count: int) -> list[float]:
    return [float(round(a)) for a in np.linspace(first, last, count)]


def _scaled_epochs(kind: str, scale: float) -> Epochs:
    default = Epochs()
    widths = {SHORT_SQUARE: _SHORT_SQUARE_WIDTH_S, RAMP: _RAMP_WIDTH_S * scale}
    return replace(
        default,
        test_pulse_start=default.test_pulse_start * scale,
        stimulus_start=default.stimulus_start * scale,
        stimulus_width=widths.get(kind, default.stimulus_width * scale),
    )


# --- samples --------------------------------------------------------------------


def sample_index(time: float, rate: float) -> int:
    return round(time * rate)
