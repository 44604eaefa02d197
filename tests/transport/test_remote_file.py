"""Streaming an NWB file: block-cached range reads, and the metadata fetched a level ahead."""

from __future__ import annotations

import struct

import h5py
import numpy as np
import pandas as pd
import pytest

from patchseq_intake.access.table_prefetch import prefetch_sweep_table, stored_chunks
from patchseq_intake.nwb.labnotebook import SWEEP_KEY, first_device, key_columns
from patchseq_intake.nwb.sweep_table import NOTEBOOK_KEYS, read_sweep_table
from patchseq_intake.nwb.sweeps import read_sweep
from patchseq_intake.testing.mies import MiesLayout, write_mies_nwb
from patchseq_intake.testing.nwb import write_cell_nwb
from patchseq_intake.testing.physiology import default_sweeps
from patchseq_intake.testing.server import LocalServer
from patchseq_intake.transport.remote_file import RemoteFile


@pytest.fixture(scope="module")
def nwb_file(tmp_path_factory):
    """A 4 MB file of 17 full-length sweeps: big enough that a share of it means something."""
    path = tmp_path_factory.mktemp("remote") / "cell.nwb"
    write_cell_nwb(path, specimen_id=1, session_id=2, subject_id=3, sweeps=default_sweeps(sampling_rate=10e3))
    return path


@pytest.fixture
def remote(nwb_file):
    with LocalServer() as server:
        server.serve_file("/cell.nwb", nwb_file)
        yield RemoteFile([f"{server.url}/cell.nwb"], nwb_file.stat().st_size)


def _batches(remote: RemoteFile) -> list[int]:
    """Record, for each fetch that went to the network, how many requests it made at once."""
    batches = []
    fetch = remote._fetch

    def counting(blocks, concurrently):
        before = remote.ranges_fetched
        fetch(blocks, concurrently)
        if remote.ranges_fetched > before:
            batches.append(remote.ranges_fetched - before)

    remote._fetch = counting
    return batches


def test_reads_return_the_files_bytes_across_block_boundaries(remote, nwb_file):
    content = nwb_file.read_bytes()
    for offset, size in [(0, 10), (remote.block_bytes - 3, 7), (5 * remote.block_bytes + 1, 3 * remote.block_bytes), (len(content) - 5, 50)]:
        assert remote.read_at(offset, size) == content[offset : offset + size]


def test_one_sweep_fetches_a_small_share_of_the_file(remote, nwb_file):
    with h5py.File(remote, "r") as h5:
        streamed = read_sweep(h5, 10)
    with h5py.File(nwb_file, "r") as h5:
        local = read_sweep(h5, 10)
    np.testing.assert_array_equal(streamed.v, local.v)
    assert remote.bytes_fetched < 0.25 * remote.size


@pytest.fixture(scope="module", params=["pynwb", "MIES v1 headers", "MIES v2 headers"])
def layouts(request, nwb_file, tmp_path_factory):
    """The same kind of cell written by pynwb, and as MIES wrote the release (both header versions)."""
    if request.param == "pynwb":
        return nwb_file
    path = tmp_path_factory.mktemp("mies") / "cell.nwb"
    layout = MiesLayout(newer_mies=request.param.endswith("v2 headers"))
    write_mies_nwb(path, specimen_id=1, session_id=2, subject_id=3, sweeps=default_sweeps(sampling_rate=10e3),
                   layout=layout)
    return path


def test_prefetch_turns_many_round_trips_into_a_few_batches(layouts):
    with LocalServer() as server:
        server.serve_file("/cell.nwb", layouts)
        tables, counts = [], []
        for prefetch in (False, True):
            remote = RemoteFile([f"{server.url}/cell.nwb"], layouts.stat().st_size)
            batches = _batches(remote)
            with h5py.File(remote, "r") as h5:
                if prefetch:
                    prefetch_sweep_table(h5, remote)
                tables.append(read_sweep_table(h5))
            counts.append(len(batches))
            assert remote.bytes_fetched < 0.5 * remote.size
    pd.testing.assert_frame_equal(tables[0], tables[1])
    one_by_one, batched = counts
    # In MIES files about a dozen of the rest are data, not headers: lab notebook chunks, sweep-table columns.
    assert batched < 0.6 * one_by_one


def test_a_range_cut_mid_body_is_fetched_again(nwb_file):
    with LocalServer() as server:
        server.serve_file("/cell.nwb", nwb_file)
        server.faults.cut_after_bytes = 1000
        server.faults.cuts = 2
        remote = RemoteFile([f"{server.url}/cell.nwb"], nwb_file.stat().st_size)
        assert remote.read_at(0, 50_000) == nwb_file.read_bytes()[:50_000]
        server.wait_until_idle()
        assert [entry.body_bytes for entry in server.log[:2]] == [1000, 1000]


