"""What a cell's NWB file holds, derived once from its bytes and kept: the file's index.

DANDI's bytes for a checksum never change, so what is derived from them
never changes either. The index of a file holds its sweep table (per
headstage), each sweep's parts (see ``sweeps.SweepParts``) and where the
samples of each sweep's series lie (see ``stored_arrays``). With it, a
sweep table costs no request at all, and a sweep one wave of range
requests for that sweep's bytes only.

It lives in ``<cache>/index/<checksum>.v<INDEX_SCHEMA>.json``, named by
DANDI's checksum of the file, made once across processes (``cache``) and
written atomically. It records how it was built (``provenance``: from the
verified downloaded file, or from a stream whose answers were checked
against DANDI's size and dandi-etag). An index file that is not what this
version writes, does not match its name, or fails its own digest is never
trusted: it is removed and built again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from . import config
from .errors import UnknownHeadstageError
from .mies_series import recorded_sweeps
from .stored_arrays import StoredArray
from .sweep_table import SWEEP_DTYPES, read_sweep_table
from .sweeps import SweepParts, no_such_sweep, sweep_parts

if TYPE_CHECKING:
    import h5py

logger = logging.getLogger(__name__)

INDEX_SCHEMA = 1
"""Bump when the index's content changes, so that older files are built again."""
DOWNLOADED, STREAMED = "verified download", "stream"


@dataclass(frozen=True)
class IndexedSweep:
    """A sweep in the index: its parts and the HDF5 paths of its response and stimulus."""

    parts: SweepParts
    response: str
    stimulus: str | None

    def names(self) -> tuple[str, str | None]:
        return self.response, self.stimulus


@dataclass(frozen=True)
class CellIndex:
    """The index of one file: named by DANDI's ``checksum`` of its ``size`` bytes.

    ``tables``: the sweep table records by headstage; ``sweeps``: by headstage
    and sweep number; ``arrays``: where each series' samples lie, by the
    series' path (None where h5py must read them).
    """

    checksum: str
    size: int
    provenance: str
    tables: dict[int, list[dict[str, Any]]]
    sweeps: dict[int, dict[int, IndexedSweep]]
    arrays: dict[str, StoredArray | None]

    def sweep_table(self, headstage: int, label: str) -> pd.DataFrame:
        """The sweep table of ``headstage``; ``UnknownHeadstageError`` lists the headstages there are."""
        if headstage not in self.tables:
            raise UnknownHeadstageError(
                f"{label} has no recording on headstage {headstage}; its headstages are {sorted(self.tables)}"
            )
        return pd.DataFrame(self.tables[headstage], columns=list(SWEEP_DTYPES)).astype(SWEEP_DTYPES)

    def sweep(self, sweep_number: int, headstage: int, label: str) -> IndexedSweep:
        """A sweep's entry; ``UnknownSweepError`` lists the sweeps there are."""
        self.sweep_table(headstage, label)  # the headstage must exist
        found = self.sweeps[headstage].get(sweep_number)
        if found is None:
            raise no_such_sweep(label, sweep_number, headstage, sorted(self.sweeps[headstage]))
        return found

    def to_json(self) -> dict[str, Any]:
        body = {
            "schema": INDEX_SCHEMA,
            "checksum": self.checksum,
            "size": self.size,
            "provenance": self.provenance,
            "tables": {str(hs): rows for hs, rows in self.tables.items()},
            "sweeps": {
                str(hs): {str(n): [s.parts.to_json(), s.response, s.stimulus] for n, s in sweeps.items()}
                for hs, sweeps in self.sweeps.items()
            },
            "arrays": {path: array.to_json() if array else None for path, array in self.arrays.items()},
        }
        return {**body, "digest": _digest(body)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CellIndex:
        sweeps = {
            int(hs): {int(n): IndexedSweep(SweepParts.from_json(parts), response, stimulus)
                      for n, (parts, response, stimulus) in by_number.items()}
            for hs, by_number in data["sweeps"].items()
        }
        return cls(
            checksum=data["checksum"],
            size=int(data["size"]),
            provenance=data["provenance"],
            tables={int(hs): rows for hs, rows in data["tables"].items()},
            sweeps=sweeps,
            arrays={path: StoredArray.from_json(array) if array else None for path, array in data["arrays"].items()},
        )


def build_index(h5: h5py.File, checksum: str, size: int, provenance: str, label: str) -> CellIndex:
    """The index of an open file: reads headers, small datasets, lab notebook columns and chunk lists."""
    recorded = recorded_sweeps(h5, label)
    tables, sweeps, arrays = {}, {}, {}
    for headstage in recorded.headstages:
        tables[headstage] = _records(read_sweep_table(h5, headstage, label))
        sweeps[headstage] = {}
        for number, series in recorded.of_headstage(headstage).items():
            response, stimulus = series.names()  # opened by path: names cost nothing
            sweeps[headstage][number] = IndexedSweep(sweep_parts(series), response, stimulus)
            for path in (response, stimulus):
                if path is not None and path not in arrays:
                    arrays[path] = StoredArray.of(h5[path]["data"])
    return CellIndex(checksum, size, provenance, tables, sweeps, arrays)


def index_path(checksum: str) -> Path:
    """Where the cache keeps the index of the file with DANDI's ``checksum``."""
    return config.cache_dir() / config.INDEX_DIR / f"{checksum}.v{INDEX_SCHEMA}.json"


def load_index(checksum: str, size: int) -> CellIndex | None:
    """The cached index of that file, if there is one to trust; one that is not is removed."""
    path = index_path(checksum)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
        body = {name: value for name, value in data.items() if name != "digest"}
        trusted = (
            data.get("digest") == _digest(body)
            and body.get("schema") == INDEX_SCHEMA
            and body.get("checksum") == checksum
            and body.get("size") == size
        )
        index = CellIndex.from_json(data) if trusted else None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        logger.debug("index %s unreadable: %s", path, exc)
        index = None
    if index is None or not _within(index):
        logger.warning("the cached index %s does not match its file; building it again", path.name)
        path.unlink(missing_ok=True)
        return None
    return index


def save_index(index: CellIndex) -> CellIndex:
    """Write ``index`` into the cache, atomically, once across processes; return it."""
    from .atomic import atomic_output
    from .cache import cached_file

    def write(dest: Path) -> None:
        with atomic_output(dest) as partial:
            partial.write_text(json.dumps(index.to_json(), separators=(",", ":")))

    cached_file(index_path(index.checksum), write)
    return index


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


def _digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
