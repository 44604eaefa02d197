"""The cache returns only what was verified: NWB files checked on use, local roots kept to, indexes judged.

Against the local replica (``world``): a cached file's bytes are changed
as bad luck would (one byte flipped, the file's modification time moving
as a write moves it; the file cut short), and the next read must warn once
naming the file, remove it, download it again and give the right values.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest

from patchseq_intake.access import cell_index
from patchseq_intake.access.cell_index import index_path, index_problem, load_index
from patchseq_intake.access.modes import Access
from patchseq_intake.access.opening import cached_path, find_local
from patchseq_intake.errors import AccessError, CacheIntegrityWarning, NwbFormatError
from patchseq_intake.testing.damage import flip_byte
from patchseq_intake.transport import verified

HUMAN_CELL = 569835804
MOUSE_CELL = 601506507


def _source(cat, specimen_id=HUMAN_CELL, **parameters):
    archive = "mouse" if specimen_id == MOUSE_CELL else "human"
    return cat[archive].ephys(specimen_id=specimen_id, **parameters)


def _blob_requests(world) -> int:
    return len(world.replica.requests("blob"))


def _response_chunk_offset(path: Path, response_name: str) -> int:
    """Where the first stored chunk of a series' samples lies in the file."""
    with h5py.File(path, "r") as h5:
        data = h5[response_name]["data"]
        return data.id.get_chunk_info(0).byte_offset if data.chunks else data.id.get_offset()


def _quiet(call):
    """``call()``, failing the test on any CacheIntegrityWarning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheIntegrityWarning)
        return call()


# --- cached NWB files --------------------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["flipped byte", "truncated"])
def test_a_damaged_cached_file_is_found_removed_downloaded_again_and_read_right(cat, world, damage):
    source = _source(cat)
    good = source.sweep(4)
    path = cached_path(source.cells[0])
    written = world.written[HUMAN_CELL]
    if damage == "flipped byte":
        flip_byte(path, _response_chunk_offset(path, written.sweep(4).response_name))
    else:
        with path.open("r+b") as stream:
            stream.truncate(path.stat().st_size // 2)
    before = _blob_requests(world)
    expected = rf"{re.escape(str(path))}: this NWB file is not the one that was verified"
    with pytest.warns(CacheIntegrityWarning, match=expected) as caught:
        again = _source(cat).sweep(4)
    assert len([w for w in caught if issubclass(w.category, CacheIntegrityWarning)]) == 1
    assert _blob_requests(world) > before  # downloaded again
    assert path.read_bytes() == written.path.read_bytes()
    np.testing.assert_array_equal(again.v, good.v)
    np.testing.assert_array_equal(again.i, good.i)
    assert _quiet(lambda: _source(cat).sweep(4).sweep_number) == 4  # and from then on taken on its stamp


def test_a_file_cached_before_records_were_kept_is_adopted_after_one_full_hash(cat, world):
    source = _source(cat, MOUSE_CELL)
    source.sweep(4)
    path = cached_path(source.cells[0])
    verified.record_path(path).unlink()  # as cached by an older version: named by its SHA-256, no record
    world.stop()  # no download possible: the copy must be taken as it is
    assert _quiet(lambda: _source(cat, MOUSE_CELL).sweep(4).sweep_number) == 4
    assert verified.read_record(path).sha256 == world.written[MOUSE_CELL].sha256


def test_an_unrecorded_file_with_other_bytes_is_not_adopted(cat, world):
    source = _source(cat, MOUSE_CELL)
    table = source.read()
    path = cached_path(source.cells[0])
    verified.record_path(path).unlink()
    with path.open("r+b") as stream:
        stream.truncate(100)
    with pytest.warns(CacheIntegrityWarning, match=re.escape(str(path))):
        _source(cat, MOUSE_CELL).sweep(4)
    assert path.read_bytes() == world.written[MOUSE_CELL].path.read_bytes()
    assert verified.read_record(path) is not None and len(table)


def test_stream_mode_drops_a_damaged_cached_copy_and_reads_ranges(cat, world, streamed):
    good = _source(cat).sweep(4)  # download mode: the file and its index cached
    path = cached_path(_source(cat).cells[0])
    flip_byte(path, _response_chunk_offset(path, world.written[HUMAN_CELL].sweep(4).response_name))
    world.server.log.clear()
    with pytest.warns(CacheIntegrityWarning, match=re.escape(str(path))):
        again = _source(cat, access="stream").sweep(4)
    np.testing.assert_array_equal(again.v, good.v)
    assert not path.exists()  # removed, and not downloaded: stream mode read the sweep's ranges
    blobs = world.replica.requests("blob")
    assert blobs and all(entry.range for entry in blobs)


def test_fetch_downloads_a_damaged_cached_file_again(cat, world):
    source = _source(cat, MOUSE_CELL)
    [path] = source.fetch()
    path = Path(path)
    with path.open("r+b") as stream:
        stream.truncate(10)
    with pytest.warns(CacheIntegrityWarning, match=re.escape(str(path))):
        assert [Path(p) for p in _source(cat, MOUSE_CELL).fetch()] == [path]
    assert path.read_bytes() == world.written[MOUSE_CELL].path.read_bytes()


# --- bytes changed behind a restored stamp: a read that fails audits the copy -----------------------------


def _inside_a_chunk(path: Path, response_name: str) -> int:
    """A byte in the middle of the first stored (compressed) chunk of a series' samples."""
    with h5py.File(path, "r") as h5:
        chunk = h5[response_name]["data"].id.get_chunk_info(0)
        return chunk.byte_offset + chunk.size // 2


