"""The index store: indexes shared beyond one cache, read first and written back, never trusted as they come.

On the local replica: a folder, ``memory://`` and a read-only ``http://`` store
(served by the replica's own server, so that its GETs are counted with DANDI's
requests), an unreachable one, damaged objects, writers at once.
"""

from __future__ import annotations

import json
import pickle
import re
import shutil
import socket
import threading
import uuid
import warnings
from pathlib import Path

import pytest

from patchseq_intake import config
from patchseq_intake.access import cell_index, index_store
from patchseq_intake.access.cell_index import (
    INDEX_SCHEMA,
    CellIndex,
    judge,
    builder,
    index_path,
    load_index,
    store_name,
)
from patchseq_intake.access.modes import Access
from patchseq_intake.errors import CacheIntegrityWarning, IndexStoreWarning
from patchseq_intake.transport.sealed import seal

HUMAN_CELL = 569835804
OTHER_HUMAN_CELL = 541549258


@pytest.fixture(autouse=True)
def a_new_process_for_the_store(monkeypatch):
    """Each test is a new process for the store's once-said warnings, and no store from the caller's shell."""
    monkeypatch.delenv(config.INDEX_STORE_ENV, raising=False)
    for name in ("_unreadable", "_unwritable", "_said"):
        monkeypatch.setattr(index_store, name, set())


@pytest.fixture
def memory_store():
    """A ``memory://`` store of this test's own, emptied after it."""
    import fsspec

    url = f"memory://stores/{uuid.uuid4().hex}"
    yield url
    memory = fsspec.filesystem("memory")
    if memory.exists(url):
        memory.rm(url, recursive=True)


def _source(cat, specimen_id=HUMAN_CELL, **parameters):
    return cat.human.ephys(specimen_id=specimen_id, access="stream", **parameters)


def _cell(cat, specimen_id=HUMAN_CELL):
    return cat.human.ephys(specimen_id=specimen_id).cells[0]


def _forget_the_cached_indexes():
    """An empty index cache, as a new machine's (the tables and the asset listing stay: they are not at issue)."""
    shutil.rmtree(config.cache_dir() / config.INDEX_DIR, ignore_errors=True)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _store_warnings(caught) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, IndexStoreWarning)]


# --- a store shared beyond one cache -----------------------------------------------------------------


def test_a_folder_store_gets_each_index_and_an_empty_cache_reads_it_with_no_request(cat, world, streamed, tmp_path):
    store = tmp_path / "lab store"
    table = _source(cat, index_store=str(store)).read()
    cell = _cell(cat)
    (stored,) = store.iterdir()
    assert stored.name == f"{cell.checksum.value}.v{INDEX_SCHEMA}.{builder()}.json" == store_name(cell.checksum.value)
    assert stored.read_bytes() == index_path(cell.checksum.value).read_bytes()
    _forget_the_cached_indexes()
    world.server.log.clear()
    assert _source(cat, index_store=f"file://{store}").read().equals(table)
    assert world.replica.requests() == []  # no walk, no listing, no API request
    assert index_path(cell.checksum.value).read_bytes() == stored.read_bytes()  # copied into the cache


def test_the_parameter_wins_over_the_variable_which_serves_where_none_is_given(
    cat, world, streamed, memory_store, monkeypatch
):
    import fsspec

    memory = fsspec.filesystem("memory")
    name = store_name(_cell(cat).checksum.value)
    monkeypatch.setenv(config.INDEX_STORE_ENV, f"{memory_store}/variable")
    _source(cat, index_store=f"{memory_store}/parameter").read()
    assert memory.exists(f"{memory_store}/parameter/{name}") and not memory.exists(f"{memory_store}/variable/{name}")
    _forget_the_cached_indexes()
    _source(cat).read()  # no parameter: the variable's store; the index built again, and written there
    assert memory.cat_file(f"{memory_store}/variable/{name}") == memory.cat_file(f"{memory_store}/parameter/{name}")


def test_a_memory_store_serves_a_new_reader_with_no_request(cat, world, streamed, memory_store):
    table = _source(cat, index_store=memory_store).read()
    _forget_the_cached_indexes()
    world.server.log.clear()
    assert _source(cat, index_store=memory_store).read().equals(table)
    assert world.replica.requests() == []


