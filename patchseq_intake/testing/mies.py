"""Synthetic Patch-seq NWB files written as the release's were: MIES' layout, written with h5py.

What ``shared/reference/release-nwb-files.md`` knows of the release's files
(MIES 2019/2020 through IPNWB, then appended to by the Allen pipeline), this
writer does:

- sweep ``data`` float32 in mV (current clamp) or pA (voltage clamp), chunked
  8192 samples (32 when shorter), gzip level 3 with shuffle, unlimited;
  ``@conversion``, ``@resolution`` and ``@rate`` float32 scalars;
  ``starting_time``, ``gain``, ``bias_current`` (pA) and ``bridge_balance``
  (MOhm) 1-element arrays, the last two on current clamp series only, and
  only when the amplifier had them on; ``@sweep_number`` a uint32 scalar;
- the Igor wave note on each series (``@comments``) and its data
  (``@IGORWaveNote``), with the other IGORWave* attributes;
- series named by a running index (``data_NNNNN_AD0``), not the sweep number;
  an I=0 sweep has an ``IZeroClampSeries`` response and no stimulus series;
- the legacy sweep table (an AD and a DA row per sweep), the lab notebook
  (see ``labnotebook``), stimsets, test pulse storage, user comments,
  ``generated_by`` naming ``Package`` ``MIES``, text datasets as
  variable-length strings (read as bytes), MIES' text as 1-element arrays;
- what the pipeline added: ``processing/spikes`` (last: its append put it at
  the file's end), ``institution``, ``session_id``, ``subject``;
- ``/specifications``: core 2.2.4, hdmf-common 1.1.3, ndx-mies 0.1.0.

``MiesLayout`` switches on the variants the research lists: newer MIES
(fixed-length text attributes, superblock 2 and version-2 object headers), a
second headstage and TTL lines sharing sweep numbers, a sweep number only
TTL series carry, a notebook without some keys, a rolled-back sweep. Sweep
tails and per-sweep sampling rates are the ``SweepSpec``'s.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import h5py
import numpy as np

from .labnotebook import HeadstageSettings, Notebook, SweepEntry, build_notebook
from .physiology import (
    CURRENT_CLAMP,
    INTER_SWEEP_INTERVAL_S,
    IZERO,
    RESPONSE_GAIN,
    STIMULUS_GAIN,
    VOLTAGE_CLAMP,
    CellSpec,
    SweepSpec,
    TEST,
    SweepSummary,
    WrittenCell,
    check_unique_numbers,
    default_sweeps,
)
from .traces import Traces, summarize, synthesize

DEVICE = "ITC18USB_Dev_0"
MIES_VERSION = "Release_2.0_20190602-977-g33b63e3b"
GENERATED_BY = (
    ("Program", "Igor Pro 64bit"),
    ("Program Version", "8.0.5.1"),
    ("Package", "MIES"),
    ("Package Version", f"{MIES_VERSION}\nDate and time of last commit: 2020-05-21T12:12:38+02:00"),
    ("Labnotebook Version", "37"),
)
PLACEHOLDER = "PLACEHOLDER"
SESSION_START = datetime(2020, 1, 27, 21, 53, 18, 318000, tzinfo=timezone.utc)
SPECIFICATIONS = Path(__file__).parent / "specifications"
SAMPLE_CHUNK, SMALL_CHUNK = 8192, 32
TTL_CHANNEL = "TTL1_0"

_MILLI, _PICO = np.float32(1e-3), np.float32(1e-12)
_CLAMP_MODES = {VOLTAGE_CLAMP: 0, CURRENT_CLAMP: 1}
_IZERO_MODE = 2
_SECOND_HEADSTAGE_CELL = {"input_resistance_mohm": 300.0, "baseline_mv": -65.0}


@dataclass(frozen=True)
class MiesLayout:
    """Variants of the layout; the defaults are the release's (2020 MIES, one headstage)."""

    newer_mies: bool = False
    """Fixed-length byte-string text attributes, superblock 2, version-2 object headers (MIES with Igor 9)."""
    second_headstage: bool = False
    """AD1/DA1 series on electrode_1 for every sweep, sharing its sweep number."""
    ttl: bool = False
    """A TTL TimeSeries per sweep, sharing its sweep number."""
    ttl_only_sweep: int | None = None
    """A sweep number that only a TTL series carries (no AD, no DA)."""
    missing_notebook_keys: tuple[str, ...] = ()
    """Keys the lab notebook lacks, e.g. ``Set Sweep Count`` or ``Scale Factor`` (older human files)."""
    numeric_keys: int = 204
    textual_keys: int = 49
    rolled_back_sweep: int | None = None
    """A sweep whose first attempt was rolled back: its notebook rows stay, superseded."""
    sweep_numbers_in_first_layer_only: bool = False
    """The notebook's ``SweepNum`` in layer 0 only, as rows written under Igor 6 have it."""
    scale_factors: tuple[float, float] = (0.5, 1.0)
    """The amplifiers' ``Scale Factor`` on headstages 0 and 1."""
    holding: bool = True
    """I-clamp holding on: current clamp responses carry ``bias_current``."""
    bridge_balance: bool = True
    """Bridge balance on: current clamp responses carry ``bridge_balance``."""
    spikes: bool = True
    """IPFX's ``processing/spikes`` (see ``_Writer.spikes``); False: no such module, as in a file never analysed."""


