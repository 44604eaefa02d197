"""Synthetic Patch-seq NWB files written by pynwb with its defaults: the layout variant that is not MIES'.

The release's files were written by MIES (see ``mies``): chunked and
compressed data, a lab notebook, 1-element arrays, text as bytes. This
writer makes the same series, sweep table and ``generated_by`` with pynwb's
defaults instead (contiguous data, scalar values, no lab notebook), so that
readers can be checked on both. The physiology is ``physiology``'s.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import h5py
import numpy as np
from pynwb import NWBHDF5IO, NWBFile
from pynwb.file import Subject
from pynwb.icephys import (
    CurrentClampSeries,
    CurrentClampStimulusSeries,
    IntracellularElectrode,
    IZeroClampSeries,
    PatchClampSeries,
    SweepTable,
    VoltageClampSeries,
    VoltageClampStimulusSeries,
)

from .physiology import (
    CURRENT_CLAMP,
    INTER_SWEEP_INTERVAL_S,
    IZERO,
    RESPONSE_GAIN,
    STIMULUS_GAIN,
    VOLTAGE_CLAMP,
    CellSpec,
    SweepSpec,
    SweepSummary,
    WrittenCell,
    check_unique_numbers,
    default_sweeps,
)
from .traces import Traces, summarize, synthesize

DEVICE_NAME = "ITC18USB_Dev_0"
ELECTRODE_NAME = "electrode_0"
INSTITUTION = "Allen Institute for Brain Science"
DEFAULT_SESSION_START = datetime(2019, 3, 21, 10, 15, tzinfo=timezone(timedelta(hours=-7)))
GENERATED_BY = (("Package", "MIES"), ("Version", "synthetic"), ("Writer", "patchseq_intake.testing.nwb"))
IZERO_DESCRIPTION = "N/A"  # pynwb writes no other stimulus_description on an IZeroClampSeries

_MILLI = 1e-3
_PICO = 1e-12


def write_cell_nwb(
    path: str | os.PathLike,
    *,
    specimen_id: int,
    session_id: int,
    subject_id: int | str,
    sweeps: Sequence[SweepSpec] | None = None,
    cell: CellSpec = CellSpec(),
    seed: int = 0,
    session_start_time: datetime = DEFAULT_SESSION_START,
) -> WrittenCell:
    """Write one cell's synthetic NWB file to ``path`` with pynwb and describe what it holds."""
    specs = list(default_sweeps() if sweeps is None else sweeps)
    check_unique_numbers(specs)
    nwbfile = _new_file(specimen_id, session_id, str(subject_id), session_start_time)
    electrode = _add_electrode(nwbfile)
    summaries, written = [], []
    starting_time = 0.0
    for spec in specs:
        traces = synthesize(spec, cell, np.random.default_rng((seed, spec.sweep_number)))
        response, stimulus = _series(spec, cell, electrode, starting_time, traces)
        nwbfile.add_acquisition(response)
        written.append(response)
        if stimulus is not None:
            nwbfile.add_stimulus(stimulus)
            written.append(stimulus)
        summaries.append(_summary(spec, cell, starting_time, traces))
        starting_time += spec.duration + INTER_SWEEP_INTERVAL_S
    nwbfile.sweep_table = _legacy_sweep_table(written)
    path = Path(path)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    _add_generated_by(path)
    return WrittenCell.of_file(
        path, specimen_id=specimen_id, session_id=session_id, subject_id=subject_id, cell=cell, sweeps=summaries
    )


def _new_file(specimen_id: int, session_id: int, subject_id: str, start: datetime) -> NWBFile:
    return NWBFile(
        session_description=f"Synthetic Patch-seq recording of specimen {specimen_id}",
        identifier=f"synthetic-{specimen_id}-{session_id}",
        session_start_time=start,
        institution=INSTITUTION,
        session_id=str(session_id),
        subject=Subject(subject_id=subject_id),
    )


def _add_electrode(nwbfile: NWBFile) -> IntracellularElectrode:
    device = nwbfile.create_device(name=DEVICE_NAME)
    return nwbfile.create_icephys_electrode(name=ELECTRODE_NAME, description="Headstage 0", device=device)


