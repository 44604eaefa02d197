"""Which of a cell's URLs a download tries: the next after a failure, but not after an unresponsive server."""

from __future__ import annotations

import pytest

from patchseq_intake.errors import FetchError, UnresponsiveServerError
from patchseq_intake.transport import download

HUMAN_CELL = 569835804


def _failing_first(monkeypatch: pytest.MonkeyPatch, error: Exception) -> list[str]:
    """``fetch_file`` fails at the first URL with ``error`` and downloads from any other; the URLs asked, in order."""
    asked: list[str] = []
    real = download.fetch_file

    def fetch_file(url, *args, **kwargs):
        if "/blobs/" in url or url.endswith("/download/"):  # an NWB file's (tables come through here too)
            asked.append(url)
            if len(asked) == 1:
                raise error
        return real(url, *args, **kwargs)

    monkeypatch.setattr(download, "fetch_file", fetch_file)
    return asked


def test_a_url_that_fails_is_followed_by_the_next(cat, world, monkeypatch):
    asked = _failing_first(monkeypatch, FetchError("blob: HTTP 403 Forbidden", 403))
    source = cat.human.ephys(specimen_id=HUMAN_CELL)
    assert len(source.read()) == len(world.written[HUMAN_CELL].sweeps)
    assert asked == list(source.cells[0].urls)  # the blob URL, then the API's download URL


def test_an_unresponsive_server_is_not_asked_again_through_the_next_url(cat, world, monkeypatch):
    asked = _failing_first(monkeypatch, UnresponsiveServerError("blob: the server is not answering"))
    source = cat.human.ephys(specimen_id=HUMAN_CELL)
    with pytest.raises(UnresponsiveServerError, match="not answering"):
        source.read()
    assert asked == [source.cells[0].urls[0]]  # the download URL redirects to the same store: not tried
