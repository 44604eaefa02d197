"""Waiting between attempts: bounded, said when long, and given up at once when the server asks for too long (issue 16).

A 503 with ``Retry-After: 3600`` made a call wait 4 minutes in silence (5
attempts, each wait capped at 60 s). Against ``testing.hostile.HostileServer``
on 127.0.0.1, with small policies.
"""

from __future__ import annotations

import time
import warnings
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from patchseq_intake.errors import FetchError
from patchseq_intake.testing.hostile import HostileServer, Request, Wire, answer
from patchseq_intake.transport import answers
from patchseq_intake.transport.answers import RetryPolicy
from patchseq_intake.transport.download import get_json, get_range


@pytest.fixture
def hostile():
    with HostileServer(max_seconds=10) as server:
        yield server


def _retry_notices(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if "before trying again" in str(w.message)]


@pytest.mark.parametrize("retry_after", ["3600", "an hour from now as an HTTP date"])
def test_a_retry_after_longer_than_the_longest_wait_gives_up_at_once(hostile, retry_after):
    if retry_after.startswith("an hour"):
        retry_after = format_datetime(datetime.now(timezone.utc) + timedelta(hours=1), usegmt=True)
    url = hostile.on("/assets/", answer(503, b"busy", {"Retry-After": retry_after}))
    started = time.monotonic()
    with warnings.catch_warnings(record=True) as caught, pytest.raises(FetchError) as refused:
        warnings.simplefilter("always")
        get_json(url)  # the default policy: it waited 4 minutes
    assert time.monotonic() - started < 1 and len(hostile.requests) == 1
    message = str(refused.value)
    assert message.startswith(f"{url}: HTTP 503, and the server asks to retry in 3")  # 3600 s, or 3599.x
    assert "(more than the 30 s this waits): try again later" in message
    assert refused.value.status == 503 and _retry_notices(caught) == []


def test_a_range_request_too_gives_up_at_once(hostile):
    url = hostile.on("/blob", answer(429, b"slow down", {"Retry-After": "31"}))
    with pytest.raises(FetchError, match=r"bytes=0-9: HTTP 429, and the server asks to retry in 31 s .*try again later"):
        get_range(url, 0, 10)
    assert len(hostile.requests) == 1


def test_one_calls_waits_are_capped_in_all(hostile):
    url = hostile.on("/assets/", answer(503, b"busy", {"Retry-After": "0.4"}))
    policy = RetryPolicy(attempts=10, backoff_s=0.01, max_wait_s=1.0, max_total_wait_s=1.0)
    started = time.monotonic()
    with pytest.raises(FetchError) as refused:
        get_json(url, retry=policy)
    elapsed = time.monotonic() - started
    assert str(refused.value) == (
        f"{url}: HTTP 503 after 3 attempts and 0.8 s of waiting; another 0.4 s would pass the 1 s one call waits: "
        "try again later"
    )
    assert len(hostile.requests) == 3 and 0.8 <= elapsed < 1.5  # not the 10 attempts the policy allows


def test_the_default_policy_waits_30_s_at_most_each_time_and_60_s_in_all():
    policy = RetryPolicy()
    assert (policy.max_wait_s, policy.max_total_wait_s) == (30.0, 60.0)
    assert policy.wait(1, "3600") == 3600  # as asked: more than max_wait_s, so given up
    assert policy.wait(10) == 30.0 and policy.wait(1) == 0.5
    assert policy.wait(1, "a date that is not one") == policy.wait(1, "nan") == 0.5
    assert policy.wait(1, "inf") == float("inf") and policy.wait(1, "-5") == 0.0
    past = format_datetime(datetime.now(timezone.utc) - timedelta(minutes=1), usegmt=True)
    assert policy.wait(1, past) == 0.0


def test_a_long_wait_is_said_once(hostile, monkeypatch):
    monkeypatch.setattr(answers, "RETRY_NOTICE_S", 0.1)
    url = hostile.on("/assets/", answer(503, b"busy", {"Retry-After": "0.2"}))
    with warnings.catch_warnings(record=True) as caught, pytest.raises(FetchError, match="gave up after 3 attempts"):
        warnings.simplefilter("always")
        get_json(url, retry=RetryPolicy(attempts=3))
    assert _retry_notices(caught) == [
        f"{hostile.url}: HTTP 503; waiting 0.2 s before trying again (as its Retry-After asks)"
    ]  # two waits, one notice, naming the server, the status and the wait
    assert len(hostile.requests) == 3


def test_short_waits_say_nothing_and_a_short_retry_after_is_honoured(hostile):
    asked = []

    def busy_first(request: Request, wire: Wire) -> bool:
        asked.append(time.monotonic())
        busy = answer(429, b"slow down", {"Retry-After": "1"})
        return (busy if len(asked) == 1 else answer(200, b"[1]"))(request, wire)

    url = hostile.on("/assets/", busy_first)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert get_json(url) == [1]
    assert len(asked) == 2 and asked[1] - asked[0] >= 1.0  # retried as the server asked
    assert _retry_notices(caught) == []
