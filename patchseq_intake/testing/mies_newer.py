"""Synthetic Patch-seq NWB files as later MIES versions write them, and variants no known MIES writes.

``mies`` writes the release's layout (MIES 2.0 under Igor Pro 8, 2020). The
Allen Institute's later dandisets hold files of that same 2020 export and
files MIES wrote later; ``write_newer_mies_nwb`` writes the same cell in a
later MIES' layout, ``era`` one of ``ERAS``:

- ``"2.6"``: MIES 2.6 under Igor Pro 9 (2022-2023), as the MIES repository's
  own test file of May 2023 (``Packages/tests/Basic/AB_SweepsFromMultipleDevices-
  compressed-V2.nwb``, opened with h5py) holds it: text attributes, ``nwb_version``
  ``2.2.4`` among them, as fixed-length byte strings, superblock 2 and
  version-2 object headers (``mies``' ``newer_mies``); ``generated_by`` of 8
  rows (with ``Program Build Version``, ``HDF5 Library Version``, ``Sweep
  Epoch Version``); lab notebook keys of 6 rows (name, unit, tolerance,
  description, headstage contingency, clamp modes: MIES 2.5 and later), units
  such as ``MΩ``, values not padded to a power of two rows; ``/intervals/epochs``
  (MIES 2.3 and later: a ``TimeIntervals`` table with ``tags`` and
  ``timeseries`` indexed, ``treelevel``, one row per epoch of each stimulus
  series); ``/general/results`` (MIES 2.4 and later);
- ``"3.0"``: MIES 3.0 (2026): the same, with ``nwb_version`` ``2.9.0`` and
  text attributes variable-length again (IPNWB since September 2024), and no
  ``intracellular_ephys/filtering`` (IPNWB since August 2025). Its cached
  schemas stay ``mies``' (core 2.2.4): an assumption of no consequence to the
  readers, which take their own schemas.

The sweeps, series, sweep table and notebook values are ``mies``' own: a
reader must give exactly the sweep table and sweeps of the 2020 layout.

``make_unknown`` turns a written file into one of ``UNKNOWN``: what no MIES
is known to write and a reader must refuse, naming it.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

import h5py
import numpy as np

from .mies import GENERATED_BY, MiesLayout, _compressed, _Writer, write_mies_nwb
from .physiology import SweepSpec, WrittenCell, default_sweeps

ERAS = ("2.6", "3.0")
PACKAGE_VERSIONS = {
    "2.6": ("9.0.2.4", "39951", "Release_2.6_20220606-1030-g463fea9a8\nDate and time of last commit: "
            "2023-05-15T23:15:28+02:00", "69", "1.10.7", "7"),
    "3.0": ("10.0.1.0", "56565", "Release_3.0_20260715\nDate and time of last commit: 2026-07-15T12:00:00+02:00",
            "85", "1.14.5", "10"),
}
"""Per era: Igor Pro's version and build, MIES', the labnotebook version, HDF5's, the sweep epoch version
(2.6: the MIES test file's; 3.0: MIES 3.0's labnotebook version, the rest made up)."""
NWB_VERSIONS = {"2.6": "2.2.4", "3.0": "2.9.0"}
KEY_ROWS = ("description", "headstage contingency", "clamp modes")
"""The rows MIES 2.5 added to the notebook's keys, below name, unit and tolerance."""
DESCRIPTIONS = {
    "SweepNum": "Sweep number: Non-repeating non-negative numeric identifier for sweep time series.",
    "Set Sweep Count": "Non-negative sweep (timeseries)  index for the stimulus set.",
    "Scale Factor": "Gain scale factor (for Alpha == 1) of primary output signal",
}
OHMS = {"MOhm": "MΩ"}
"""Units MIES renamed in its notebook (labnotebook version 54 and later)."""
EPOCH_COLUMNS = {
    "start_time": "Start time of epoch, in seconds", "stop_time": "Stop time of epoch, in seconds",
    "tags": "user-defined tags", "timeseries": "index into a TimeSeries object", "treelevel": "Tree Level",
}
"""The epochs table's columns, in its ``colnames`` order, and their descriptions, as the MIES test file has them."""
UNKNOWN = (
    "nwb_version 3",
    "command in a.u.",
    "response in amperes in current clamp",
    "notebook without SweepNum",
    "notebook of two dimensions",
    "notebook without numerical datasets",
)
"""What ``make_unknown`` writes: no MIES is known to write any of these (see its docstring)."""


