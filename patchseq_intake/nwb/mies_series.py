"""Which series of an NWB file make each sweep: chosen by type and headstage, never by name.

MIES names series ``data_NNNNN_AD0`` with a running index, not the sweep
number, and several series can carry one ``@sweep_number``: TTL lines and
unassociated channels (plain ``TimeSeries``), a second headstage
(``AD1``/``DA1``). A sweep of a headstage is its response (a
``CurrentClampSeries``, ``VoltageClampSeries`` or ``IZeroClampSeries`` under
``acquisition``) and its stimulus (a ``CurrentClampStimulusSeries`` or
``VoltageClampStimulusSeries`` under ``stimulus/presentation``; an I=0 sweep
has none). A series' headstage is its electrode's: MIES describes every
electrode as ``Headstage <n>`` (its name, ``electrode_<n>`` by default, can
be set by the user); a series without an electrode is taken as headstage 0.

Several devices can record one headstage, each numbering its sweeps from 0
(see ``devices``): a sweep is keyed by headstage, device and number, and a
number several devices recorded is read with the device named. Two responses
(or two stimuli) for one sweep of one headstage and device (or of devices
not told apart) make that sweep ambiguous: it is left out of the sweep table
and refused when read, naming the series.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..errors import NwbFormatError, UnknownHeadstageError
from .devices import DeviceFinder, check_device, choose_device
from .h5values import scalar, text

if TYPE_CHECKING:
    import h5py

SWEEP_TABLE = "general/intracellular_ephys/sweep_table"
RESPONSE_GROUP = "acquisition"
STIMULUS_GROUP = "stimulus/presentation"
RESPONSE_TYPES = frozenset({"CurrentClampSeries", "VoltageClampSeries", "IZeroClampSeries"})
STIMULUS_TYPES = frozenset({"CurrentClampStimulusSeries", "VoltageClampStimulusSeries"})
VOLTAGE_CLAMP_TYPES = frozenset({"VoltageClampSeries", "VoltageClampStimulusSeries"})
IZERO_TYPE = "IZeroClampSeries"
_HEADSTAGE = re.compile(r"Headstage (\d+)")
_ELECTRODE = re.compile(r"electrode_(\d+)$")
NWB2_VERSION = re.compile(r"(NWB-)?2(\.\d+)*[a-z]?")
"""An NWB 2 version as files state it: ``2.2.4``, ``2.9.0``; ``NWB-2.0.2`` (IPNWB before 2020), ``2.0b``."""
KNOWN_VERSIONS = "'2.2.4' (MIES 2.1 to 2.9) or '2.9.0' (MIES 3.0)"

Key = tuple[int, str | None, int]
"""(headstage, device, sweep number); the device is None where it cannot be told (see ``devices``)."""


@dataclass(frozen=True)
class SweepSeries:
    """A sweep of one headstage: its response series and its stimulus series (None if it has none).

    ``device``: the device that recorded it (see ``devices``), None if not known.
    """

    sweep_number: int
    response: h5py.Group
    stimulus: h5py.Group | None
    device: str | None = None

    @property
    def response_type(self) -> str:
        return series_type(self.response)

    @property
    def izero(self) -> bool:
        """Recorded in I=0 mode: an ``IZeroClampSeries``, with no command."""
        return self.response_type == IZERO_TYPE

    def names(self) -> tuple[str, str | None]:
        """The response's and the stimulus' HDF5 paths (a search of the file for series opened by reference)."""
        return self.response.name, self.stimulus.name if self.stimulus is not None else None


def device_order(device: str | None) -> tuple[bool, str]:
    """Devices sort by name, an unknown one (None) last."""
    return device is None, device or ""


@dataclass
class Sweeps:
    """The recorded sweeps found among some series, by (headstage, device, sweep number)."""

    found: dict[Key, SweepSeries] = field(default_factory=dict)
    ambiguous: dict[Key, list[str]] = field(default_factory=dict)
    """Sweeps with two series of a kind on one device (or of devices not told apart): the series' names."""

    def of_headstage(self, headstage: int, device: str | None = None) -> list[SweepSeries]:
        """The headstage's sweeps (of ``device`` only, if given), by device, then number."""
        keys = [key for key in self.found if key[0] == headstage and (device is None or key[1] == device)]
        return [self.found[key] for key in sorted(keys, key=lambda key: (device_order(key[1]), key[2]))]

    @property
    def headstages(self) -> list[int]:
        """The headstages with a recorded sweep (ambiguous ones too)."""
        return sorted({key[0] for key in [*self.found, *self.ambiguous]})

    def devices(self, headstage: int) -> list[str | None]:
        """The devices that recorded on ``headstage``, by name (None, devices not told, last)."""
        found = {key[1] for key in [*self.found, *self.ambiguous] if key[0] == headstage}
        return sorted(found, key=device_order)

    def ambiguous_numbers(self, headstage: int, device: str | None = None) -> list[int]:
        """The sweep numbers of ``headstage`` (and ``device``, if given) left out as ambiguous."""
        return sorted({n for hs, dev, n in self.ambiguous if hs == headstage and device in (None, dev)})

    def pick(self, headstage: int, sweep_number: int, device: str | None, label: str) -> SweepSeries | None:
        """The sweep of ``device`` (if given; else of the one device that recorded it); None if there is none.

        ``DeviceChoiceError`` if several devices recorded it and none is named; ``NwbFormatError`` if
        the chosen one has two series of a kind.
        """
        recorded_by = [dev for hs, dev, n in [*self.found, *self.ambiguous] if (hs, n) == (headstage, sweep_number)]
        what = f"{label}: sweep {sweep_number} of headstage {headstage}"
        chosen = choose_device(recorded_by, self.devices(headstage), device, what)
        key = (headstage, chosen, sweep_number)
        if key in self.ambiguous:
            raise ambiguous_error(label, key, self.ambiguous[key])
        return self.found.get(key)

    def check_device(self, headstage: int, device: str | None, label: str) -> None:
        """``InvalidQueryError`` for a ``device`` that did not record on ``headstage`` (naming those that did)."""
        if device is not None:
            check_device(self.devices(headstage), device, f"{label}, headstage {headstage}")


