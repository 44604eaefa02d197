"""The release tables are the release's, wherever they come from, and their cached parquet cannot lie.

Pins always: tables from ``PATCHSEQ_INTAKE_TABLES`` (a mirror or a local
directory) are checked against the catalog's SHA-256, unless
``PATCHSEQ_INTAKE_UNPINNED_TABLES`` takes one's own tables unverified, with a
warning, cached apart. A cached parquet file that is not what was written is
never read: it is removed with a ``CacheIntegrityWarning`` and built again from
the CSV, fetched and verified again.
"""

from __future__ import annotations

import hashlib
import os
import struct
import warnings
from pathlib import Path

import pyarrow as pa
import pytest

from patchseq_intake import config
from patchseq_intake.drivers.table import ReleaseTableSource
from patchseq_intake.errors import (
    CacheIntegrityWarning,
    ChecksumError,
    OfflineError,
    TableFormatError,
    UnpinnedTablesWarning,
)
from patchseq_intake.tables import release
from patchseq_intake.tables.shipped import shipped_table
from patchseq_intake.testing.damage import flip_byte
from patchseq_intake.transport.checksums import sha256_of
from patchseq_intake.testing.server import LocalServer
from patchseq_intake.testing.tables import Cell, release_tables, table_file_name
from patchseq_intake.transport import verified

from ..conftest import REFERENCE_TABLES

