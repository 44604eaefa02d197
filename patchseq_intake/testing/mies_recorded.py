"""The release's content written in recording order: the same files as ``mies``, objects placed as MIES places them.

``mies`` writes a file part by part (every sweep, then the sweep table,
then the notebook), so each kind of HDF5 metadata ends up in one cluster:
the friendliest case for a reader that walks the headers over HTTP. A
recording program writes as the experiment goes, and HDF5 allocates each
object where the file ends at that moment. First MIES's groups with the
notebook empty and the stimset library; then per sweep, in this order:

- the lab notebook's new rows, appended by resizing the chunked
  ``numericalValues`` and ``textualValues`` (their chunks and chunk-index
  nodes land between the sweeps' data);
- a test-pulse dataset (``testpulse/<device>/TPStorage_<n>``);
- the sweep's series;
- with ``attributes_later``, the wave notes (``@comments``,
  ``@IGORWaveNote``) and any extra attributes added once the sweep's data
  is written: the headers outgrow their first allocation, and the rest of
  their messages sit in continuation blocks further on.

Then the sweep table and, as IPFX's pipeline did, ``processing/spikes``.
What the files hold is ``mies``' (the same ``_Writer`` pieces, notebook and
physiology): readers must find the sweep table and sweeps the returned
``WrittenCell`` plants. ``RecordedLayout``'s knobs vary what changes a
header walk: header version, wave-note size, attributes per object (past 8
a version-2 header stores them densely, in a fractal heap and a B-tree),
notebook width and rows per sweep, stimsets, test-pulse and spike groups,
and the sweep count (group sizes: 60, 145, 300 sweeps change a group's
B-tree fan-out). ``recorded_sweeps`` gives a protocol of about n sweeps.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import h5py
import numpy as np

from .labnotebook import Notebook, build_notebook
from .mies import DEVICE, SMALL_CHUNK, MiesLayout, _compressed, _entries, _plan, _Planned, _summary, _Writer
from .physiology import IZERO, CellSpec, SweepSpec, WrittenCell, check_unique_numbers, default_sweeps

_LATER = ("comments", "IGORWaveNote")
"""The text attributes MIES's series carry that ``attributes_later`` adds after the sweep's data."""


@dataclass(frozen=True)
class RecordedLayout:
    """How a recorded file is placed; the defaults are a 2020 MIES file (version-1 headers) recorded sweep by sweep."""

    version2: bool = False
    """Version-2 object headers (libver ``latest``): links and attributes past 8 in dense storage, version-4 layouts."""
    attributes_later: bool = True
    """Wave notes (and ``extra_attributes``) added after each sweep's data: object-header continuation blocks."""
    note_bytes: int = 0
    """Wave notes padded with settings lines to at least this many bytes (MIES's are up to 60 000)."""
    extra_attributes: int = 0
    """More small text attributes on each series and its ``data`` (past 8 in all: dense storage on version 2)."""
    numeric_keys: int = 204
    textual_keys: int = 49
    notebook_rows: int = 0
    """More notebook rows per sweep (test-pulse results: nothing a sweep table reads)."""
    stimsets: int = 0
    """Stimsets beyond those the protocol uses, written at the start as MIES exports its whole library."""
    test_pulses: bool = True
    """A ``TPStorage_<n>`` dataset per sweep."""
    spikes: bool = True
    """IPFX's ``processing/spikes``, appended at the end."""


def recorded_sweeps(count: int, scale: float = 1.0, sampling_rate: float = 50_000.0) -> list[SweepSpec]:
    """A protocol of about ``count`` sweeps in the release's proportions (``default_sweeps``' kinds)."""
    rest = max(count - 6, 3)  # test sweeps, rheobase, I=0, a ramp
    third = rest * 3 // 8
    return default_sweeps(
        scale, sampling_rate, n_subthreshold=third, n_suprathreshold=third, n_short_square=rest - 2 * third, n_ramp=1
    )


def write_recorded_nwb(
    path: str | os.PathLike,
    *,
    specimen_id: int,
    session_id: int,
    subject_id: int | str,
    sweeps: Sequence[SweepSpec] | None = None,
    cell: CellSpec = CellSpec(),
    seed: int = 0,
    layout: RecordedLayout = RecordedLayout(),
) -> WrittenCell:
    """Write one cell's synthetic NWB file to ``path`` in recording order (see the module), and describe it."""
    specs = list(default_sweeps() if sweeps is None else sweeps)
    check_unique_numbers(specs)
    mies = MiesLayout(newer_mies=layout.version2, numeric_keys=layout.numeric_keys, textual_keys=layout.textual_keys,
                      spikes=layout.spikes)
    planned = _plan(specs, (0,), {0: cell}, seed, mies)
    notebook = build_notebook(_entries(planned, mies), mies.numeric_keys, mies.textual_keys)
    path = Path(path)
    with h5py.File(path, "w", libver=("latest", "latest") if layout.version2 else ("earliest", "v108")) as h5:
        writer = _RecordingWriter(h5, mies, layout)
        writer.file(session_id, str(subject_id), (0,))
        writer.record(planned[0], notebook)
        writer.specifications()
        if layout.spikes:
            writer.spikes(planned[0])
    return WrittenCell.of_file(
        path, specimen_id=specimen_id, session_id=session_id, subject_id=subject_id, cell=cell,
        sweeps=tuple(_summary(one, cell, mies) for one in planned[0]),
    )


