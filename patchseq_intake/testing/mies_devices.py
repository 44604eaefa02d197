"""Synthetic MIES files of several devices recording one headstage, as MIES's multi-device test file is laid out.

MIES's ``AB_SweepsFromMultipleDevices-compressed-V2.nwb`` (NWB 2.2.4, 2023)
holds two ITC devices' sweeps on one headstage; inspected with h5py:

- each device numbers its sweeps from 0: ``acquisition/data_00000_AD0`` and
  ``data_00002_AD0`` both carry ``@sweep_number`` 0; the running index goes
  on across devices, one device's sweeps after the other's;
- every series links to the one ``electrode_0`` ("Headstage 0"), whose
  ``device`` is the first device's; each device has its own
  ``general/devices/device_<name>``, ``labnotebook/<name>``,
  ``testpulse/<name>`` and ``user_comment/<name>``;
- a series' wave note (``@comments`` and its data's ``@IGORWaveNote``) lists
  what changed since that device's previous sweep: ``Multi Device mode: On``
  and ``Device: <name>`` on each device's first sweep only, and
  ``High precision sweep start: <ISO time>`` on every sweep, which each
  device's textual notebook also holds (on the layer of no headstage);
- the sweep table lists every device's series, an AD and a DA row per sweep.

``write_mies_devices`` writes each device's sweeps with ``mies.write_mies_nwb``
and joins them so; ``keep_device`` makes the copy of such a file that holds
one device only (what IPFX can read).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import h5py
import numpy as np

from .labnotebook import INDEPENDENT
from .mies import DEVICE, SESSION_START, MiesLayout, write_mies_nwb
from .physiology import SweepSpec, WrittenCell

SWEEP_START_KEY = "High precision sweep start"
PER_DEVICE = ("labnotebook", "testpulse", "user_comment")
"""The groups under ``general`` that hold a group per device."""
SERIES_PARENTS = ("acquisition", "stimulus/presentation")
TABLE = "general/intracellular_ephys/sweep_table"
GAP_S = 40.0
"""Seconds between one device's last sweep and the next device's first."""


@dataclass(frozen=True)
class DevicesFile:
    """A file of several devices: ``cells`` as each device's sweeps were planned (their ``path``s are gone),
    ``series``: each device's series paths in the joined file."""

    path: Path
    cells: dict[str, WrittenCell]
    series: dict[str, list[str]]


def write_mies_devices(
    path: str | os.PathLike,
    devices: Mapping[str, Sequence[SweepSpec]],
    *,
    seed: int = 0,
    layouts: Mapping[str, MiesLayout] | None = None,
) -> DevicesFile:
    """Write one headstage's sweeps of several ``devices`` (``{name: sweeps}``, in order) to ``path``.

    ``layouts``: a device's layout (e.g. its amplifier's scale factors), the release's where none is given.
    """
    path = Path(path)
    names = list(devices)
    cells, series = {}, {}
    index, start = 0, 0.0
    with _parts(path, len(names)) as parts:
        for number, (name, part) in enumerate(zip(names, parts)):
            cells[name] = write_mies_nwb(part, specimen_id=1, session_id=2, subject_id=3, sweeps=devices[name],
                                         seed=seed + number, layout=(layouts or {}).get(name, MiesLayout()))
        shutil.copyfile(parts[0], path)
        with h5py.File(path, "r+") as joined:
            for group in PER_DEVICE:
                _rename_device(joined["general"][group], DEVICE, names[0])
            _rename_device(joined["general/devices"], f"device_{DEVICE}", f"device_{names[0]}")
            _link_electrode(joined, names[0])
            _clear_table(joined)
            for parent in SERIES_PARENTS:  # each device's series are copied in below, the first's too
                for name in list(joined[parent]):
                    del joined[parent][name]
            for name, part in zip(names, parts):
                with h5py.File(part, "r") as one:
                    series[name], index, start = _join(joined, one, name, index, start, first=name == names[0])
    return DevicesFile(path, cells, series)


class _parts:
    """Temporary single-device files beside ``path``, removed afterwards."""

    def __init__(self, path: Path, count: int):
        self.paths = [path.with_name(f".{path.name}.device{n}.part") for n in range(count)]

    def __enter__(self) -> list[Path]:
        return self.paths

    def __exit__(self, *exc: object) -> None:
        for part in self.paths:
            part.unlink(missing_ok=True)


def _rename_device(parent: h5py.Group, old: str, new: str) -> None:
    if old in parent and old != new:
        parent.move(old, new)


def _link_electrode(h5: h5py.File, device: str) -> None:
    """Point ``electrode_0`` at ``device``'s group (the first device's, as MIES does)."""
    electrode = h5["general/intracellular_ephys/electrode_0"]
    del electrode["device"]
    electrode["device"] = h5py.SoftLink(f"/general/devices/device_{device}")


