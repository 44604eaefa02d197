"""A MIES lab notebook of realistic shape, for the synthetic files (see ``mies``).

MIES keeps, per device, a numerical and a textual notebook: ``*Keys`` (3 x N
text: name, unit, tolerance) and ``*Values`` (rows x N x 9: one layer per
headstage, the ninth for what belongs to no headstage). Every "entry" MIES
makes (sweep settings, a test pulse, a QC result) is a row carrying
``SweepNum``; later rows of a sweep may set a key again, and a sweep that
was rolled back and recorded again leaves its first rows behind. Readers
(IPFX, and this package) take, per sweep, the last value that is not NaN.
The values arrays are padded at the end (NaN, empty text) to a power of two
rows: at least 1024 numerical and 256 textual rows, as in the release.

What is planted here, per sweep and headstage: ``Set Sweep Count`` (the
0-based index of the sweep within its stimset), ``Scale Factor`` (the
amplifier's output gain), ``AD Gain``, ``DA Gain``, the holding and bridge
balance settings, and a test pulse entry. The key names are MIES'; beyond
those listed, filler keys (``Unassigned key <n>``) give the notebook the
release's width (204 to 311 numerical keys in mouse files, 128 in human ones).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

LAYERS = 9
INDEPENDENT = 8
"""The layer of entries that belong to no headstage."""

BASIC_KEYS: tuple[tuple[str, str, str], ...] = (
    ("SweepNum", "", "1"),
    ("TimeStamp", "s", "1"),
    ("TimeStampSinceIgorEpochUTC", "s", "1"),
    ("EntrySourceType", "", "1"),
    ("AcquisitionState", "", "1"),
)
"""The keys every MIES notebook starts with."""
NUMERIC_KEYS: tuple[tuple[str, str, str], ...] = (
    ("Stim Scale Factor", "%", "0.01"),
    ("DAC", "", "0.1"),
    ("ADC", "", "0.1"),
    ("DA Gain", "mV/V", "0.1"),
    ("AD Gain", "V/pA", "0.1"),
    ("Set Sweep Count", "", "0.1"),
    ("Clamp Mode", "", "0.1"),
    ("Headstage Active", "On/Off", "0.1"),
    ("Sampling interval", "ms", "1e-6"),
    ("I-Clamp Holding Enable", "On/Off", "-"),
    ("I-Clamp Holding Level", "pA", "0.9"),
    ("Bridge Bal Enable", "On/Off", "-"),
    ("Bridge Bal Value", "MOhm", "1e-3"),
    ("V-Clamp Holding Enable", "On/Off", "-"),
    ("V-Clamp Holding Level", "mV", "0.9"),
    ("Neut Cap Enabled", "On/Off", "-"),
    ("Whole Cell Comp Enable", "On/Off", "-"),
    ("RsComp Enable", "On/Off", "-"),
    ("Pipette Offset", "mV", "0.1"),
    ("TP Baseline Vm", "mV", "1"),
    ("TP Peak Resistance", "MOhm", "1"),
    ("TP Steady State Resistance", "MOhm", "1"),
    ("Repeat Sets", "", "-"),
    ("Inter-trial interval", "s", "-"),
    ("Stimset length", "", "-"),
)
AMPLIFIER_KEYS: tuple[tuple[str, str, str], ...] = (
    ("Operating Mode", "", "0.1"),
    ("Scale Factor", "", "1e-3"),
    ("Primary Signal Gain", "", "0.1"),
)
"""The amplifier's telegraph keys, which MIES adds after the DAQ settings."""
AMPLIFIER_COLUMN = 72
"""Where the amplifier keys start: ``Scale Factor`` lies in another 32-column block than ``SweepNum``."""
TEXTUAL_KEYS: tuple[tuple[str, str, str], ...] = (
    ("SweepNum", "", "-"),
    ("TimeStamp", "s", "-"),
    ("TimeStampSinceIgorEpochUTC", "s", "-"),
    ("EntrySourceType", "", "-"),
    ("Stim Wave Name", "", "-"),
    ("DA unit", "", "-"),
    ("AD unit", "", "-"),
    ("Stim Wave Note", "", "-"),
    ("Follower Device", "On/Off", "-"),
    ("MIES version", "On/Off", "-"),
)
DAQ_ENTRY, TEST_PULSE_ENTRY = 0.0, 1.0
"""``EntrySourceType``: sweep settings, and test pulse results."""