def test_with_a_populated_http_store_a_sweep_table_is_one_request_and_a_sweep_one_wave_more(
    cat, world, streamed, tmp_path
):
    folder = tmp_path / "store"
    table = _source(cat, index_store=str(folder)).read()
    name = store_name(_cell(cat).checksum.value)
    world.server.serve_file(f"/store/{name}", (folder / name).read_bytes())
    _forget_the_cached_indexes()
    world.server.faults.latency_s = 0.05  # so that requests in flight together overlap at the server
    world.server.log.clear()
    source = _source(cat, index_store=f"{world.server.url}/store")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a read-only store that is only read says nothing
        assert source.read().equals(table)
    assert [(r.method, r.path, r.status) for r in world.server.log] == [("GET", f"/store/{name}", 200)]
    world.server.log.clear()
    sweep = source.sweep(9)
    log = list(world.server.log)
    assert log and all(r.path.startswith("/s3/blobs/") for r in log)  # no API request: the index has the etag
    assert world.server.most_at_once(log) == len(log)  # one wave
    assert sweep.sweep_number == 9


def test_a_read_only_store_is_read_and_never_written_and_says_so_once(cat, world, streamed):
    world.server.log.clear()
    url = f"{world.server.url}/store"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = _source(cat, index_store=url).read()
        second = _source(cat, OTHER_HUMAN_CELL, index_store=url).read()
    assert len(first) and len(second)
    said = _store_warnings(caught)
    assert len(said) == 1 and f"the index store {url} is read-only" in said[0] and "this cache only" in said[0]
    assert {r.method for r in world.server.log} == {"GET"}  # misses (404), then the walks: nothing written
    assert index_path(_cell(cat).checksum.value).exists()  # the local cache has it


@pytest.mark.parametrize("where", ["a closed port", "a file for a folder"])
def test_an_unreachable_store_falls_back_with_one_warning_a_process(cat, world, streamed, tmp_path, where):
    if where == "a closed port":
        url = f"http://127.0.0.1:{_closed_port()}/store"
    else:
        (tmp_path / "not a folder").write_text("a file")
        url = str(tmp_path / "not a folder")
    expected = {cell: _source(cat, cell).read() for cell in (HUMAN_CELL, OTHER_HUMAN_CELL)}
    _forget_the_cached_indexes()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for cell, table in expected.items():
            assert _source(cat, cell, index_store=url).read().equals(table)
    said = _store_warnings(caught)
    assert len(said) == 1 and f"the index store {url} cannot be read" in said[0] and "not asked again" in said[0]