def _clear_table(h5: h5py.File) -> None:
    for column in ("id", "series", "series_index", "sweep_number"):
        h5[TABLE][column].resize((0,))


def _join(
    joined: h5py.File, one: h5py.File, device: str, index: int, start: float, first: bool
) -> tuple[list[str], int, float]:
    """Copy ``one``'s series (running index from ``index``, start times from ``start``) and its device's groups.

    Returns the copied series' paths, the next running index and the next device's first start time.
    """
    if not first:
        for group in PER_DEVICE:
            joined["general"][group].copy(one["general"][group][DEVICE], device)
        joined["general/devices"].copy(one[f"general/devices/device_{DEVICE}"], f"device_{device}")
    notebook = joined[f"general/labnotebook/{device}"]
    starts: dict[int, str] = {}
    copied, last_index, end = [], index, start
    in_order = sorted((int(name.split("_")[1]), order, parent, name)  # a sweep's AD row, then its DA row
                      for order, parent in enumerate(SERIES_PARENTS) for name in one[parent])
    for running, _, parent, name in in_order:
        source = one[parent][name]
        target = f"data_{index + running:05d}_{name.split('_', 2)[2]}"
        joined[parent].copy(source, target)
        series = joined[parent][target]
        sweep = int(series.attrs["sweep_number"])
        begins = start + float(series["starting_time"][0])
        series["starting_time"][0] = begins
        starts[sweep] = (SESSION_START + timedelta(seconds=begins)).isoformat(timespec="milliseconds")[:23] + "Z"
        _note(series, device, starts[sweep], first_sweep=running == 0)
        copied.append(series.name)
        _append_row(joined, sweep, series)
        last_index = max(last_index, index + running + 1)
        end = max(end, begins + series["data"].shape[0] / float(series["starting_time"].attrs["rate"]))
    _note_starts(notebook, starts)
    return copied, last_index, end + GAP_S


def _note(series: h5py.Group, device: str, start: str, first_sweep: bool) -> None:
    """The multi-device lines of a series' wave note (on the series and on its data)."""
    for holder in (series, series["data"]):
        for name in ("comments", "IGORWaveNote"):
            if name not in holder.attrs:
                continue
            old = holder.attrs[name]
            lead = f"Multi Device mode: On\rDevice: {device}\r" if first_sweep else ""
            note = f"{lead}{_text(old)}{SWEEP_START_KEY}: {start}\r"
            holder.attrs[name] = np.bytes_(note.encode()) if isinstance(old, np.bytes_) else note


def _note_starts(notebook: h5py.Group, starts: dict[int, str]) -> None:
    """Each sweep's start in the device's textual notebook, on the layer of no headstage (a spare key's column)."""
    keys, values = notebook["textualKeys"], notebook["textualValues"]
    names = [_text(name) for name in keys[0, :]]
    column = next(n for n, name in enumerate(names) if name.startswith("Unassigned text key"))
    keys[0, column] = SWEEP_START_KEY
    sweeps = [_text(value) for value in values[:, names.index("SweepNum"), 0]]
    for row, sweep in enumerate(sweeps):
        if sweep and int(sweep) in starts:
            values[row, column, INDEPENDENT] = starts[int(sweep)]


def _append_row(h5: h5py.File, sweep: int, series: h5py.Group) -> None:
    table = h5[TABLE]
    rows = table["id"].shape[0] + 1
    for column, value in (("id", rows - 1), ("series", series.ref), ("series_index", rows), ("sweep_number", sweep)):
        table[column].resize((rows,))
        table[column][rows - 1] = value


def keep_device(source: str | os.PathLike, dest: str | os.PathLike, device: str, series: Sequence[str]) -> Path:
    """A copy of ``source`` at ``dest`` holding only ``device``: its ``series`` (paths), groups and table rows."""
    dest = Path(dest)
    shutil.copyfile(source, dest)
    kept = set(series)
    with h5py.File(dest, "r+") as h5:
        table = h5[TABLE]
        rows = [(int(n), ref) for n, ref in zip(table["sweep_number"][()], table["series"][()]) if h5[ref].name in kept]
        for parent in SERIES_PARENTS:
            for name in [name for name in h5[parent] if f"/{parent}/{name}" not in kept]:
                del h5[parent][name]
        for group in PER_DEVICE:
            for other in [name for name in h5["general"][group] if name != device]:
                del h5["general"][group][other]
        for other in [name for name in h5["general/devices"] if name != f"device_{device}"]:
            del h5["general/devices"][other]
        _link_electrode(h5, device)
        _clear_table(h5)
        for number, ref in rows:
            _append_row(h5, number, h5[ref])
    return dest


def _text(value: object) -> str:
    value = np.asarray(value).reshape(-1)[0] if np.ndim(value) else value
    return value.decode() if isinstance(value, (bytes, np.bytes_)) else str(value)
