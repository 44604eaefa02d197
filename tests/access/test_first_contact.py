"""Stream mode's first contact: walk the headers or download the file, chosen from what the first answers measure."""

from __future__ import annotations

import os

import pytest

from patchseq_intake import config
from patchseq_intake.access import first_contact
from patchseq_intake.access.first_contact import DOWNLOAD, WALK, Link, choose
from patchseq_intake.errors import SettingError
from patchseq_intake.testing.server import LocalServer
from patchseq_intake.transport.remote_file import RemoteFile

MB = 1_000_000
KIB = 1024


class _Remote:
    """A first wave's timings, and a probe's, as a ``RemoteFile`` records them (no network)."""

    def __init__(self, answers, probe=()):
        self.answers = list(answers)
        self._probe = list(probe)
        self.probed = []

    def prefetch(self, ranges):
        self.probed += list(ranges)
        self.answers += self._probe


def test_the_link_is_read_from_two_ranges_of_different_sizes():
    link = Link.of([(32 * KIB, 0.1 + 32 * KIB / 10e6), (256 * KIB, 0.1 + 256 * KIB / 10e6)])
    assert link.rtt_s == pytest.approx(0.1) and link.connection_bytes_per_s == pytest.approx(10e6)
    instant = Link.of([(32 * KIB, 0.04), (256 * KIB, 0.04)])  # too fast to time: the fastest is assumed
    assert instant.connection_bytes_per_s == first_contact.FASTEST_BYTES_PER_S and instant.rtt_s < 0.04


def test_a_long_round_trip_on_a_fast_link_downloads():
    size = 50 * MB
    remote = _Remote([(32 * KIB, 0.2), (256 * KIB, 0.2 + 224 * KIB / 100e6)])
    assert choose(remote, size, parts=8) == DOWNLOAD and remote.probed == []  # settled without a probe


def test_a_slow_link_walks():
    size = 23 * MB  # at 1 MB/s a connection, even two ranges each at that throughput take 11.5 s: the walk ~5 s
    remote = _Remote([(32 * KIB, 0.05 + 32 * KIB / 1e6), (256 * KIB, 0.05 + 256 * KIB / 1e6)])
    assert choose(remote, size, parts=2) == WALK and remote.probed == []


def _probe(rtt_s, each_s):
    """A probe wave's answers: the small range at ``rtt_s`` (32 KiB), the large ones at ``each_s``."""
    return [(32 * KIB, rtt_s), *[(128 * KIB, each_s)] * first_contact.PROBE_RANGES]


@pytest.mark.parametrize(("each_s", "expected"), [
    (0.1 + 128 * KIB / 10e6, DOWNLOAD),   # four ranges each at the connection's throughput: parts add up
    (0.1 + 4 * 128 * KIB / 10e6, WALK),   # four ranges sharing one link: the download would take 2.4 s
])
def test_where_the_first_wave_cannot_tell_a_probe_of_concurrent_ranges_does(each_s, expected):
    size = 23 * MB  # at 100 ms and 10 MB/s a connection: the walk ~1.9 s, the download 0.6-2.5 s
    first = [(32 * KIB, 0.1 + 32 * KIB / 10e6), (256 * KIB, 0.1 + 256 * KIB / 10e6)]
    remote = _Remote(first, probe=_probe(0.1 + 32 * KIB / 10e6, each_s))
    assert choose(remote, size, parts=5) == expected
    assert remote.probed[0] == (first_contact.ROUND_TRIP_AT, 1)  # the small range first, on a connection set up
    starts = sorted(start for start, _ in remote.probed[1:])
    assert len(starts) == first_contact.PROBE_RANGES
    assert all(later - earlier > first_contact.PROBE_BYTES for earlier, later in zip(starts, starts[1:]))


def test_a_first_wave_slowed_by_setting_up_connections_is_not_taken_for_the_round_trip():
    size = 32 * MB  # 100 ms, one 10 MB/s link; the first wave also paid TCP's and TLS's set-up: 2 more round trips
    first = [(32 * KIB, 0.3 + 32 * KIB / 10e6), (256 * KIB, 0.3 + 256 * KIB / 10e6)]
    remote = _Remote(first, probe=_probe(0.1 + 5 * 32 * KIB / 10e6, 0.1 + (32 + 4 * 128) * KIB / 10e6))
    assert choose(remote, size, parts=8) == WALK  # the walk's waves see 0.1 s, not 0.3 s
    assert choose(_Remote(first, probe=[]), size, parts=8) == DOWNLOAD  # had it believed the first wave