def _variant(path, **file_options):
    """A small file laid out unlike h5py's defaults, with the sweep layout the reader expects."""
    with h5py.File(path, "w", **file_options) as h5:
        for parent, suffix, kind in (("acquisition", "AD0", "CurrentClampSeries"), ("stimulus/presentation", "DA0", "CurrentClampStimulusSeries")):
            group = h5.require_group(parent)
            for number in range(300):
                series = group.create_group(f"data_{number:05d}_{suffix}")
                series.attrs["sweep_number"] = np.uint64(number)
                series.attrs["neurodata_type"] = kind
                series.attrs["stimulus_description"] = "X1PS_SubThresh_DA_0"
                data = series.create_dataset("data", data=np.zeros(100, np.float32))
                data.attrs["conversion"] = 1e-3
                series.create_dataset("starting_time", data=float(number)).attrs["rate"] = 10e3
                series.create_dataset("gain", data=0.5)
    return path


@pytest.mark.parametrize(
    "options",
    [{}, {"libver": "latest"}, {"userblock_size": 512}, {"track_order": True}],
    ids=["defaults, 300 sweeps (a deeper B-tree)", "libver latest", "user block", "track order"],
)
def test_prefetch_on_other_layouts_gives_the_same_table(tmp_path, options):
    path = _variant(tmp_path / "variant.h5", **options)
    with h5py.File(path, "r") as h5:
        local = read_sweep_table(h5)
    with LocalServer() as server:
        server.serve_file("/variant.h5", path)
        remote = RemoteFile([f"{server.url}/variant.h5"], path.stat().st_size)
        with h5py.File(remote, "r") as h5:
            prefetch_sweep_table(h5, remote)
            streamed = read_sweep_table(h5)
    pd.testing.assert_frame_equal(streamed, local)
    assert len(local) == 300


def test_the_crawl_survives_garbage():
    import os

    from patchseq_intake.access.hdf5_layout import index_task
    from patchseq_intake.access.hdf5_v2 import header_task

    noise = os.urandom(1 << 16)
    fetched = []
    # Header bytes (version 1, version 2) pointing anywhere, with absurd sizes: the walk must stop, not fail or hang.
    header = bytes([1, 0]) + (5).to_bytes(2, "little") + bytes(4) + (0xFFFFFFFF).to_bytes(4, "little") + bytes(4)
    data = header + b"OHDR" + bytes([2, 3]) + (1 << 20).to_bytes(8, "little") + noise

    def read_at(offset, size):
        fetched.append((offset, size))
        return data[offset : offset + min(size, 1 << 20)]

    tasks = [make(read_at, address) for make in (index_task, header_task) for address in (0, 16, 17, 1 << 40)]
    for _ in range(10_000):
        if not tasks:
            break
        try:
            tasks += tasks.pop()() or []
        except (ValueError, OverflowError, IndexError, struct.error):
            pass  # a task may fail on garbage: walk_rounds drops it, and h5py reads on demand
    assert not tasks and fetched  # it asked for something, and came back


def test_after_the_prefetch_a_sweep_table_needs_no_request(layouts):
    with LocalServer() as server:
        server.serve_file("/cell.nwb", layouts)
        remote = RemoteFile([f"{server.url}/cell.nwb"], layouts.stat().st_size)
        with h5py.File(remote, "r") as h5:
            prefetch_sweep_table(h5, remote)
            fetched = remote.ranges_fetched
            streamed = read_sweep_table(h5)
            assert remote.ranges_fetched == fetched
    with h5py.File(layouts, "r") as h5:
        pd.testing.assert_frame_equal(streamed, read_sweep_table(h5))


def test_only_the_notebook_chunks_of_the_keys_read_are_chosen(layouts):
    with h5py.File(layouts, "r") as h5:
        device = first_device(h5)
        if device is None:
            pytest.skip("pynwb's files have no lab notebook")
        values = device["numericalValues"]
        rows, width, layers = values.chunks
        columns = key_columns(device, [SWEEP_KEY, *NOTEBOOK_KEYS])
        blocks = {column // width for column in columns.values()}
        chosen = stored_chunks(values, lambda start: start[1] // width in blocks)
        every = stored_chunks(values)
        shape = values.shape
    per_block = -(-shape[0] // rows) * -(-shape[2] // layers)
    assert len(columns) == 3 and len(chosen) == per_block * len(blocks)
    assert len(every) == per_block * -(-shape[1] // width) > len(chosen)
    assert set(chosen) < set(every)


def test_reads_for_h5py_are_fetched_in_the_asking_thread_prefetches_concurrently():
    """h5py holds its lock while it reads: a read that waited on other threads could deadlock (see remote_file)."""
    import os
    import threading

    content = os.urandom(10_000_000)  # large enough that the first read also fetches the file's tail
    with LocalServer() as server:
        server.serve_file("/big", content)
        remote = RemoteFile([f"{server.url}/big"], len(content))
        fetched_by = set()
        fetch_run = remote._fetch_run

        def recording(first, last):
            fetched_by.add(threading.current_thread().name)
            fetch_run(first, last)

        remote._fetch_run = recording
        assert remote.read_at(100, 10) == content[100:110]
        assert fetched_by == {threading.current_thread().name} and remote.ranges_fetched == 2  # start and tail
        fetched_by.clear()
        remote.prefetch([(1_000_000, 10), (5_000_000, 10)])
        assert remote.ranges_fetched == 4 and all(name.startswith("remote-file") for name in fetched_by)
        remote.close()
