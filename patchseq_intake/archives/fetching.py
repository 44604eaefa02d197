"""A release file's bytes from BIL or NeMO: fetched, taken out of their tar, verified against the manifest, cached.

``fetch_release_files`` gives each file's cached path (the layout is
``found``'s). A file already cached as verified costs no request. Otherwise
its ``locations`` are tried in order (the manifest's name, then the
alternates the catalog's homes give, e.g. NeMO's ``.v2`` matrices): an
answer that the file is not there (HTTP 403, 404, 410, or a web page) goes on
to the next. A tar (NeMO's) is downloaded once for all the files it holds
that are asked for (a cell's FASTQ pair), resumably (``transport.download``:
an interrupted download goes on at the next call, in any process), bounded
by the sizes of the files it holds (``ReleaseFile.packed_size``: a FASTQ pair's
both, whichever is asked) plus ``TAR_OVERHEAD_BYTES``; the files are taken out of
it (``transport.tar_members``) and the tar is removed.

Every file's size and SHA-256 are checked against the manifest's (of the
member, where it is packed). Bytes that match are cached under the manifest's
SHA-256 with their record of verification. Other bytes are refused
(``ChecksumError`` naming both checksums and the URL) and nothing is cached,
unless the caller accepts them (``accept_other_bytes=True``): they are then
cached under their own SHA-256, reported as not matching (``found.json``),
and an ``OtherBytesWarning`` names both checksums, once per file and process.
"""

from __future__ import annotations

import hashlib
import os
import uuid
import warnings
from collections.abc import Sequence
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from .. import config
from ..errors import (
    ChecksumError,
    FetchError,
    OfflineError,
    OtherBytesWarning,
    PackedFileError,
    caller_stacklevel,
)
from ..transport.cache import cache_errors, locked, make_folder, remove_leftovers
from ..transport.download import WebPageError, download_resumable, drop_partial, resumable_partial
from ..transport.tar_members import MemberSizeError, extract_members
from ..transport.verified import check, discard, record
from .found import Found, matching_path, other_path, read_found, write_found
from .homes import Homes
from .release_files import ReleaseFile

TAR_OVERHEAD_BYTES = 1024 * 1024
"""What a tar may hold beyond its members' bytes (headers, padding, the end-of-archive records)."""
OTHER_BYTES_FACTOR = 2
"""Where other bytes are accepted, a download may be this many times the manifest's size (plus the overhead)."""
NOT_THERE = frozenset({403, 404, 410})
"""HTTP statuses that say a location does not hold the file: the next one is tried."""
DOWNLOADS = "downloads"
"""The cache's folder (under ``files/``) of downloads in progress, one folder per URL."""

_announced: set[str] = set()
"""Manifest SHA-256s whose other bytes were announced in this process."""


@dataclass(frozen=True)
class Fetched:
    """A release file in the cache: the ``file``, its cached ``path``, and what was ``found`` at its home."""

    file: ReleaseFile
    path: Path
    found: Found


def fetch_release_files(
    files: Sequence[ReleaseFile], *, accept_other_bytes: bool = False, homes: Homes | None = None
) -> list[Fetched]:
    """Each of ``files`` in the cache, verified, in the order given (see the module's docstring).

    ``accept_other_bytes``: take bytes other than the manifest's (cached
    under their own SHA-256, an ``OtherBytesWarning``); else they are a
    ``ChecksumError``. ``homes`` (the catalog's rules) lets the error for a
    file no rule knows name the rules' prefixes. Errors name the file:
    ``OfflineError`` for one not cached under ``PATCHSEQ_INTAKE_OFFLINE``;
    ``FetchError`` for one with no live location, or found at none (every
    URL and its answer; a ``ServerAnswerError`` where one answered a web
    page); ``PackedFileError`` for a tar truncated, damaged or without the
    file; ``CacheError`` if the cache cannot be written.
    """
    fetched: dict[int, Fetched] = {}
    groups: dict[tuple[str, ...], list[int]] = {}
    for n, file in enumerate(files):
        if (cached := _cached(file, accept_other_bytes)) is not None:
            fetched[n] = cached
            continue
        if config.offline():
            raise OfflineError(f"{file.label} is not cached, and {config.OFFLINE_ENV} forbids fetching it")
        if not file.locations:
            rules = "have no rule for it" if homes is None else f"rewrite only links starting with {homes.describe()}"
            raise FetchError(
                f"{file.label}: no live home is known for its manifest link {file.manifest_uri}: the catalog's "
                f"homes {rules}; a rule for its link belongs there"
            )
        groups.setdefault(tuple(location.url for location in file.locations), []).append(n)
    for indexes in groups.values():  # files sharing one tar: one download
        unique = list({(files[n].sha256, files[n].file_name): files[n] for n in indexes}.values())
        got = {(item.file.sha256, item.file.file_name): item for item in _fetch_together(unique, accept_other_bytes)}
        fetched.update({n: got[(files[n].sha256, files[n].file_name)] for n in indexes})
    return [fetched[n] for n in range(len(files))]


