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

Two responses (or two stimuli) for one sweep of one headstage, as a second
device's would be, make that sweep ambiguous: it is left out of the sweep
table and refused when read, naming the series.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..errors import NwbFormatError, UnknownHeadstageError
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

Key = tuple[int, int]
"""(headstage, sweep number)."""


@dataclass(frozen=True)
class SweepSeries:
    """A sweep of one headstage: its response series and its stimulus series (None if it has none)."""

    sweep_number: int
    response: h5py.Group
    stimulus: h5py.Group | None

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


@dataclass
class Sweeps:
    """The recorded sweeps found among some series, by (headstage, sweep number)."""

    found: dict[Key, SweepSeries] = field(default_factory=dict)
    ambiguous: dict[Key, list[str]] = field(default_factory=dict)
    """Sweeps with two series of a kind: the series' names."""

    def of_headstage(self, headstage: int) -> dict[int, SweepSeries]:
        """The headstage's sweeps, by number, in number order."""
        return {number: self.found[(hs, number)] for hs, number in sorted(self.found) if hs == headstage}

    @property
    def headstages(self) -> list[int]:
        return sorted({hs for hs, _ in self.found})

    def refuse_if_ambiguous(self, key: Key, label: str) -> None:
        if key in self.ambiguous:
            raise ambiguous_error(label, key, self.ambiguous[key])


def ambiguous_error(label: str, key: Key, names: list[str]) -> NwbFormatError:
    """The error for reading a sweep (``key``: headstage, number) that has two series of a kind, ``names``."""
    return NwbFormatError(
        f"{label}: sweep {key[1]} of headstage {key[0]} has two series of a kind, "
        f"{' and '.join(names)} (a second device?): which is the sweep is not known"
    )


def ambiguous_warning(label: str, headstage: int, numbers: list[int]) -> str:
    """The warning that sweeps ``numbers`` of ``headstage`` are left out of a sweep table as ambiguous."""
    return (
        f"{label}: sweeps {numbers} of headstage {headstage} have two series of a kind (a second "
        "device?) and are left out of the sweep table"
    )


def recorded_sweeps(h5: h5py.File, label: str) -> Sweeps:
    """Every recorded sweep of every headstage; reads each series' header, no data.

    ``NwbFormatError`` if the file has no ``acquisition`` group: it is not an
    NWB file of recordings (``label`` names it).
    """
    if RESPONSE_GROUP not in h5:
        raise NwbFormatError(f"{label} is not an NWB file of recordings: it has no {RESPONSE_GROUP!r} group")
    groups = [group for parent in (RESPONSE_GROUP, STIMULUS_GROUP) if parent in h5 for group in h5[parent].values()]
    return _classify(groups)


def sweep_series(h5: h5py.File, sweep_number: int, headstage: int, label: str) -> SweepSeries | None:
    """One sweep of one headstage, None if there is no such recorded sweep.

    The legacy sweep table (``general/intracellular_ephys/sweep_table``: a
    ``sweep_number`` and a ``series`` reference per row) names the series
    that carry the number, so only their headers are read; a file without
    one is scanned. ``NwbFormatError`` if the sweep is ambiguous.
    """
    groups = _tabled_series(h5, sweep_number)
    sweeps = recorded_sweeps(h5, label) if groups is None else _classify(groups)
    sweeps.refuse_if_ambiguous((headstage, sweep_number), label)
    return sweeps.found.get((headstage, sweep_number))


def headstage_sweeps(h5: h5py.File, headstage: int, label: str, warn_of_ambiguous: bool) -> dict[int, SweepSeries]:
    """The headstage's recorded sweeps by number; ``UnknownHeadstageError`` lists the headstages there are."""
    recorded = recorded_sweeps(h5, label)
    if headstage not in recorded.headstages:
        raise UnknownHeadstageError(
            f"{label} has no recording on headstage {headstage}; its headstages are {recorded.headstages}"
        )
    ambiguous = sorted(number for hs, number in recorded.ambiguous if hs == headstage)
    if ambiguous and warn_of_ambiguous:
        warnings.warn(ambiguous_warning(label, headstage, ambiguous), stacklevel=3)
    return recorded.of_headstage(headstage)


def series_type(group: h5py.Group) -> str:
    """The series' ``neurodata_type`` (e.g. ``CurrentClampSeries``)."""
    return text(group.attrs.get("neurodata_type", ""))


def _classify(groups: Iterable[h5py.Group]) -> Sweeps:
    responses: dict[Key, list[h5py.Group]] = {}
    stimuli: dict[Key, list[h5py.Group]] = {}
    headstages: dict[str, int] = {}
    for group in groups:
        kind = series_type(group)
        kinds = responses if kind in RESPONSE_TYPES else stimuli if kind in STIMULUS_TYPES else None
        if kinds is None or "sweep_number" not in group.attrs:
            continue
        key = (_headstage(group, headstages), int(scalar(group.attrs["sweep_number"])))
        kinds.setdefault(key, []).append(group)
    sweeps = Sweeps()
    for key, found in responses.items():
        stimulus = stimuli.get(key, [])
        if len(found) > 1 or len(stimulus) > 1:
            sweeps.ambiguous[key] = [group.name for group in [*found, *stimulus]]
        else:
            sweeps.found[key] = SweepSeries(key[1], found[0], stimulus[0] if stimulus else None)
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
