"""What a cell's NWB file holds, derived once from its bytes and kept: the file's index.

DANDI's bytes for a checksum never change, so what is derived from them
never changes either. The index of a file holds its sweep table (per
headstage; a row per device's sweep), each sweep's parts (see ``sweeps.SweepParts``), where the
samples of each sweep's series lie (see ``stored_arrays``) and the spike
times the file holds (see ``spikes``: a few numbers a sweep, kept as they
are). With it, a sweep table or the spike times cost no request at all, and
a sweep one wave of range requests for that sweep's bytes only.

It lives in ``<cache>/index/<checksum>.v<INDEX_SCHEMA>.json``, named by
DANDI's checksum of the file, made once across processes (``cache``) and
written atomically. It records how it was built (``provenance``: from the
verified downloaded file, or from a stream every answer of which carried
the asset's dandi-etag; ``cell_reader`` caches no other), the file's
dandi-etag where known, and ``builder``, a digest of the code that derives
it. An index file that does not match its name, fails its own digest or
puts a piece outside the file (or is not a JSON object at all: truncated,
nested too deeply) is never trusted: it is removed, with a
``CacheIntegrityWarning``, and built again; one derived by other code
(another version of this package) is replaced quietly. ``index_problem``
judges an index file by itself, for ``patchseq-intake cache verify``.

Beyond the cache, an index store (``index_store``: a shared folder, a
bucket, a web server) is read where the cache has no index, and written
after the cache: its objects (``store_name``) are judged exactly as cached
indexes are, and one to trust is copied into the cache.
"""

from __future__ import annotations

import hashlib
import logging
import re
import warnings
from contextlib import suppress
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import config
from ..nwb import devices, h5values, labnotebook, mies_series, spikes, stimulus, sweep_table, sweeps
from ..nwb.devices import check_device, choose_device
from ..nwb.mies_series import ambiguous_error, ambiguous_warning, check_headstage, device_order, recorded_sweeps
from ..nwb.sweep_table import SWEEP_DTYPES, read_sweep_table
from ..nwb.sweeps import SweepParts, no_such_sweep, sweep_parts
from . import index_store, stored_arrays
from ..transport.sealed import seal, unseal
from .stored_arrays import StoredArray

if TYPE_CHECKING:
    import h5py

logger = logging.getLogger(__name__)

INDEX_SCHEMA = 4
"""Bump when the index's layout changes, so that older files are built again."""
DERIVING_MODULES = (devices, h5values, labnotebook, mies_series, spikes, stimulus, stored_arrays, sweep_table, sweeps)
"""The modules whose code decides what an index holds, besides this one: a change to any builds indexes again."""
DOWNLOADED, STREAMED = "verified download", "stream"


@dataclass(frozen=True)
class IndexedSweep:
    """A sweep in the index: its parts, the HDF5 paths of its response and stimulus, and its device."""

    parts: SweepParts
    response: str
    stimulus: str | None
    device: str | None = None

    def names(self) -> tuple[str, str | None]:
        return self.response, self.stimulus


@dataclass(frozen=True)
class Ambiguous:
    """A sweep with two series of a kind on a device (None: devices not told apart): the series' paths."""

    device: str | None
    sweep_number: int
    names: list[str]


