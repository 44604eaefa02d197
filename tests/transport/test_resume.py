"""download_resumable: a large download survives cuts, Ctrl-C and killed processes; a changed file starts again."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from patchseq_intake.errors import ChecksumError, FetchError, ServerAnswerError
from patchseq_intake.testing.server import LocalServer, Reply, Request
from patchseq_intake.transport import download
from patchseq_intake.transport.cache import remove_leftovers
from patchseq_intake.transport.download import (
    RetryPolicy,
    download_resumable,
    drop_partial,
    resumable_partial,
    source_path,
)

FAST = RetryPolicy(attempts=3, backoff_s=0.01, timeout_s=5)
BODY = os.urandom(2 * 1024 * 1024 + 5)
DIGEST = hashlib.sha256(BODY).hexdigest()
MODIFIED = "Wed, 13 May 2020 10:00:00 GMT"


class Versioned:
    """A file at one path as an archive's server serves it: ``ETag`` and ``Last-Modified`` (either may be None),
    ``Range`` honoured only while ``If-Range`` matches (RFC 9110: else the whole file, 200), or a web page."""

    def __init__(self, body: bytes, etag: str | None = '"v1"', modified: str | None = MODIFIED, page: bool = False):
        self.body, self.etag, self.modified, self.page = body, etag, modified, page

    def __call__(self, request: Request) -> Reply:
        if self.page:
            return Reply(200, b"<!DOCTYPE html><html><body>Error</body></html>", {"Content-Type": "text/html; charset=utf-8"})
        headers = {"Content-Type": "application/x-tar", "Accept-Ranges": "bytes"}
        if self.etag:
            headers["ETag"] = self.etag
        if self.modified:
            headers["Last-Modified"] = self.modified
        asked = {name.lower(): value for name, value in request.headers.items()}
        wanted, if_range = asked.get("range"), asked.get("if-range")
        if wanted is None or (if_range is not None and if_range not in (self.etag, self.modified)):
            return Reply(200, self.body, headers)
        start = int(wanted.removeprefix("bytes=").rstrip("-"))
        if start >= len(self.body):
            return Reply(416, b"", {"Content-Range": f"bytes */{len(self.body)}"})
        headers["Content-Range"] = f"bytes {start}-{len(self.body) - 1}/{len(self.body)}"
        return Reply(206, self.body[start:], headers)


class Interrupting:
    """A progress bar that raises ``KeyboardInterrupt`` (Ctrl-C) once ``after`` bytes are counted."""

    def __init__(self, after: int):
        self.after, self.seen = after, 0

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False

    def update(self, count: int) -> None:
        self.seen += count
        if self.seen >= self.after:
            raise KeyboardInterrupt


@pytest.fixture
def served():
    with LocalServer() as server:
        server.file = Versioned(BODY)
        server.add_route("/nemo/", lambda request: server.file(request))
        yield server


def _interrupted(server, partial, after=700_000, **kwargs):
    """A first call stopped by Ctrl-C after ``after`` bytes; the bytes it kept."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(download, "progress_bar", lambda total, label: Interrupting(after))
        with pytest.raises(KeyboardInterrupt):
            download_resumable(f"{server.url}/nemo/x.tar", partial, retry=FAST, **kwargs)
    kept = partial.stat().st_size
    assert after <= kept < len(BODY) and partial.read_bytes() == BODY[:kept]
    server.log.clear()
    return kept


def _range_start(entry) -> int | None:
    return None if entry.range is None else int(entry.range.removeprefix("bytes=").rstrip("-"))


def test_a_cut_resumes_within_the_call_with_if_range(served, tmp_path):
    served.faults.cut_after_bytes, served.faults.cuts = 1024 * 1024, 1
    partial = tmp_path / ".x.tar.partial"
    assert download_resumable(f"{served.url}/nemo/x.tar", partial, size=len(BODY), retry=FAST) == DIGEST
    first, second = served.log
    assert first.range is None and second.status == 206 and 0 < _range_start(second) <= 1024 * 1024
    assert partial.read_bytes() == BODY
    assert json.loads(source_path(partial).read_text())["etag"] == '"v1"'


def test_ctrl_c_then_a_new_call_goes_on_from_the_bytes_kept(served, tmp_path):
    partial = tmp_path / ".x.tar.partial"
    kept = _interrupted(served, partial)
    assert download_resumable(f"{served.url}/nemo/x.tar", partial, retry=FAST) == DIGEST
    (again,) = served.log
    assert again.status == 206 and _range_start(again) == kept
    assert again.body_bytes == len(BODY) - kept  # together about one file, not one and a half
    assert partial.read_bytes() == BODY


