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
puts a piece outside the file (or is not a JSON object at all: truncated,
nested too deeply) is never trusted: it is removed, with a
``CacheIntegrityWarning``, and built again; one derived by other code
(another version of this package) is replaced quietly. ``index_problem``
judges an index file by itself, for ``patchseq-intake cache verify``.
"""

from __future__ import annotations

import hashlib
import logging
import re
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
from ..transport.sealed import seal, unseal
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
        return body

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
    """The cached index of that file, if there is one to trust.

    One that is not (``index_problem``) is removed with a ``CacheIntegrityWarning``; one derived by other
    code is removed quietly. Either is built again by the caller.
    """
    from ..transport.verified import discard

    path = index_path(checksum)
    if not path.exists():
        return None
    index, problem = _examine(path, checksum, size)
    if problem == OTHER_CODE:
        logger.debug("index %s was derived by other code; building it again", path.name)
        path.unlink(missing_ok=True)
        return None
    if problem is not None:
        discard(path, f"this index of an NWB file does not match its file ({problem})")
        return None
    return index


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
    """The index in ``path`` and None, or None and what is wrong with it (``OTHER_CODE`` if only that).

    It must be a JSON object whose digest is of the rest, of this ``INDEX_SCHEMA``, of the file with this
    ``checksum`` and ``size`` (None: any), each stored piece inside the file.
    """
    try:
        body = unseal(path.read_bytes())
    except ValueError as exc:
        return None, f"it {exc}"
    except OSError as exc:
        return None, f"unreadable: {exc}"
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


def save_index(index: CellIndex) -> CellIndex:
    """Write ``index`` into the cache, atomically, once across processes; return it."""
    from ..transport.atomic import atomic_output
    from ..transport.cache import cached_file

    def write(dest: Path) -> None:
        with atomic_output(dest) as partial:
            partial.write_text(seal(index.to_json()))

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
