"""Files taken out of a downloaded tar: by name, streamed and hashed, written only where the caller says.

NeMO packs each of the release's transcriptomic files in a plain (uncompressed)
POSIX or GNU tar: a cell's FASTQ pair in one ``.fastq.tar``, a BAM in a
``.bam.tar``, each expression matrix in a ``.csv.tar`` (under a folder:
``<stem>/<stem>.csv``). ``extract_members`` finds the members by their base
name wherever the tar puts them, takes only regular files (a link is never
followed), and copies each to ``destination(name)`` a MiB at a time while
computing its SHA-256: a 900 MB member is never held in memory, and the tar's
own paths are never used to write anything.

A tar is taken as whole only if its members' data lies within the file and an
end-of-archive block (512 zero bytes) follows the last member: a tar cut at a
member's boundary, or damaged after its first header (where Python's
``tarfile`` stops reading without complaint), is refused too.
"""

from __future__ import annotations

import hashlib
import tarfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import PackedFileError, brief
from .cache import cache_errors

COPY_CHUNK_BYTES = 1024 * 1024
BLOCK_BYTES = tarfile.BLOCKSIZE
"""A tar's unit: headers, each member's padded data and the end-of-archive marker are blocks of 512 bytes."""


class MemberSizeError(PackedFileError):
    """A tar's member of another size than expected (``found`` and ``expected`` bytes): other bytes, not damage."""

    def __init__(self, message: str, name: str, found: int, expected: int):
        super().__init__(message)
        self.name, self.found, self.expected = name, found, expected


@dataclass(frozen=True)
class Extracted:
    """A member written out: where (``path``), its bytes' ``sha256`` and ``size`` (bytes)."""

    path: Path
    sha256: str
    size: int


def extract_members(
    tar_path: Path,
    wanted: Mapping[str, int | None],
    destination: Callable[[str], Path],
    *,
    source: str | None = None,
) -> dict[str, Extracted]:
    """The members of the tar at ``tar_path`` named in ``wanted`` (base names), each copied to ``destination(name)``.

    ``wanted`` gives each name's expected size in bytes (None: any size).
    ``source`` (the tar's URL) names the tar in errors, else its path. Every
    member is found and its size checked before any is written.
    ``PackedFileError`` naming the tar: it is truncated or damaged (with its
    size in bytes), holds no member of a name (the members it holds are
    listed, briefly) or two, or the member is not a regular file;
    ``MemberSizeError`` for a member of another size (both sizes).
    ``CacheError`` if a destination cannot be written. What was written
    before an error is the caller's to remove (its paths are ``destination``'s).
    """
    where = source or str(tar_path)
    try:
        with tarfile.open(tar_path, mode="r:") as tar:
            members = tar.getmembers()
            _require_end(tar_path, tar.offset, where)
            chosen = {name: _member(members, name, size, where) for name, size in wanted.items()}
            return {name: _copy(tar, member, destination(name), where) for name, member in chosen.items()}
    except (tarfile.TarError, EOFError) as exc:
        raise PackedFileError(
            f"{where}: not a whole tar ({_size(tar_path)} bytes): {exc}; it is truncated, damaged or not a plain "
            "(uncompressed) tar"
        ) from None


def _require_end(tar_path: Path, offset: int, where: str) -> None:
    """Refuse a tar whose member list does not end with an end-of-archive block at ``offset``."""
    with tar_path.open("rb") as stream:
        stream.seek(offset)
        block = stream.read(BLOCK_BYTES)
    if block != bytes(BLOCK_BYTES):
        problem = "is cut there" if len(block) < BLOCK_BYTES else "holds no valid tar header there"
        raise PackedFileError(
            f"{where}: not a whole tar ({_size(tar_path)} bytes): after its last readable member, byte {offset} "
            f"{problem}, not the end-of-archive marker; it is truncated or damaged"
        )


def _member(members: list[tarfile.TarInfo], name: str, size: int | None, where: str) -> tarfile.TarInfo:
    """The one member whose base name is ``name``, a regular file of ``size`` bytes (if given)."""
    named = [member for member in members if PurePosixPath(member.name).name == name]
    if not named:
        held = [member.name for member in members if member.isfile()]
        raise PackedFileError(f"{where}: the tar holds no member named {name}; it holds {brief(held)}")
    if len(named) > 1:
        raise PackedFileError(
            f"{where}: the tar holds {len(named)} members named {name} ({brief([m.name for m in named])}): "
            "which one is the file is not clear"
        )
    member = named[0]
    if not member.isfile():
        kind = "a link" if member.issym() or member.islnk() else "not a regular file"
        raise PackedFileError(f"{where}: the tar's member {member.name} is {kind}; the file must be a regular member")
    if size is not None and member.size != size:
        raise MemberSizeError(
            f"{where}: the tar's member {member.name} has {member.size} bytes, not the {size} expected: other bytes",
            name, member.size, size,
        )
    return member


def _copy(tar: tarfile.TarFile, member: tarfile.TarInfo, path: Path, where: str) -> Extracted:
    """``member``'s bytes into ``path``, hashed on the way."""
    source = tar.extractfile(member)
    if source is None:  # isfile() members always have data; kept as an error, never an assert
        raise PackedFileError(f"{where}: the tar's member {member.name} has no data to read")
    hasher, size = hashlib.sha256(), 0
    with source, cache_errors(path, "write"), path.open("wb") as out:
        while chunk := source.read(COPY_CHUNK_BYTES):
            hasher.update(chunk)
            out.write(chunk)
            size += len(chunk)
    return Extracted(path, hasher.hexdigest(), size)


def _size(path: Path) -> int:
    return path.stat().st_size