@dataclass(frozen=True)
class HeadstageSettings:
    """What one headstage's amplifier and DAQ were set to for a sweep."""

    headstage: int
    clamp_mode: int  # MIES: 0 voltage clamp, 1 current clamp, 2 I=0
    ad_gain: float
    da_gain: float
    scale_factor: float
    holding_pa: float | None  # None: I-clamp holding disabled
    bridge_mohm: float | None  # None: bridge balance disabled
    stimset: str


@dataclass(frozen=True)
class SweepEntry:
    """A sweep as the notebook records it: its number, stimset count, and each headstage's settings."""

    sweep_number: int
    set_sweep_count: int
    sampling_interval_ms: float
    headstages: tuple[HeadstageSettings, ...]
    rolled_back: HeadstageSettings | None = None
    """Settings of a first attempt at this sweep, rolled back: rows written, then superseded."""


@dataclass
class Notebook:
    """The four notebook arrays, ready to write."""

    numerical_keys: np.ndarray  # (3, N) object (str)
    numerical_values: np.ndarray  # (rows, N, 9) float64
    textual_keys: np.ndarray  # (3, M) object (str)
    textual_values: np.ndarray  # (rows, M, 9) object (str)
    wave_notes: dict[tuple[int, int], str] = field(default_factory=dict)
    """By (sweep number, headstage): the lines MIES puts in the sweep's wave note."""


def build_notebook(
    entries: Sequence[SweepEntry],
    numeric_width: int = 204,
    textual_width: int = 49,
    missing: Sequence[str] = (),
    basics_in_first_layer_only: bool = False,
) -> Notebook:
    """The notebook of these sweeps; ``missing`` keys are left out, as older files lack some.

    ``basics_in_first_layer_only``: ``SweepNum`` and the other basic keys in
    layer 0 only, as rows written under Igor 6 have them (later ones: every layer).
    """
    numeric = [key for key in BASIC_KEYS + NUMERIC_KEYS if key[0] not in missing]
    numeric += [(f"Unassigned key {n}", "", "-") for n in range(len(numeric), AMPLIFIER_COLUMN)]
    numeric += [key for key in AMPLIFIER_KEYS if key[0] not in missing]
    numeric += [(f"Unassigned key {n}", "", "-") for n in range(len(numeric), numeric_width)]
    textual = [key for key in TEXTUAL_KEYS if key[0] not in missing]
    textual += [(f"Unassigned text key {n}", "", "-") for n in range(len(textual), textual_width)]
    columns = {name: index for index, (name, _, _) in enumerate(numeric)}
    text_columns = {name: index for index, (name, _, _) in enumerate(textual)}
    rows: list[np.ndarray] = []
    text_rows: list[np.ndarray] = []
    notes: dict[tuple[int, int], str] = {}
    previous: dict[int, dict[str, float]] = {}
    for timestamp, entry in enumerate(entries):
        layers = slice(0, 1) if basics_in_first_layer_only else slice(None)
        if entry.rolled_back is not None:
            rows.append(_settings_row(entry, (entry.rolled_back,), columns, timestamp, layers))
        settings_row = _settings_row(entry, entry.headstages, columns, timestamp, layers)
        rows += [settings_row, _test_pulse_row(entry, columns, timestamp, layers)]
        text_rows.append(_text_row(entry, text_columns, timestamp))
        for settings in entry.headstages:
            values = {name: settings_row[index, settings.headstage] for name, index in columns.items()}
            notes[(entry.sweep_number, settings.headstage)] = _wave_note(
                settings.headstage, numeric, values, previous.get(settings.headstage)
            )
            previous[settings.headstage] = values
    return Notebook(
        numerical_keys=_keys(numeric),
        numerical_values=_padded(np.stack(rows), np.nan, 1024),
        textual_keys=_keys(textual),
        textual_values=_padded(np.stack(text_rows), "", 256),
        wave_notes=notes,
    )