def write_newer_mies_nwb(
    path: str | os.PathLike,
    *,
    era: str = "2.6",
    specimen_id: int,
    session_id: int,
    subject_id: int | str,
    sweeps: list[SweepSpec] | None = None,
    layout: MiesLayout = MiesLayout(),
    **options: Any,
) -> WrittenCell:
    """Write one cell as MIES ``era`` (see ``ERAS``) writes it: ``mies``' cell, in the later layout.

    ``layout``'s variants apply (its ``newer_mies`` is the era's); ``options``
    go to ``mies.write_mies_nwb`` (``cell``, ``seed``).
    """
    if era not in ERAS:
        raise ValueError(f"era must be one of {ERAS}, not {era!r}")
    specs = list(default_sweeps() if sweeps is None else sweeps)
    layout = replace(layout, newer_mies=era == "2.6")
    written = write_mies_nwb(path, specimen_id=specimen_id, session_id=session_id, subject_id=subject_id,
                             sweeps=specs, layout=layout, **options)
    with h5py.File(written.path, "r+") as h5:
        writer = _Writer(h5, layout)
        writer.text_attr(h5, "nwb_version", NWB_VERSIONS[era])
        _generated_by(writer, era)
        for device in h5["general/labnotebook"].values():
            _six_row_keys(writer, device)
        _epochs(writer, {spec.sweep_number: spec for spec in specs})
        _results(writer)
        if era == "3.0":
            del h5["general/intracellular_ephys/filtering"]
    return replace(written, size=Path(written.path).stat().st_size)


def _generated_by(writer: _Writer, era: str) -> None:
    """MIES 2.2 and later: 8 rows (Igor's build, HDF5's version, the sweep epoch version)."""
    igor, build, mies, notebook, hdf5, epochs = PACKAGE_VERSIONS[era]
    rows = dict(GENERATED_BY) | {
        "Program Version": igor, "Program Build Version": build, "Package Version": mies,
        "Labnotebook Version": notebook, "HDF5 Library Version": hdf5, "Sweep Epoch Version": epochs,
    }
    order = ("Program", "Program Version", "Program Build Version", "Package", "Package Version",
             "Labnotebook Version", "HDF5 Library Version", "Sweep Epoch Version")
    general = writer.h5["general"]
    del general["generated_by"]
    table = writer.text(general, "generated_by", [[name, rows[name]] for name in order])
    writer.typed(table, "GeneratedBy", "ndx-mies")


def _six_row_keys(writer: _Writer, device: h5py.Group) -> None:
    """Keys of 6 rows, renamed units; values trimmed to their used rows (MIES' ``RemoveUnusedRows``)."""
    for keys_name, values_name in (("numericalKeys", "numericalValues"), ("textualKeys", "textualValues")):
        keys = np.array([[_text(one) for one in row] for row in device[keys_name][()]], dtype=object)
        keys[1] = [OHMS.get(unit, unit) for unit in keys[1]]
        extra = [[DESCRIPTIONS.get(name, "") for name in keys[0]], ["ALL"] * keys.shape[1], [""] * keys.shape[1]]
        values = device[values_name][()]
        used = ~np.isnan(values) if values.dtype != object else np.frompyfunc(len, 1, 1)(values).astype(bool)
        rows = int(np.flatnonzero(used.any(axis=(1, 2)))[-1]) + 1 if used.any() else 1
        kinds = {name: _text(device[name].attrs["neurodata_type"]) for name in (keys_name, values_name)}
        for name in (keys_name, values_name):
            del device[name]
        _stored(writer, device, keys_name, np.vstack([keys, np.array(extra, dtype=object)]), kinds[keys_name])
        _stored(writer, device, values_name, values[:rows], kinds[values_name])


class _Epoch(NamedTuple):
    """A row of the epochs table: its times (s in the session), tags, series and samples in it."""

    start: float
    stop: float
    tags: tuple[str, ...]
    series: h5py.Group
    first_sample: int
    samples: int


def _epochs(writer: _Writer, specs: dict[int, SweepSpec]) -> None:
    """``/intervals/epochs`` as IPNWB writes it: per stimulus series its test pulse and its stimset (tree level 0)."""
    h5 = writer.h5
    rows = []
    for series in h5["stimulus/presentation"].values():
        spec = specs.get(int(series.attrs.get("sweep_number", -1)))
        if spec is None or _text(series.attrs["neurodata_type"]) == "TimeSeries":
            continue
        start, rate = float(series["starting_time"][0]), float(series["starting_time"].attrs["rate"])
        pulse = round((2 * spec.epochs.test_pulse_start + spec.epochs.test_pulse_width) * rate)
        length = series["data"].shape[0]
        rows.append(_Epoch(start, start + pulse / rate, ("Type=Inserted Testpulse", "ShortName=TP"), series, 0, pulse))
        rows.append(_Epoch(start + pulse / rate, start + length / rate, ("Type=Stimset", "ShortName=ST"), series,
                           pulse, length - pulse))
    table = writer.typed(h5.create_group("intervals/epochs"), "TimeIntervals")
    writer.text_attr(table, "description", "experimental epochs")
    table.attrs.create("colnames", np.array(list(EPOCH_COLUMNS), dtype=object), dtype=h5py.string_dtype())
    columns = {
        "id": (np.arange(1, len(rows) + 1, dtype=np.int32), "ElementIdentifiers"),
        "start_time": (np.array([row.start for row in rows]), "VectorData"),
        "stop_time": (np.array([row.stop for row in rows]), "VectorData"),
        "treelevel": (np.zeros(len(rows)), "VectorData"),
        "tags_index": (np.cumsum([len(row.tags) for row in rows]).astype(np.int32), "VectorIndex"),
        "tags": (np.array([tag for row in rows for tag in row.tags], dtype=object), "VectorData"),
        "timeseries_index": (np.arange(1, len(rows) + 1, dtype=np.int32), "VectorIndex"),
    }
    for name, (data, kind) in columns.items():
        dataset = _stored(writer, table, name, data, kind, "hdmf-common")
        if name in EPOCH_COLUMNS:
            writer.text_attr(dataset, "description", EPOCH_COLUMNS[name])
    compound = np.dtype([("idx_start", "<i4"), ("count", "<i4"), ("timeseries", h5py.ref_dtype)])
    refs = np.array([(row.first_sample, row.samples, row.series.ref) for row in rows], compound)
    series = writer.typed(table.create_dataset("timeseries", data=refs, chunks=(1,), maxshape=(None,)), "VectorData",
                          "hdmf-common")
    writer.text_attr(series, "description", EPOCH_COLUMNS["timeseries"])
    for name, target in (("tags_index", "tags"), ("timeseries_index", "timeseries")):
        table[name].attrs.create("target", table[target].ref, dtype=h5py.ref_dtype)


