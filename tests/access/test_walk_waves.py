"""A cold stream-mode first contact walks the headers in a bounded number of waves, whoever wrote the file.

Counted on ``LocalServer`` (``testing.waves``): a wave is a group of requests
in flight together, a round trip waited for. The files are both writers'
(``testing.mies``: each kind of metadata written in one cluster;
``testing.mies_recorded``: objects placed in recording order, with the
knobs that change a walk), in both header versions, small (10 kHz, sweeps
of a tenth of their length: the headers and notebook are the release's).
"""

from __future__ import annotations

import threading
from dataclasses import replace

import h5py
import pytest

from patchseq_intake.access.cell_index import STREAMED, build_index
from patchseq_intake.access.walk_rounds import hdf5_survives_probing, in_rounds
from patchseq_intake.testing.mies import MiesLayout, write_mies_nwb
from patchseq_intake.testing.mies_recorded import RecordedLayout, recorded_sweeps, variants, write_recorded_nwb
from patchseq_intake.testing.server import LocalServer
from patchseq_intake.testing.waves import first_contact
from patchseq_intake.transport.remote_file import BlockMissing, RemoteFile

MOST_WAVES = 12
"""Issue 20's bound on a first contact's round trips, on every file of either writer, both header versions."""
LATENCY_S = 0.05
"""Large enough that the requests of one wave overlap on a loaded machine (the count rests on their overlap)."""
RATE, SCALE = 10_000.0, 0.1

IN_ROUNDS = pytest.mark.skipif(
    not hdf5_survives_probing(), reason=f"HDF5 {h5py.version.hdf5_version}: the walk does not run in rounds"
)


def _write(path, writer: str, layout, sweeps: int = 60):
    specs = recorded_sweeps(sweeps, scale=SCALE, sampling_rate=RATE)
    if writer == "mies":
        return write_mies_nwb(path, specimen_id=1, session_id=2, subject_id=3, sweeps=specs, layout=layout)
    return write_recorded_nwb(path, specimen_id=1, session_id=2, subject_id=3, sweeps=specs, layout=layout)


CASES = {
    **{f"mies v{2 if newer else 1}": ("mies", MiesLayout(newer_mies=newer)) for newer in (False, True)},
    **{f"recorded {name} v{2 if v2 else 1}": ("recorded", replace(layout, version2=v2))
       for name, layout in variants().items() for v2 in (False, True)},
}


def _local_index(path, size):
    with h5py.File(path, "r") as h5:
        return build_index(h5, "0" * 64, size, STREAMED, "local")


def _same_index(streamed, local) -> None:
    """Equal to the dict, but for the ETag (the local file has none) and the label."""
    ours, theirs = streamed.to_json(), local.to_json()
    for body in (ours, theirs):
        body.pop("etag")
    assert ours == theirs


@pytest.mark.parametrize("case", list(CASES))
@IN_ROUNDS
def test_a_cold_first_contact_takes_at_most_12_waves_and_builds_the_local_index(tmp_path, case):
    writer, layout = CASES[case]
    written = _write(tmp_path / "cell.nwb", writer, layout)
    walk = first_contact(written.path, LATENCY_S)
    assert walk.total.waves <= MOST_WAVES, walk.steps
    assert walk.steps["index"].requests == 0  # build_index reads nothing on demand: the walk fetched it all
    _same_index(walk.index, _local_index(written.path, written.size))


@IN_ROUNDS
def test_a_300_sweep_recorded_file_with_version_2_headers_too(tmp_path):
    """Dense links (a fractal heap of 300 links and its B-tree), deeper chunk-index trees: before the walk in
    rounds, h5py listed such a group a heap block per round trip (63 waves on the full-size file)."""
    written = _write(tmp_path / "cell.nwb", "recorded", RecordedLayout(version2=True, note_bytes=2000), sweeps=300)
    walk = first_contact(written.path, LATENCY_S)
    assert walk.total.waves <= MOST_WAVES, walk.steps
    _same_index(walk.index, _local_index(written.path, written.size))


