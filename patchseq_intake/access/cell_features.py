"""One cell's IPFX features: read from the cache, or computed from the cell's sweeps and cached.

A result is a function of the file's bytes, IPFX's version, the
parameters and the code that feeds IPFX, so it is cached under all of
them: ``<cache>/features/<checksum>/<what>.<key>.json``, where
``checksum`` is DANDI's of the file (its SHA-256, or its dandi-etag where
DANDI gives none) and ``key`` a digest of ``result_identity``: IPFX's
version, the ``FeatureParameters``, the headstage and device, and
``deriver()`` (a digest of the package's code between the bytes and IPFX:
the readers an index is derived by, the index itself, and ``features``).
The file is a sealed JSON text (``transport.sealed``) holding that identity:
one of another IPFX version or other parameters has another name and is
never read; one whose content fails its digest or whose identity is not
the one asked for is removed with a ``CacheIntegrityWarning`` and computed
again.

Only what IPFX concluded from verified bytes is cached (its features, and
its errors on them: "no spiking short square sweeps" stays true of those
bytes). What stopped the sweeps from being read (the network, a file that
does not decode) propagates to the caller and is not cached. In ``local``
mode, and for a file DANDI gives no checksum for, nothing is cached: the
bytes are not verified against a checksum to key the result by.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pandas as pd

from .. import config
from ..features import extraction, ipfx_library
from ..features.extraction import CellFeatures, FeatureParameters, SpikeTables
from ..transport.sealed import digest_of, seal, unseal
from . import cell_index
from .cell_reader import CellReader
from .modes import Access

if TYPE_CHECKING:
    from ..dandi.nwb_files import CellFile
    from ..transport.remote_file import RemoteFile

CELL, SPIKES = "cell", "spikes"
"""What a result holds: per-cell features, or the per-sweep and per-spike tables."""
R = TypeVar("R", CellFeatures, SpikeTables)


def cell_features(
    cell: CellFile,
    access: Access,
    parameters: FeatureParameters,
    headstage: int = 0,
    device: str | None = None,
    remote: Callable[[], RemoteFile | None] = lambda: None,
) -> CellFeatures:
    """The cell's per-cell features (see ``extraction.cell_features``): cached, or computed and cached.

    Reads the cell's sweep table (through its index) and only the sweeps the
    features need (in stream mode, one wave of range requests). Errors that
    stop the sweeps from being read (``FetchError``, ``NwbFormatError``, ...)
    propagate; IPFX's own are in ``CellFeatures.errors``.
    """
    return _result(cell, access, CELL, parameters, headstage, device, remote)


def cell_spike_tables(
    cell: CellFile,
    access: Access,
    parameters: FeatureParameters,
    headstage: int = 0,
    device: str | None = None,
    remote: Callable[[], RemoteFile | None] = lambda: None,
) -> SpikeTables:
    """IPFX's per-sweep and per-spike tables of the cell (see ``extraction.spike_tables``): cached, or computed."""
    return _result(cell, access, SPIKES, parameters, headstage, device, remote)


