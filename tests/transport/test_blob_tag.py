"""The ETag that ties ranges to one blob: DANDI's where known, else the first answer's, if it is of DANDI's form."""

from __future__ import annotations

import logging
import threading

import pytest

from patchseq_intake.errors import ChecksumError
from patchseq_intake.transport.blob_tag import BlobTag

URL = "http://127.0.0.1:9/blob"
SMALL = "0123456789abcdef0123456789abcdef-1"
MIB = 1024 * 1024


def test_a_known_etag_must_be_on_every_answer():
    tag = BlobTag(SMALL.upper(), 10)
    tag.check(URL, f'"{SMALL}"')
    tag.check(URL, f'W/"{SMALL.upper()}"')  # a mirror's quoting and case: the same digest
    with pytest.raises(ChecksumError, match=f"ETag {'f' * 32}-1, but the asset's dandi-etag is {SMALL}: other bytes"):
        tag.check(URL, "f" * 32 + "-1")
    with pytest.raises(ChecksumError, match=f"no ETag to tie it to the blob's ETag {SMALL}"):
        tag.check(URL, "")


def test_a_known_etag_not_required_passes_answers_without_one():
    tag = BlobTag(SMALL, 10, required=False)
    tag.check(URL, "")
    with pytest.raises(ChecksumError):
        tag.check(URL, "f" * 32 + "-1")


def test_an_unknown_etag_is_learnt_from_the_first_answer_and_held_to():
    tag = BlobTag(None, 10)
    assert tag.value is None
    tag.check(URL, f'"{SMALL}"')
    assert tag.value == SMALL
    with pytest.raises(ChecksumError, match="but the ETag of this blob's earlier answers is"):
        tag.check(URL, "f" * 32 + "-1")
    with pytest.raises(ChecksumError, match="no ETag to tie it"):
        tag.check(URL, "")


@pytest.mark.parametrize(("served", "size"), [
    ("5f3a-1234", 10),                      # a web server's own ETag
    ("0" * 32, 10),                         # a plain MD5: a single-part upload's S3 ETag, not a dandi-etag
    ("0" * 32 + "-1", 100 * MIB),           # DANDI splits 100 MiB into 2 parts of 64 MiB
    ("0" * 32 + "-3", 10),
])
def test_an_etag_not_of_dandis_form_for_the_size_ties_nothing(served, size):
    tag = BlobTag(None, size)
    tag.check(URL, served)
    assert tag.value is None


def test_a_dandi_etag_of_the_right_part_count_is_learnt():
    tag = BlobTag(None, 100 * MIB)
    tag.check(URL, "a" * 32 + "-2")
    assert tag.value == "a" * 32 + "-2"


def test_after_an_answer_without_etag_nothing_is_learnt():
    tag = BlobTag(None, 10)
    tag.check(URL, "")
    tag.check(URL, SMALL)  # it cannot tie the earlier answer
    assert tag.value is None


def test_concurrent_first_answers_agree_on_one_etag():
    tag = BlobTag(None, 10)
    problems = []
    served = [SMALL, "b" * 32 + "-1"] * 8

    def check(etag: str) -> None:
        try:
            tag.check(URL, etag)
        except ChecksumError as exc:
            problems.append(exc)

    threads = [threading.Thread(target=check, args=(etag,)) for etag in served]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert tag.value in (SMALL, "b" * 32 + "-1") and len(problems) == 8


def test_an_etag_not_of_dandis_form_is_logged_once_per_blob_not_once_per_answer(caplog):
    tag, other = BlobTag(None, 10), BlobTag(None, 10)
    with caplog.at_level(logging.INFO, logger="patchseq_intake.transport.blob_tag"):
        for _ in range(17):  # a sweep table's answers from a mirror with its own ETags
            tag.check(URL, '"5f3a-1234"')
        other.check(URL, '"5f3a-1234"')
    said = [record.getMessage() for record in caplog.records if "is not a dandi-etag" in record.getMessage()]
    assert said == ["ETag '5f3a-1234' is not a dandi-etag of a file of 10 bytes: nothing is tied to it"] * 2
    assert tag.value is None