def _results(writer: _Writer) -> None:
    """``/general/results``: the results notebook (analysis functions' results), here one empty row."""
    results = writer.typed(writer.h5.create_group("general/results"), "Results", "ndx-mies")
    keys = np.array([["SweepNum", "TimeStamp", "TimeStampSinceIgorEpochUTC", "EntrySourceType", "AcquisitionState"],
                     [""] * 5, ["-"] * 5], dtype=object)
    for prefix, values in (("numerical", np.full((1, 5, 9), np.nan)), ("textual", np.full((1, 5, 9), "", object))):
        kind = f"Results{prefix.capitalize()}"
        _stored(writer, results, f"{prefix}ResultsKeys", keys, f"{kind}Keys")
        _stored(writer, results, f"{prefix}ResultsValues", values, f"{kind}Values")


def _stored(
    writer: _Writer, parent: h5py.Group, name: str, data: np.ndarray, kind: str, namespace: str = "ndx-mies"
) -> h5py.Dataset:
    """A dataset as IPNWB stores one (chunked 32, compressed; text variable-length), of ``kind``."""
    dtype = h5py.string_dtype() if data.dtype == object else data.dtype
    return writer.typed(parent.create_dataset(name, data=data, dtype=dtype, **_compressed(32, data.ndim)), kind,
                        namespace)


def make_unknown(path: str | os.PathLike, variant: str) -> str:
    """Change the file at ``path`` into ``variant`` (one of ``UNKNOWN``); the name the reader's error must give.

    - ``nwb_version 3``: a root ``nwb_version`` of ``3.0.0`` (no NWB 3 exists);
    - ``command in a.u.``: the first current clamp stimulus series' unit
      ``a.u.`` (what IPNWB writes for a wave without a unit), conversion 1;
    - ``response in amperes in current clamp``: the first current clamp
      response's unit ``amperes``;
    - ``notebook without SweepNum``: its key renamed ``Sweep Number``;
    - ``notebook of two dimensions``: ``numericalValues`` as rows x N (its first layer);
    - ``notebook without numerical datasets``: ``numericalKeys`` and ``numericalValues`` removed.
    """
    with h5py.File(path, "r+") as h5:
        if variant == "nwb_version 3":
            h5.attrs["nwb_version"] = "3.0.0"
            return "'3.0.0'"
        if variant in ("command in a.u.", "response in amperes in current clamp"):
            command = variant == "command in a.u."
            parent, kind = ("stimulus/presentation", "CurrentClampStimulusSeries") if command else (
                "acquisition", "CurrentClampSeries")
            series = next(one for one in h5[parent].values() if _text(one.attrs["neurodata_type"]) == kind)
            series["data"].attrs["unit"] = "a.u." if command else "amperes"
            if command:
                series["data"].attrs["conversion"] = np.float32(1.0)
            return series.name
        device = next(iter(h5["general/labnotebook"].values()))
        if variant == "notebook without SweepNum":
            keys = device["numericalKeys"]
            names = [_text(name) for name in keys[0]]
            keys[0, names.index("SweepNum")] = "Sweep Number"
            return "'SweepNum'"
        if variant == "notebook of two dimensions":
            first = device["numericalValues"][:, :, 0]
            del device["numericalValues"]
            device.create_dataset("numericalValues", data=first)
            return f"numericalValues {first.shape}"
        if variant == "notebook without numerical datasets":
            del device["numericalKeys"], device["numericalValues"]
            return "not the datasets numericalKeys and numericalValues"
    raise ValueError(f"variant must be one of {UNKNOWN}, not {variant!r}")


def _text(value: object) -> str:
    return value.decode() if isinstance(value, (bytes, np.bytes_)) else str(value)
