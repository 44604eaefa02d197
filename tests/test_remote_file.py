"""Streaming an NWB file: block-cached range reads, and the metadata fetched a level ahead."""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest

from patchseq_intake.remote_file import RemoteFile
from patchseq_intake.sweeps import prefetch_sweep_metadata, read_sweep, read_sweep_table
from patchseq_intake.testing.nwb import default_sweeps, write_cell_nwb
from patchseq_intake.testing.server import LocalServer


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

    def counting(blocks):
        before = remote.ranges_fetched
        fetch(blocks)
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


def test_prefetch_turns_many_round_trips_into_a_few_batches(nwb_file):
    with LocalServer() as server:
        server.serve_file("/cell.nwb", nwb_file)
        tables, counts = [], []
        for prefetch in (False, True):
            remote = RemoteFile([f"{server.url}/cell.nwb"], nwb_file.stat().st_size)
            batches = _batches(remote)
            with h5py.File(remote, "r") as h5:
                if prefetch:
                    prefetch_sweep_metadata(h5, remote)
                tables.append(read_sweep_table(h5))
            counts.append(len(batches))
            assert remote.bytes_fetched < 0.5 * remote.size
    pd.testing.assert_frame_equal(tables[0], tables[1])
    one_by_one, batched = counts
    assert batched * 2 < one_by_one