@pytest.mark.parametrize("access", ["download", "stream"])
def test_a_forged_copy_whose_sweep_fails_to_decode_is_audited_downloaded_again_and_read_right(cat, world, access):
    good = _source(cat).sweep(5)  # download mode: the file and its index cached
    path = cached_path(_source(cat).cells[0])
    flip_byte(path, _inside_a_chunk(path, world.written[HUMAN_CELL].sweep(5).response_name), keep_stamp=True)
    assert verified.check(path)  # the stamp cannot see it
    before = _blob_requests(world)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = _source(cat, access=access).sweep(5)
    (said,) = [str(w.message) for w in caught if issubclass(w.category, CacheIntegrityWarning)]
    assert said.startswith(f"{path}: reading this NWB file failed (OSError: ")
    assert f"its SHA-256 is not the {path.stem} it was verified with" in said
    assert _blob_requests(world) > before  # downloaded again
    assert path.read_bytes() == world.written[HUMAN_CELL].path.read_bytes()
    np.testing.assert_array_equal(again.v, good.v)
    np.testing.assert_array_equal(again.i, good.i)


def test_a_forged_copy_that_fails_to_open_while_indexing_is_downloaded_again(cat, world):
    source = _source(cat)
    table = source.read()
    path = cached_path(source.cells[0])
    index_path(path.stem).unlink()  # the index is built again from the copy
    flip_byte(path, 0, keep_stamp=True)  # the HDF5 signature
    assert verified.check(path)
    with pytest.warns(CacheIntegrityWarning, match=rf"{re.escape(str(path))}: reading this NWB file failed"):
        again = _source(cat).read()
    assert again.equals(table) and index_path(path.stem).exists()
    assert path.read_bytes() == world.written[HUMAN_CELL].path.read_bytes()


def test_a_verified_copy_that_cannot_be_read_is_an_nwb_format_error_naming_it(cat, world, monkeypatch):
    from patchseq_intake.access import cell_reader

    _source(cat).sweep(5)
    path = cached_path(_source(cat).cells[0])

    def malformed(h5, number, *rest):  # DANDI's own bytes, as h5py finds a bad chunk in them
        if number == 5:
            raise OSError("Can't synchronously read data (filter returned failure during read)")
        return read_sweep(h5, number, *rest)

    read_sweep = cell_reader.read_sweep
    monkeypatch.setattr(cell_reader, "read_sweep", malformed)
    before = _blob_requests(world)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheIntegrityWarning)
        with pytest.raises(NwbFormatError) as caught:
            _source(cat).sweep(5)
    message = str(caught.value)
    assert f"{HUMAN_CELL}" in message and f"cached at {path}, cannot be read (OSError: Can't synchronously" in message
    assert "its bytes are DANDI's, as verified" in message
    assert path.exists() and _blob_requests(world) == before  # audited, kept: not fetched again
    assert _quiet(lambda: _source(cat).sweep(4).sweep_number) == 4  # the other sweeps still read