def ambiguous_error(label: str, key: Key, names: list[str]) -> NwbFormatError:
    """The error for reading a sweep (``key``: headstage, device, number) that has two series of a kind."""
    device = f" of device {key[1]}" if key[1] is not None else ""
    return NwbFormatError(
        f"{label}: sweep {key[2]} of headstage {key[0]}{device} has two series of a kind, "
        f"{' and '.join(names)}, on a device not told apart: which is the sweep is not known"
    )


def ambiguous_warning(label: str, headstage: int, numbers: list[int]) -> str:
    """The warning that sweeps ``numbers`` of ``headstage`` are left out of a sweep table as ambiguous."""
    return (
        f"{label}: sweeps {numbers} of headstage {headstage} have two series of a kind on a device not told "
        "apart and are left out of the sweep table"
    )


def recorded_sweeps(h5: h5py.File, label: str) -> Sweeps:
    """Every recorded sweep of every headstage and device; reads each series' header, no data.

    ``NwbFormatError`` if the file has none: an NWB 1 file (naming its
    version), a file without an ``acquisition`` group or with no
    patch-clamp series in it (``label`` names the file).
    """
    check_nwb2(h5, label)
    if RESPONSE_GROUP not in h5:
        raise NwbFormatError(f"{label} is not an NWB file of recordings: it has no {RESPONSE_GROUP!r} group")
    groups = [group for parent in (RESPONSE_GROUP, STIMULUS_GROUP) if parent in h5 for group in h5[parent].values()]
    sweeps = _classify(groups, DeviceFinder(h5))
    if not sweeps.headstages:
        raise _no_recordings(h5, label)
    return sweeps


def check_nwb2(h5: h5py.File, label: str) -> None:
    """``NwbFormatError`` for a file that states a version other than NWB 2, the only layout read.

    MIES has written NWB 2 files as ``2.2.4`` (MIES 2.1 to 2.9; a fixed-length
    byte string where Igor Pro 9 ran MIES 2.2 to 2.7, 2021 to 2024, else a
    variable-length one) and as ``2.9.0`` (MIES 3.0, 2026); IPNWB before
    April 2020 wrote ``NWB-2...``. Every one keeps the layout read here
    (patch-clamp series with ``@sweep_number``, the legacy sweep table, the
    lab notebook), so any ``2.x`` is read, as IPFX reads it. Refused, naming
    what the file states: an NWB 1 file (its version is a root dataset, not
    the root's attribute) and a version of another major. A file that states
    no version is judged by what it holds (``recorded_sweeps``).
    """
    import h5py

    if "nwb_version" not in h5.attrs:
        if h5.get("nwb_version", getclass=True) is h5py.Dataset:
            version = text(h5["nwb_version"][()])
            raise NwbFormatError(
                f"{label} is an NWB 1 file (nwb_version {version!r}); only NWB 2 files are read "
                "(MIES exports its experiments as NWB 2 too)"
            )
        return
    version = text(h5.attrs["nwb_version"]).strip()
    if not NWB2_VERSION.fullmatch(version):
        raise NwbFormatError(
            f"{label} states nwb_version {version!r}, a version whose layout is not known here; "
            f"only NWB 2 files (2.x, such as {KNOWN_VERSIONS}) are read"
        )


def _no_recordings(h5: h5py.File, label: str) -> NwbFormatError:
    """That the file holds no recorded sweep: what it holds instead."""
    version = text(h5.attrs.get("nwb_version", "")) or "of no stated version"
    series = len(h5[RESPONSE_GROUP])
    if not series:
        stimsets = " (it holds stimulus sets, general/stimsets)" if "general/stimsets" in h5 else ""
        return NwbFormatError(f"{label} (NWB {version}) has no acquisition series: no recorded sweep{stimsets}")
    return NwbFormatError(
        f"{label} (NWB {version}) has no recorded sweep: none of its {series} acquisition series is a "
        f"patch-clamp response ({', '.join(sorted(RESPONSE_TYPES))}) with a sweep number"
    )


