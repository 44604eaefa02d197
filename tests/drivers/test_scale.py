"""Many cells: Dask workers, a cache shared between processes, and fetch()."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import time

import pandas as pd
import pytest

import patchseq_intake
from patchseq_intake import config
from patchseq_intake.access.opening import cached_path

MOUSE_CELLS = [601506507, 601790961, 601803754]
HUMAN_CELLS = [541549258, 569835804]


def _fetch_in_child(specimen_id: int, results) -> None:
    """Run in a child process: fetch one mouse cell's file, report its path."""
    source = patchseq_intake.open_catalog().mouse.ephys(specimen_id=specimen_id)
    results.put(str(source.fetch()[0]))


def _spawn(specimen_id: int, results) -> multiprocessing.Process:
    process = multiprocessing.get_context("spawn").Process(target=_fetch_in_child, args=(specimen_id, results))
    process.start()
    return process


def _prepare(cat, world):
    """Cache the mouse tables and asset index, so that only NWB bytes remain to fetch."""
    cat.mouse.ephys(specimen_id=MOUSE_CELLS[-1]).fetch()
    world.server.log.clear()


def test_sources_pickle_and_read_the_same(cat, world):
    source = cat.mouse.ephys(specimen_id=MOUSE_CELLS[:2], access="stream")
    restored = pickle.loads(pickle.dumps(source))
    assert restored.specimen_ids == source.specimen_ids and restored.access == source.access
    pd.testing.assert_frame_equal(restored.read(), source.read())


def test_to_dask_on_a_local_cluster_of_two_worker_processes(cat, world, cache_dir, tmp_path):
    distributed = pytest.importorskip("distributed")
    many = cat.mouse.ephys(specimen_id=MOUSE_CELLS)
    elsewhere = tmp_path / "worker-cache"
    # The workers' own environment points at another cache: the tasks must carry ours.
    import dask

    scratch = {"temporary-directory": str(tmp_path / "dask-scratch")}  # not the system's temporary folder
    with dask.config.set(scratch), distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
        worker_dashboard_address=None, env={config.CACHE_ENV: str(elsewhere)},
    ) as cluster, distributed.Client(cluster) as client:
        frame = many.to_dask().compute()
        worker_pids = client.run(os.getpid)
    assert len(set(worker_pids.values())) == 2 and os.getpid() not in worker_pids.values()
    assert sorted(frame["cell_specimen_id"].unique()) == sorted(MOUSE_CELLS)
    assert len(frame) == sum(len(world.written[cell].sweeps) for cell in MOUSE_CELLS)
    for cell in many.cells:
        assert cached_path(cell).exists()  # downloaded by a worker, into our cache
    assert not elsewhere.exists()


def test_fetch_downloads_a_selection_concurrently_once(cat, world):
    human = cat.human.ephys(filters=[["structure", "==", "MTG"]])
    world.server.faults.bandwidth_bytes_per_s = 4e6  # so that downloads overlap in time
    paths = human.fetch(max_concurrent=2)
    assert [p.name for p in paths] == [f"{world.written[c].sha256}.nwb" for c in HUMAN_CELLS]
    assert all(p.read_bytes() == world.written[c].path.read_bytes() for p, c in zip(paths, HUMAN_CELLS))
    blobs = world.replica.requests("blob")
    assert len(blobs) == 2 and world.server.most_at_once(blobs) == 2
    assert human.fetch() == paths
    assert len(world.replica.requests("blob")) == 2  # cached: nothing fetched again


def test_concurrency_is_bounded(cat, world):
    _prepare(cat, world)
    world.server.faults.bandwidth_bytes_per_s = 4e6
    cat.mouse.ephys(specimen_id=MOUSE_CELLS[:2]).fetch(max_concurrent=1)
    blobs = world.replica.requests("blob")
    assert len(blobs) == 2 and world.server.most_at_once(blobs) == 1


def test_two_processes_wanting_one_file_download_it_once(cat, world):
    _prepare(cat, world)
    world.server.faults.bandwidth_bytes_per_s = 1e6  # ~0.6 s for the file
    results = multiprocessing.get_context("spawn").Queue()
    processes = [_spawn(MOUSE_CELLS[0], results) for _ in range(2)]
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    paths = {results.get(timeout=5) for _ in processes}
    expected = world.written[MOUSE_CELLS[0]]
    assert paths == {str(cached_path(cat.mouse.ephys(specimen_id=MOUSE_CELLS[0]).cells[0]))}
    assert len(world.replica.requests("blob")) == 1
    assert open(paths.pop(), "rb").read() == expected.path.read_bytes()


def test_a_process_killed_mid_download_leaves_nothing_taken_for_good(cat, world):
    _prepare(cat, world)
    cell = cat.mouse.ephys(specimen_id=MOUSE_CELLS[0]).cells[0]
    final = cached_path(cell)
    world.server.faults.bandwidth_bytes_per_s = 100e3  # ~6 s for the file: time to kill it
    results = multiprocessing.get_context("spawn").Queue()  # kept referenced while the child starts
    process = _spawn(MOUSE_CELLS[0], results)
    partial = _wait_for_partial(final, timeout=30)
    process.kill()
    process.join(10)
    assert partial.exists() and not final.exists()
    world.server.faults.bandwidth_bytes_per_s = None
    assert cat.mouse.ephys(specimen_id=MOUSE_CELLS[0]).fetch() == [final]
    assert final.read_bytes() == world.written[MOUSE_CELLS[0]].path.read_bytes()
    assert list(final.parent.glob("*.part")) == []  # the dead process's leftovers are gone


def _wait_for_partial(final, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        partials = [p for p in final.parent.glob(f".{final.name}.*.part") if p.stat().st_size > 0]
        if partials:
            return partials[0]
        time.sleep(0.05)
    raise AssertionError(f"no partial download of {final.name} appeared within {timeout} s")