def _cached(file: ReleaseFile, accept_other_bytes: bool) -> Fetched | None:
    """``file`` as the cache holds it verified: the manifest's bytes, or (accepted) others; None if it does not."""
    path = matching_path(file.sha256, file.file_name)
    if check(path, file.sha256):
        found = read_found(file.sha256)
        if found is None or not found.matches:  # the note lost, or older than the bytes: the bytes are what count
            found = Found(file.url or file.manifest_uri, file.file_name, file.sha256, file.size, True)
            with suppress(OSError):  # a cache one may only read serves its files without the note
                write_found(file.sha256, found)
        return Fetched(file, path, found)
    found = read_found(file.sha256)
    if accept_other_bytes and found is not None and not found.matches and check(other_path(found), found.sha256):
        announce_other_bytes(file, found, other_path(found))
        return Fetched(file, other_path(found), found)
    return None


def _fetch_together(files: list[ReleaseFile], accept_other_bytes: bool) -> list[Fetched]:
    """``files``, which share their locations (one tar, or one file), fetched from the first location holding them.

    Each file's lock is held throughout (in one order, so that processes
    asking for overlapping sets never wait on each other in a circle): the
    first to want a file fetches it, the others find it cached.
    """
    with ExitStack() as held:
        for path in sorted({matching_path(file.sha256, file.file_name) for file in files}):
            held.enter_context(locked(path))
        done = {file.file_name: _cached(file, accept_other_bytes) for file in files}
        missing = [file for file in files if done[file.file_name] is None]
        for file in missing:
            path = matching_path(file.sha256, file.file_name)
            remove_leftovers(path)
            if path.exists():  # there, but not as verified: said, and replaced
                discard(path, f"this cached {file.label} is not the one that was verified")
        if missing:
            done.update({item.file.file_name: item for item in _first_holding(missing, accept_other_bytes)})
        return [done[file.file_name] for file in files]


def _first_holding(files: list[ReleaseFile], accept_other_bytes: bool) -> list[Fetched]:
    """``files`` from the first of their locations that holds them; ``FetchError`` naming every answer if none does."""
    answers: list[FetchError] = []
    names = " and ".join(file.label for file in files)
    for n in range(len(files[0].locations)):
        url = files[0].locations[n].url
        try:
            return _fetch_at(url, files, [file.locations[n].member for file in files], accept_other_bytes)
        except ChecksumError as exc:
            if answers:  # an alternate's other bytes: say why the alternate was tried
                exc.args = (f"{exc.args[0]} (tried after: {'; '.join(map(str, answers))})", *exc.args[1:])
            raise
        except FetchError as exc:
            if not isinstance(exc, WebPageError) and exc.status not in NOT_THERE:
                if not str(exc).startswith(names):  # the files asked for, named (a server error names its URL only)
                    exc.args = (f"{names}: {exc.args[0]}", *exc.args[1:])
                raise
            answers.append(exc)
    kind = WebPageError if any(isinstance(answer, WebPageError) for answer in answers) else FetchError
    raise kind(
        f"{names}: found at none of its homes; " + "; ".join(str(answer) for answer in answers),
        answers[-1].status if answers else None,
    )


def _fetch_at(url: str, files: list[ReleaseFile], members: list[str | None], accept: bool) -> list[Fetched]:
    """``files`` from ``url``: the file itself (``members`` None), or their members of the tar there."""
    partial = resumable_partial(_download_folder(url) / PurePosixPath(urlparse(url).path).name)
    with locked(partial):
        slack = OTHER_BYTES_FACTOR if accept else 1
        if members[0] is None:  # the URL is the file
            (file,) = files
            bound = slack * file.size + (TAR_OVERHEAD_BYTES if accept else 0)
            try:
                sha256 = download_resumable(url, partial, size=None if accept else file.size, max_bytes=bound,
                                            label=file.file_name)
            except ChecksumError as exc:  # of another size: refused as soon as that is clear, unhashed
                raise ChecksumError(
                    f"{file.label}: {url} holds other bytes than the release manifest ({exc}): the manifest's file "
                    f"has {file.size} bytes, SHA-256 {file.sha256}{_how_to_accept(url)}"
                ) from None
            return [_verified(file, url, file.file_name, partial, sha256, partial.stat().st_size, accept)]
        held = max(sum(file.size for file in files), *(file.packed_size or 0 for file in files))  # what the tar holds
        bound = slack * held + TAR_OVERHEAD_BYTES
        download_resumable(url, partial, max_bytes=bound, label=PurePosixPath(urlparse(url).path).name)
        try:
            fetched = _from_tar(url, partial, files, members, accept)
        except (PackedFileError, ChecksumError):
            drop_partial(partial)  # refused: not kept (interrupted, it is: the next call extracts it again)
            raise
        drop_partial(partial)  # extracted: the tar is not kept
        return fetched