# --- local mode: only files inside the root ----------------------------------------------------------


def _local_cell(dandi_path: str, size: int) -> SimpleNamespace:
    """What ``find_local`` reads of a cell, made directly: a listing's validation is not relied on here."""
    return SimpleNamespace(specimen_id=1, who="cell 1", dandiset="000023", dandi_path=dandi_path, size=size)


@pytest.mark.parametrize("how", ["dot-dot", "absolute", "dot-dot inside"])
def test_a_local_path_out_of_the_root_is_refused(tmp_path, how):
    root = tmp_path / "root"
    (root / "000023").mkdir(parents=True)
    outside = tmp_path / "outside.nwb"
    outside.write_bytes(b"x" * 10)
    dandi_path = {"dot-dot": "../outside.nwb", "absolute": str(outside), "dot-dot inside": "sub-1/../../outside.nwb"}
    dandi_path = dandi_path[how]
    expected = rf"{re.escape(repr(dandi_path))} .* leads to {re.escape(str(outside))}, outside the root {re.escape(str(root))}"
    with pytest.raises(AccessError, match=expected):
        find_local(_local_cell(dandi_path, 10), Access("local", str(root)))


def test_a_link_out_of_the_local_root_is_refused(tmp_path):
    root = tmp_path / "root"
    (root / "sub-1").mkdir(parents=True)
    outside = tmp_path / "secret.nwb"
    outside.write_bytes(b"x" * 10)
    (root / "sub-1" / "a.nwb").symlink_to(outside)
    with pytest.raises(AccessError, match=rf"'sub-1/a.nwb' .* leads to {re.escape(str(outside))}, outside the root"):
        find_local(_local_cell("sub-1/a.nwb", 10), Access("local", str(root)))


def test_a_link_inside_the_local_root_is_followed(tmp_path):
    root = tmp_path / "root"
    (root / "sub-1").mkdir(parents=True)
    (root / "annex").mkdir()
    (root / "annex" / "blob").write_bytes(b"x" * 10)  # as a DataLad clone lays its files out
    (root / "sub-1" / "a.nwb").symlink_to(root / "annex" / "blob")
    assert find_local(_local_cell("sub-1/a.nwb", 10), Access("local", str(root))) == root / "sub-1" / "a.nwb"


# --- the files' indexes ------------------------------------------------------------------------------


def _damaged(text: str, how: str) -> str:
    if how == "truncated":
        return text[: len(text) // 2]
    if how == "not an object":
        return json.dumps([json.loads(text)])
    if how == "nested":
        return "[" * 100_000 + "]" * 100_000
    data = json.loads(text)  # digest failing: a value changed, the digest kept
    data["size"] += 1
    return json.dumps(data)


@pytest.mark.parametrize("how", ["truncated", "not an object", "nested", "digest failing"])
def test_a_bad_index_file_is_removed_with_a_warning_and_built_again(cat, world, how):
    table = _source(cat).read()
    cell = _source(cat).cells[0]
    path = index_path(cell.checksum.value)
    good = path.read_text()
    path.write_text(_damaged(good, how))
    assert index_problem(path) is not None
    expected = rf"{re.escape(str(path))}: this index of an NWB file does not match"
    with pytest.warns(CacheIntegrityWarning, match=expected):
        assert load_index(cell.checksum.value, cell.size) is None
    assert not path.exists()
    assert _source(cat).read().equals(table)  # built again, from the cached file
    assert json.loads(path.read_text()) == json.loads(good)
    assert index_problem(path) is None


def test_an_index_is_tied_to_its_files_checksum(cat, world):
    _source(cat).read()
    cell = _source(cat).cells[0]
    path = index_path(cell.checksum.value)
    other = path.with_name(f"{'0' * 64}.v{cell_index.INDEX_SCHEMA}.json")
    other.write_text(path.read_text())  # a sound index, under another file's checksum
    assert index_problem(other) is not None
    with pytest.warns(CacheIntegrityWarning, match="not an index of schema .* of the file with checksum 0000"):
        assert load_index("0" * 64, cell.size) is None
