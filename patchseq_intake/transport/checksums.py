"""The checksums a file's bytes are verified against: SHA-256, or DANDI's ETag.

DANDI publishes two digests of every asset's bytes (in the asset's metadata,
``digest``): ``dandi:sha2-256``, the SHA-256, and ``dandi:dandi-etag``, the
S3-style multipart ETag that DANDI computes on upload (MD5s of 64 MiB parts;
see ``dandischema.digests.dandietag``). The SHA-256 is preferred; the ETag is
used for assets whose metadata lacks the SHA-256 (DANDI computes it after
upload). Release tables are pinned by SHA-256.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

HASH_CHUNK_BYTES = 1024 * 1024
Algorithm = Literal["sha2-256", "dandi-etag"]
SHA256: Algorithm = "sha2-256"
DANDI_ETAG: Algorithm = "dandi-etag"


@dataclass(frozen=True)
class Checksum:
    """An expected digest of a file's bytes: ``algorithm`` (DANDI's name for it) and its hex ``value``."""

    algorithm: Algorithm
    value: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", self.value.lower())

    @classmethod
    def sha256(cls, value: str) -> Checksum:
        return cls(SHA256, value)

    @property
    def label(self) -> str:
        """How messages name the algorithm: ``SHA-256`` or ``dandi-etag``."""
        return "SHA-256" if self.algorithm == SHA256 else "dandi-etag"

    def of_file(self, path: Path, sha256: str) -> str:
        """This checksum's kind of digest of the file at ``path``, whose SHA-256 is ``sha256``.

        The SHA-256 is computed while the bytes arrive; the ETag, when needed,
        reads the file once more, a part at a time.
        """
        return sha256 if self.algorithm == SHA256 else dandi_etag_of(path)


def dandi_etag_of(path: Path) -> str:
    """DANDI's dandi-etag of the file at ``path`` (dandischema's own computation: MD5s of 64 MiB parts)."""
    from dandischema.digests.dandietag import DandiETag

    return DandiETag.from_file(path).as_str()


def sha256_of(path: Path) -> str:
    """The SHA-256 of the file at ``path``, read a MiB at a time."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()
