"""What a fetch found at a release file's home, kept in the cache beside the file.

The cache holds a release file's bytes in ``<cache>/files/<manifest SHA-256>/``:

- bytes that match the manifest: ``<file name>`` there (with its ``.verified`` record);
- other bytes, taken because the user accepted them: under their own SHA-256,
  ``<cache>/files/other/<their SHA-256>/<the name found>``, never under the manifest's;

and in both cases ``found.json`` in the manifest's folder: the URL and name the
bytes came from, their SHA-256 and size, and whether they match. The ``files``
table reads it to say what was seen; the file itself is what is verified (its
record) whenever it is used.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from .. import config
from ..transport.atomic import atomic_output
from ..transport.cache import cache_errors, make_folder

FOUND_NAME = "found.json"
FOUND_MAX_BYTES = 64 * 1024


@dataclass(frozen=True)
class Found:
    """Bytes fetched for a release file: from ``url`` (the tar member ``name``, or the file of that name),
    their ``sha256`` and ``size`` (bytes), and whether they are the manifest's (``matches``)."""

    url: str
    name: str
    sha256: str
    size: int
    matches: bool


def folder(manifest_sha256: str) -> Path:
    """The cache folder of the file the manifest pins to ``manifest_sha256``."""
    return config.cache_dir() / config.FILES_DIR / manifest_sha256.lower()


def matching_path(manifest_sha256: str, file_name: str) -> Path:
    """Where bytes matching the manifest are cached."""
    return folder(manifest_sha256) / file_name


def other_path(found: Found) -> Path:
    """Where accepted other bytes are cached: under their own SHA-256."""
    return config.cache_dir() / config.FILES_DIR / "other" / found.sha256 / found.name


def read_found(manifest_sha256: str) -> Found | None:
    """What was found for the file pinned to ``manifest_sha256``; None if nothing was, or the note is unreadable."""
    path = folder(manifest_sha256) / FOUND_NAME
    try:
        with path.open("rb") as stream:
            values = json.loads(stream.read(FOUND_MAX_BYTES))
        return Found(
            str(values["url"]), str(values["name"]), str(values["sha256"]), int(values["size"]), bool(values["matches"])
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def found_of(manifest_sha256s: Iterable[str]) -> dict[str, Found]:
    """What was found for each of these files that the cache has a note of, and still holds the bytes of (one
    listing of the cache's folder, then a look at each noted file)."""
    try:
        present = {entry.name for entry in os.scandir(config.cache_dir() / config.FILES_DIR)}
    except OSError:
        return {}
    wanted = (sha256 for sha256 in manifest_sha256s if sha256.lower() in present)
    return {sha256: found for sha256 in wanted if (found := read_found(sha256)) is not None and _still_there(sha256, found)}


def _still_there(manifest_sha256: str, found: Found) -> bool:
    """Whether the bytes a note tells of are still cached (``cache verify`` or a user may have removed them), as
    the file or as what was made of it (an expression matrix's store, ``<cache>/stores/<its SHA-256>.*.h5``,
    after which its CSV may be removed)."""
    if (matching_path(manifest_sha256, found.name) if found.matches else other_path(found)).is_file():
        return True
    return any((config.cache_dir() / config.STORES_DIR).glob(f"{found.sha256}.*.h5"))


def write_found(manifest_sha256: str, found: Found) -> None:
    """Keep ``found`` for the file pinned to ``manifest_sha256`` (atomically; ``CacheError`` if it cannot be written)."""
    path = folder(manifest_sha256) / FOUND_NAME
    make_folder(path.parent)
    with cache_errors(path, "write"), atomic_output(path) as partial:
        partial.write_text(json.dumps(asdict(found), indent=1))