def _settings_row(
    entry: SweepEntry, headstages: Sequence[HeadstageSettings], columns: dict[str, int], timestamp: int, layers: slice
) -> np.ndarray:
    row = _common_row(entry, columns, timestamp, DAQ_ENTRY, layers)
    put = _putter(row, columns)
    put("Sampling interval", INDEPENDENT, entry.sampling_interval_ms)
    put("Repeat Sets", INDEPENDENT, 1.0)
    put("Inter-trial interval", INDEPENDENT, 2.0)
    for settings in headstages:
        layer = settings.headstage
        put("Set Sweep Count", layer, entry.set_sweep_count)
        put("Scale Factor", layer, settings.scale_factor)
        put("AD Gain", layer, settings.ad_gain)
        put("DA Gain", layer, settings.da_gain)
        put("DAC", layer, settings.headstage)
        put("ADC", layer, settings.headstage)
        put("Clamp Mode", layer, settings.clamp_mode)
        put("Headstage Active", layer, 1.0)
        put("Stim Scale Factor", layer, 1.0)
        put("I-Clamp Holding Enable", layer, float(settings.holding_pa is not None))
        put("I-Clamp Holding Level", layer, settings.holding_pa if settings.holding_pa is not None else 0.0)
        put("Bridge Bal Enable", layer, float(settings.bridge_mohm is not None))
        put("Bridge Bal Value", layer, settings.bridge_mohm if settings.bridge_mohm is not None else 0.0)
        for name, index in columns.items():
            if name.startswith("Unassigned key"):
                row[index, layer] = index % 7  # settings that never change: the first sweep's note lists them
    return row


def _test_pulse_row(entry: SweepEntry, columns: dict[str, int], timestamp: int, layers: slice) -> np.ndarray:
    row = _common_row(entry, columns, timestamp + 0.5, TEST_PULSE_ENTRY, layers)
    put = _putter(row, columns)
    for settings in entry.headstages:
        put("TP Baseline Vm", settings.headstage, -70.0)
        put("TP Peak Resistance", settings.headstage, 25.0)
        put("TP Steady State Resistance", settings.headstage, 180.0)
    return row


def _common_row(
    entry: SweepEntry, columns: dict[str, int], timestamp: float, source: float, layers: slice
) -> np.ndarray:
    row = np.full((len(columns), LAYERS), np.nan)
    for name, value in (("SweepNum", entry.sweep_number), ("TimeStamp", timestamp), ("EntrySourceType", source)):
        if name in columns:
            row[columns[name], layers] = value
    return row


def _putter(row: np.ndarray, columns: dict[str, int]):
    def put(name: str, layer: int, value: float) -> None:
        if name in columns:
            row[columns[name], layer] = value

    return put


def _text_row(entry: SweepEntry, columns: dict[str, int], timestamp: int) -> np.ndarray:
    row = np.full((len(columns), LAYERS), "", dtype=object)
    for name, value in (("SweepNum", str(entry.sweep_number)), ("TimeStamp", str(timestamp))):
        if name in columns:
            row[columns[name], :] = value
    for settings in entry.headstages:
        for name, value in (("Stim Wave Name", f"{settings.stimset}_DA_0"), ("DA unit", "pA"), ("AD unit", "mV")):
            if name in columns:
                row[columns[name], settings.headstage] = value
    return row


def _keys(keys: Sequence[tuple[str, str, str]]) -> np.ndarray:
    return np.array([[key[part] for key in keys] for part in range(3)], dtype=object)


def _padded(rows: np.ndarray, fill: object, least: int) -> np.ndarray:
    """``rows`` followed by ``fill`` rows up to the next power of two (at least ``least``), as MIES grows it."""
    total = max(least, 1 << (len(rows) - 1).bit_length())
    padded = np.full((total, *rows.shape[1:]), fill, dtype=rows.dtype)
    padded[: len(rows)] = rows
    return padded


def _wave_note(
    headstage: int, keys: Sequence[tuple[str, str, str]], values: dict[str, float], before: dict[str, float] | None
) -> str:
    """The note MIES writes on a sweep: every setting on the first sweep, then the ones that changed.

    A line per setting, ``HS#<n>:<key>: <value> <unit>``, values with two
    decimals (``On``/``Off`` for switches), ended by carriage returns as Igor ends lines.
    """
    lines = []
    for name, unit, _ in keys:
        value = values.get(name, np.nan)
        if np.isnan(value) or (before is not None and before.get(name) == value):
            continue
        shown = ("On" if value else "Off") if unit == "On/Off" else f"{value:.2f} {unit}".rstrip()
        lines.append(f"HS#{headstage}:{name}: {shown}")
    return "\r".join(lines) + "\r"