@dataclass(frozen=True)
class CellIndex:
    """The index of one file: named by DANDI's ``checksum`` of its ``size`` bytes.

    ``tables``: the sweep table records by headstage; ``sweeps``: by
    headstage, each device's sweeps (by device, then number); ``arrays``:
    where each series' samples lie, by the series' path (None where they are
    not decoded here: such sweeps are read from the verified file);
    ``ambiguous``: by headstage, the sweeps with two series of a kind;
    ``etag``: DANDI's dandi-etag of the file, where known; ``spikes``: the
    spike times the file holds, by sweep number (s, as stored; None: the
    file holds none; see ``spikes.spike_times``).
    """

    checksum: str
    size: int
    provenance: str
    tables: dict[int, list[dict[str, Any]]]
    sweeps: dict[int, list[IndexedSweep]]
    arrays: dict[str, StoredArray | None]
    ambiguous: dict[int, list[Ambiguous]] = field(default_factory=dict)
    etag: str | None = None
    spikes: dict[int, list[float]] | None = None

    def spike_times(self, sweep_number: int) -> np.ndarray | None:
        """A sweep's spike times (float64 s, as stored); None where the file holds none for that number."""
        if self.spikes is None or sweep_number not in self.spikes:
            return None
        return np.array(self.spikes[sweep_number], dtype=np.float64)

    def sweep_table(self, headstage: int, label: str, warn: bool = True, device: str | None = None) -> pd.DataFrame:
        """The sweep table of ``headstage`` (of ``device`` only, if given).

        ``UnknownHeadstageError`` lists the headstages there are, ``InvalidQueryError`` the devices.
        Sweeps with two series of a kind on a device not told apart are not in it: a warning names them.
        """
        check_headstage(sorted(self.tables), headstage, label)
        if device is not None:
            check_device(self.devices(headstage), device, f"{label}, headstage {headstage}")
        ambiguous = sorted(
            {one.sweep_number for one in self.ambiguous.get(headstage, []) if device in (None, one.device)}
        )
        if warn and ambiguous:
            warnings.warn(ambiguous_warning(label, headstage, ambiguous), stacklevel=3)
        rows = [row for row in self.tables[headstage] if device is None or row["device"] == device]
        return pd.DataFrame(rows, columns=list(SWEEP_DTYPES)).astype(SWEEP_DTYPES)

    def devices(self, headstage: int) -> list[str | None]:
        """The devices that recorded on ``headstage``, by name (None, devices not told apart, last)."""
        found = {one.device for one in [*self.sweeps.get(headstage, []), *self.ambiguous.get(headstage, [])]}
        return sorted(found, key=device_order)

    def sweep(self, sweep_number: int, headstage: int, label: str, device: str | None = None) -> IndexedSweep:
        """A sweep's entry (of ``device``, where several recorded the number).

        ``UnknownSweepError`` lists the sweeps there are, ``NwbFormatError`` if ambiguous,
        ``DeviceChoiceError`` if several devices recorded it and none is named.
        """
        self.sweep_table(headstage, label, warn=False, device=device)  # the headstage and device must exist
        entries = self.sweeps[headstage]
        ambiguous = self.ambiguous.get(headstage, [])
        recorded_by = [one.device for one in [*entries, *ambiguous] if _number(one) == sweep_number]
        what = f"{label}: sweep {sweep_number} of headstage {headstage}"
        chosen = choose_device(recorded_by, self.devices(headstage), device, what)
        for one in ambiguous:
            if (one.device, one.sweep_number) == (chosen, sweep_number):
                raise ambiguous_error(label, (headstage, chosen, sweep_number), one.names)
        for entry in entries:
            if (entry.device, entry.parts.sweep_number) == (chosen, sweep_number):
                return entry
        numbers = sorted({entry.parts.sweep_number for entry in entries if device in (None, entry.device)})
        raise no_such_sweep(label, sweep_number, headstage, numbers, device)

    def sealed(self) -> bytes:
        """The index as it is kept: sealed JSON (``transport.sealed``), UTF-8."""
        return seal(self.to_json()).encode()

    def to_json(self) -> dict[str, Any]:
        body = {
            "schema": INDEX_SCHEMA,
            "builder": builder(),
            "checksum": self.checksum,
            "size": self.size,
            "etag": self.etag,
            "provenance": self.provenance,
            "ambiguous": {
                str(hs): [[one.device, one.sweep_number, one.names] for one in found]
                for hs, found in self.ambiguous.items()
            },
            "tables": {str(hs): rows for hs, rows in self.tables.items()},
            "sweeps": {
                str(hs): [[s.parts.to_json(), s.response, s.stimulus, s.device] for s in sweeps]
                for hs, sweeps in self.sweeps.items()
            },
            "arrays": {path: array.to_json() if array else None for path, array in self.arrays.items()},
            "spikes": None if self.spikes is None else {str(n): times for n, times in self.spikes.items()},
        }
        return body

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CellIndex:
        sweeps = {
            int(hs): [IndexedSweep(SweepParts.from_json(parts), response, stimulus, device)
                      for parts, response, stimulus, device in entries]
            for hs, entries in data["sweeps"].items()
        }
        return cls(
            checksum=data["checksum"],
            size=int(data["size"]),
            provenance=data["provenance"],
            tables={int(hs): rows for hs, rows in data["tables"].items()},
            sweeps=sweeps,
            arrays={path: StoredArray.from_json(array) if array else None for path, array in data["arrays"].items()},
            ambiguous={
                int(hs): [Ambiguous(device, int(number), list(names)) for device, number, names in found]
                for hs, found in data["ambiguous"].items()
            },
            etag=data["etag"],
            spikes=None if data["spikes"] is None else {int(n): list(times) for n, times in data["spikes"].items()},
        )