def _from_tar(url: str, tar: Path, files: list[ReleaseFile], members: list[str | None], accept: bool) -> list[Fetched]:
    """``files`` taken out of ``tar`` (from ``url``) as ``members``, each verified and cached."""
    by_member = {member: file for member, file in zip(members, files)}
    temporary = {
        member: matching_path(file.sha256, file.file_name).with_name(f".{file.file_name}.{uuid.uuid4().hex}.part")
        for member, file in by_member.items()
    }
    try:
        wanted = {member: None if accept else file.size for member, file in by_member.items()}
        try:
            extracted = extract_members(tar, wanted, temporary.__getitem__, source=url)
        except MemberSizeError as exc:
            file = by_member[exc.name]
            raise ChecksumError(
                f"{file.label}: {url} holds other bytes than the release manifest: its member {exc.name} has "
                f"{exc.found} bytes, the manifest's file {file.size} (SHA-256 {file.sha256}); nothing was cached"
                f"{_how_to_accept(url)}"
            ) from None
        except PackedFileError as exc:
            raise PackedFileError(f"{' and '.join(f.label for f in files)}: {exc}; nothing was cached") from None
        return [
            _verified(file, url, member, temporary[member], extracted[member].sha256, extracted[member].size, accept)
            for member, file in by_member.items()
        ]
    finally:
        for path in temporary.values():
            path.unlink(missing_ok=True)


def _verified(file: ReleaseFile, url: str, name: str, path: Path, sha256: str, size: int, accept: bool) -> Fetched:
    """The bytes at ``path`` (``name`` at ``url``) cached as ``file``'s if they are the manifest's, or accepted."""
    found = Found(url, name, sha256, size, matches=(sha256, size) == (file.sha256, file.size))
    if not found.matches and not accept:
        drop_partial(path)
        raise ChecksumError(
            f"{file.label}: {url} holds other bytes than the release manifest: SHA-256 {sha256} ({size} bytes), "
            f"the manifest's {file.sha256} ({file.size} bytes); nothing was cached{_how_to_accept(url)}"
        )
    dest = matching_path(file.sha256, file.file_name) if found.matches else other_path(found)
    if found.matches or not check(dest, sha256):
        make_folder(dest.parent)
        with cache_errors(dest, "write"):
            os.replace(path, dest)
            record(dest, sha256)
    drop_partial(path)  # what is left of the download (its record of where it came from)
    write_found(file.sha256, found)
    if not found.matches:
        announce_other_bytes(file, found, dest)
    return Fetched(file, dest, found)


def announce_other_bytes(file: ReleaseFile, found: Found, path: Path) -> None:
    """Say once per process that ``file`` is taken as other bytes than the manifest's."""
    if file.sha256 in _announced:
        return
    _announced.add(file.sha256)
    warnings.warn(
        f"{file.label}: taken as other bytes than the release manifest's, as accept_other_bytes=True asks: "
        f"SHA-256 {found.sha256} ({found.size} bytes, {found.name} from {found.url}), not the manifest's "
        f"{file.sha256} ({file.size} bytes); cached under their own SHA-256 at {path}",
        OtherBytesWarning,
        stacklevel=caller_stacklevel(),
    )


def _how_to_accept(url: str) -> str:
    return (
        f". If {url} now holds other bytes for it and you want them, pass accept_other_bytes=True: they are "
        "then cached under their own SHA-256 and reported as not matching the manifest"
    )


def _download_folder(url: str) -> Path:
    """Where downloads from ``url`` are kept while in progress (a folder per URL: two archives may use one name)."""
    return config.cache_dir() / config.FILES_DIR / DOWNLOADS / hashlib.sha256(url.encode()).hexdigest()[:16]