def sweep_series(
    h5: h5py.File, sweep_number: int, headstage: int, label: str, device: str | None = None
) -> SweepSeries | None:
    """One sweep of one headstage (of ``device``, where several recorded it), None if there is no such sweep.

    The legacy sweep table (``general/intracellular_ephys/sweep_table``: a
    ``sweep_number`` and a ``series`` reference per row) names the series
    that carry the number, so only their headers are read; a file without
    one is scanned. ``NwbFormatError`` if the sweep is ambiguous,
    ``DeviceChoiceError`` if several devices recorded it and ``device`` is None.
    """
    groups = _tabled_series(h5, sweep_number)
    sweeps = recorded_sweeps(h5, label) if groups is None else _classify(groups, DeviceFinder(h5))
    if device is not None and device not in sweeps.devices(headstage):
        return None  # the caller tells an unknown device from a sweep it did not record
    return sweeps.pick(headstage, sweep_number, device, label)


def headstage_sweeps(
    h5: h5py.File, headstage: int, label: str, warn_of_ambiguous: bool, device: str | None = None
) -> list[SweepSeries]:
    """The headstage's recorded sweeps (of ``device`` only, if given), by device then number.

    ``UnknownHeadstageError`` lists the headstages there are; ``InvalidQueryError`` the devices, for a
    ``device`` that did not record on the headstage.
    """
    recorded = recorded_sweeps(h5, label)
    check_headstage(recorded.headstages, headstage, label)
    recorded.check_device(headstage, device, label)
    ambiguous = recorded.ambiguous_numbers(headstage, device)
    if ambiguous and warn_of_ambiguous:
        warnings.warn(ambiguous_warning(label, headstage, ambiguous), stacklevel=3)
    return recorded.of_headstage(headstage, device)


def check_headstage(headstages: list[int], headstage: int, label: str) -> None:
    """``UnknownHeadstageError`` if ``headstage`` is not among the file's ``headstages`` (listing them)."""
    if headstage not in headstages:
        raise UnknownHeadstageError(
            f"{label} has no recording on headstage {headstage}; its headstages are {headstages}"
        )


def series_type(group: h5py.Group) -> str:
    """The series' ``neurodata_type`` (e.g. ``CurrentClampSeries``)."""
    return text(group.attrs.get("neurodata_type", ""))


def _classify(groups: Iterable[h5py.Group], devices: DeviceFinder) -> Sweeps:
    responses: dict[Key, list[h5py.Group]] = {}
    stimuli: dict[Key, list[h5py.Group]] = {}
    headstages: dict[str, int] = {}
    for group in groups:
        kind = series_type(group)
        kinds = responses if kind in RESPONSE_TYPES else stimuli if kind in STIMULUS_TYPES else None
        if kinds is None or "sweep_number" not in group.attrs:
            continue
        key = (_headstage(group, headstages), devices.device(group), int(scalar(group.attrs["sweep_number"])))
        kinds.setdefault(key, []).append(group)
    sweeps = Sweeps()
    for key, found in responses.items():
        stimulus = stimuli.get(key, [])
        if len(found) > 1 or len(stimulus) > 1:
            sweeps.ambiguous[key] = [group.name for group in [*found, *stimulus]]
        else:
            sweeps.found[key] = SweepSeries(key[2], found[0], stimulus[0] if stimulus else None, key[1])
    return sweeps


def _tabled_series(h5: h5py.File, sweep_number: int) -> list[h5py.Group] | None:
    """The series the sweep table lists for ``sweep_number``; None without a usable table.

    They are opened by reference: their ``name`` would cost a search of the
    file, so nothing here asks for it.
    """
    table = h5.get(SWEEP_TABLE)
    if table is None or "sweep_number" not in table or "series" not in table:
        return None
    numbers, series = table["sweep_number"], table["series"]
    if numbers.shape != series.shape:  # not one series per row: not MIES' table
        return None
    rows = np.flatnonzero(numbers[()] == sweep_number)
    return [h5[reference] for reference in series[rows]]


def _headstage(group: h5py.Group, known: dict[str, int]) -> int:
    """The headstage of a series' electrode (``known``: by electrode path, filled as found)."""
    import h5py

    link = group.get("electrode", getlink=True)
    if not isinstance(link, h5py.SoftLink):
        return 0
    if link.path not in known:
        known[link.path] = _electrode_headstage(group.file.get(link.path), link.path)
    return known[link.path]


def _electrode_headstage(electrode: h5py.Group | None, path: str) -> int:
    """``Headstage <n>`` in the electrode's description, else ``electrode_<n>`` in its name, else 0."""
    if electrode is not None and "description" in electrode:
        match = _HEADSTAGE.fullmatch(text(electrode["description"][()]).strip())
        if match:
            return int(match.group(1))
    match = _ELECTRODE.search(path)
    return int(match.group(1)) if match else 0