def _legacy_sweep_table(series: Sequence[PatchClampSeries]) -> SweepTable:
    """The deprecated sweep table MIES writes, one row per series.

    pynwb refuses to create a ``SweepTable`` except while reading a file, so
    build it the way its reader does: in construct mode.
    """
    table = SweepTable.__new__(SweepTable, in_construct_mode=True)
    table.__init__(name="sweep_table")
    table._in_construct_mode = False
    for one in series:
        table.add_entry(one)
    return table


def _add_generated_by(path: Path) -> None:
    """MIES' ``general/generated_by``, which pynwb cannot write (it has ``was_generated_by``)."""
    with h5py.File(path, "r+") as h5:
        rows = np.array(GENERATED_BY, dtype=object)
        h5["general"].create_dataset("generated_by", data=rows, dtype=h5py.string_dtype())


def _series(
    spec: SweepSpec, cell: CellSpec, electrode: IntracellularElectrode, starting_time: float, traces: Traces
) -> tuple[PatchClampSeries, PatchClampSeries | None]:
    """The response series and the command series (None for I=0 sweeps)."""
    common = dict(
        electrode=electrode,
        rate=float(spec.sampling_rate),
        starting_time=starting_time,
        sweep_number=np.uint64(spec.sweep_number),  # pynwb's dtype
    )
    response = _response_series(spec, cell, traces.response.astype(np.float32), common)
    if spec.kind == IZERO:
        return response, None
    return response, _stimulus_series(spec, traces.command.astype(np.float32), common)


def _response_series(
    spec: SweepSpec, cell: CellSpec, data: np.ndarray, common: dict[str, object]
) -> PatchClampSeries:
    name = _name(spec, "AD")
    if spec.kind == IZERO:
        return IZeroClampSeries(name=name, data=data, gain=RESPONSE_GAIN, conversion=_MILLI, **common)
    common = dict(
        common, name=name, data=data, gain=RESPONSE_GAIN, stimulus_description=spec.stimulus_description
    )
    if spec.clamp_mode == VOLTAGE_CLAMP:
        return VoltageClampSeries(unit="amperes", conversion=_PICO, **common)
    return CurrentClampSeries(
        unit="volts",
        conversion=_MILLI,
        bias_current=float(cell.bias_current_pa),
        bridge_balance=float(cell.bridge_balance_mohm),
        **common,
    )


def _stimulus_series(spec: SweepSpec, data: np.ndarray, common: dict[str, object]) -> PatchClampSeries:
    kind, unit, conversion = {
        CURRENT_CLAMP: (CurrentClampStimulusSeries, "amperes", _PICO),
        VOLTAGE_CLAMP: (VoltageClampStimulusSeries, "volts", _MILLI),
    }[spec.clamp_mode]
    return kind(
        name=_name(spec, "DA"),
        data=data,
        unit=unit,
        conversion=conversion,
        gain=STIMULUS_GAIN,
        stimulus_description=spec.stimulus_description,
        **common,
    )


def _name(spec: SweepSpec, channel: str) -> str:
    return f"data_{spec.sweep_number:05d}_{channel}0"


def _summary(spec: SweepSpec, cell: CellSpec, starting_time: float, traces: Traces) -> SweepSummary:
    summary = summarize(spec, cell, starting_time, traces)
    izero = spec.kind == IZERO
    current_clamp = spec.clamp_mode == CURRENT_CLAMP
    return replace(
        summary,
        stimulus_code=IZERO_DESCRIPTION if izero else summary.stimulus_code,
        stimulus_description=IZERO_DESCRIPTION if izero else summary.stimulus_description,
        response_name=_name(spec, "AD"),
        stimulus_name=None if izero else _name(spec, "DA"),
        leak_pa=(0.0 if izero else cell.bias_current_pa) if current_clamp else None,
        bridge_balance_mohm=(0.0 if izero else cell.bridge_balance_mohm) if current_clamp else None,
    )