def test_a_first_wave_that_overstates_the_throughput_is_checked_by_the_probe():
    size = 32 * MB  # one 10 MB/s link, but the first wave's two answers read as 16 MB/s
    first = [(32 * KIB, 0.1 + 32 * KIB / 16e6), (256 * KIB, 0.1 + 256 * KIB / 16e6)]
    remote = _Remote(first, probe=_probe(0.1 + 5 * 32 * KIB / 10e6, 0.1 + (32 + 4 * 128) * KIB / 10e6))
    assert choose(remote, size, parts=8) == WALK and remote.probed


def test_one_answer_cannot_time_the_link_and_a_preference_is_taken_as_it_is():
    assert choose(_Remote([(32 * KIB, 0.5)]), 23 * MB, parts=5) == WALK
    fast = _Remote([(32 * KIB, 0.2), (256 * KIB, 0.2)])
    assert choose(fast, 23 * MB, parts=5, preference="walk") == WALK
    slow = _Remote([(32 * KIB, 0.02 + 32 * KIB / 1e6), (256 * KIB, 0.02 + 256 * KIB / 1e6)])
    assert choose(slow, 23 * MB, parts=5, preference="download") == DOWNLOAD


def test_the_setting_is_checked(monkeypatch):
    monkeypatch.setenv(config.FIRST_CONTACT_ENV, "Download")
    assert config.first_contact() == "download"
    monkeypatch.setenv(config.FIRST_CONTACT_ENV, "fastest")
    with pytest.raises(SettingError, match="PATCHSEQ_INTAKE_FIRST_CONTACT='fastest': give one of auto, walk, download"):
        config.check()
    monkeypatch.delenv(config.FIRST_CONTACT_ENV)
    assert config.first_contact() == "auto"


@pytest.mark.parametrize(("latency_s", "link", "expected"), [
    (0.2, None, DOWNLOAD),   # far away, wide: a round trip costs more than the whole file
    (0.02, 1e6, WALK),       # near, narrow (one link for all connections): the bytes cost most
])
def test_measured_on_a_served_file(tmp_path, latency_s, link, expected):
    content = os.urandom(12 * MB)
    with LocalServer() as server:
        server.serve_file("/file", content)
        server.faults.latency_s = latency_s
        server.faults.link_bytes_per_s = link
        remote = RemoteFile([f"{server.url}/file"], len(content))
        try:
            remote.prefetch([(0, 1)])  # the first wave, as opening.open_remote asks it
            assert len(remote.answers) == 2
            assert choose(remote, len(content), parts=3) == expected
        finally:
            remote.close()


def test_a_download_chosen_at_first_contact_indexes_the_verified_file_and_keeps_only_the_index(
    cat, world, streamed, monkeypatch
):
    from patchseq_intake.access.cell_index import DOWNLOADED, load_index
    from patchseq_intake.access.opening import cached_path

    monkeypatch.setenv(config.FIRST_CONTACT_ENV, "download")
    source = cat.human.ephys(specimen_id=HUMAN_CELL, access="stream")
    world.server.log.clear()
    table = source.read()
    cell = source.cells[0]
    written = world.written[HUMAN_CELL]
    index = load_index(cell.checksum.value, cell.size)
    assert index.provenance == DOWNLOADED and index.etag == cell.asset.etag
    assert table.drop(columns="cell_specimen_id").equals(index.sweep_table(0, "cell"))
    blobs = world.replica.requests("blob")
    assert sum(entry.body_bytes for entry in blobs) == written.size + 32 * KIB  # the first block, then the file
    folder = cached_path(cell).parent
    assert not cached_path(cell).exists() and list(folder.iterdir()) == []  # stream mode keeps the index, not the file
    world.server.log.clear()
    sweep = source.sweep(4)  # through the index: the sweep's ranges only
    assert 0 < sum(entry.body_bytes for entry in world.replica.requests("blob")) < written.size / 4
    assert sweep.sweep_number == 4


def test_a_download_the_cache_cannot_hold_walks_instead(cat, world, streamed, monkeypatch):
    from patchseq_intake.access import opening
    from patchseq_intake.access.cell_index import STREAMED, load_index
    from patchseq_intake.errors import CacheError

    monkeypatch.setenv(config.FIRST_CONTACT_ENV, "download")

    def full(cell, path, progress):
        raise CacheError(f"{path}: no space left on device")

    monkeypatch.setattr(opening, "_download", full)
    source = cat.human.ephys(specimen_id=HUMAN_CELL, access="stream")
    table = source.read()
    cell = source.cells[0]
    assert load_index(cell.checksum.value, cell.size).provenance == STREAMED
    assert list(table["sweep_number"]) == [s.sweep_number for s in world.written[HUMAN_CELL].sweeps]


HUMAN_CELL = 569835804