# --- the rounds: as many waves as the longest chain of dependent reads -------------------------------------


PAGE = 128 * 1024


@pytest.fixture()
def chained(tmp_path):
    """A file of pages far apart (no read-ahead, no merged request joins two); each page's first 8 bytes name
    the next page to read (0: the end)."""
    pages = 48
    content = bytearray(pages * PAGE)
    for chain in range(8):  # eight chains of five pages each: 1 + 8c -> 2 + 8c -> ... (far apart: no read-ahead joins)
        for step in range(5):
            page = 1 + chain + 8 * step
            following = 1 + chain + 8 * (step + 1) if step < 4 else 0
            content[page * PAGE : page * PAGE + 8] = following.to_bytes(8, "little")
    with LocalServer() as server:
        server.serve_file("/chained", bytes(content))
        server.faults.latency_s = LATENCY_S
        yield server, RemoteFile([f"{server.url}/chained"], len(content))


def _follow(remote, page):
    def task():
        following = int.from_bytes(remote.read_at(page * PAGE, 8), "little")
        return [_follow(remote, following)] if following else None

    return task


def test_independent_chains_take_as_many_waves_as_the_longest(chained):
    server, remote = chained
    waves = in_rounds(remote, [_follow(remote, 1 + chain) for chain in range(8)])
    assert waves == 5  # five pages deep; eight chains side by side
    assert len(server.log) == 8 * 5 and server.most_at_once() >= 8


def test_a_task_that_fails_for_another_reason_is_dropped_not_retried(chained):
    server, remote = chained
    calls = []

    def broken():
        calls.append(1)
        raise KeyError("a structure h5py refuses")

    assert in_rounds(remote, [broken, _follow(remote, 1)]) == 5
    assert calls == [1]


def test_probing_reads_raise_and_name_the_blocks_other_threads_read_as_usual(chained):
    _, remote = chained
    with remote.probing() as missed:
        with pytest.raises(BlockMissing):
            remote.read_at(3 * PAGE, 10)
        elsewhere = []
        thread = threading.Thread(target=lambda: elsewhere.append(remote.read_at(5 * PAGE, 8)))
        thread.start()
        thread.join()
    assert missed == {3 * PAGE // remote.block_bytes}
    assert len(elsewhere[0]) == 8  # fetched: that thread was not probing
    assert len(remote.read_at(3 * PAGE, 10)) == 10  # no longer probing: fetched on demand


def test_an_hdf5_library_that_does_not_survive_probing_gets_no_walk_and_the_same_index(tmp_path, monkeypatch):
    from patchseq_intake.access import first_contact as choice
    from patchseq_intake.access import table_prefetch, walk_rounds

    written = _write(tmp_path / "cell.nwb", "mies", MiesLayout(newer_mies=True), sweeps=20)
    for module in (walk_rounds, table_prefetch):  # as HDF5 1.12-1.14 (walk_rounds)
        monkeypatch.setattr(module, "hdf5_survives_probing", lambda: False)

    def no_probing(*args, **kwargs):
        raise AssertionError("a read probed on an HDF5 library that aborts where such a read fails")

    monkeypatch.setattr(RemoteFile, "probing", no_probing)
    walk = first_contact(written.path, 0.0)
    _same_index(walk.index, _local_index(written.path, written.size))
    assert walk.steps["index"].requests > 0  # h5py read on demand what the walk would have fetched
    assert choice.walk_waves() == choice.ON_DEMAND_WAVES
    link = choice.Link(rtt_s=0.1, connection_bytes_per_s=10e6)  # where the walk in rounds wins clearly
    assert link.walk_s(23_000_000) > link.download_s(23_000_000, 10e6)
    monkeypatch.setattr(walk_rounds, "hdf5_survives_probing", lambda: True)
    assert link.walk_s(23_000_000) < link.download_s(23_000_000, 10e6)