def _damaged(raw: bytes, damage: str) -> bytes:
    body = json.loads(raw)
    body.pop("digest")
    if damage == "edited":
        return raw.replace(b'"sweep_number":', b'"sweep_number":1', 1)
    if damage == "not JSON":
        return raw[: len(raw) // 2]
    if damage == "another schema":
        return seal({**body, "schema": INDEX_SCHEMA - 1}).encode()
    if damage == "other code":
        return seal({**body, "builder": "0" * 16}).encode()
    if damage == "other bytes":
        return seal({**body, "size": body["size"] + 1}).encode()
    return seal({**body, "checksum": "0" * 64}).encode()  # another file's index under this name


@pytest.mark.parametrize(
    "damage", ["edited", "not JSON", "another schema", "other code", "other bytes", "another file's"]
)
def test_an_index_in_the_store_that_does_not_match_its_file_is_rebuilt_and_replaced(
    cat, world, streamed, tmp_path, damage
):
    store = tmp_path / "store"
    table = _source(cat, index_store=str(store)).read()
    cell = _cell(cat)
    stored = store / store_name(cell.checksum.value)
    good = stored.read_bytes()
    stored.write_bytes(_damaged(good, damage))
    _forget_the_cached_indexes()
    with pytest.warns(CacheIntegrityWarning, match=rf"{re.escape(str(store))}.*does not match its file") as caught:
        assert _source(cat, index_store=str(store)).read().equals(table)
    assert sum(issubclass(w.category, CacheIntegrityWarning) for w in caught) == 1
    assert judge(stored.read_bytes(), cell.checksum.value, cell.size)[1] is None  # replaced by a valid index
    assert json.loads(stored.read_bytes()) == json.loads(good)


def test_a_distrusted_object_is_said_once_a_process(cat, world, streamed, tmp_path):
    store = tmp_path / "store"
    _source(cat, index_store=str(store)).read()
    cell = _cell(cat)
    stored = store / store_name(cell.checksum.value)
    stored.write_bytes(b"not an index")
    read = []
    judged = cell_index.judge
    with warnings.catch_warnings(record=True) as caught, pytest.MonkeyPatch.context() as patch:
        warnings.simplefilter("always")
        patch.setattr(cell_index, "judge", lambda raw, *args: read.append(raw) or judged(raw, *args))
        for _ in range(2):
            _forget_the_cached_indexes()  # not cached: each load asks the store, and reads its bad object
            assert load_index(cell.checksum.value, cell.size, str(store)) is None
    assert read == [b"not an index"] * 2  # the bad object read twice...
    assert sum(issubclass(w.category, CacheIntegrityWarning) for w in caught) == 1  # ...and said once


def test_writers_at_once_leave_one_valid_index(cat, world, streamed, tmp_path, memory_store):
    _source(cat).read()
    cell = _cell(cat)
    index = load_index(cell.checksum.value, cell.size)
    for url in (str(tmp_path / "store"), memory_store):
        start = threading.Barrier(8)

        def write(url=url, start=start):
            start.wait()
            cell_index.save_index(index, url)

        writers = [threading.Thread(target=write) for _ in range(8)]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join(30)
        raw = index_store.get(url, store_name(cell.checksum.value))
        assert judge(raw, cell.checksum.value, cell.size)[1] is None
    assert [p.name for p in (tmp_path / "store").iterdir()] == [store_name(cell.checksum.value)]  # no .part left


def test_offline_a_network_store_is_not_asked_and_a_folder_still_is(cat, world, streamed, tmp_path, monkeypatch):
    store = tmp_path / "store"
    table = _source(cat, index_store=str(store)).read()
    _forget_the_cached_indexes()
    cell = _cell(cat)
    monkeypatch.setenv(config.OFFLINE_ENV, "1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert load_index(cell.checksum.value, cell.size, f"http://127.0.0.1:{_closed_port()}") is None
    assert _store_warnings(caught) == []  # not asked: not found unreachable
    assert _source(cat, index_store=str(store)).read().equals(table)  # offline: the folder's index gives the table


# --- the store travels with the access mode --------------------------------------------------------------


def test_the_store_travels_with_the_access_mode_to_workers_and_features(cat, world, streamed, memory_store):
    from patchseq_intake.drivers.ephys import read_cell_sweeps

    source = _source(cat, index_store=memory_store)
    table = source.read()
    _forget_the_cached_indexes()
    access = pickle.loads(pickle.dumps(source.access))  # as a Dask worker gets it
    assert access == Access("stream", None, memory_store)
    world.server.log.clear()
    part = read_cell_sweeps(source.cells[0], access, config.snapshot())
    assert part.drop(columns="cell_specimen_id").equals(table.drop(columns="cell_specimen_id"))
    assert world.replica.requests() == []  # from the store
    assert source.features().access == access
    assert cat.human.features(index_store=memory_store).access.index_store == memory_store


def test_a_worker_process_reads_the_store_the_variable_names(cat, world, streamed, tmp_path, monkeypatch):
    store = tmp_path / "store"
    monkeypatch.setenv(config.INDEX_STORE_ENV, str(store))
    source = _source(cat)
    table = source.read()
    _forget_the_cached_indexes()
    world.server.log.clear()
    computed = source.to_dask().compute(scheduler="processes", num_workers=1)
    assert computed.reset_index(drop=True).equals(table)
    assert world.replica.requests() == []  # the worker found the index in the store, walked nothing


def test_an_empty_parameter_is_the_variables_store():
    assert Access("stream", None, "  ").index_store is None
    assert index_store.in_force(None) is None
    with index_store.using(""):
        assert index_store.in_force() is None
    with index_store.using("memory://x/"):
        assert index_store.in_force() == "memory://x"


def test_an_index_file_from_the_store_is_the_same_index(cat, world, streamed, memory_store):
    _source(cat, index_store=memory_store).read()
    cell = _cell(cat)
    raw = index_store.get(memory_store, store_name(cell.checksum.value))
    assert CellIndex.from_json(json.loads(raw)) == load_index(cell.checksum.value, cell.size)


@pytest.mark.parametrize("named_by", ["variable", "parameter"])
def test_features_read_and_write_the_store(ipfx_world, cat, streamed, tmp_path, monkeypatch, named_by):
    pytest.importorskip("ipfx")
    from patchseq_intake.access import cell_reader

    store = tmp_path / "store"
    given = {"index_store": str(store)} if named_by == "parameter" else {}
    if named_by == "variable":
        monkeypatch.setenv(config.INDEX_STORE_ENV, str(store))
    first = cat.human.features(specimen_id=HUMAN_CELL, access="stream", scheduler="sync", **given).read()
    checksum = _cell(cat).checksum.value
    assert (store / store_name(checksum)).exists()  # the index IPFX's sweeps were read through, shared
    _forget_the_cached_indexes()
    shutil.rmtree(config.cache_dir() / config.FEATURES_DIR)

    def no_walk(*args, **kwargs):
        raise AssertionError("the index was built again, not read from the store")

    monkeypatch.setattr(cell_reader, "build_index", no_walk)
    again = cat.human.features(specimen_id=HUMAN_CELL, access="stream", scheduler="sync", **given).read()
    assert again.equals(first) and index_path(checksum).exists()


# --- where a store's name is fixed: a relative folder is the caller's, a mistyped URL refused ------------------


def test_a_relative_folder_is_made_absolute_where_the_access_is_made(tmp_path, monkeypatch):
    from patchseq_intake.errors import AccessError

    monkeypatch.chdir(tmp_path)
    access = Access("stream", None, " lab/store/ ")
    assert access.index_store == str(tmp_path / "lab" / "store")
    monkeypatch.chdir("/")
    assert pickle.loads(pickle.dumps(access)).index_store == str(tmp_path / "lab" / "store")  # not made again
    assert Access("stream", None, "s3://bucket/x/").index_store == "s3://bucket/x"  # a URL as given
    assert Access("stream", None, "~/store").index_store == str(Path.home() / "store")
    with pytest.raises(AccessError, match=r"index_store='s3//bucket': s3//bucket looks like a mistyped URL .*s3://"):
        Access("stream", None, "s3//bucket")


def test_a_mistyped_url_is_refused_naming_the_parameter_or_the_variable(cat, world, monkeypatch):
    from patchseq_intake.errors import AccessError, SettingError

    with pytest.raises(AccessError, match=r"index_store='gs//bucket/x'.*mistyped URL"):
        _source(cat, index_store="gs//bucket/x")
    monkeypatch.setenv(config.INDEX_STORE_ENV, "s3//bucket")
    with pytest.raises(SettingError, match=rf"{config.INDEX_STORE_ENV}='s3//bucket'.*mistyped URL"):
        _source(cat)
    with pytest.raises(SettingError, match=config.INDEX_STORE_ENV):
        index_store.in_force()


def test_a_relative_folder_in_the_variable_is_the_callers_in_a_worker_started_elsewhere(
    cat, world, streamed, tmp_path, monkeypatch
):
    (tmp_path / "here").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    monkeypatch.setenv(config.INDEX_STORE_ENV, "store")
    source = _source(cat)
    assert source.access.index_store == str(tmp_path / "here" / "store")
    table = source.read()
    assert (tmp_path / "here" / "store" / store_name(_cell(cat).checksum.value)).exists()
    _forget_the_cached_indexes()
    monkeypatch.chdir(tmp_path / "elsewhere")  # the worker starts here: "store" would be another folder
    world.server.log.clear()
    computed = source.to_dask().compute(scheduler="processes", num_workers=1)
    assert computed.reset_index(drop=True).equals(table)
    assert world.replica.requests() == []  # the worker found the index in the caller's folder
    assert not (tmp_path / "elsewhere" / "store").exists()


@pytest.mark.parametrize(("url", "package"), [("s3://lab-bucket/indexes", "s3fs"), ("gs://lab-bucket/indexes", "gcsfs")])
def test_an_object_store_without_its_backend_says_what_to_install(url, package):
    pytest.importorskip("fsspec")
    try:
        __import__(package)
    except ImportError:
        pass
    else:
        pytest.skip(f"{package} is installed here")
    with pytest.raises(index_store.StoreUnusable, match=rf"{re.escape(url)} needs a package that is not installed .*: pip install {package}$"):
        index_store.get(url, "x.json")
