"""Spike times through the drivers: ``Sweep.spike_times`` and ``spike_times()`` alike downloaded, streamed and local.

On the local replica of the world (``testing.world``); requests counted from the replica's log.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

import patchseq_intake
from patchseq_intake.access.cell_index import INDEX_SCHEMA, index_path, load_index
from patchseq_intake.access.opening import cached_path
from patchseq_intake.errors import CacheIntegrityWarning
from patchseq_intake.testing.mies import MiesLayout, threshold_times, write_mies_nwb
from patchseq_intake.testing.physiology import default_sweeps
from patchseq_intake.testing.world import DEMO_CELLS, serve_world, write_world_files
from patchseq_intake.transport import download
from patchseq_intake.transport.sealed import seal, unseal

CELL = 569835804  # human
COLUMNS = ["cell_specimen_id", "sweep_number", "spike_time"]


def _source(cat, access="download", specimen_id=CELL):
    return cat.human.ephys(specimen_id=specimen_id, access=access)


def _numbers(written):
    """A sweep that fired, an analysed one that did not, and a test sweep (not analysed)."""
    firing = next(s.sweep_number for s in written.sweeps if s.spike_peak_times)
    quiet = next(s.sweep_number for s in written.sweeps if s.kind == "long_square" and not s.spike_peak_times)
    return firing, quiet, 0


def test_a_sweeps_spike_times_are_alike_downloaded_streamed_and_read_from_the_file(cat, world, streamed):
    written = world.written[CELL]
    numbers = _numbers(written)
    stream = _source(cat, "stream")
    streamed_sweeps = stream.sweeps(list(numbers))  # the index streamed, the samples as ranges, spikes from the index
    assert not cached_path(stream.cells[0]).exists()  # streamed, not downloaded
    downloaded = _source(cat).sweeps(list(numbers))  # read with h5py from the verified file
    local = patchseq_intake.read_nwb(str(written.path)).sweeps(list(numbers))
    for ways in zip(downloaded, streamed_sweeps, local, strict=True):
        firsts = [sweep.spike_times for sweep in ways]
        if ways[0].sweep_number == 0:
            assert firsts == [None, None, None]
            continue
        for times in firsts:
            assert times is not None and times.dtype == np.float64
            np.testing.assert_array_equal(times, firsts[0])
    summary = written.sweep(numbers[0])
    np.testing.assert_allclose(downloaded[0].spike_times, threshold_times(summary.spike_peak_times, summary.stimulus_start, summary.sampling_rate))
    assert len(downloaded[1].spike_times) == 0


def test_the_spike_times_table_is_alike_downloaded_streamed_and_read_from_the_file(cat, world, streamed):
    written = world.written[CELL]
    downloaded = _source(cat).spike_times()
    streamed_table = _source(cat, "stream").spike_times()
    local = patchseq_intake.read_nwb(str(written.path)).spike_times()
    assert list(downloaded.columns) == COLUMNS and list(local.columns) == COLUMNS[1:]
    assert downloaded.dtypes.astype(str).tolist() == ["int64", "int64", "float64"]
    pd.testing.assert_frame_equal(streamed_table, downloaded)
    pd.testing.assert_frame_equal(local, downloaded[COLUMNS[1:]])
    firing = [s for s in written.sweeps if s.spike_peak_times]
    assert set(downloaded.cell_specimen_id) == {CELL} and len(downloaded) == sum(len(s.spike_peak_times) for s in firing)
    for summary in firing:
        times = downloaded.loc[downloaded.sweep_number == summary.sweep_number, "spike_time"]
        np.testing.assert_allclose(times, threshold_times(summary.spike_peak_times, summary.stimulus_start, summary.sampling_rate))
    analysed = downloaded.attrs["analysed_sweeps"][CELL]
    assert analysed == local.attrs["analysed_sweeps"] and {s.sweep_number for s in firing} < set(analysed)
    assert downloaded.attrs["without_spike_times"] == []


def test_streamed_the_table_costs_no_request_beyond_the_index(cat, world, streamed):
    source = _source(cat, "stream")
    source.read()  # the index, built once by streaming
    world.server.log.clear()
    table = source.spike_times()
    assert world.server.log == [] and len(table) > 0
    world.stop()  # a new source, in a new reader: from the cached index, with nothing to ask
    pd.testing.assert_frame_equal(_source(cat, "stream").spike_times(), table)


def test_a_cold_stream_builds_the_index_and_downloads_nothing(cat, world, streamed):
    source = _source(cat, "stream")
    table = source.spike_times()
    blobs = world.replica.requests("blob")
    assert blobs and all(entry.range for entry in blobs)  # ranges only: never the whole file
    assert not cached_path(source.cells[0]).exists() and len(table) > 0


@pytest.fixture
def mixed_world(tmp_path, monkeypatch):
    """The two human cells, one of whose files holds no spike times (the pipeline never analysed it)."""
    plans = tuple(plan for plan in DEMO_CELLS if plan.archive == "human")
    files = write_world_files(tmp_path / "nwb", plans, sweeps=default_sweeps(scale=0.1, sampling_rate=10e3))
    bare = next(plan for plan in plans if plan.specimen_id != CELL)
    files[bare] = write_mies_nwb(
        files[bare].path, specimen_id=bare.specimen_id, session_id=bare.session_id, subject_id=bare.subject_id,
        sweeps=default_sweeps(scale=0.1, sampling_rate=10e3), layout=MiesLayout(spikes=False),
    )
    running = serve_world(files)
    for name, value in running.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(download, "DEFAULT_RETRY", download.RetryPolicy(attempts=3, backoff_s=0.01))
    yield running, bare.specimen_id
    running.stop()


@pytest.mark.parametrize("access", ["download", "stream"])
def test_a_cell_whose_file_holds_none_has_no_rows_and_is_named(cat, mixed_world, streamed, access):
    world, bare = mixed_world
    table = cat.human.ephys(specimen_id=[CELL, bare], access=access).spike_times()
    assert set(table.cell_specimen_id) == {CELL}
    assert table.attrs["without_spike_times"] == [bare] and list(table.attrs["analysed_sweeps"]) == [CELL]
    assert patchseq_intake.read_nwb(str(world.written[bare].path)).spike_times().attrs["analysed_sweeps"] is None
    assert cat.human.ephys(specimen_id=bare, access=access).sweep(9).spike_times is None


def test_an_index_of_the_schema_before_spike_times_is_built_again(cat, world, streamed):
    source = _source(cat, "stream")
    table = source.spike_times()
    cell = source.cells[0]
    current = index_path(cell.checksum.value)
    body = unseal(current.read_bytes())
    del body["spikes"]
    old = current.with_name(current.name.replace(f".v{INDEX_SCHEMA}.", f".v{INDEX_SCHEMA - 1}."))
    old.write_text(seal({**body, "schema": INDEX_SCHEMA - 1}))
    current.unlink()  # only the older schema's index is left: it is not read, and the index is built again
    pd.testing.assert_frame_equal(_source(cat, "stream").spike_times(), table)
    assert current.exists() and "spikes" in json.loads(current.read_text())
    current.write_text(seal(body))  # this schema's name, without the spike times (an edited file): refused
    with pytest.warns(CacheIntegrityWarning):
        assert load_index(cell.checksum.value, cell.size) is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CacheIntegrityWarning)
        pd.testing.assert_frame_equal(_source(cat, "stream").spike_times(), table)
