"""Which series of an NWB file make each sweep: chosen by type and headstage, never by name.

MIES names series ``data_NNNNN_AD0`` with a running index, not the sweep
number, and several series can carry one ``@sweep_number``: TTL lines and
unassociated channels (plain ``TimeSeries``), a second headstage
(``AD1``/``DA1``). A sweep of a headstage is its response (a
``CurrentClampSeries``, ``VoltageClampSeries`` or ``IZeroClampSeries`` under
``acquisition``) and its stimulus (a ``CurrentClampStimulusSeries`` or
``VoltageClampStimulusSeries`` under ``stimulus/presentation``; an I=0 sweep
has none), each on that headstage's electrode (``electrode`` links to
``general/intracellular_ephys/electrode_<headstage>``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .errors import NwbFormatError
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
_ELECTRODE = re.compile(r"electrode_(\d+)$")


@dataclass(frozen=True)
class SweepSeries:
    """A sweep of one headstage: its response series and its stimulus series (None for I=0)."""

    sweep_number: int
    headstage: int
    response: h5py.Group
    stimulus: h5py.Group | None

    @property
    def response_type(self) -> str:
        return series_type(self.response)


def recorded_sweeps(h5: h5py.File, label: str) -> dict[int, dict[int, SweepSeries]]:
    """Every recorded sweep: ``{headstage: {sweep number: SweepSeries}}``, sweeps in number order.

    Reads each series' header (its type, sweep number and electrode), no data.
    ``NwbFormatError`` if a sweep of a headstage has two responses or two
    stimuli; ``label`` names the file in that message.
    """
    responses = _series_by_sweep(h5, RESPONSE_GROUP, RESPONSE_TYPES, label)
    stimuli = _series_by_sweep(h5, STIMULUS_GROUP, STIMULUS_TYPES, label)
    sweeps: dict[int, dict[int, SweepSeries]] = {}
    for (headstage, number), response in sorted(responses.items()):
        stimulus = stimuli.get((headstage, number))
        sweeps.setdefault(headstage, {})[number] = SweepSeries(number, headstage, response, stimulus)
    return sweeps


def sweep_series(h5: h5py.File, sweep_number: int, headstage: int, label: str) -> SweepSeries | None:
    """One sweep of one headstage, None if there is no such recorded sweep.

    The legacy sweep table (``general/intracellular_ephys/sweep_table``: a
    ``sweep_number`` and a ``series`` reference per row) names the series
    that carry the number, so only their headers are read; a file without
    one is scanned as ``recorded_sweeps`` does.
    """
    groups = _tabled_series(h5, sweep_number)
    if groups is None:
        return recorded_sweeps(h5, label).get(headstage, {}).get(sweep_number)
    kinds: dict[str, list[h5py.Group]] = {"response": [], "stimulus": []}
    for group in groups:
        kind = series_type(group)
        if _headstage(group) != headstage:
            continue
        if kind in RESPONSE_TYPES:
            kinds["response"].append(group)
        elif kind in STIMULUS_TYPES:
            kinds["stimulus"].append(group)
    for found in kinds.values():
        if len(found) > 1:
            raise NwbFormatError(
                f"{label}: sweep {sweep_number} of headstage {headstage} has two series of a kind, "
                f"{found[0].name} and {found[1].name}: which is the sweep is not known"
            )
    if not kinds["response"]:
        return None
    stimulus = kinds["stimulus"][0] if kinds["stimulus"] else None
    return SweepSeries(sweep_number, headstage, kinds["response"][0], stimulus)


def _tabled_series(h5: h5py.File, sweep_number: int) -> list[h5py.Group] | None:
    """The series the sweep table lists for ``sweep_number``; None without a usable table."""
    table = h5.get(SWEEP_TABLE)
    if table is None or "sweep_number" not in table or "series" not in table:
        return None
    numbers, series = table["sweep_number"], table["series"]
    if numbers.shape != series.shape:  # not one series per row: not MIES' table
        return None
    rows = np.flatnonzero(numbers[()] == sweep_number)
    return [h5[reference] for reference in series[rows]] if len(rows) else []


def series_type(group: h5py.Group) -> str:
    """The series' ``neurodata_type`` (e.g. ``CurrentClampSeries``)."""
    return text(group.attrs.get("neurodata_type", ""))


def _series_by_sweep(
    h5: h5py.File, parent: str, types: frozenset[str], label: str
) -> dict[tuple[int, int], h5py.Group]:
    found: dict[tuple[int, int], h5py.Group] = {}
    if parent not in h5:
        return found
    for group in h5[parent].values():
        if series_type(group) not in types or "sweep_number" not in group.attrs:
            continue
        key = (_headstage(group), int(scalar(group.attrs["sweep_number"])))
        if key in found:
            raise NwbFormatError(
                f"{label}: sweep {key[1]} of headstage {key[0]} has two series of a kind, "
                f"{found[key].name} and {group.name}: which is the sweep is not known"
            )
        found[key] = group
    return found


def _headstage(group: h5py.Group) -> int:
    """The headstage of a series: the number of the electrode it links to (0 without a link)."""
    import h5py

    link = group.get("electrode", getlink=True)
    target = link.path if isinstance(link, h5py.SoftLink) else ""
    match = _ELECTRODE.search(target)
    return int(match.group(1)) if match else 0