class _RecordingWriter(_Writer):
    """``mies``' writer, driven sweep by sweep; some attributes held back until the sweep's data is written."""

    def __init__(self, h5: h5py.File, mies: MiesLayout, layout: RecordedLayout):
        super().__init__(h5, mies)
        self.recorded = layout
        self._held: list[tuple[h5py.HLObject, str, str]] = []

    def text_attr(self, obj: h5py.HLObject, name: str, value: str) -> None:
        if self.recorded.attributes_later and name in _LATER:
            self._held.append((obj, name, value))
        else:
            super().text_attr(obj, name, value)

    def release_attributes(self) -> None:
        """Write the attributes held back, and the extra ones, onto the objects they belong to."""
        held, self._held = self._held, []
        for obj, name, value in held:
            super().text_attr(obj, name, value)
            if name == "comments":  # once per series: its group and its data get the extra attributes
                for target in (obj, obj["data"]):
                    for n in range(self.recorded.extra_attributes):
                        super().text_attr(target, f"mies_setting_{n}", f"value {n} of a setting MIES records")

    def record(self, planned: list[_Planned], notebook: Notebook) -> None:
        """MIES's groups (the notebook empty, the stimset library), each sweep as recorded, then the sweep table."""
        specs = [one.spec for one in planned]
        library = [replace(specs[0], stimulus_code=f"LIBRARY{n:03d}") for n in range(self.recorded.stimsets)]
        empty = replace(notebook, numerical_values=notebook.numerical_values[:0],
                        textual_values=notebook.textual_values[:0])
        self.mies_groups(empty, [*library, *specs])
        device = self.h5[f"general/labnotebook/{DEVICE}"]
        numeric = _Growing(device["numericalValues"], notebook.numerical_values)
        textual = _Growing(device["textualValues"], notebook.textual_values)
        pulses = self.h5[f"general/testpulse/{DEVICE}"]
        rows: list[tuple[int, h5py.Reference]] = []
        per_sweep = 2  # ``build_notebook``: a settings row and a test-pulse row per sweep (no rollback here)
        for count, one in enumerate(planned):
            settings = notebook.numerical_values[per_sweep * count : per_sweep * (count + 1)]
            numeric.append(np.concatenate([settings, np.repeat(settings[1:], self.recorded.notebook_rows, axis=0)]))
            textual.append(notebook.textual_values[count : count + 1])
            if self.recorded.test_pulses:
                storage = pulses.create_dataset(f"TPStorage_{count}", data=np.zeros((64, 1, 20)),
                                                **_compressed(SMALL_CHUNK, 3))
                self.typed(storage, "TestpulseMetadata", "ndx-mies")
            note = _padded_note(notebook.wave_notes[(one.spec.sweep_number, 0)], self.recorded.note_bytes)
            rows.append((one.spec.sweep_number, self.response(one, note).ref))
            if one.spec.kind != IZERO:
                rows.append((one.spec.sweep_number, self.stimulus(one, note).ref))
            self.release_attributes()
        numeric.pad()
        textual.pad()
        self.sweep_table(rows)


class _Growing:
    """A notebook's ``*Values``, grown row by row as MIES appends its entries, then padded as MIES grows the wave."""

    def __init__(self, values: h5py.Dataset, planted: np.ndarray):
        self.values = values
        self.padding = planted[-1:]  # the fill of the rows past the last entry (NaN, or empty text)
        self.total = len(planted)

    def append(self, rows: np.ndarray) -> None:
        start = self.values.shape[0]
        self.values.resize(start + len(rows), axis=0)
        self.values[start:] = rows

    def pad(self) -> None:
        """Fill up to the next power of two rows (at least the ``mies`` notebook's)."""
        used = self.values.shape[0]
        total = max(self.total, 1 << (used - 1).bit_length())
        if total > used:
            self.append(np.repeat(self.padding, total - used, axis=0))


def _padded_note(note: str, least: int) -> str:
    """The wave note with lines of settings that did not change appended, up to ``least`` bytes."""
    lines = [note]
    size, n = len(note.encode()), 0
    while size < least:
        line = f"HS#0:Unchanged setting {n}: {n % 7}.00\r"
        lines.append(line)
        size, n = size + len(line), n + 1
    return "".join(lines)


def variants() -> dict[str, RecordedLayout]:
    """Named layouts that change the walk, for tests and benchmarks (each in both header versions via ``replace``)."""
    return {
        "recorded": RecordedLayout(),
        "big notes": RecordedLayout(note_bytes=8000, extra_attributes=4),
        "wide notebook": RecordedLayout(numeric_keys=311, textual_keys=56, notebook_rows=4, stimsets=8),
        "in place": RecordedLayout(attributes_later=False, test_pulses=False, spikes=False),
    }