@dataclass(frozen=True)
class _Planned:
    """A sweep of one headstage, ready to write."""

    spec: SweepSpec
    index: int
    set_sweep_count: int
    settings: HeadstageSettings
    traces: Traces
    starting_time: float


def write_mies_nwb(
    path: str | os.PathLike,
    *,
    specimen_id: int,
    session_id: int,
    subject_id: int | str,
    sweeps: Sequence[SweepSpec] | None = None,
    cell: CellSpec = CellSpec(),
    seed: int = 0,
    layout: MiesLayout = MiesLayout(),
) -> WrittenCell:
    """Write one cell's synthetic NWB file to ``path``, as MIES wrote the release's, and describe it."""
    specs = list(default_sweeps() if sweeps is None else sweeps)
    check_unique_numbers(specs)
    headstages = (0, 1) if layout.second_headstage else (0,)
    cells = {0: cell, 1: replace(cell, **_SECOND_HEADSTAGE_CELL)}
    planned = _plan(specs, headstages, cells, seed, layout)
    notebook = build_notebook(
        _entries(planned, layout), layout.numeric_keys, layout.textual_keys, layout.missing_notebook_keys,
        layout.sweep_numbers_in_first_layer_only,
    )
    path = Path(path)
    libver = ("v108", "v108") if layout.newer_mies else ("earliest", "v108")
    with h5py.File(path, "w", libver=libver) as h5:
        writer = _Writer(h5, layout)
        writer.file(session_id, str(subject_id), headstages)
        rows = writer.sweeps(planned, notebook)
        writer.sweep_table(rows)
        writer.mies_groups(notebook, [one.spec for one in planned[0]])
        writer.specifications()
        if layout.spikes:
            writer.spikes(planned[0])
    summaries = {hs: tuple(_summary(one, cells[hs], layout) for one in planned[hs]) for hs in headstages}
    return WrittenCell.of_file(
        path, specimen_id=specimen_id, session_id=session_id, subject_id=subject_id, cell=cell,
        sweeps=summaries[0], other_headstages={hs: rows for hs, rows in summaries.items() if hs != 0},
    )


# --- planning -----------------------------------------------------------------------


