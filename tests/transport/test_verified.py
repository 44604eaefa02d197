"""Cached files checked on use: the stamp, the SHA-256 behind it, and remaking what fails."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from patchseq_intake.errors import CacheIntegrityWarning
from patchseq_intake.transport import verified
from patchseq_intake.transport.atomic import atomic_output

CONTENT = b"verified bytes " * 1000
SHA = hashlib.sha256(CONTENT).hexdigest()


def _maker(calls: list[int], content: bytes = CONTENT):
    def make(dest: Path) -> str:
        calls.append(1)
        with atomic_output(dest) as partial:
            partial.write_bytes(content)
        return hashlib.sha256(content).hexdigest()

    return make


def test_made_once_then_taken_on_its_stamp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    dest = tmp_path / "a" / "file.bin"
    assert verified.verified_file(dest, _maker(calls)) == dest
    assert dest.read_bytes() == CONTENT and calls == [1]
    assert verified.read_record(dest).sha256 == SHA
    hashed: list[Path] = []
    monkeypatch.setattr(verified, "sha256_of", lambda path: hashed.append(path) or SHA)
    verified.verified_file(dest, _maker(calls))
    assert calls == [1] and hashed == []  # the unchanged stamp: no byte read


def test_a_flipped_byte_is_found_removed_and_made_again(tmp_path: Path) -> None:
    calls: list[int] = []
    dest = tmp_path / "file.bin"
    verified.verified_file(dest, _maker(calls))
    with dest.open("r+b") as stream:
        stream.seek(100)
        stream.write(b"X")
    assert not verified.check(dest)
    with pytest.warns(CacheIntegrityWarning, match="file.bin"):
        verified.verified_file(dest, _maker(calls))
    assert dest.read_bytes() == CONTENT and calls == [1, 1]


def test_a_truncated_file_is_made_again(tmp_path: Path) -> None:
    calls: list[int] = []
    dest = tmp_path / "file.bin"
    verified.verified_file(dest, _maker(calls))
    with dest.open("r+b") as stream:
        stream.truncate(10)
    with pytest.warns(CacheIntegrityWarning):
        verified.verified_file(dest, _maker(calls))
    assert dest.read_bytes() == CONTENT and len(calls) == 2


def test_a_touched_file_with_the_same_bytes_is_hashed_once_and_kept(tmp_path: Path) -> None:
    calls: list[int] = []
    dest = tmp_path / "file.bin"
    verified.verified_file(dest, _maker(calls))
    os.utime(dest, ns=(1, 1))
    assert verified.check(dest)  # rehashed, same bytes
    assert verified.read_record(dest).mtime_ns == 1  # stamp renewed
    assert len(calls) == 1


def test_an_unrecorded_file_is_taken_only_if_it_has_the_expected_sha256(tmp_path: Path) -> None:
    dest = tmp_path / "file.bin"
    dest.write_bytes(CONTENT)
    assert not verified.check(dest)
    assert verified.check(dest, expected_sha256=SHA.upper())
    assert verified.read_record(dest).sha256 == SHA
    other = tmp_path / "other.bin"
    other.write_bytes(b"other")
    assert not verified.check(other, expected_sha256=SHA)


@pytest.mark.parametrize(
    "damage",
    [b"", b"{", b"[]", b'{"size": "big"}', b"[" * 100000, json.dumps({"size": 1, "sha256": "x", "mtime_ns": 1, "inode": 1}).encode()],
)
def test_a_damaged_record_counts_as_none(tmp_path: Path, damage: bytes) -> None:
    calls: list[int] = []
    dest = tmp_path / "file.bin"
    verified.verified_file(dest, _maker(calls))
    verified.record_path(dest).write_bytes(damage)
    assert verified.read_record(dest) is None
    with pytest.warns(CacheIntegrityWarning):
        verified.verified_file(dest, _maker(calls))
    assert len(calls) == 2 and verified.read_record(dest).sha256 == SHA


def test_audit_reads_every_byte_whatever_the_stamp(tmp_path: Path) -> None:
    calls: list[int] = []
    dest = tmp_path / "file.bin"
    verified.verified_file(dest, _maker(calls))
    status = dest.stat()
    with dest.open("r+b") as stream:
        stream.seek(5)
        stream.write(b"Y")
    os.utime(dest, ns=(status.st_atime_ns, status.st_mtime_ns))  # a forgery: the stamp is kept
    assert verified.check(dest)  # the stamp cannot see it...
    assert not verified.audit(dest)  # ...the full digest does


def test_usable_does_without_a_file_rather_than_make_it(tmp_path: Path) -> None:
    dest = tmp_path / "nwb" / "file.bin"
    assert not verified.usable(dest)
    assert not dest.parent.exists()  # nothing made, not even a lock, for a file that is not there
    verified.verified_file(dest, _maker([]))
    assert verified.usable(dest)
    with dest.open("r+b") as stream:
        stream.truncate(3)
    with pytest.warns(CacheIntegrityWarning, match="file.bin: this cached file is not the one that was verified"):
        assert not verified.usable(dest)
    assert not dest.exists() and not verified.record_path(dest).exists()


def test_audit_says_what_is_wrong_and_renews_a_sound_files_stamp(tmp_path: Path) -> None:
    dest = tmp_path / "file.bin"
    verified.verified_file(dest, _maker([]))
    os.utime(dest, ns=(5, 5))
    assert verified.audit_problem(dest) is None
    assert verified.read_record(dest).mtime_ns == 5  # the next check is a stamp check again
    with dest.open("ab") as stream:
        stream.write(b"more")
    assert verified.audit_problem(dest) == f"{len(CONTENT) + 4} bytes, but {len(CONTENT)} were verified"
    dest.write_bytes(CONTENT[:-1] + b"!")
    assert verified.audit_problem(dest) == f"its SHA-256 is not the {SHA} it was verified with"
    verified.record_path(dest).unlink()
    assert verified.audit_problem(dest) == "its record of verification is missing or unreadable"


def test_a_file_standing_where_a_folder_should_is_no_cached_file(tmp_path: Path) -> None:
    (tmp_path / "nwb").write_text("a file")
    assert not verified.check(tmp_path / "nwb" / "file.bin")


def test_a_forged_file_that_fails_its_read_in_a_cache_that_cannot_be_written_is_named(tmp_path, monkeypatch):
    """Bytes changed behind a restored stamp pass the cheap check; the read fails, the audit finds them, and the
    lock to replace them cannot be taken (a read-only cache): the error names the file and what is wrong."""
    from contextlib import contextmanager

    from patchseq_intake.errors import CacheError
    from patchseq_intake.testing.damage import flip_byte

    dest = tmp_path / "table.parquet"
    verified.verified_file(dest, _maker([]))
    flip_byte(dest, 3, keep_stamp=True)

    @contextmanager
    def read_only(path):
        raise CacheError(f"cannot take the lock {path}.lock in the cache: read-only file system")
        yield

    monkeypatch.setattr(verified, "locked", read_only)

    def read(path: Path) -> bytes:
        raise ValueError("not a parquet file")

    with pytest.raises(CacheError) as refused:
        verified.read_checked(lambda: verified.verified_file(dest, _maker([])), read, (ValueError,),
                              lambda path, exc: exc, what="cached table")
    assert str(refused.value).startswith(f"the cached table {dest} is not what was verified (its SHA-256 is not the ")
    assert "it cannot be replaced: cannot take the lock" in str(refused.value)