def cached_result(
    cell: CellFile, access: Access, what: str, parameters: FeatureParameters, headstage: int, device: str | None
) -> CellFeatures | SpikeTables | None:
    """The cached result, if the cache holds one to trust; reads no sweep and makes no request."""
    path = result_path(cell, access, what, parameters, headstage, device)
    if path is None or not path.exists():
        return None
    try:
        body = unseal(path.read_bytes())
        if body.get("identity") != result_identity(what, parameters, headstage, device) or body.get("file") != _checksum(cell):
            raise ValueError("holds the result of another file, IPFX version or parameters than its name says")
        return _from_json(what, body["result"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        from ..transport.verified import discard

        discard(path, f"this cached feature result cannot be trusted ({exc})")
        return None


def result_problem(path: Path) -> str | None:
    """What is wrong with the cached result at ``path``, judged by itself (for ``patchseq-intake cache verify``).

    Its content must pass its own digest, name the file its folder is named
    by, and hold an identity whose digest its name carries; a result of
    another IPFX version or code is sound (it is never read for this one).
    """
    try:
        body = unseal(path.read_bytes())
    except ValueError as exc:
        return f"it {exc}"
    except OSError as exc:
        return f"unreadable: {exc}"
    identity = body.get("identity")
    if body.get("file") != path.parent.name:
        return f"holds the result of the file {body.get('file')}, not of {path.parent.name}"
    if not isinstance(identity, dict) or path.name != f"{identity.get('what')}.{digest_of(identity)[:24]}.json":
        return "its name is not of the identity it holds (IPFX version, parameters)"
    try:
        _from_json(identity["what"], body["result"])
    except (KeyError, TypeError, ValueError) as exc:
        return f"unreadable: {type(exc).__name__}: {exc}"
    return None


def result_path(
    cell: CellFile, access: Access, what: str, parameters: FeatureParameters, headstage: int, device: str | None
) -> Path | None:
    """Where the cache keeps this result; None where nothing is cached (``local`` mode, no checksum)."""
    if access.mode == "local" or cell.checksum is None:
        return None
    key = digest_of(result_identity(what, parameters, headstage, device))[:24]
    return config.cache_dir() / config.FEATURES_DIR / _checksum(cell) / f"{what}.{key}.json"


def result_identity(what: str, parameters: FeatureParameters, headstage: int, device: str | None) -> dict[str, Any]:
    """What a result depends on besides the file's bytes: the identity its cache file is named by and holds."""
    return {
        "what": what,
        "ipfx": ipfx_library.ipfx_version(),
        "parameters": parameters.as_dict(),
        "headstage": headstage,
        "device": device,
        "deriver": deriver(),
    }


def _result(
    cell: CellFile,
    access: Access,
    what: str,
    parameters: FeatureParameters,
    headstage: int,
    device: str | None,
    remote: Callable[[], RemoteFile | None],
) -> Any:
    found = cached_result(cell, access, what, parameters, headstage, device)
    if found is not None:
        return found
    ipfx_library.ipfx()  # IpfxMissingError naming the extra, before a module importing IPFX is imported
    from ..features.ipfx_data import package_sweeps

    reader = CellReader(cell, access, remote)
    table = reader.sweep_table(headstage, device)
    data = package_sweeps(table, lambda numbers: reader.sweeps(list(numbers), headstage, True, device), cell.label)
    result = extraction.cell_features(data, parameters) if what == CELL else extraction.spike_tables(data)
    path = result_path(cell, access, what, parameters, headstage, device)
    if path is not None:
        _save(path, {"identity": result_identity(what, parameters, headstage, device), "file": _checksum(cell),
                     "result": _to_json(result)})
    return result


def _save(path: Path, body: dict[str, Any]) -> None:
    """Write the result atomically; a cache that cannot be written costs the next call a computation, said once."""
    from ..errors import CacheError
    from ..transport.atomic import atomic_output
    from ..transport.cache import cache_errors, make_folder

    global _unsaved_said
    try:
        make_folder(path.parent)
        with cache_errors(path, "write"), atomic_output(path) as partial:
            partial.write_text(seal(body))
    except CacheError as exc:
        if not _unsaved_said:
            warnings.warn(f"features are not kept, as the cache cannot be written: {exc}", stacklevel=4)
        _unsaved_said = True


_unsaved_said = False


def _checksum(cell: CellFile) -> str:
    assert cell.checksum is not None  # result_path gives None without one
    return cell.checksum.value


def _to_json(result: CellFeatures | SpikeTables) -> dict[str, Any]:
    if isinstance(result, CellFeatures):
        return result.to_json()
    return {"sweeps": _table_json(result.sweeps), "spikes": _table_json(result.spikes), "errors": result.errors}


def _from_json(what: str, data: dict[str, Any]) -> CellFeatures | SpikeTables:
    if what == CELL:
        return CellFeatures.from_json(data)
    errors = {str(k): str(v) for k, v in data["errors"].items()}
    return SpikeTables(_table_from_json(data["sweeps"]), _table_from_json(data["spikes"]), errors)


def _table_json(table: pd.DataFrame) -> dict[str, Any]:
    """A table as JSON: its columns, their dtypes, and its rows (NaN as null; tuples as lists)."""
    rows = table.astype(object).where(table.notna(), None).to_numpy().tolist()
    return {
        "columns": [str(c) for c in table.columns],
        "dtypes": [str(t) for t in table.dtypes],
        "rows": [[_plain(value) for value in row] for row in rows],
    }


def _table_from_json(data: dict[str, Any]) -> pd.DataFrame:
    table = pd.DataFrame(data["rows"], columns=data["columns"], dtype=object)
    for column, dtype in zip(data["columns"], data["dtypes"], strict=True):
        if dtype != "object":
            table[column] = table[column].astype("float64" if dtype.startswith(("int", "bool")) and table[column].isna().any() else dtype)
    return table


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    return value.item() if hasattr(value, "item") else value


@cache
def deriver() -> str:
    """A digest of the code between the file's bytes and IPFX: the index's builder, this module and ``features``
    (read as files: ``features.ipfx_data`` imports IPFX, which a cached result needs not)."""
    digest = hashlib.sha256(cell_index.builder().encode())
    for source in sorted(Path(extraction.__file__).parent.glob("*.py")):
        digest.update(source.read_bytes())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()[:16]