def _plan(
    specs: Sequence[SweepSpec], headstages: Sequence[int], cells: dict[int, CellSpec], seed: int, layout: MiesLayout
) -> dict[int, list[_Planned]]:
    """Every sweep of every headstage: running index, stimset count, settings, samples and start."""
    planned: dict[int, list[_Planned]] = {hs: [] for hs in headstages}
    counts: Counter[str] = Counter()
    starting_time = 0.0
    for index, spec in enumerate(specs):
        for hs in headstages:
            traces = synthesize(spec, cells[hs], np.random.default_rng((seed, hs, spec.sweep_number)))
            settings = _settings(spec, hs, cells[hs], layout)
            planned[hs].append(_Planned(spec, index, counts[spec.stimulus_code], settings, traces, starting_time))
        counts[spec.stimulus_code] += 1
        starting_time += spec.duration + INTER_SWEEP_INTERVAL_S
    return planned


def _settings(spec: SweepSpec, headstage: int, cell: CellSpec, layout: MiesLayout) -> HeadstageSettings:
    current_clamp = spec.clamp_mode == CURRENT_CLAMP and spec.kind != IZERO
    return HeadstageSettings(
        headstage=headstage,
        clamp_mode=_IZERO_MODE if spec.kind == IZERO else _CLAMP_MODES[spec.clamp_mode],
        ad_gain=RESPONSE_GAIN * (headstage + 1),
        da_gain=STIMULUS_GAIN * (headstage + 1),
        scale_factor=layout.scale_factors[headstage],
        holding_pa=cell.bias_current_pa if current_clamp and layout.holding else None,
        bridge_mohm=cell.bridge_balance_mohm if current_clamp and layout.bridge_balance else None,
        stimset=spec.stimulus_code,
    )


def _entries(planned: dict[int, list[_Planned]], layout: MiesLayout) -> list[SweepEntry]:
    """The notebook's view of the sweeps: each stimset's running count, each headstage's settings."""
    entries = []
    for sweep in zip(*planned.values()):
        first = sweep[0]
        rolled_back = None
        if first.spec.sweep_number == layout.rolled_back_sweep:
            rolled_back = replace(first.settings, scale_factor=first.settings.scale_factor * 10)
        entries.append(
            SweepEntry(
                first.spec.sweep_number,
                first.set_sweep_count,
                1e3 / first.spec.sampling_rate,
                tuple(one.settings for one in sweep),
                rolled_back,
            )
        )
    return entries


def _summary(one: _Planned, cell: CellSpec, layout: MiesLayout) -> SweepSummary:
    spec, settings = one.spec, one.settings
    izero = spec.kind == IZERO
    current_clamp = spec.clamp_mode == CURRENT_CLAMP
    return replace(
        summarize(spec, cell, one.starting_time, one.traces),
        response_name=f"acquisition/{_series_name(one, 'AD')}",
        stimulus_name=None if izero else f"stimulus/presentation/{_series_name(one, 'DA')}",
        headstage=settings.headstage,
        response_gain=_stored(settings.ad_gain),
        stimulus_gain=None if izero else _stored(settings.da_gain),
        leak_pa=0.0 if izero else (_stored(settings.holding_pa) if current_clamp else None),
        bridge_balance_mohm=0.0 if izero else (_stored(settings.bridge_mohm) if current_clamp else None),
        set_sweep_count=None if "Set Sweep Count" in layout.missing_notebook_keys else one.set_sweep_count,
        scale_factor=None if "Scale Factor" in layout.missing_notebook_keys else settings.scale_factor,
    )


def _stored(value: float | None) -> float | None:
    """A value as a float32 dataset holds it."""
    return None if value is None else float(np.float32(value))


def _series_name(one: _Planned, channel: str) -> str:
    return f"data_{one.index:05d}_{channel}{one.settings.headstage}"


# --- writing ------------------------------------------------------------------------


