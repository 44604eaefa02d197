"""Index-first reading: what a file's bytes never change is derived once; sweeps come as checked ranges.

Counted on the local replica: requests, their waves (requests in flight
together) and bytes, per operation, cold and warm, never timed.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import re
import shutil
import warnings

import h5py
import numpy as np
import pytest

import patchseq_intake
from patchseq_intake import config
from patchseq_intake.access import cell_reader
from patchseq_intake.access.cell_index import DOWNLOADED, STREAMED, build_index, index_path, load_index
from patchseq_intake.access.opening import cached_path
from patchseq_intake.access.stored_arrays import StoredArray
from patchseq_intake.errors import CacheIntegrityWarning, ChecksumError, FetchError, OfflineError
from patchseq_intake.nwb.mies_series import recorded_sweeps
from patchseq_intake.nwb.sweep_table import read_sweep_table
from patchseq_intake.nwb.sweeps import read_sweep
from patchseq_intake.testing.mies import MiesLayout, write_mies_nwb
from patchseq_intake.testing.nwb import write_cell_nwb
from patchseq_intake.testing.physiology import varied_sweeps
from patchseq_intake.testing.server import LocalServer, Reply
from patchseq_intake.transport.blob_tag import BlobTag
from patchseq_intake.transport.ranges import fetch_ranges, merge

HUMAN_CELL = 569835804
MOUSE_CELL = 601506507


def _source(cat, specimen_id=HUMAN_CELL, **parameters):
    archive = "human" if specimen_id in (HUMAN_CELL, 541549258) else "mouse"
    return cat[archive].ephys(specimen_id=specimen_id, **parameters)


def _index_of(cat, specimen_id=HUMAN_CELL):
    cell = _source(cat, specimen_id).cells[0]
    return load_index(cell.checksum.value, cell.size)


def _blobs(world):
    return world.replica.requests("blob")


# --- the index: derived once ------------------------------------------------------------------------


def test_a_cached_index_gives_the_sweep_table_with_no_request_at_all(cat, world, streamed):
    first = _source(cat, access="stream").read()
    assert _index_of(cat).provenance == STREAMED
    world.stop()  # nothing to ask any more: the tables, the asset index and the file's index are cached
    again = _source(cat, access="stream").read()
    assert again.equals(first)


def test_the_index_holds_what_the_file_gives(cat, world, streamed):
    _source(cat, access="stream").read()
    written = world.written[HUMAN_CELL]
    with h5py.File(written.path, "r") as h5:
        local = build_index(h5, "x", written.size, DOWNLOADED, "cell")
    index = _index_of(cat)
    assert index.tables == local.tables and index.sweeps == local.sweeps and index.arrays == local.arrays


def test_download_mode_builds_the_index_from_the_verified_file(cat, world, cache_dir):
    table = _source(cat).read()
    assert _index_of(cat).provenance == DOWNLOADED
    cached_path(_source(cat).cells[0]).unlink()  # the file goes; its index stays
    world.server.log.clear()
    assert _source(cat).read().equals(table) and _blobs(world) == []


@pytest.mark.parametrize("damage", ["edited", "truncated", "outside the file"])
def test_an_index_that_does_not_match_its_file_is_rebuilt_never_trusted(cat, world, streamed, damage):
    table = _source(cat, access="stream").read()
    path = index_path(_source(cat).cells[0].checksum.value)
    data = json.loads(path.read_text())
    if damage == "edited":
        data["tables"]["0"][0]["sweep_number"] = 99
        path.write_text(json.dumps(data))
    elif damage == "truncated":
        path.write_text(path.read_text()[:200])
    else:  # a well-formed index whose pieces lie beyond the end of the file
        from patchseq_intake.access.cell_index import CellIndex
        from patchseq_intake.transport.sealed import seal

        index = CellIndex.from_json(data)
        array = next(a for a in index.arrays.values() if a is not None)
        bad = type(array)(**{**array.to_json(), "offsets": tuple(o + index.size for o in array.offsets)})
        wrong = CellIndex(index.checksum, index.size, index.provenance, index.tables, index.sweeps,
                          {**index.arrays, next(p for p, a in index.arrays.items() if a is array): bad})
        path.write_text(seal(wrong.to_json()))
    with pytest.warns(CacheIntegrityWarning, match=rf"{re.escape(str(path))}: this index .* does not match its file"):
        again = _source(cat, access="stream").read()
    assert again.equals(table)
    assert json.loads(path.read_text())["tables"]["0"][0]["sweep_number"] == table["sweep_number"][0]


def _read_table_in_child(specimen_id: int, results) -> None:
    source = patchseq_intake.open_catalog().human.ephys(specimen_id=specimen_id, access="stream")
    results.put(source.read()["sweep_number"].tolist())


def test_two_processes_share_one_index(cat, world, streamed, cache_dir):
    _source(cat, 541549258).read()  # the tables and the asset index
    results = multiprocessing.get_context("spawn").Queue()
    processes = [
        multiprocessing.get_context("spawn").Process(target=_read_table_in_child, args=(HUMAN_CELL, results))
        for _ in range(2)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    tables = [results.get(timeout=5) for _ in processes]
    assert tables[0] == tables[1] == [s.sweep_number for s in world.written[HUMAN_CELL].sweeps]
    assert _index_of(cat) is not None  # one index, whole and trusted
    assert not list((cache_dir / config.INDEX_DIR).glob(".*.part"))
    world.stop()  # a third process, with nothing to ask: the index gives the table
    third = multiprocessing.get_context("spawn").Process(target=_read_table_in_child, args=(HUMAN_CELL, results))
    third.start()
    third.join(60)
    assert third.exitcode == 0 and results.get(timeout=5) == tables[0]


def test_offline_reads_the_cached_index(cat, world, streamed, monkeypatch):
    table = _source(cat, access="stream").read()
    monkeypatch.setenv(config.OFFLINE_ENV, "1")
    assert _source(cat, access="stream").read().equals(table)
    with pytest.raises(OfflineError, match="forbids"):
        _source(cat, access="stream").sweep(4)  # the samples are not cached


def _blob_path(world, specimen_id=HUMAN_CELL):
    from urllib.parse import urlparse

    return urlparse(world.replica.blob_url(world.assets[specimen_id])).path


def test_other_bytes_of_the_same_size_are_refused_and_nothing_is_cached(cat, world, streamed):
    path = _blob_path(world)
    original = world.written[HUMAN_CELL].path.read_bytes()
    world.server.files[path] = original[:-1000] + bytes(1000)  # same size, other bytes
    world.server.etags[path] = "ffffffffffffffffffffffffffffffff-1"  # what S3 would send for them
    with pytest.raises(ChecksumError, match="is not the file DANDI lists.*other bytes"):
        _source(cat, access="stream").read()
    assert _index_of(cat) is None and not list(config.cache_dir().glob("index/*"))


def test_an_answer_without_an_etag_cannot_be_tied_to_the_asset(cat, world, streamed):
    del world.server.etags[_blob_path(world)]
    with pytest.raises(ChecksumError, match="no ETag to tie it"):
        _source(cat, access="stream").read()
    assert _index_of(cat) is None


def test_a_listing_without_the_etag_takes_the_blobs_own_and_asks_the_api_nothing(cat, world, streamed):
    from dataclasses import replace

    from patchseq_intake.access.cell_reader import CellReader
    from patchseq_intake.access.modes import Access

    cell = _source(cat).cells[0]
    bare = replace(cell, asset=replace(cell.asset, etag=None))  # as 000020's pinned listing is
    world.server.log.clear()
    table = CellReader(bare, Access("stream")).sweep_table()
    assert [e for e in world.server.log if "/api/" in e.path] == []  # no lookup by id or by path
    index = load_index(cell.checksum.value, cell.size)
    assert index.etag == cell.asset.etag and table.equals(index.sweep_table(0, "cell"))  # the blob's ETag is DANDI's


def test_a_blob_whose_etag_changes_between_answers_is_refused(cat, world, streamed):
    from dataclasses import replace

    from patchseq_intake.access.opening import open_remote

    cell = _source(cat).cells[0]
    bare = replace(cell, asset=replace(cell.asset, etag=None))
    path = _blob_path(world)
    remote = open_remote(bare)  # its first answers carry DANDI's dandi-etag: learnt
    try:
        assert remote.etag == cell.asset.etag
        world.server.etags[path] = "f" * 32 + "-1"  # the next answers come from another object
        with pytest.raises(ChecksumError, match="but the ETag of this blob's earlier answers is"):
            remote.read_at(cell.size // 2, 10)
    finally:
        remote.close()


def test_a_streamed_index_with_no_etag_to_check_is_not_cached(cat, world, streamed):
    from dataclasses import replace

    from patchseq_intake.access.cell_reader import CellReader
    from patchseq_intake.access.modes import Access

    cell = _source(cat).cells[0]
    unknown = replace(cell, asset=replace(cell.asset, etag=None))
    del world.server.etags[_blob_path(world)]  # a server that sends no ETag: nothing ties the ranges to one blob
    table = CellReader(unknown, Access("stream")).sweep_table()
    assert list(table["sweep_number"]) == [s.sweep_number for s in world.written[HUMAN_CELL].sweeps]
    assert load_index(cell.checksum.value, cell.size) is None


def test_an_etag_not_of_dandis_form_ties_nothing(cat, world, streamed):
    from dataclasses import replace

    from patchseq_intake.access.cell_reader import CellReader
    from patchseq_intake.access.modes import Access

    cell = _source(cat).cells[0]
    unknown = replace(cell, asset=replace(cell.asset, etag=None))
    world.server.etags[_blob_path(world)] = "5f3a-1234"  # a mirror's own ETag: not a dandi-etag of this size
    CellReader(unknown, Access("stream")).sweep_table()
    assert load_index(cell.checksum.value, cell.size) is None


@pytest.mark.parametrize("content", ["null", "[]", '"x"'])
def test_an_index_file_that_is_not_an_object_is_rebuilt(cat, world, streamed, content):
    table = _source(cat, access="stream").read()
    path = index_path(_source(cat).cells[0].checksum.value)
    path.write_text(content)
    with pytest.warns(CacheIntegrityWarning, match="does not match its file"):
        assert _source(cat, access="stream").read().equals(table)
    assert _index_of(cat) is not None


def test_an_index_derived_by_other_code_is_replaced_quietly(cat, world, streamed, caplog, monkeypatch):
    from patchseq_intake.access import cell_index

    table = _source(cat, access="stream").read()
    monkeypatch.setattr(cell_index, "builder", lambda: "another version")
    world.server.log.clear()
    with caplog.at_level(logging.WARNING, logger="patchseq_intake.access.cell_index"), warnings.catch_warnings():
        warnings.simplefilter("error", CacheIntegrityWarning)
        assert _source(cat, access="stream").read().equals(table)
    assert caplog.text == "" and _blobs(world)  # built again, from the file
    assert json.loads(index_path(_source(cat).cells[0].checksum.value).read_text())["builder"] == "another version"


def test_every_sweep_in_stream_mode_comes_from_one_verified_download(cat, world, streamed):
    source = _source(cat, access="stream")
    world.server.log.clear()
    sweeps = source.sweeps()
    blobs = _blobs(world)
    assert [s.sweep_number for s in sweeps] == [s.sweep_number for s in world.written[HUMAN_CELL].sweeps]
    assert sum(b.body_bytes for b in blobs) == world.written[HUMAN_CELL].size  # the file once, no walk first
    assert _index_of(cat).provenance == DOWNLOADED


def test_an_ambiguous_sweep_is_refused_through_the_index_as_from_the_file(tmp_path):
    from patchseq_intake.errors import NwbFormatError

    path = tmp_path / "two.nwb"
    write_mies_nwb(path, specimen_id=1, session_id=2, subject_id=3, sweeps=varied_sweeps(scale=0.2))
    with h5py.File(path, "a") as h5:  # a second device's response for sweep 4, on the same headstage
        responses = h5["acquisition"]
        fourth = next(name for name in responses if responses[name].attrs["sweep_number"] == 4)
        h5.copy(responses[fourth], "acquisition/data_99999_AD0")
    with h5py.File(path, "r") as h5:
        with pytest.warns(UserWarning, match=r"sweeps \[4\]"):
            table = read_sweep_table(h5)
        with pytest.raises(NwbFormatError, match="sweep 4 of headstage 0 of device ITC18USB_Dev_0 has two series") as from_file:
            recorded_sweeps(h5, str(path)).pick(0, 4, None, str(path))  # as a scan of the file finds
        index = build_index(h5, "x", path.stat().st_size, DOWNLOADED, str(h5.filename))
    with pytest.warns(UserWarning, match=r"sweeps \[4\]"):
        assert index.sweep_table(0, str(path)).equals(table)
    with pytest.raises(NwbFormatError) as from_index:
        index.sweep(4, 0, str(path))
    assert str(from_index.value) == str(from_file.value)


def _without_etag(cell):
    from dataclasses import replace

    return replace(cell, asset=replace(cell.asset, etag=None))


def test_an_index_from_a_download_carries_the_files_own_dandi_etag_and_ranges_must_carry_it(cat, world, streamed):
    from patchseq_intake.access.cell_reader import CellReader
    from patchseq_intake.access.modes import Access

    cell = _source(cat).cells[0]
    bare = _without_etag(cell)  # as 000020's pinned listing is: no dandi-etag
    CellReader(bare, Access("download")).sweep_table()  # the index, from the verified file
    assert load_index(cell.checksum.value, cell.size).etag == cell.asset.etag  # computed from its bytes
    cached_path(cell).unlink()
    world.server.log.clear()
    (sweep,) = CellReader(bare, Access("stream")).sweeps([4])  # ranges, not a download
    assert sum(b.body_bytes for b in _blobs(world)) < world.written[HUMAN_CELL].size / 2
    with h5py.File(world.written[HUMAN_CELL].path, "r") as h5:
        np.testing.assert_array_equal(sweep.v, read_sweep(h5, 4).v)
    path = _blob_path(world)
    world.server.etags[path] = "ffffffffffffffffffffffffffffffff-1"  # another object's
    with pytest.raises(ChecksumError, match="other bytes"):
        CellReader(bare, Access("stream")).sweeps([4])
    del world.server.etags[path]  # no ETag at all: cannot be tied to the blob either
    with pytest.raises(ChecksumError, match="no ETag to tie it"):
        CellReader(bare, Access("stream")).sweeps([4])


def test_to_dask_sweeps_refuses_cells_it_does_not_hold(cat, world):
    mouse = cat.mouse.ephys(specimen_id=[MOUSE_CELL], access="stream")
    with pytest.raises(ValueError, match=r"cells \[541549258\] are not among this source's \[601506507\]"):
        mouse.to_dask_sweeps({541549258: [4]})


# --- sweeps as ranges ----------------------------------------------------------------------------------


def test_a_warm_sweep_is_one_wave_of_its_own_bytes(cat, world, streamed):
    _source(cat, access="stream").read()
    index = _index_of(cat)
    entry = index.sweep(9, 0, "cell")
    stored = sum(size for path in entry.names() for _, size in index.arrays[path].ranges())
    world.server.faults.latency_s = 0.2  # so that requests in flight together overlap at the server, even on a busy machine
    world.server.log.clear()
    sweep = _source(cat, access="stream").sweep(9)
    blobs = _blobs(world)
    assert world.server.most_at_once(blobs) == len(blobs)  # one round trip
    assert sum(b.body_bytes for b in blobs) <= 1.2 * stored
    with h5py.File(world.written[HUMAN_CELL].path, "r") as h5:
        local = read_sweep(h5, 9)
    np.testing.assert_array_equal(sweep.v, local.v)
    np.testing.assert_array_equal(sweep.i, local.i)


def test_many_sweeps_come_in_one_wave(cat, world, streamed, monkeypatch):
    monkeypatch.setattr(cell_reader, "MOST_OF_THE_FILE", 1.0)  # stream them however many
    source = _source(cat, access="stream")
    source.read()
    world.server.faults.latency_s = 0.2  # requests in flight together overlap at the server, even on a busy machine
    world.server.log.clear()
    sweeps = source.sweeps([4, 5, 6, 7, 8])
    blobs = _blobs(world)
    assert [s.sweep_number for s in sweeps] == [4, 5, 6, 7, 8]
    assert world.server.most_at_once(blobs) == len(blobs)
    assert not cached_path(source.cells[0]).exists()


def test_most_of_the_file_comes_as_a_verified_download(cat, world, streamed, monkeypatch):
    monkeypatch.setattr(cell_reader, "MOST_OF_THE_FILE", 0.0)  # in the tests' small files, the notebook weighs most
    source = _source(cat, access="stream")
    table = source.read()
    sweeps = source.sweeps()  # every sweep: "most" of the file
    assert [s.sweep_number for s in sweeps] == list(table["sweep_number"])
    assert cached_path(source.cells[0]).read_bytes() == world.written[HUMAN_CELL].path.read_bytes()


def test_a_call_reads_and_checks_the_cached_index_once(cat, world, streamed, monkeypatch):
    monkeypatch.setattr(cell_reader, "MOST_OF_THE_FILE", 1.0)  # stream them however many
    source = _source(cat, access="stream")
    source.read()  # the index is built and cached
    loads = []
    load = cell_reader.load_index
    monkeypatch.setattr(cell_reader, "load_index", lambda *args: loads.append(args) or load(*args))
    sweeps = source.sweeps()  # every sweep: the table, then the sweeps, through one index
    assert len(sweeps) == len(source.read()) and len(loads) == 1 + 1  # this call's, then read()'s


def test_a_small_file_is_downloaded_whole_on_first_contact_and_only_its_index_kept(cat, world):
    source = _source(cat, access="stream")
    source.read()
    assert _index_of(cat).provenance == DOWNLOADED
    assert not cached_path(source.cells[0]).exists()  # stream mode keeps the index, not the file
    assert list(cached_path(source.cells[0]).parent.iterdir()) == []


def test_first_contact_walk_walks_even_a_small_file(cat, world, monkeypatch):
    monkeypatch.setenv(config.FIRST_CONTACT_ENV, "walk")
    _source(cat, access="stream").read()
    assert _index_of(cat).provenance == STREAMED


def test_sweeps_of_many_cells_on_dask(cat, world, streamed):
    mouse = cat.mouse.ephys(specimen_id=[MOUSE_CELL, 601790961], access="stream")
    pairs = mouse.to_dask_sweeps([4, 9]).compute(scheduler="sync")
    assert [(cell, sweep.sweep_number) for cell, sweep in pairs] == [
        (MOUSE_CELL, 4), (MOUSE_CELL, 9), (601790961, 4), (601790961, 9)]
    for name in ("index", "nwb"):  # start again: only the cell named may be read
        shutil.rmtree(config.cache_dir() / name, ignore_errors=True)
    world.server.log.clear()
    chosen = mouse.to_dask_sweeps({601790961: [5]}).compute(scheduler="sync")
    assert [(cell, sweep.sweep_number) for cell, sweep in chosen] == [(601790961, 5)]
    read = {entry.path for entry in _blobs(world)}
    assert read == {_blob_path(world, 601790961)}


def test_download_mode_fetches_in_concurrent_ranges(cat, world, monkeypatch):
    from patchseq_intake.access import opening

    monkeypatch.setattr(opening, "PART_BYTES", 1024 * 1024)
    world.server.faults.latency_s = 0.2  # requests in flight together overlap at the server, even on a busy machine
    source = _source(cat)
    source.read()
    blobs = _blobs(world)
    written = world.written[HUMAN_CELL]
    assert len(blobs) == written.size // (1024 * 1024) and all(b.range for b in blobs)
    assert world.server.most_at_once(blobs) == len(blobs)
    assert cached_path(source.cells[0]).read_bytes() == written.path.read_bytes()


# --- decoding: to the bit, on every layout -----------------------------------------------------------------


@pytest.mark.parametrize("writer", ["MIES 2020", "MIES newer", "pynwb"])
def test_decoded_pieces_equal_what_h5py_reads(tmp_path, writer):
    sweeps = varied_sweeps(scale=0.3, sampling_rate=20_000.0)
    path = tmp_path / "cell.nwb"
    if writer == "pynwb":
        write_cell_nwb(path, specimen_id=1, session_id=2, subject_id=3, sweeps=sweeps)
    else:
        write_mies_nwb(path, specimen_id=1, session_id=2, subject_id=3, sweeps=sweeps,
                       layout=MiesLayout(newer_mies=writer == "MIES newer"))
    content = path.read_bytes()
    with h5py.File(path, "r") as h5:
        index = build_index(h5, "x", len(content), DOWNLOADED, "cell")
        for series, array in index.arrays.items():
            assert array is not None, series
            decoded = array.decode([content[offset : offset + size] for offset, size in array.ranges()])
            np.testing.assert_array_equal(decoded, h5[series]["data"][()], err_msg=series)
        chunked = [a for a in index.arrays.values() if a.chunk_length]
        assert chunked if writer != "pynwb" else not chunked


def test_a_dataset_with_a_filter_numcodecs_is_not_asked_for_is_left_to_h5py(tmp_path):
    with h5py.File(tmp_path / "f.h5", "w") as h5:
        plain = h5.create_dataset("plain", data=np.arange(10.0))
        lzf = h5.create_dataset("lzf", data=np.arange(10000.0), chunks=(1000,), compression="lzf")
        assert StoredArray.of(plain) is not None and StoredArray.of(lzf) is None


# --- range reads that check themselves -------------------------------------------------------------------


def test_close_ranges_are_merged_and_far_ones_kept_apart():
    assert merge([(0, 10), (20, 10), (100_000, 5), (5, 3)]) == [(0, 30), (100_000, 5)]
    assert merge([(0, 10), (10 + 70_000, 1)]) == [(0, 10), (70_010, 1)]


@pytest.fixture
def served():
    content = bytes(range(256)) * 4000
    with LocalServer() as server:
        server.serve_file("/file", content, etag="0123456789abcdef0123456789abcdef-1")
        yield server, content


def test_ranges_come_back_as_asked(served):
    server, content = served
    spans = [(10, 20), (500_000, 1000), (40, 5)]
    tag = BlobTag("0123456789abcdef0123456789abcdef-1", len(content))
    pieces = fetch_ranges([f"{server.url}/file"], spans, size=len(content), tag=tag)
    assert pieces == [content[o : o + n] for o, n in spans]
    assert len(server.log) == 2  # (10, 20) and (40, 5) in one request


def test_an_answer_of_other_bytes_is_retried_then_refused(served, monkeypatch):
    from patchseq_intake.transport import download

    monkeypatch.setattr(download, "DEFAULT_RETRY", download.RetryPolicy(attempts=2, backoff_s=0.0))
    server, content = served
    total = len(content)
    answers = {
        "/short": (Reply(206, content[:5], {"Content-Range": f"bytes 0-99/{total}"}), "5 bytes instead of 100"),
        "/shifted": (Reply(206, content[7:107], {"Content-Range": f"bytes 7-106/{total}"}),
                     "asked for bytes=0-99, got HTTP 206 with Content-Range 'bytes 7-106/"),
        "/longer": (Reply(206, content[:100], {"Content-Range": f"bytes 0-199/{total}"}), "'bytes 0-199/"),
        "/whole": (Reply(200, content[:100]), "got HTTP 200"),
        "/sizeless": (Reply(206, content[:100], {"Content-Range": "bytes 0-99/*"}), "'bytes 0-99/*'"),
    }
    for path, (reply, problem) in answers.items():
        server.routes[path] = lambda request, reply=reply: reply
        with pytest.raises(FetchError, match=re.escape(problem)):
            fetch_ranges([f"{server.url}{path}"], [(0, 100)], size=total)
        assert len([e for e in server.log if e.path == path]) == 2, path  # retried once


def test_bytes_that_do_not_decode_name_the_series(cat, world, streamed, monkeypatch):
    from patchseq_intake.errors import NwbFormatError

    source = _source(cat, access="stream")
    source.read()
    index = _index_of(cat)
    response = index.sweep(4, 0, "cell").response
    monkeypatch.setattr(cell_reader, "fetch_ranges", lambda urls, spans, **checks: [bytes(size) for _, size in spans])
    with pytest.raises(NwbFormatError, match=f"the stored bytes of {response}/data do not decode"):
        source.sweep(4)


def test_externally_stored_data_is_left_to_h5py(tmp_path):
    with h5py.File(tmp_path / "f.h5", "w") as h5:
        (tmp_path / "raw.bin").write_bytes(np.arange(10.0).tobytes())
        outside = h5.create_dataset("outside", shape=(10,), dtype="<f8", external=[(str(tmp_path / "raw.bin"), 0, 80)])
        np.testing.assert_array_equal(outside[()], np.arange(10.0))
        assert StoredArray.of(outside) is None


def test_another_files_bytes_are_refused_by_size_and_etag(served):
    server, content = served
    with pytest.raises(ChecksumError, match="the file has 1024000 bytes, but 99 were expected"):
        fetch_ranges([f"{server.url}/file"], [(0, 10)], size=99)
    with pytest.raises(ChecksumError, match="ETag 0123456789abcdef0123456789abcdef-1, but the asset's dandi-etag is"):
        fetch_ranges([f"{server.url}/file"], [(0, 10)], size=len(content), tag=BlobTag("f" * 32 + "-1", len(content)))


def test_a_failing_url_hands_over_to_the_next(served):
    server, content = served
    pieces = fetch_ranges([f"{server.url}/missing", f"{server.url}/file"], [(3, 4)], size=len(content))
    assert pieces == [content[3:7]]
