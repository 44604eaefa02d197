"""Features of many cells: one table lazily, on every scheduler, on a distributed client; sweeps streamed sparingly.

Each computation here starts from a cache without features (the files and
tables stay), so that every scheduler computes rather than reads.
"""

from __future__ import annotations

import shutil

import dask
import h5py
import pandas as pd
import pytest

from patchseq_intake import config
from patchseq_intake.features import extraction
from patchseq_intake.testing.physiology import TEST, VOLTAGE_CLAMP, SweepSpec

from .conftest import RATE, SMALL, Recipe

CELLS = [601506507, 601790961, 601803754]


@pytest.fixture
def world(serve_cells):
    return serve_cells({cell: SMALL for cell in CELLS})


def _features(cat, **kwargs):
    return cat.mouse.features(specimen_id=CELLS, **kwargs)


def _forget_features(cache_dir) -> None:
    shutil.rmtree(cache_dir / config.FEATURES_DIR, ignore_errors=True)


def test_every_scheduler_and_to_dask_give_the_same_table(cat, world, cache_dir, monkeypatch):
    here: list[int] = []  # the cells computed in this process
    real = extraction.cell_features
    monkeypatch.setattr(extraction, "cell_features", lambda data, p: here.append(1) or real(data, p))
    reference = _features(cat, scheduler="sync").read()
    assert len(reference) == 3 and reference["error"].isna().all() and reference["rheobase_i"].notna().all()
    for scheduler, computed_here in (("threads", 3), ("processes", 0)):
        _forget_features(cache_dir)
        here.clear()
        pd.testing.assert_frame_equal(_features(cat, scheduler=scheduler, num_workers=2).read(), reference)
        assert len(here) == computed_here, scheduler
    _forget_features(cache_dir)
    lazy = _features(cat).to_dask()
    assert lazy.npartitions == 3
    pd.testing.assert_frame_equal(lazy.compute(scheduler="sync").reset_index(drop=True), reference)
    pd.testing.assert_frame_equal(_features(cat).read_partition(1), reference.iloc[[1]].reset_index(drop=True))


def test_an_active_distributed_client_computes_the_cells(cat, world, cache_dir, tmp_path):
    distributed = pytest.importorskip("distributed")
    reference = _features(cat, scheduler="sync").read()
    _forget_features(cache_dir)
    scratch = {"temporary-directory": str(tmp_path / "dask-scratch")}
    with dask.config.set(scratch), distributed.LocalCluster(
        processes=False, n_workers=2, threads_per_worker=1, dashboard_address="127.0.0.1:0",
        worker_dashboard_address="127.0.0.1:0",  # in-process (inproc://), but their web servers on loopback only
    ) as cluster, distributed.Client(cluster) as client, distributed.get_task_stream(client) as stream:
        table = _features(cat, scheduler="sync").read()  # the client, not the scheduler named
        workers = set(client.scheduler_info()["workers"])
    pd.testing.assert_frame_equal(table, reference)
    ran = [task for task in stream.data if "features_row" in str(task["key"])]
    assert len(ran) == 3 and {task["worker"] for task in ran} <= workers and len(workers) == 2


def _with_voltage_clamp_sweeps(count: int = 16) -> Recipe:
    """``SMALL`` and ``count`` 6 s voltage clamp test sweeps after it: sweeps no feature needs, most of the file."""
    sweeps = SMALL.sweeps
    extra = tuple(
        SweepSpec(sweeps[-1].sweep_number + 1 + i, "EXTPINBATH180424", VOLTAGE_CLAMP, TEST, 10.0, 6.0, RATE)
        for i in range(count)
    )
    return Recipe(sweeps + extra)


def test_stream_mode_reads_only_the_sweeps_the_features_need(cat, serve_cells, streamed):
    recipe = _with_voltage_clamp_sweeps()
    world = serve_cells({CELLS[0]: recipe})
    written = world.written[CELLS[0]]
    last_needed = SMALL.sweeps[-1].sweep_number
    unneeded = [s for s in written.sweeps if s.clamp_mode == VOLTAGE_CLAMP and s.sweep_number > last_needed]
    with h5py.File(written.path, "r") as h5:
        unneeded_bytes = sum(h5[name]["data"].id.get_storage_size() for s in unneeded
                             for name in (s.response_name, s.stimulus_name) if name)
    assert unneeded_bytes > written.size / 2  # most of the file
    row = cat.mouse.features(specimen_id=CELLS[0], access="stream").read().iloc[0]
    assert pd.isna(row["error"]) and row["rheobase_i"] == 180.0
    blobs = world.replica.requests("blob")
    assert blobs and all(entry.range for entry in blobs)
    moved = sum(entry.body_bytes for entry in blobs)
    assert moved < written.size - unneeded_bytes, (moved, written.size, unneeded_bytes)