def _number(entry: IndexedSweep | Ambiguous) -> int:
    return entry.parts.sweep_number if isinstance(entry, IndexedSweep) else entry.sweep_number


def build_index(
    h5: h5py.File, checksum: str, size: int, provenance: str, label: str, etag: str | None = None
) -> CellIndex:
    """The index of an open file: reads headers, small datasets, lab notebook columns, chunk lists, spike times."""
    recorded = recorded_sweeps(h5, label)
    tables, sweeps, arrays, ambiguous = {}, {}, {}, {}
    for headstage in recorded.headstages:
        tables[headstage] = _records(read_sweep_table(h5, headstage, label, warn=False))
        sweeps[headstage] = []
        for series in recorded.of_headstage(headstage):
            response, stimulus = series.names()  # opened by path: names cost nothing
            sweeps[headstage].append(IndexedSweep(sweep_parts(series), response, stimulus, series.device))
            for path in (response, stimulus):
                if path is not None and path not in arrays:
                    arrays[path] = StoredArray.of(h5[path]["data"])
    for (headstage, device, number), names in recorded.ambiguous.items():
        ambiguous.setdefault(headstage, []).append(Ambiguous(device, number, names))
    found = spikes.spike_times(h5, label)
    times = None if found is None else {number: [float(t) for t in one] for number, one in found.items()}
    return CellIndex(checksum, size, provenance, tables, sweeps, arrays, ambiguous, etag, times)


def index_path(checksum: str) -> Path:
    """Where the cache keeps the index of the file with DANDI's ``checksum``."""
    return config.cache_dir() / config.INDEX_DIR / f"{checksum}.v{INDEX_SCHEMA}.json"


def load_index(checksum: str, size: int, store: str | None = None) -> CellIndex | None:
    """The index of that file, if there is one to trust: in the cache, else in the index store.

    One in the cache that is not to be trusted (``index_problem``) is removed with a ``CacheIntegrityWarning``;
    one derived by other code is removed quietly (left, in a cache that cannot be written). Then the index store
    (``store``; None: the one in force, see ``index_store.in_force``) is asked: its object is judged as a cached
    index is; one to trust is copied into the cache (the next look costs no request), one that is not is warned
    of once (``index_store.distrusted``) and left for the caller's ``save_index`` to replace. None: build it.
    """
    from ..transport.verified import discard

    path = index_path(checksum)
    if path.exists():
        index, problem = _examine(path, checksum, size)
        if problem is None:
            return index
        if problem == OTHER_CODE:
            logger.debug("index %s was derived by other code; building it again", path.name)
            with suppress(OSError):  # a read-only cache keeps it: the index built again is used in memory
                path.unlink(missing_ok=True)
        else:
            discard(path, f"this index of an NWB file does not match its file ({problem})")
    url = index_store.in_force(store)
    return None if url is None else _from_store(url, checksum, size)


def _from_store(url: str, checksum: str, size: int) -> CellIndex | None:
    """The index of that file in the store at ``url``, judged; kept in the cache too. None if none to trust."""
    name = store_name(checksum)
    raw = index_store.fetch(url, name)
    if raw is None:
        return None
    index, problem = judge(raw, checksum, size)
    if problem is not None:
        index_store.distrusted(url, name, problem)
        return None
    _keep_in_cache(checksum, raw)
    return index


def store_name(checksum: str) -> str:
    """The name of the index of the file with DANDI's ``checksum`` in an index store: with the schema and the
    deriving code's digest, so that indexes of other versions of the package stand beside it."""
    return f"{checksum}.v{INDEX_SCHEMA}.{builder()}.json"


