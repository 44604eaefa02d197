"""One sweep of a Patch-seq NWB file, as IPFX 2.1.2's ``EphysDataSet.sweep`` gives it for MIES files.

A sweep is read in two steps. ``sweep_parts`` reads what it is made of from
its series' headers (where the samples are, how to scale them); then the
samples, from wherever they come (h5py here, ranges through a file's index
in ``cell_reader``), and ``assemble`` makes the ``Sweep`` with IPFX's
arithmetic: stored samples times ``@conversion``, then to mV or pA, in the
stored type (float32 in the release), so that they agree to the bit. Time in
seconds from the sweep's start; in current clamp ``v`` is the response and
``i`` the command, in voltage clamp the other way round.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import NwbFormatError, UnknownSweepError
from .h5values import number, scalar, text
from .mies_series import (
    RESPONSE_GROUP,
    VOLTAGE_CLAMP_TYPES,
    SweepSeries,
    check_nwb2,
    headstage_sweeps,
    sweep_series,
)
from .spikes import sweep_spike_times
from .stimulus import stimulus_code, stimulus_name
from .sweep import CURRENT_CLAMP, VOLTAGE_CLAMP, Sweep

if TYPE_CHECKING:
    import h5py

_TO_MILLI, _TO_PICO = 1.0e3, 1.0e12
CLAMP_UNITS = {CURRENT_CLAMP: ("Volts", "Amps"), VOLTAGE_CLAMP: ("Amps", "Volts")}
"""A clamp mode's units (IPFX's long names): its response's and its command's."""
_SPELLED = {"Volts": ("volts", "('volts', 'Volts' or 'V')"), "Amps": ("amperes", "('amperes', 'amps', 'Amps' or 'A')")}
_IN = {"Volts": "mV", "Amps": "pA"}


@dataclass(frozen=True)
class SweepParts:
    """What a sweep is made of, from its series' headers: how to scale the samples and check them.

    ``has_stimulus`` is False for a sweep without a stimulus series; rates in
    Hz, lengths in samples, ``stimulus_unit`` and ``response_unit`` IPFX's long
    names (``Amps``/``Volts``; any other as stored).
    """

    sweep_number: int
    has_stimulus: bool
    izero: bool
    clamp_mode: str
    stimulus_code: str
    stimulus_unit: str | None
    response_conversion: float
    stimulus_conversion: float | None
    response_rate: float
    stimulus_rate: float | None
    response_length: int
    stimulus_length: int | None
    response_unit: str = "Unknown"

    def check(self, label: str, names: Callable[[], tuple[str, str | None]]) -> None:
        """``NwbFormatError`` if the sweep cannot be assembled: no command known, series that differ, or a unit
        that is not its clamp's (see ``check_units``).

        ``names()`` gives the response's and the stimulus' HDF5 paths, for the message.
        """
        if not self.has_stimulus and not self.izero:
            raise NwbFormatError(
                f"{label}: sweep {self.sweep_number} has a response ({names()[0]}) but no stimulus "
                "series, and is not an I=0 sweep: its command is not known"
            )
        if self.has_stimulus and (
            self.stimulus_length != self.response_length or self.stimulus_rate != self.response_rate
        ):
            response, stimulus = names()
            raise NwbFormatError(
                f"{label}: sweep {self.sweep_number}: the stimulus {stimulus} has {self.stimulus_length} "
                f"samples at {self.stimulus_rate:g} Hz and the response {response} {self.response_length} "
                f"at {self.response_rate:g} Hz; they must be alike"
            )
        self.check_units(label, names)

    def check_units(self, label: str, names: Callable[[], tuple[str, str | None]]) -> None:
        """``NwbFormatError`` naming the series and its unit, unless both are the clamp's.

        Current clamp (I=0 too): response in volts, command in amperes; voltage
        clamp the other way round (IPFX's spellings: ``volts``, ``Volts``, ``V``;
        ``amperes``, ``amps``, ``Amps``, ``A``). IPNWB writes ``a.u.`` for a wave
        that had no unit: IPFX refuses such a sweep, its scale is not known. IPFX
        checks the response's unit only for being volts or amperes, and scales
        it by the command's: a current clamp response in amperes, which no MIES
        writes, it reads as millivolts; this reader refuses it.
        """
        response_unit, stimulus_unit = CLAMP_UNITS[self.clamp_mode]
        found = [("response", 0, self.response_unit, response_unit)]
        if self.has_stimulus:
            found.append(("stimulus", 1, self.stimulus_unit, stimulus_unit))
        for role, which, unit, expected in found:
            if unit != expected:
                shown = _SPELLED.get(unit, (repr(unit),))[0]
                raise NwbFormatError(
                    f"{label}: sweep {self.sweep_number} is a {self.clamp_mode} sweep whose {role} series "
                    f"{names()[which]} stores its samples in {shown}; a {self.clamp_mode} {role} is read only in "
                    f"{' '.join(_SPELLED[expected])}, so its values in {_IN[expected]} are not known"
                )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SweepParts:
        return cls(**data)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def sweep_parts(series: SweepSeries) -> SweepParts:
    """A sweep's parts, from its series' headers and data shapes; reads no samples."""
    response, stimulus = series.response, series.stimulus
    return SweepParts(
        sweep_number=series.sweep_number,
        has_stimulus=stimulus is not None,
        izero=series.izero,
        clamp_mode=clamp_mode(series.response_type),
        stimulus_code=stimulus_code(text(response.attrs.get("stimulus_description", ""))),
        stimulus_unit=unit_name(stimulus["data"].attrs.get("unit")) if stimulus is not None else None,
        response_conversion=_conversion(response),
        stimulus_conversion=_conversion(stimulus) if stimulus is not None else None,
        response_rate=rate(response),
        stimulus_rate=rate(stimulus) if stimulus is not None else None,
        response_length=int(response["data"].shape[0]),
        stimulus_length=int(stimulus["data"].shape[0]) if stimulus is not None else None,
        response_unit=unit_name(response["data"].attrs.get("unit")),
    )


def read_sweep(
    h5: h5py.File,
    sweep_number: int,
    headstage: int = 0,
    trim: bool = True,
    label: str | None = None,
    device: str | None = None,
) -> Sweep:
    """One sweep's samples, read with h5py: that sweep's two series only.

    The response's trailing exact zeros become NaN; with ``trim`` (IPFX's
    "recording" epoch) ``t``, ``v`` and ``i`` stop at the last response
    sample that is not NaN, and without it every stored sample is returned
    as stored. ``device``: the device whose sweep to read, where several
    recorded that number (``DeviceChoiceError`` names them if it is None).
    ``spike_times``: the file's spike times of that sweep number (see
    ``spikes``). ``UnknownSweepError`` lists the sweeps there are; ``label`` names the
    file (e.g. its cell) in messages. ``NwbFormatError`` for a sweep with no
    stimulus that is not an I=0 sweep (its command is not known), with two
    responses, or whose stimulus and response differ in rate or length.
    """
    label = label or str(h5.filename)
    check_nwb2(h5, label)
    series = sweep_series(h5, sweep_number, headstage, label, device) if RESPONSE_GROUP in h5 else None
    if series is None:
        sweeps = headstage_sweeps(h5, headstage, label, warn_of_ambiguous=False, device=device)  # for the message
        raise no_such_sweep(label, sweep_number, headstage, sorted({one.sweep_number for one in sweeps}), device)
    parts = sweep_parts(series)
    parts.check(label, series.names)
    stimulus = series.stimulus["data"][()] if series.stimulus is not None else None
    spikes = sweep_spike_times(h5, sweep_number, label)
    return assemble(parts, series.response["data"][()], stimulus, trim, series.device, spikes)


def no_such_sweep(
    label: str, sweep_number: int, headstage: int, sweeps: list[int], device: str | None = None
) -> UnknownSweepError:
    of_device = f" of device {device}" if device is not None else ""
    return UnknownSweepError(
        f"{label} has no recorded sweep {sweep_number}{of_device} on headstage {headstage}; its sweeps are {sweeps}"
    )


def assemble(
    parts: SweepParts,
    response: np.ndarray,
    stimulus: np.ndarray | None,
    trim: bool,
    device: str | None = None,
    spike_times: np.ndarray | None = None,
) -> Sweep:
    """The sweep, from its parts (already ``check``ed) and its series' stored samples.

    ``device`` recorded it; ``spike_times`` are the file's for its number (s, as stored; see ``spikes``).
    """
    response = response * parts.response_conversion
    if stimulus is None:  # I=0: no command was given
        sampling_rate = parts.response_rate
        response = response * (_TO_MILLI if parts.clamp_mode == CURRENT_CLAMP else _TO_PICO)
        command = np.zeros_like(response)
    else:
        sampling_rate = parts.stimulus_rate
        command = stimulus * parts.stimulus_conversion
        if parts.stimulus_unit == "Volts":
            response, command = response * _TO_PICO, command * _TO_MILLI
        else:
            response, command = response * _TO_MILLI, command * _TO_PICO
    if trim:
        response = _nan_trailing_zeros(response)
        end = _last_recorded(response) + 1
        response, command = response[:end], command[:end]
    v, i = (response, command) if parts.clamp_mode == CURRENT_CLAMP else (command, response)
    return Sweep(
        sweep_number=parts.sweep_number,
        stimulus_code=parts.stimulus_code,
        stimulus_name=stimulus_name(parts.stimulus_code),
        clamp_mode=parts.clamp_mode,
        sampling_rate=sampling_rate,
        t=np.arange(len(response)) / sampling_rate,
        v=v,
        i=i,
        izero=parts.izero,
        device=device,
        spike_times=spike_times,
    )


def clamp_mode(series_type: str) -> str:
    """``VoltageClamp`` for voltage clamp series types, else ``CurrentClamp`` (I=0 included)."""
    return VOLTAGE_CLAMP if series_type in VOLTAGE_CLAMP_TYPES else CURRENT_CLAMP


def unit_name(unit: Any) -> str:
    """IPFX's long name of a unit: ``Amps``, ``Volts``, ``Unknown`` for none, else as stored."""
    unit = text(unit) if unit is not None else ""
    if not unit:
        return "Unknown"
    if unit in ("Amps", "A", "amps", "amperes"):
        return "Amps"
    if unit in ("Volts", "V", "volts"):
        return "Volts"
    return unit


def rate(series: h5py.Group) -> float:
    """A series' sampling rate (Hz): its ``starting_time/@rate``."""
    return number(series["starting_time"].attrs["rate"])


def _conversion(series: h5py.Group) -> float:
    return float(scalar(series["data"].attrs.get("conversion", 1.0)))


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