HUMAN_METADATA = table_file_name("human", "metadata")
FIRST_CELL = 541549258
HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture(autouse=True)
def no_unpinned_warning_given_yet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts as a fresh process would: no unpinned source warned of yet."""
    monkeypatch.setattr(release, "_warned_unpinned", set())


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _edited(cells: list[Cell]) -> dict[str, bytes]:
    """The same tables with the first cell's structure replaced by markup: one's own edit, or a hostile one."""
    first, *rest = cells
    hostile = Cell(first.archive, first.specimen_id, first.session_id, HOSTILE, first.dendrite_type, first.age,
                   first.donor_id, first.depth_from_pia_um, first.nwb, first.has_morphology)
    return release_tables([hostile, *rest])


def _source(url: str, sha256: str | None) -> ReleaseTableSource:
    return ReleaseTableSource(url=url, sha256=sha256, table="metadata", archive="human")


def _cached_files(cache: Path) -> list[str]:
    """The files in the cache, leaving out lock files."""
    if not cache.exists():
        return []
    return sorted(p.name for p in cache.rglob("*") if p.is_file() and not p.name.endswith(".lock"))


def _parquet(cache: Path) -> Path:
    (found,) = (cache / config.TABLES_DIR).glob("*.parquet")
    return found


def _unpinned_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, UnpinnedTablesWarning)]


@pytest.fixture
def pinned(table_server: LocalServer, cells: list[Cell]) -> ReleaseTableSource:
    """The human metadata table from ``table_server``, pinned to the SHA-256 of the bytes it serves."""
    content = release_tables(cells, unassigned_files=2)[HUMAN_METADATA]
    return _source(f"{table_server.url}/tables/{HUMAN_METADATA}", _sha256(content))


# --- pins always ------------------------------------------------------------------------------------------


def test_a_mirror_holding_the_pinned_bytes_is_read(pinned, table_server, monkeypatch):
    mirror = LocalServer().start()
    try:
        mirror.serve_file(f"/release/{HUMAN_METADATA}", table_server.files[f"/tables/{HUMAN_METADATA}"])
        monkeypatch.setenv(config.TABLES_ENV, f"{mirror.url}/release")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert len(pinned.read()) == 3
        assert [entry.path for entry in mirror.log] == [f"/release/{HUMAN_METADATA}"] and not table_server.log
        assert _unpinned_warnings(caught) == []
    finally:
        mirror.stop()


def test_a_mirror_with_other_bytes_is_refused_naming_file_source_and_digests(cat, table_server, cache_dir, monkeypatch):
    monkeypatch.setenv(config.TABLES_ENV, f"{table_server.url}/tables")
    served = table_server.files[f"/tables/{HUMAN_METADATA}"]
    with pytest.raises(ChecksumError) as caught:
        cat.human.metadata.read()
    message = str(caught.value)
    assert HUMAN_METADATA in message and f"from {table_server.url}/tables/{HUMAN_METADATA}" in message
    assert f"expected {shipped_table('human', 'metadata').sha256}" in message and f"found {_sha256(served)}" in message
    assert "nothing was cached" in message
    assert f"If these are your own edited tables, set {config.UNPINNED_TABLES_ENV}=1" in message
    assert _cached_files(cache_dir) == []


def test_a_local_directory_with_a_hostile_table_is_refused(cells, tmp_path, cache_dir, monkeypatch):
    tables = tmp_path / "tables"
    tables.mkdir()
    for name, content in _edited(cells).items():
        (tables / name).write_bytes(content)
    good = _sha256(release_tables(cells)[HUMAN_METADATA])
    monkeypatch.setenv(config.TABLES_ENV, str(tables))
    with pytest.raises(ChecksumError, match=rf"from {tables}/{HUMAN_METADATA} .*expected {good}"):
        _source(f"https://example.org/{HUMAN_METADATA}", good).read()
    assert _cached_files(cache_dir) == []


def test_upstream_with_other_bytes_says_how_to_use_ones_own_tables(table_server, cache_dir):
    with pytest.raises(ChecksumError) as caught:
        _source(f"{table_server.url}/tables/{HUMAN_METADATA}", "0" * 64).read()
    assert f"set {config.TABLES_ENV} to the directory or base URL holding them and {config.UNPINNED_TABLES_ENV}=1" in str(
        caught.value
    )
    assert _cached_files(cache_dir) == []


def test_an_entry_without_a_pin_is_refused_before_any_request(table_server, cache_dir, monkeypatch):
    monkeypatch.setenv(config.TABLES_ENV, f"{table_server.url}/tables")
    with pytest.raises(ChecksumError, match="the human metadata table .* has no SHA-256 in its catalog entry"):
        _source(f"https://example.org/{HUMAN_METADATA}", None).read()
    assert table_server.log == [] and _cached_files(cache_dir) == []


def test_the_opt_out_takes_ones_own_tables_and_says_so_once_naming_the_source(cat, cells, tmp_path, monkeypatch):
    tables = tmp_path / "tables"
    tables.mkdir()
    for name, content in _edited(cells).items():
        (tables / name).write_bytes(content)
    monkeypatch.setenv(config.TABLES_ENV, str(tables))
    monkeypatch.setenv(config.UNPINNED_TABLES_ENV, "1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = cat.human.metadata.read().set_index("cell_specimen_id")
        cat.mouse.manifest.read()
        cat.human.metadata(columns=["structure"]).read()
    assert frame.loc[FIRST_CELL, "structure"] == HOSTILE  # taken as edited: the browser must escape it
    (said,) = _unpinned_warnings(caught)
    assert f"the release tables from {tables} are taken unverified" in said


def test_pinned_and_unpinned_tables_never_share_a_cache(pinned, table_server, cells, monkeypatch):
    path = f"/tables/{HUMAN_METADATA}"
    release_bytes = table_server.files[path]
    table_server.serve_file(path, _edited(cells)[HUMAN_METADATA])
    monkeypatch.setenv(config.TABLES_ENV, f"{table_server.url}/tables")
    monkeypatch.setenv(config.UNPINNED_TABLES_ENV, "1")
    structure = lambda: pinned.read().set_index("cell_specimen_id").loc[FIRST_CELL, "structure"]  # noqa: E731

    assert structure() == HOSTILE  # unpinned: one's own edit
    monkeypatch.delenv(config.UNPINNED_TABLES_ENV)
    with pytest.raises(ChecksumError):  # pinned: the unpinned table's cache is not used, and the edit is refused
        pinned.read()
    table_server.serve_file(path, release_bytes)
    assert structure() == "MTG"  # pinned: the release's bytes
    monkeypatch.setenv(config.UNPINNED_TABLES_ENV, "1")
    assert structure() == HOSTILE  # unpinned again: its own cache, not the pinned one
    assert len(table_server.log) == 3


# --- the cached parquet cannot lie ------------------------------------------------------------------------


def _changed_later(path: Path, change) -> None:
    """Change ``path`` in place as bad luck would, later than it was written (a later modification time)."""
    before = path.stat()
    change(path)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))


def _flip_first_cell_id(path: Path) -> None:
    """Flip the fifth byte of the first cell's id where the column's page holds it: 541549258 -> 1095758209738."""
    data = bytearray(path.read_bytes())
    at = data.index(struct.pack("<q", FIRST_CELL))
    data[at + 4] ^= 0xFF
    with path.open("r+b") as stream:
        stream.write(data)


def _truncate_to_half(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def _empty(path: Path) -> None:
    os.truncate(path, 0)


@pytest.mark.parametrize("change", [_flip_first_cell_id, _truncate_to_half, _empty], ids=["flipped", "truncated", "empty"])
def test_a_changed_parquet_is_never_read_but_rebuilt_from_the_csv_with_a_warning(pinned, table_server, cache_dir, change):
    assert sorted(pinned.read()["cell_specimen_id"]) == [541549258, 541557114, 569835804]
    parquet = _parquet(cache_dir)
    _changed_later(parquet, change)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = _source(pinned.spec.url, pinned.spec.sha256).read()
    assert sorted(again["cell_specimen_id"]) == [541549258, 541557114, 569835804]
    (said,) = [str(w.message) for w in caught if w.category is CacheIntegrityWarning]
    assert said.startswith(f"{parquet}: this cached parquet of the human metadata table is not the one that was verified")
    assert len(table_server.log) == 2  # the CSV fetched again, and verified against the pin
    assert verified.check(parquet) and _parquet(cache_dir) == parquet


def test_a_changed_parquet_is_caught_by_the_catalog_too(cat, served_tables, cache_dir):
    cat.human.metadata.read()
    _changed_later(_parquet(cache_dir), _flip_first_cell_id)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ids = set(cat.human.metadata.read()["cell_specimen_id"])  # the same source, kept by the catalog
    assert FIRST_CELL in ids and 1095758209738 not in ids
    assert [w.category for w in caught].count(CacheIntegrityWarning) == 1


def test_an_unchanged_cached_table_is_read_with_no_request_and_no_hashing(pinned, table_server, monkeypatch):
    pinned.read()
    table_server.stop()

    def no_hashing(path: Path) -> str:
        raise AssertionError(f"{path} was hashed again although its stamp is unchanged")

    monkeypatch.setattr(verified, "sha256_of", no_hashing)
    monkeypatch.setenv(config.OFFLINE_ENV, "1")
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheIntegrityWarning)
        assert len(_source(pinned.spec.url, pinned.spec.sha256).read()) == 3
    assert len(table_server.log) == 1


def test_a_changed_parquet_offline_is_removed_and_not_read(pinned, table_server, cache_dir, monkeypatch):
    pinned.read()
    parquet = _parquet(cache_dir)
    _changed_later(parquet, _flip_first_cell_id)
    monkeypatch.setenv(config.OFFLINE_ENV, "1")
    with pytest.warns(CacheIntegrityWarning), pytest.raises(OfflineError, match="not cached yet"):
        _source(pinned.spec.url, pinned.spec.sha256).read()
    assert not parquet.exists() and len(table_server.log) == 1


@pytest.mark.skipif(not REFERENCE_TABLES.is_dir(), reason=f"reference tables not found at {REFERENCE_TABLES}")
def test_a_mirror_of_the_real_release_passes_with_the_shipped_pins(cat, release_server, monkeypatch):
    monkeypatch.setenv(config.TABLES_ENV, release_server.url)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert len(cat.human.metadata.read()) == 318
    assert _unpinned_warnings(caught) == []


# --- bytes changed behind a restored stamp: the failed read audits the file --------------------------------


def _failing_flip(path: Path, error: type[Exception], after: bytes, scratch: Path) -> int:
    """The first offset past ``after`` (the footer's start: ``PAR1`` at the file's end) whose flipped bit makes
    pandas' read of ``path`` raise ``error`` (exactly that type), tried on a copy in ``scratch``."""
    import pandas as pd

    data = path.read_bytes()
    trial = scratch / "trial.parquet"
    start = len(data) - 4 if after == b"PAR1" else data.index(after)
    for offset in range(start, len(data)):
        flipped = bytearray(data)
        flipped[offset] ^= 0x01
        trial.write_bytes(flipped)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pd.read_parquet(trial)
        except Exception as exc:  # noqa: BLE001: looking for one kind
            if type(exc) is error:
                return offset
    raise AssertionError(f"no flipped bit of {path} after {after!r} makes pandas raise {error.__name__}")