def index_problem(path: Path) -> str | None:
    """What is wrong with the index file at ``path``, judged by its own digest and its name; None if nothing.

    For ``patchseq-intake cache verify``: an index derived by other code counts as sound (it is replaced
    quietly when next used); a file not named as this package names its indexes is a problem.
    """
    named = re.fullmatch(rf"(?P<checksum>[0-9a-f]{{32,64}}(?:-\d+)?)\.v{INDEX_SCHEMA}\.json", path.name)
    if named is None:
        return f"not named <checksum>.v{INDEX_SCHEMA}.json"
    problem = _examine(path, named["checksum"], None)[1]
    return None if problem == OTHER_CODE else problem


OTHER_CODE = "derived by other code"


def _examine(path: Path, checksum: str, size: int | None) -> tuple[CellIndex | None, str | None]:
    """The index in the file at ``path`` and None, or None and what is wrong with it (see ``judge``)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, f"unreadable: {exc}"
    return judge(raw, checksum, size)


def judge(raw: bytes, checksum: str, size: int | None) -> tuple[CellIndex | None, str | None]:
    """The index in ``raw`` (a sealed index's bytes) and None, or None and what is wrong with it (``OTHER_CODE``
    if only that).

    It must be a JSON object whose digest is of the rest, of this ``INDEX_SCHEMA``, of the file with this
    ``checksum`` and ``size`` (None: any), each stored piece inside the file.
    """
    try:
        body = unseal(raw)
    except ValueError as exc:
        return None, f"it {exc}"
    try:
        if body.get("builder") != builder():
            return None, OTHER_CODE
        if (body.get("schema"), body.get("checksum")) != (INDEX_SCHEMA, checksum):
            return None, f"not an index of schema {INDEX_SCHEMA} of the file with checksum {checksum}"
        if size is not None and body.get("size") != size:
            return None, f"an index of a file of {body.get('size')} bytes, not {size}"
        index = CellIndex.from_json(body)
        if not _within(index):
            return None, "a stored piece lies outside the file"
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return None, f"unreadable: {type(exc).__name__}: {exc}"
    return index, None


def save_index(index: CellIndex, store: str | None = None) -> CellIndex:
    """Write ``index`` into the cache (atomically, once across processes), then into the index store; return it.

    ``store``: the store's URL (None: the one in force, see ``index_store.in_force``), written whole or not at
    all, replacing what it held. A cache that cannot be written (read-only, full: a ``CacheError``) does not
    stop the read that built the index: it is used for this process, and a warning naming the cache says so
    once a process (the index is built again by the next process); a store that cannot be written is said
    once too (``index_store.keep``).
    """
    text = index.sealed()
    _keep_in_cache(index.checksum, text)
    url = index_store.in_force(store)
    if url is not None:
        index_store.keep(url, store_name(index.checksum), text)
    return index


def _keep_in_cache(checksum: str, text: bytes) -> None:
    """Write a sealed index's ``text`` as the cached index of that file, unless there is one (see ``save_index``)."""
    from ..errors import CacheError, caller_stacklevel
    from ..transport.atomic import atomic_output
    from ..transport.cache import cached_file

    def write(dest: Path) -> None:
        with atomic_output(dest) as partial:
            partial.write_bytes(text)

    global _unsaved_said
    try:
        cached_file(index_path(checksum), write)
    except CacheError as exc:
        if not _unsaved_said:
            warnings.warn(f"a file's index is kept in memory only, as the cache cannot be written: {exc}",
                          stacklevel=caller_stacklevel())
        _unsaved_said = True


_unsaved_said = False
"""Whether this process has said that an index could not be written into the cache (said once)."""


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """A sweep table as JSON-safe records, every float whole: missing values as None."""
    rows = table.astype(object).where(table.notna(), None).to_dict(orient="records")
    return [{name: value.item() if hasattr(value, "item") else value for name, value in row.items()} for row in rows]


def _within(index: CellIndex) -> bool:
    """Every stored piece lies inside the file."""
    return all(
        0 <= offset and offset + size <= index.size
        for array in index.arrays.values()
        if array is not None
        for offset, size in array.ranges()
    )


@cache
def builder() -> str:
    """A digest of the source of this module and ``DERIVING_MODULES``: what derived an index."""
    digest = hashlib.sha256()
    for source in (__file__, *(module.__file__ for module in DERIVING_MODULES)):
        digest.update(Path(source).read_bytes())
    return digest.hexdigest()[:16]