def test_if_range_carries_the_etag_else_the_last_modified_date(served, tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(served, "file", lambda request: seen.append(request.headers.get("If-Range")) or Versioned(
        BODY, etag=None)(request))
    partial = tmp_path / ".x.tar.partial"
    _interrupted(served, partial)
    download_resumable(f"{served.url}/nemo/x.tar", partial, retry=FAST)
    assert seen[-1] == MODIFIED


def test_a_file_changed_since_starts_again(served, tmp_path):
    partial = tmp_path / ".x.tar.partial"
    _interrupted(served, partial)
    changed = os.urandom(len(BODY) - 100)
    served.file = Versioned(changed, etag='"v2"', modified="Thu, 14 May 2020 10:00:00 GMT")
    assert download_resumable(f"{served.url}/nemo/x.tar", partial, retry=FAST) == hashlib.sha256(changed).hexdigest()
    (again,) = served.log
    assert again.range is not None and again.status == 200 and again.body_bytes == len(changed)
    assert partial.read_bytes() == changed
    assert json.loads(source_path(partial).read_text())["etag"] == '"v2"'


def test_without_validators_a_new_call_starts_again(served, tmp_path):
    served.file = Versioned(BODY, etag=None, modified=None)
    partial = tmp_path / ".x.tar.partial"
    _interrupted(served, partial)
    assert download_resumable(f"{served.url}/nemo/x.tar", partial, retry=FAST) == DIGEST
    (again,) = served.log
    assert again.range is None and again.body_bytes == len(BODY)


def test_a_partial_of_another_url_is_not_resumed(served, tmp_path):
    partial = tmp_path / ".x.tar.partial"
    _interrupted(served, partial)
    served.add_route("/other/", lambda request: served.file(request))
    assert download_resumable(f"{served.url}/other/x.tar", partial, retry=FAST) == DIGEST
    assert [entry.range for entry in served.log] == [None]


def test_a_whole_download_kept_is_not_asked_again_until_dropped(served, tmp_path):
    partial = tmp_path / ".x.tar.partial"
    download_resumable(f"{served.url}/nemo/x.tar", partial, retry=FAST)
    served.log.clear()
    assert download_resumable(f"{served.url}/nemo/x.tar", partial, retry=FAST) == DIGEST
    assert served.log == []
    drop_partial(partial)
    assert not partial.exists() and not source_path(partial).exists()


def test_the_cache_sweeper_leaves_a_resumable_partial(served, tmp_path):
    dest = tmp_path / "x.tar"
    partial = resumable_partial(dest)
    _interrupted(served, partial)
    (tmp_path / ".x.tar.0123.part").write_bytes(b"left by a killed maker")
    remove_leftovers(dest)
    assert sorted(os.listdir(tmp_path)) == [".x.tar.partial", ".x.tar.partial.from"]


def test_a_web_page_is_refused_and_nothing_kept(served, tmp_path):
    served.file = Versioned(BODY, page=True)
    partial = tmp_path / ".x.tar.partial"
    with pytest.raises(ServerAnswerError, match=r"/nemo/x.tar: the server answered a web page \(text/html"):
        download_resumable(f"{served.url}/nemo/x.tar", partial, retry=FAST)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "bounds, error, message",
    [
        ({"size": 1000}, ChecksumError, "sent more than the 1000 bytes expected"),
        ({"max_bytes": 1000}, ServerAnswerError, "sent more than the 1000 bytes expected"),
        ({"size": len(BODY) + 1}, ChecksumError, f"expected {len(BODY) + 1} bytes, received {len(BODY)}"),
    ],
)
def test_bounded_by_the_size_or_the_callers_bound_and_nothing_kept(served, tmp_path, bounds, error, message):
    partial = tmp_path / ".x.tar.partial"
    with pytest.raises(error, match=message):
        download_resumable(f"{served.url}/nemo/x.tar", partial, retry=FAST, **bounds)
    assert os.listdir(tmp_path) == []


def test_a_partial_past_the_bound_is_started_again(served, tmp_path):
    partial = tmp_path / ".x.tar.partial"
    _interrupted(served, partial, after=1_500_000)
    small = BODY[:1_000_000]
    served.file = Versioned(small)
    assert download_resumable(f"{served.url}/nemo/x.tar", partial, size=len(small), retry=FAST) == hashlib.sha256(
        small).hexdigest()
    assert [entry.range for entry in served.log] == [None]


def test_a_server_that_stops_keeps_the_bytes_for_the_next_call(served, tmp_path):
    served.faults.cut_after_bytes, served.faults.cuts = 300_000, 3  # every attempt of the call is cut
    partial = tmp_path / ".x.tar.partial"
    with pytest.raises(FetchError, match="gave up after 3 attempts"):
        download_resumable(f"{served.url}/nemo/x.tar", partial, retry=FAST)
    kept = partial.stat().st_size
    assert 0 < kept < len(BODY) and partial.read_bytes() == BODY[:kept]
    served.log.clear()
    assert download_resumable(f"{served.url}/nemo/x.tar", partial, retry=FAST) == DIGEST
    assert [_range_start(entry) for entry in served.log] == [kept]


def test_a_missing_file_leaves_nothing(served, tmp_path):
    partial = tmp_path / ".x.tar.partial"
    with pytest.raises(FetchError, match="HTTP 404") as caught:
        download_resumable(f"{served.url}/elsewhere/x.tar", partial, retry=FAST)
    assert caught.value.status == 404 and os.listdir(tmp_path) == []


def test_a_partial_holding_every_byte_but_not_marked_whole_starts_again(served, tmp_path):
    # Stopped after the last byte came and before the download was marked whole: the rest asked for is nothing,
    # which the server answers with 416; the download starts again instead of failing on every call.
    partial = resumable_partial(tmp_path / "m.csv.tar")
    partial.write_bytes(BODY)
    url = f"{served.url}/nemo/m.tar"
    source_path(partial).write_text(json.dumps({"url": url, "etag": '"v1"'}))
    assert download_resumable(url, partial, max_bytes=len(BODY), retry=FAST) == DIGEST
    statuses = [entry.status for entry in served.log]
    assert statuses == [416, 200] and partial.read_bytes() == BODY


def test_a_resume_after_a_cut_in_a_fresh_download_is_tied_to_the_first_answer(served, tmp_path):
    # Without If-Range, a file changed between the cut and the resume would be stitched from two versions.
    asked: list[str | None] = []
    versioned = served.file
    served.add_route("/nemo/", lambda request: asked.append(request.headers.get("If-Range")) or versioned(request))
    served.faults.cut_after_bytes, served.faults.cuts = 1024 * 1024, 1
    partial = tmp_path / ".y.tar.partial"
    assert download_resumable(f"{served.url}/nemo/y.tar", partial, size=len(BODY), retry=FAST) == DIGEST
    assert asked == [None, '"v1"']
