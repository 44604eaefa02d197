"""Which device (digitizer) recorded a series, and choosing among a sweep's devices.

MIES can record one headstage with several devices (e.g. two ITC-18s,
``ITC18USB_Dev_0`` and ``Dev1``); each device numbers its sweeps from 0 and
keeps its own lab notebook (``general/labnotebook/<device>``), so one sweep
number can name a sweep of each. MIES writes the series of every device
under ``acquisition`` and ``stimulus/presentation`` on the same electrode.
A series' device is found so:

1. the ``Device: <name>`` line of its wave note (``@comments``): MIES writes
   it on the first sweep of each device in multi-device mode (the note lists
   only what changed since that device's previous sweep, so later sweeps
   lack it);
2. else, in a file whose notebooks name one device, that device (the
   release's files: ``ITC18USB_Dev_0``);
3. else, in a file of several, the device whose textual notebook holds the
   note's ``High precision sweep start: <time>`` (written on every sweep:
   it always changes), if exactly one does;
4. else, in a file without a notebook (written by pynwb), the device its
   electrode links to (``general/devices/<name>``);

and is unknown (None) otherwise: series of one sweep number whose devices
are not known stay ambiguous (see ``mies_series``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..errors import DeviceChoiceError, InvalidQueryError
from .h5values import text

if TYPE_CHECKING:
    import h5py

NOTEBOOKS = "general/labnotebook"
SWEEP_START_KEY = "High precision sweep start"
_DEVICE_LINE = re.compile(r"Device: (.+)")
_START_LINE = re.compile(rf"{SWEEP_START_KEY}: (.+)")


def notebook_devices(h5: h5py.File) -> list[str]:
    """The devices that have a lab notebook in the file (``general/labnotebook/<device>``), in the file's order."""
    import h5py

    if NOTEBOOKS not in h5:
        return []
    notebooks = h5[NOTEBOOKS]
    return [name for name in notebooks if notebooks.get(name, getclass=True) is h5py.Group]


class DeviceFinder:
    """The device of each series of one file (see the module docstring); reads notebooks only where it must."""

    def __init__(self, h5: h5py.File):
        self.h5 = h5
        self.devices = notebook_devices(h5)
        self._starts: dict[str, list[str]] | None = None
        self._by_electrode: dict[str, str | None] = {}

    def device(self, series: h5py.Group) -> str | None:
        """The series' device; None where it cannot be told."""
        if len(self.devices) == 1:
            return self.devices[0]
        lines = text(series.attrs.get("comments", "")).splitlines() if self.devices else []
        for line in lines:
            named = _DEVICE_LINE.fullmatch(line.strip())
            if named:
                return named.group(1).strip()
        if not self.devices:
            return self._electrode_device(series)
        for line in lines:
            start = _START_LINE.fullmatch(line.strip())
            if start:
                found = self._sweep_starts().get(start.group(1).strip(), [])
                return found[0] if len(found) == 1 else None
        return None

    def _electrode_device(self, series: h5py.Group) -> str | None:
        """The name of the device the series' electrode links to (pynwb's files), None without one."""
        import h5py

        link = series.get("electrode", getlink=True)
        if not isinstance(link, h5py.SoftLink):
            return None
        if link.path not in self._by_electrode:
            electrode = series.file.get(link.path)
            device = electrode.get("device", getlink=True) if electrode is not None else None
            named = isinstance(device, h5py.SoftLink)
            self._by_electrode[link.path] = device.path.rstrip("/").rsplit("/", 1)[-1] if named else None
        return self._by_electrode[link.path]

    def _sweep_starts(self) -> dict[str, list[str]]:
        """``{sweep start text: devices whose textual notebook holds it}``; read once."""
        if self._starts is None:
            self._starts = {}
            for device in self.devices:
                for start in _notebook_texts(self.h5[NOTEBOOKS][device], SWEEP_START_KEY):
                    self._starts.setdefault(start, []).append(device)
        return self._starts


def _notebook_texts(notebook: h5py.Group, key: str) -> set[str]:
    """Every value a textual notebook holds for ``key``, on any layer; none if it lacks the key."""
    if "textualKeys" not in notebook or "textualValues" not in notebook:
        return set()
    names = [text(name) for name in notebook["textualKeys"][0, :]]
    if key not in names:
        return set()
    values = notebook["textualValues"][:, names.index(key), :]
    return {found for found in (text(value).strip() for value in values.reshape(-1)) if found}




def check_device(devices: list[str | None], device: str, what: str) -> None:
    """``InvalidQueryError`` if ``device`` is not among ``devices`` (those that recorded at ``what``), naming them."""
    if device not in devices:
        known = ", ".join(repr(one) for one in devices if one is not None) or "none named"
        raise InvalidQueryError(f"{what}: no device {device!r} recorded there; its devices are {known}")


def choose_device(
    recorded_by: list[str | None], devices: list[str | None], device: str | None, what: str
) -> str | None:
    """The device whose sweep to read: ``device`` if given, else the only one of ``recorded_by``.

    ``recorded_by``: the devices that recorded the sweep; ``devices``: every
    device of the headstage. ``InvalidQueryError`` for a ``device`` not among
    ``devices`` (naming them); ``DeviceChoiceError`` when several recorded it
    and none is named (``what`` says which sweep, for the message). None
    when none recorded it.
    """
    if device is not None:
        check_device(devices, device, what)
        return device
    distinct = list(dict.fromkeys(recorded_by))
    if len(distinct) > 1:
        named = sorted(one for one in distinct if one is not None)
        raise DeviceChoiceError(f"{what} was recorded by {len(distinct)} devices, {' and '.join(named)}", named)
    return distinct[0] if distinct else None