FORGERIES = {  # where the bit lies, and what pandas raises on reading the file
    "pandas metadata in the arrow schema (KeyError)": (b"ARROW:schema", KeyError),
    "a column's dtype name (TypeError)": (b"ARROW:schema", TypeError),
    "the footer's magic bytes (ArrowInvalid)": (b"PAR1", pa.ArrowInvalid),
}


@pytest.mark.parametrize("forgery", FORGERIES.values(), ids=FORGERIES.keys())
@pytest.mark.parametrize("how", ["read", "to_dask", "discover"])
def test_a_forged_parquet_that_fails_to_read_is_audited_removed_and_rebuilt(
    pinned, table_server, cache_dir, tmp_path, forgery, how
):
    pinned.read()
    parquet = _parquet(cache_dir)
    after, error = forgery
    flip_byte(parquet, _failing_flip(parquet, error, after, tmp_path), mask=0x01, keep_stamp=True)
    assert verified.check(parquet)  # the stamp cannot see it
    source = _source(pinned.spec.url, pinned.spec.sha256)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if how == "discover":
            assert source.discover()["shape"][0] == 3
        else:
            frame = source.read() if how == "read" else source.to_dask().compute()
            assert sorted(frame["cell_specimen_id"]) == [541549258, 541557114, 569835804]
    (said,) = [str(w.message) for w in caught if w.category is CacheIntegrityWarning]
    assert said.startswith(f"{parquet}: reading this cached parquet of the human metadata table failed (")
    assert "its SHA-256 is not the" in said and "removed and will be fetched or derived again" in said
    assert len(table_server.log) == 2  # the CSV fetched again, and verified against the pin
    assert verified.audit(parquet)


def test_a_verified_parquet_that_cannot_be_read_is_a_table_format_error_naming_it(
    pinned, table_server, cache_dir, tmp_path
):
    pinned.read()
    parquet = _parquet(cache_dir)
    flip_byte(parquet, _failing_flip(parquet, KeyError, b"ARROW:schema", tmp_path), mask=0x01, keep_stamp=True)
    assert verified.check(parquet)
    verified.record(parquet, sha256_of(parquet))  # as if these bytes were the ones written
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheIntegrityWarning)
        with pytest.raises(TableFormatError) as caught:
            _source(pinned.spec.url, pinned.spec.sha256).read()
    message = str(caught.value)
    assert message.startswith(f"{parquet}, the cached parquet of the human metadata table, cannot be read (KeyError")
    assert "patchseq-intake cache clear" in message
    assert parquet.exists() and len(table_server.log) == 1  # the file is what was verified: kept, not fetched again
