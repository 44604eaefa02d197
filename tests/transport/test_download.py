"""fetch_file: retries, resumption, verification, and nothing half-written left behind."""

from __future__ import annotations

import hashlib
import os

import pytest

from patchseq_intake.errors import ChecksumError, FetchError
from patchseq_intake.testing.server import LocalServer
from patchseq_intake.transport.checksums import Checksum
from patchseq_intake.transport.download import RetryPolicy, fetch_file

FAST = RetryPolicy(attempts=4, backoff_s=0.01)
PAYLOAD = os.urandom(3 * 1024 * 1024 + 17)
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture
def server():
    with LocalServer() as running:
        running.serve_file("/blob", PAYLOAD)
        yield running


def test_fetch_verifies_and_returns_the_digest(server, tmp_path):
    dest = tmp_path / "out.bin"
    assert fetch_file(f"{server.url}/blob", dest, checksum=Checksum.sha256(DIGEST), size=len(PAYLOAD), retry=FAST) == DIGEST
    assert dest.read_bytes() == PAYLOAD
    assert os.listdir(tmp_path) == ["out.bin"]


def test_cut_connection_resumes_with_a_range_request(server, tmp_path):
    server.faults.cut_after_bytes = 2 * 1024 * 1024
    server.faults.cuts = 1
    dest = tmp_path / "out.bin"
    fetch_file(f"{server.url}/blob", dest, checksum=Checksum.sha256(DIGEST), retry=FAST)
    assert dest.read_bytes() == PAYLOAD
    first, second = server.log
    assert first.range is None and second.status == 206
    resumed_from = int(second.range.removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_from <= 2 * 1024 * 1024
    assert server.bytes_sent() < len(PAYLOAD) + 2 * 1024 * 1024


def test_retry_after_is_honoured(server, tmp_path):
    server.faults.statuses = [429]
    server.faults.retry_after = "1"
    import time

    started = time.monotonic()
    fetch_file(f"{server.url}/blob", tmp_path / "out.bin", retry=RetryPolicy(backoff_s=0.0))
    assert time.monotonic() - started >= 1.0
    assert [entry.status for entry in server.log] == [429, 200]


def test_persistent_errors_give_up_naming_the_url(server, tmp_path):
    server.faults.statuses = [500] * 10
    with pytest.raises(FetchError, match=rf"{server.url}/blob: gave up after 4 attempts; last problem: HTTP 500"):
        fetch_file(f"{server.url}/blob", tmp_path / "out.bin", retry=FAST)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "pins, message",
    [
        ({"checksum": Checksum.sha256("f" * 64)}, "SHA-256 mismatch: expected f{64}, found " + DIGEST),
        ({"checksum": Checksum("dandi-etag", "0" * 32 + "-1")}, "dandi-etag mismatch: expected 0{32}-1, found [0-9a-f]{32}-1"),
        ({"size": 5}, "sent more than the 5 bytes expected"),
        ({"size": len(PAYLOAD) + 1}, f"expected {len(PAYLOAD) + 1} bytes, received {len(PAYLOAD)}"),
    ],
)
def test_mismatch_leaves_nothing_behind(server, tmp_path, pins, message):
    dest = tmp_path / "out.bin"
    dest.write_bytes(b"older good file")
    with pytest.raises(ChecksumError, match=message):
        fetch_file(f"{server.url}/blob", dest, retry=FAST, **pins)
    assert os.listdir(tmp_path) == ["out.bin"] and dest.read_bytes() == b"older good file"


def _s3_etag(payload: bytes, part_size: int) -> str:
    """The ETag S3 gives a multipart upload in parts of ``part_size``: MD5 of the parts' MD5s, and their count."""
    parts = [payload[start : start + part_size] for start in range(0, len(payload), part_size)]
    return hashlib.md5(b"".join(hashlib.md5(part).digest() for part in parts)).hexdigest() + f"-{len(parts)}"


def test_verified_against_dandis_etag_when_there_is_no_sha256(server, tmp_path):
    dest = tmp_path / "out.bin"
    etag = _s3_etag(PAYLOAD, 64 * 1024 * 1024)  # DANDI's parts are 64 MiB: one part here
    assert etag.endswith("-1")
    assert fetch_file(f"{server.url}/blob", dest, checksum=Checksum("dandi-etag", etag), retry=FAST) == DIGEST
    assert dest.read_bytes() == PAYLOAD


def test_a_file_over_64_mib_is_checked_against_its_two_part_etag(tmp_path):
    big = PAYLOAD * 22  # 69 MB: DANDI's etag has two parts, 64 MiB and the rest
    with LocalServer() as running:
        running.serve_file("/big", big)
        etag = _s3_etag(big, 64 * 1024 * 1024)
        assert etag.endswith("-2")
        fetch_file(f"{running.url}/big", tmp_path / "big.bin", checksum=Checksum("dandi-etag", etag), retry=FAST)
        one_part = _s3_etag(big, len(big))  # the same bytes hashed as a single part: not DANDI's etag
        with pytest.raises(ChecksumError, match=f"dandi-etag mismatch: expected {one_part}, found {etag}"):
            fetch_file(f"{running.url}/big", tmp_path / "again.bin", checksum=Checksum("dandi-etag", one_part), retry=FAST)
    assert sorted(os.listdir(tmp_path)) == ["big.bin"]


def test_local_files_are_copied_and_verified(tmp_path):
    source = tmp_path / "source.bin"
    source.write_bytes(PAYLOAD)
    dest = tmp_path / "copy" / "out.bin"
    assert fetch_file(source.as_uri(), dest, checksum=Checksum.sha256(DIGEST)) == DIGEST
    assert dest.read_bytes() == PAYLOAD
    with pytest.raises(FetchError, match="no such file"):
        fetch_file(str(tmp_path / "absent.bin"), tmp_path / "x.bin")


class _Terminal:
    """A stand-in for stderr attached to a terminal, that keeps what is written."""

    def __init__(self):
        self.text = []

    def isatty(self):
        return True

    def write(self, text):
        self.text.append(text)

    def flush(self):
        pass


def test_progress_bar_shows_in_a_terminal_only(server, tmp_path, monkeypatch, capsys):
    fetch_file(f"{server.url}/blob", tmp_path / "quiet.bin", label="quiet.nwb")
    assert "quiet.nwb" not in capsys.readouterr().err  # not a terminal: silent
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    fetch_file(f"{server.url}/blob", tmp_path / "shown.bin", size=len(PAYLOAD), label="shown.nwb")
    shown = "".join(terminal.text)
    assert "shown.nwb" in shown and "3.00M" in shown


def test_the_replicas_link_is_shared_by_concurrent_connections(server):
    """The benchmark's ``link_bytes_per_s``: four bodies at once take as long as their sum through the link."""
    from concurrent.futures import ThreadPoolExecutor

    import requests

    body = os.urandom(100_000)
    server.serve_file("/shared", body)
    server.faults.link_bytes_per_s = 1e6
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda _: requests.get(f"{server.url}/shared").content, range(4)))
    assert got == [body] * 4
    log = server.log
    spread = max(e.finished for e in log) - min(e.started for e in log)
    assert spread >= 0.95 * 4 * len(body) / 1e6  # alone, each would take 0.1 s