class _Writer:
    """Writes the parts of one file; text attributes as the layout's MIES version stored them."""

    def __init__(self, h5: h5py.File, layout: MiesLayout):
        self.h5 = h5
        self.layout = layout

    # -- HDF5 conventions

    def text_attr(self, obj: h5py.HLObject, name: str, value: str) -> None:
        """A text attribute: variable-length UTF-8 (2020 MIES) or fixed-length bytes (newer MIES)."""
        if self.layout.newer_mies:
            obj.attrs.create(name, np.bytes_(value.encode()))
        else:
            obj.attrs.create(name, value, dtype=h5py.string_dtype())

    def typed(self, obj: h5py.HLObject, neurodata_type: str, namespace: str = "core") -> h5py.HLObject:
        self.text_attr(obj, "namespace", namespace)
        self.text_attr(obj, "neurodata_type", neurodata_type)
        self.text_attr(obj, "object_id", str(uuid.uuid4()))
        return obj

    @staticmethod
    def text(parent: h5py.Group, name: str, values: str | Sequence[str], chunked: bool = False) -> h5py.Dataset:
        """A text dataset as MIES writes one: a 1-element (or longer) array of variable-length strings."""
        data = np.array([values] if isinstance(values, str) else list(values), dtype=object)
        options = _compressed(SMALL_CHUNK, data.ndim) if chunked else {}
        return parent.create_dataset(name, data=data, dtype=h5py.string_dtype(), **options)

    @staticmethod
    def single(parent: h5py.Group, name: str, value: float, dtype: type = np.float32) -> h5py.Dataset:
        """A number as IPNWB writes one: a 1-element array, contiguous."""
        return parent.create_dataset(name, data=np.array([value], dtype=dtype))

    # -- the file

    def file(self, session_id: int, subject_id: str, headstages: Sequence[int]) -> None:
        h5 = self.h5
        self.text_attr(h5, "nwb_version", "2.2.4")
        self.typed(h5, "NWBFile")
        start = SESSION_START.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        self.text(h5, "identifier", uuid.uuid4().hex + uuid.uuid4().hex)
        self.text(h5, "session_description", PLACEHOLDER)
        self.text(h5, "session_start_time", start)
        self.text(h5, "timestamps_reference_time", start)
        self.text(h5, "file_create_date", [start, "2020-06-01T10:00:00.000Z", "2020-06-26T09:00:00.000Z"], chunked=True)
        for name in ("acquisition", "analysis", "processing", "stimulus/presentation", "stimulus/templates"):
            h5.require_group(name)
        general = h5.create_group("general")
        general.create_dataset("institution", data="Allen Institute for Brain Science", dtype=h5py.string_dtype())
        general.create_dataset("session_id", data=str(session_id), dtype=h5py.string_dtype())
        subject = self.typed(general.create_group("subject"), "Subject")
        subject.create_dataset("subject_id", data=subject_id, dtype=h5py.string_dtype())
        device = self.typed(general.create_group(f"devices/device_{DEVICE}"), "Device")
        self.text_attr(device, "description", "Harvard Bioscience (formerly HEKA/Instrutech) Model: ITC18USB")
        ephys = general.create_group("intracellular_ephys")
        self.text(ephys, "filtering", PLACEHOLDER)
        for hs in headstages:
            electrode = self.typed(ephys.create_group(f"electrode_{hs}"), "IntracellularElectrode")
            self.text(electrode, "description", f"Headstage {hs}")
            electrode["device"] = h5py.SoftLink(device.name)

    # -- sweeps

    def sweeps(self, planned: dict[int, list[_Planned]], notebook: Notebook) -> list[tuple[int, h5py.Reference]]:
        """Every series of every sweep; the sweep table's rows (sweep number, series), in MIES' order."""
        rows = []
        for sweep in zip(*planned.values()):
            for one in sweep:
                note = notebook.wave_notes[(one.spec.sweep_number, one.settings.headstage)]
                response = self.response(one, note)
                rows.append((one.spec.sweep_number, response.ref))
                if one.spec.kind != IZERO:
                    rows.append((one.spec.sweep_number, self.stimulus(one, note).ref))
            if self.layout.ttl:
                rows.append((sweep[0].spec.sweep_number, self.ttl(sweep[0].index, sweep[0].spec).ref))
        if self.layout.ttl and self.layout.ttl_only_sweep is not None:
            last = planned[0][-1]
            lone = replace(last.spec, sweep_number=self.layout.ttl_only_sweep)
            rows.append((lone.sweep_number, self.ttl(last.index + 1, lone).ref))
        return rows

    def response(self, one: _Planned, note: str) -> h5py.Group:
        spec, settings = one.spec, one.settings
        izero = spec.kind == IZERO
        kind = "IZeroClampSeries" if izero else f"{spec.clamp_mode}Series"
        group = self.series(f"acquisition/{_series_name(one, 'AD')}", kind, one, one.traces.response, note)
        volts = spec.clamp_mode == CURRENT_CLAMP
        self.data_units(group["data"], "volts" if volts else "amperes", _MILLI if volts else _PICO, "mV" if volts else "pA")
        self.single(group, "gain", settings.ad_gain)
        if izero:
            for name in ("bias_current", "bridge_balance", "capacitance_compensation"):
                self.single(group, name, 0.0)
        elif spec.clamp_mode == CURRENT_CLAMP:
            if settings.holding_pa is not None:
                self.single(group, "bias_current", settings.holding_pa)
            if settings.bridge_mohm is not None:
                self.single(group, "bridge_balance", settings.bridge_mohm)
        else:
            for name, value in (("capacitance_fast", 0.0), ("capacitance_slow", 0.0), ("whole_cell_capacitance_comp", 0.0)):
                self.single(group, name, value)
        return group

    def stimulus(self, one: _Planned, note: str) -> h5py.Group:
        spec = one.spec
        kind = f"{spec.clamp_mode}StimulusSeries"
        group = self.series(f"stimulus/presentation/{_series_name(one, 'DA')}", kind, one, one.traces.command, note)
        amps = spec.clamp_mode == CURRENT_CLAMP
        self.data_units(group["data"], "amperes" if amps else "volts", _PICO if amps else _MILLI, "pA" if amps else "mV")
        self.single(group, "gain", one.settings.da_gain)
        return group

    def series(self, name: str, kind: str, one: _Planned, samples: np.ndarray, note: str) -> h5py.Group:
        group = self.typed(self.h5.create_group(name), kind)
        self.text_attr(group, "description", PLACEHOLDER)
        self.text_attr(group, "stimulus_description", one.spec.stimulus_description)
        self.text_attr(group, "comments", note)
        group.attrs.create("sweep_number", np.uint32(one.spec.sweep_number))
        data = group.create_dataset("data", data=samples.astype(np.float32), **_compressed(_sample_chunk(len(samples))))
        self.igor_attrs(data, one.spec.sampling_rate, note)
        start = self.single(group, "starting_time", one.starting_time, np.float64)
        start.attrs.create("rate", np.float32(one.spec.sampling_rate))
        self.text_attr(start, "unit", "Seconds")
        group["electrode"] = h5py.SoftLink(f"/general/intracellular_ephys/electrode_{one.settings.headstage}")
        return group

    def data_units(self, data: h5py.Dataset, unit: str, conversion: np.float32, igor_unit: str) -> None:
        self.text_attr(data, "unit", unit)
        data.attrs.create("conversion", conversion)
        data.attrs.create("resolution", np.float32(np.nan))
        data.attrs.create("IGORWaveUnits", np.array([igor_unit, "ms"], dtype=object), dtype=h5py.string_dtype())

    def igor_attrs(self, data: h5py.Dataset, rate: float, note: str) -> None:
        data.attrs.create("IGORWaveType", np.int32(2))  # single-precision float
        data.attrs.create("IGORWaveScaling", np.array([[np.nan, np.nan], [1e3 / rate, 0.0]]))
        self.text_attr(data, "IGORWaveNote", note)

    def ttl(self, index: int, spec: SweepSpec) -> h5py.Group:
        """A TTL line's TimeSeries: 0/1 samples, on no electrode, in the sweep table like the rest."""
        group = self.typed(self.h5.create_group(f"stimulus/presentation/data_{index:05d}_{TTL_CHANNEL}"), "TimeSeries")
        self.text_attr(group, "description", PLACEHOLDER)
        group.attrs.create("sweep_number", np.uint32(spec.sweep_number))
        levels = (np.arange(spec.n_samples) // max(1, spec.n_samples // 4) % 2).astype(np.float32)
        data = group.create_dataset("data", data=levels, **_compressed(_sample_chunk(len(levels))))
        self.text_attr(data, "unit", "a.u.")
        data.attrs.create("conversion", np.float32(1.0))
        data.attrs.create("resolution", np.float32(np.nan))
        start = self.single(group, "starting_time", 0.0, np.float64)
        start.attrs.create("rate", np.float32(spec.sampling_rate))
        self.text_attr(start, "unit", "Seconds")
        return group

    def sweep_table(self, rows: list[tuple[int, h5py.Reference]]) -> None:
        table = self.typed(self.h5.create_group("general/intracellular_ephys/sweep_table"), "SweepTable")
        table.attrs.create("colnames", np.array(["series", "sweep_number"], dtype=object), dtype=h5py.string_dtype())
        self.text_attr(table, "description", "A sweep table groups different PatchClampSeries together.")
        count = len(rows)
        ids = table.create_dataset("id", data=np.arange(count, dtype=np.int32), **_compressed(SMALL_CHUNK))
        self.typed(ids, "ElementIdentifiers", "hdmf-common")
        series = table.create_dataset(
            "series", data=np.array([ref for _, ref in rows], dtype=h5py.ref_dtype), dtype=h5py.ref_dtype,
            **_compressed(SMALL_CHUNK),
        )
        self.typed(series, "VectorData", "hdmf-common")
        self.text_attr(series, "description", "The PatchClampSeries with the sweep number in that row.")
        index = table.create_dataset("series_index", data=np.arange(1, count + 1, dtype=np.int32), **_compressed(SMALL_CHUNK))
        self.typed(index, "VectorIndex", "hdmf-common")
        index.attrs.create("target", series.ref, dtype=h5py.ref_dtype)
        numbers = np.array([number for number, _ in rows], dtype=np.uint32)
        sweep_numbers = table.create_dataset("sweep_number", data=numbers, **_compressed(SMALL_CHUNK))
        self.typed(sweep_numbers, "VectorData", "hdmf-common")
        self.text_attr(sweep_numbers, "description", "Sweep number of the PatchClampSeries in that row.")

    def spikes(self, planned: list[_Planned]) -> None:
        """IPFX's ``processing/spikes`` as ``append_spike_times`` writes it: per current clamp sweep but test and I=0
        sweeps, the spikes' IPFX threshold_t (empty if none), approximated by their onsets (see ``threshold_times``)."""
        module = self.typed(self.h5.create_group("processing/spikes"), "ProcessingModule")
        self.text_attr(module, "description", "detected spikes")
        for one in planned:
            if one.spec.clamp_mode == CURRENT_CLAMP and one.spec.kind not in (IZERO, TEST):
                times = threshold_times(one.traces.spike_peak_times, one.spec.epochs.stimulus_start, one.spec.sampling_rate)
                series = self.typed(module.create_group(f"Sweep_{one.spec.sweep_number}"), "TimeSeries")
                for name in ("data", "timestamps"):
                    self.text_attr(series.create_dataset(name, data=times, compression="gzip"), "unit", "seconds")
                series["data"].attrs.update(conversion=1.0, resolution=-1.0)
                series["timestamps"].attrs["interval"] = np.int32(1)

    # -- MIES' own groups

    def mies_groups(self, notebook: Notebook, specs: Sequence[SweepSpec]) -> None:
        general = self.h5["general"]
        self.typed(self.text(general, "generated_by", [list(row) for row in GENERATED_BY]), "GeneratedBy", "ndx-mies")
        source = self.text(general, "source_script", MIES_VERSION)
        self.text_attr(source, "file_name", "MIES_NeuroDataWithoutBorders.ipf")
        history = "  Please be patient while we export all existing acquired content of all devices to NWB\n"
        self.text(general, "data_collection", history, chunked=True)
        notebooks = self.typed(general.create_group(f"labnotebook/{DEVICE}"), "LabNotebookDevice", "ndx-mies")
        self.typed(general["labnotebook"], "LabNotebook", "ndx-mies")
        for name, values, kind in (
            ("numericalKeys", notebook.numerical_keys, "LabNotebookNumericalKeys"),
            ("numericalValues", notebook.numerical_values, "LabNotebookNumericalValues"),
            ("textualKeys", notebook.textual_keys, "LabNotebookTextualKeys"),
            ("textualValues", notebook.textual_values, "LabNotebookTextualValues"),
        ):
            dtype = h5py.string_dtype() if values.dtype == object else values.dtype
            dataset = notebooks.create_dataset(name, data=values, dtype=dtype, **_compressed(SMALL_CHUNK, values.ndim))
            self.typed(dataset, kind, "ndx-mies")
        stimsets = self.typed(general.create_group("stimsets"), "StimulusSets", "ndx-mies")
        for code in dict.fromkeys(spec.stimulus_code for spec in specs):
            parameters = stimsets.create_dataset(
                f"{code}_DA_0_WP", data=np.zeros((86, 100, 9), np.float32), **_compressed(SMALL_CHUNK, 3)
            )
            self.typed(parameters, "StimulusSetWavebuilderParameter", "ndx-mies")
            segments = stimsets.create_dataset(f"{code}_DA_0_SegWvType", data=np.zeros(102, np.float32))
            self.typed(segments, "StimulusSetWavebuilderSegmentTypes", "ndx-mies")
        pulses = self.typed(general.create_group(f"testpulse/{DEVICE}"), "TestpulseDevice", "ndx-mies")
        self.typed(general["testpulse"], "Testpulse", "ndx-mies")
        storage = pulses.create_dataset("TPStorage", data=np.zeros((64, 1, 20)), **_compressed(SMALL_CHUNK, 3))
        self.typed(storage, "TestpulseMetadata", "ndx-mies")
        comments = self.typed(general.create_group(f"user_comment/{DEVICE}"), "UserCommentDevice", "ndx-mies")
        self.typed(general["user_comment"], "UserComment", "ndx-mies")
        self.typed(self.text(comments, "userComment", "", chunked=True), "UserCommentString", "ndx-mies")

    def specifications(self) -> None:
        """The cached schemas, each source a 1-element JSON text, as IPNWB stores them."""
        root = self.h5.create_group("specifications")
        for source in sorted(SPECIFICATIONS.glob("*/*/*.json")):
            namespace, version = source.parent.parent.name, source.parent.name
            group = root.require_group(f"{namespace}/{version}")
            self.text(group, source.stem, source.read_text())
        self.h5.attrs.create(".specloc", root.ref, dtype=h5py.ref_dtype)


def threshold_times(peak_times: Sequence[float], stimulus_start: float, rate: float, rise_s: float = 5e-4) -> np.ndarray:
    """Onsets (peaks less ``traces``' upstroke; IPFX's threshold within a sample), in s from IPFX's "experiment" epoch
    (0.5 s before the stimulus at ``stimulus_start`` s), as IPFX's pipeline aligned a sweep before detecting spikes."""
    return np.asarray(peak_times, float) - (max(1, round(rise_s * rate)) + round(stimulus_start * rate) - int(rate / 2)) / rate


def _sample_chunk(samples: int) -> int:
    return SAMPLE_CHUNK if samples > SAMPLE_CHUNK else SMALL_CHUNK


def _compressed(chunk: int, ndim: int = 1) -> dict[str, object]:
    """IPNWB's chunked compression: ``chunk`` per dimension, gzip level 3 with shuffle, unlimited."""
    return {
        "chunks": (chunk,) * ndim,
        "compression": "gzip",
        "compression_opts": 3,
        "shuffle": True,
        "maxshape": (None,) * ndim,
    }
