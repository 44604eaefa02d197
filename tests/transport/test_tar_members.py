"""extract_members: members found by base name, streamed and hashed; damaged tars, missing or odd members refused."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile

import pytest

from patchseq_intake.errors import PackedFileError
from patchseq_intake.transport.tar_members import Extracted, MemberSizeError, extract_members

CSV = b",PS0810_E1-50_S88\nSnap25,12\n" * 100
R1, R2 = os.urandom(70_000), os.urandom(50_000)


def make_tar(path, members, link=None):
    """A plain tar at ``path`` holding ``members`` (name -> bytes) and, if given, a symlink (name, target)."""
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if link is not None:
            info = tarfile.TarInfo(link[0])
            info.type, info.linkname = tarfile.SYMTYPE, link[1]
            tar.addfile(info)
    return path


def into(folder):
    return lambda name: folder / f"out-{name}"


def test_members_under_a_folder_and_not_are_found_by_name_and_hashed(tmp_path):
    tar = make_tar(tmp_path / "x.tar", {"stem/stem.csv": CSV, "a_R1.fastq.gz": R1, "b/c/a_R2.fastq.gz": R2})
    got = extract_members(tar, {"stem.csv": len(CSV), "a_R1.fastq.gz": None, "a_R2.fastq.gz": len(R2)}, into(tmp_path))
    assert got == {
        "stem.csv": Extracted(tmp_path / "out-stem.csv", hashlib.sha256(CSV).hexdigest(), len(CSV)),
        "a_R1.fastq.gz": Extracted(tmp_path / "out-a_R1.fastq.gz", hashlib.sha256(R1).hexdigest(), len(R1)),
        "a_R2.fastq.gz": Extracted(tmp_path / "out-a_R2.fastq.gz", hashlib.sha256(R2).hexdigest(), len(R2)),
    }
    assert (tmp_path / "out-a_R2.fastq.gz").read_bytes() == R2
    assert not (tmp_path / "stem").exists() and not (tmp_path / "b").exists()  # the tar's paths are never written


def test_a_member_is_streamed_not_read_whole(tmp_path, monkeypatch):
    big = os.urandom(5 * 1024 * 1024 + 3)
    tar = make_tar(tmp_path / "big.tar", {"m/big.csv": big})
    reads = []
    real = tarfile.ExFileObject.read

    def read(self, size=-1):
        reads.append(size)
        return real(self, size)

    monkeypatch.setattr(tarfile.ExFileObject, "read", read)
    got = extract_members(tar, {"big.csv": len(big)}, into(tmp_path))
    assert got["big.csv"].sha256 == hashlib.sha256(big).hexdigest()
    assert reads and all(0 < size <= 1024 * 1024 for size in reads)


@pytest.mark.parametrize("cut", [700, 512 + 40_000, 512 + 70_144])  # in a header, in data, at a member's end
def test_a_truncated_tar_is_refused_with_its_size(tmp_path, cut):
    whole = make_tar(tmp_path / "whole.tar", {"a_R1.fastq.gz": R1, "a_R2.fastq.gz": R2}).read_bytes()
    cut_tar = tmp_path / "cut.tar"
    cut_tar.write_bytes(whole[:cut])
    with pytest.raises(PackedFileError, match=rf"https://nemo/x.tar: not a whole tar \({cut} bytes\)"):
        extract_members(cut_tar, {"a_R1.fastq.gz": len(R1)}, into(tmp_path), source="https://nemo/x.tar")
    assert not list(tmp_path.glob("out-*"))


def test_a_damaged_header_after_the_first_is_refused(tmp_path):
    data = bytearray(make_tar(tmp_path / "x.tar", {"a_R1.fastq.gz": R1, "a_R2.fastq.gz": R2}).read_bytes())
    second = 512 + 70_144  # R1's header and its data padded to blocks
    data[second + 148 : second + 156] = b"garbage!"  # the header's checksum: tarfile stops here without complaint
    (tmp_path / "bad.tar").write_bytes(bytes(data))
    with pytest.raises(PackedFileError, match="holds no valid tar header there"):
        extract_members(tmp_path / "bad.tar", {"a_R1.fastq.gz": len(R1)}, into(tmp_path))


def test_not_a_tar_names_the_path(tmp_path):
    html = tmp_path / "page.tar"
    html.write_bytes(b"<html><body>Not Found</body></html>")
    with pytest.raises(PackedFileError, match=rf"{html}: not a whole tar \(35 bytes\)"):
        extract_members(html, {"x.csv": None}, into(tmp_path))


def test_a_missing_member_lists_those_held(tmp_path):
    tar = make_tar(tmp_path / "x.tar", {f"m/f{n}.csv": b"1" for n in range(8)})
    with pytest.raises(PackedFileError, match=r"holds no member named stem.csv; it holds \['m/f0.csv', .*\(8 in all\)"):
        extract_members(tar, {"stem.csv": None}, into(tmp_path), source="https://nemo/x.tar")


def test_two_members_of_the_name_are_refused(tmp_path):
    tar = make_tar(tmp_path / "x.tar", {"a/stem.csv": CSV, "b/stem.csv": CSV})
    with pytest.raises(PackedFileError, match=r"holds 2 members named stem.csv \(\['a/stem.csv', 'b/stem.csv'\]\)"):
        extract_members(tar, {"stem.csv": None}, into(tmp_path))


def test_a_link_is_never_followed(tmp_path):
    tar = make_tar(tmp_path / "x.tar", {"real.csv": CSV}, link=("stem/stem.csv", "/etc/passwd"))
    with pytest.raises(PackedFileError, match="member stem/stem.csv is a link"):
        extract_members(tar, {"stem.csv": None}, into(tmp_path))
    assert not list(tmp_path.glob("out-*"))


def test_a_member_of_another_size_names_both_sizes_and_writes_nothing(tmp_path):
    tar = make_tar(tmp_path / "x.tar", {"a_R1.fastq.gz": R1, "stem/stem.csv": CSV})
    with pytest.raises(MemberSizeError, match=rf"member stem/stem.csv has {len(CSV)} bytes, not the 99 expected") as caught:
        extract_members(tar, {"a_R1.fastq.gz": len(R1), "stem.csv": 99}, into(tmp_path))
    assert (caught.value.found, caught.value.expected) == (len(CSV), 99)
    assert not list(tmp_path.glob("out-*"))  # sizes are checked before any member is written
