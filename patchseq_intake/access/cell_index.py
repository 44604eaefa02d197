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
verified downloaded file, or from a stream every answer of which carried
the asset's dandi-etag; ``cell_reader`` caches no other), the file's
dandi-etag where known, and ``builder``, a digest of the code that derives
it. An index file that does not match its name, fails its own digest or
puts a piece outside the file is never trusted: it is removed, with a
warning, and built again; one derived by other code (another version of
this package) is replaced quietly.
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .. import config
from ..errors import UnknownHeadstageError
from ..nwb import h5values, labnotebook, mies_series, stimulus, sweep_table, sweeps
from ..nwb.mies_series import ambiguous_error, ambiguous_warning, recorded_sweeps
from ..nwb.sweep_table import SWEEP_DTYPES, read_sweep_table
from ..nwb.sweeps import SweepParts, no_such_sweep, sweep_parts
from . import stored_arrays
from .stored_arrays import StoredArray

if TYPE_CHECKING:
    import h5py

logger = logging.getLogger(__name__)

INDEX_SCHEMA = 2
"""Bump when the index's layout changes, so that older files are built again."""
DERIVING_MODULES = (h5values, labnotebook, mies_series, stimulus, stored_arrays, sweep_table, sweeps)
"""The modules whose code decides what an index holds, besides this one: a change to any builds indexes again."""
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
    series' path (None where they are not decoded here: such sweeps are read
    from the verified file); ``ambiguous``: by headstage, the sweeps with two
    series of a kind, and those series' paths; ``etag``: DANDI's dandi-etag
    of the file, where known.
    """

    checksum: str
    size: int
    provenance: str
    tables: dict[int, list[dict[str, Any]]]
    sweeps: dict[int, dict[int, IndexedSweep]]
    arrays: dict[str, StoredArray | None]
    ambiguous: dict[int, dict[int, list[str]]] = field(default_factory=dict)
    etag: str | None = None

    def sweep_table(self, headstage: int, label: str, warn: bool = True) -> pd.DataFrame:
        """The sweep table of ``headstage``; ``UnknownHeadstageError`` lists the headstages there are.

        Sweeps with two series of a kind are not in it: a warning names them.
        """
        if headstage not in self.tables:
            raise UnknownHeadstageError(
                f"{label} has no recording on headstage {headstage}; its headstages are {sorted(self.tables)}"
            )
        if warn and self.ambiguous.get(headstage):
            warnings.warn(ambiguous_warning(label, headstage, sorted(self.ambiguous[headstage])), stacklevel=3)
        return pd.DataFrame(self.tables[headstage], columns=list(SWEEP_DTYPES)).astype(SWEEP_DTYPES)

    def sweep(self, sweep_number: int, headstage: int, label: str) -> IndexedSweep:
        """A sweep's entry; ``UnknownSweepError`` lists the sweeps there are, ``NwbFormatError`` if ambiguous."""
        self.sweep_table(headstage, label, warn=False)  # the headstage must exist
        names = self.ambiguous.get(headstage, {}).get(sweep_number)
        if names is not None:
            raise ambiguous_error(label, (headstage, sweep_number), names)
        found = self.sweeps[headstage].get(sweep_number)
        if found is None:
            raise no_such_sweep(label, sweep_number, headstage, sorted(self.sweeps[headstage]))
        return found

    def to_json(self) -> dict[str, Any]:
        body = {
            "schema": INDEX_SCHEMA,
            "builder": builder(),
            "checksum": self.checksum,
            "size": self.size,
            "etag": self.etag,
            "provenance": self.provenance,
            "ambiguous": {str(hs): {str(n): names for n, names in by.items()} for hs, by in self.ambiguous.items()},
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
            ambiguous={int(hs): {int(n): list(names) for n, names in by.items()} for hs, by in data["ambiguous"].items()},
            etag=data["etag"],
        )


def build_index(
    h5: h5py.File, checksum: str, size: int, provenance: str, label: str, etag: str | None = None
) -> CellIndex:
    """The index of an open file: reads headers, small datasets, lab notebook columns and chunk lists."""
    recorded = recorded_sweeps(h5, label)
    tables, sweeps, arrays, ambiguous = {}, {}, {}, {}
    for headstage in recorded.headstages:
        tables[headstage] = _records(read_sweep_table(h5, headstage, label, warn=False))
        sweeps[headstage] = {}
        for number, series in recorded.of_headstage(headstage).items():
            response, stimulus = series.names()  # opened by path: names cost nothing
            sweeps[headstage][number] = IndexedSweep(sweep_parts(series), response, stimulus)
            for path in (response, stimulus):
                if path is not None and path not in arrays:
                    arrays[path] = StoredArray.of(h5[path]["data"])
    for (headstage, number), names in recorded.ambiguous.items():
        ambiguous.setdefault(headstage, {})[number] = names
    return CellIndex(checksum, size, provenance, tables, sweeps, arrays, ambiguous, etag)


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
        if not isinstance(data, dict):
            raise ValueError(f"an index is a JSON object, not {type(data).__name__}")
        body = {name: value for name, value in data.items() if name != "digest"}
        if data.get("digest") == _digest(body) and body.get("builder") != builder():
            logger.debug("index %s was derived by other code; building it again", path.name)
            path.unlink(missing_ok=True)
            return None
        trusted = (
            data.get("digest") == _digest(body)
            and body.get("schema") == INDEX_SCHEMA
            and body.get("checksum") == checksum
            and body.get("size") == size
        )
        index = CellIndex.from_json(data) if trusted else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        logger.debug("index %s unreadable: %s", path, exc)
        index = None
    if index is None or not _within(index):
        logger.warning("the cached index %s does not match its file; building it again", path.name)
        path.unlink(missing_ok=True)
        return None
    return index


def save_index(index: CellIndex) -> CellIndex:
    """Write ``index`` into the cache, atomically, once across processes; return it."""
    from ..transport.atomic import atomic_output
    from ..transport.cache import cached_file

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


@cache
def builder() -> str:
    """A digest of the source of this module and ``DERIVING_MODULES``: what derived an index."""
    digest = hashlib.sha256()
    for source in (__file__, *(module.__file__ for module in DERIVING_MODULES)):
        digest.update(Path(source).read_bytes())
    return digest.hexdigest()[:16]


def _digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
