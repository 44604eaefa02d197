"""DANDI: the asset index of a dandiset version, and where an asset's bytes are.

An index lists every asset of one version with its size, DANDI's digests of
its bytes (``dandi:sha2-256``, ``dandi:dandi-etag``) and its blob. It comes
from, in this order:

pinned
    The listing the catalog ships for its pinned version (``PinnedListing``,
    see ``catalogs/dandi-assets/README.md``): used for that version when
    ``PATCHSEQ_INTAKE_DANDI_API`` is DANDI's own API. No request at all. A
    listing may lack the version's asset ids (000020's: ``Asset.asset_id``
    None) and dandi-etags: no call is made by an id the version may not
    hold, and a missing dandi-etag is learnt from the blob's own answers
    (``transport.blob_tag``).
cache
    ``<cache>/dandi/<api hash>/<dandiset>/<version>.v3.json``: a published
    version's index, fetched from the API once, ever (a published version
    never changes). It carries the SHA-256 of its own content (``digest``),
    checked whenever it is read: one that fails, or cannot be read, is never
    used: a ``CacheIntegrityWarning`` names it, it is removed and fetched again.
the API
    One paged listing of the version's assets with ``metadata=1`` and
    ``page_size`` 1000: each result then carries the asset's metadata, whose
    ``digest`` and ``contentUrl`` give the checksums and the blob URLs. Every
    value is checked against DANDI's format of it before use (see
    ``answers``). A ``draft`` index is kept in memory for the life of the
    process only.

No ``Asset`` holds a value that could not be DANDI's (a checksum that is not
hexadecimal, a path that leaves its folder): its checksums name files in the
cache and its path a file under a local root.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlencode

from .. import config
from ..errors import (
    CacheError,
    FetchError,
    OfflineError,
    ServerAnswerError,
    TableFormatError,
    UnknownVersionError,
    brief,
)
from ..transport.checksums import DANDI_ETAG, SHA256, Checksum
from . import answers
from .recordings import RECORDING_COLUMNS, Recording, from_row

DRAFT = "draft"
PAGE_SIZE = 1000
INDEX_FORMAT = 4
"""Bump when the cached index's layout changes, so that older files are not read."""
_PUBLISHED_VERSION = re.compile(r"^\d+\.\d{6}\.\d{4}$")


@dataclass(frozen=True)
class Asset:
    """One file of a dandiset version, as DANDI lists it.

    ``size`` is in bytes; ``sha256`` and ``etag`` are DANDI's digests of the
    bytes (``dandi:sha2-256``, ``dandi:dandi-etag``), None where DANDI gives none.
    ``asset_id`` is the version's id of the asset; None where the listing does
    not know it (a shipped listing without one: see ``read_listing``).
    """

    path: str
    asset_id: str | None
    blob: str
    size: int
    sha256: str | None = None
    etag: str | None = None

    def __post_init__(self) -> None:
        """``ValueError`` for a value that is not of DANDI's format (see ``answers.problem``); digests in lower case."""
        for one in fields(self):
            if one.name == "asset_id" and self.asset_id is None:
                continue  # unknown (a shipped listing); an API's answer must give it (``answers.asset_fields``)
            valid = answers.problem(one.name, getattr(self, one.name))
            if valid is not None:
                raise ValueError(f"asset {one.name} {brief(getattr(self, one.name))}: not {valid}")
        for name in ("sha256", "etag"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, getattr(self, name).lower())

    @property
    def checksum(self) -> Checksum | None:
        """What the bytes are verified against: the SHA-256, else the ETag; None if DANDI gives neither."""
        if self.sha256:
            return Checksum(SHA256, self.sha256)
        if self.etag:
            return Checksum(DANDI_ETAG, self.etag)
        return None


@dataclass(frozen=True)
class PinnedListing:
    """A listing of every asset of ``version`` shipped with the catalog: a CSV at ``path`` (see ``read_listing``)."""

    version: str
    path: str


@dataclass(frozen=True)
class DandisetVersion:
    """A version of a dandiset, and the listing the catalog pins for it, if any."""

    dandiset: str
    version: str
    pinned: PinnedListing | None = None

    def __post_init__(self) -> None:
        _check_version(self.version, self.pinned.version if self.pinned else None)

    @classmethod
    def from_catalog(cls, dandiset: str, version: str, dandi_assets: Mapping[str, str] | None) -> DandisetVersion:
        """From a catalog entry's arguments; ``dandi_assets`` is ``{"version": ..., "path": ...}`` or None."""
        return cls(dandiset, version, PinnedListing(**dandi_assets) if dandi_assets else None)

    def __str__(self) -> str:
        return f"dandiset {self.dandiset} version {self.version}"

    def index(self) -> AssetIndex:
        """The version's asset index: pinned, cached, or fetched (see the module docstring)."""
        api = config.dandi_api()
        if self.pinned is not None and self.pinned.version == self.version and api == config.DANDI_API:
            return shipped_index(self.dandiset, self.pinned)
        try:
            if self.version == DRAFT:
                return _draft_index(api, self.dandiset)
            return _cached_index(index_path(api, self.dandiset, self.version), api, self.dandiset, self.version)
        except UnknownVersionError as exc:
            if self.pinned is None:
                raise
            raise UnknownVersionError(f"{exc}; the catalog pins {self.pinned.version}") from exc


@dataclass(frozen=True)
class AssetIndex:
    """Every asset of one dandiset version, by path, and where their blobs live.

    ``recordings``: DANDI's metadata of the recording in each asset (donor,
    session, species, sex, age; see ``recordings``), by path, for the assets
    whose listing gives it.
    """

    api: str
    dandiset: str
    version: str
    blob_base: str | None
    assets: dict[str, Asset]
    recordings: dict[str, Recording] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """``ValueError`` for a blob store that is not an http(s) URL of a server (see ``answers``)."""
        if self.blob_base is not None and answers.blob_store_problem(self.blob_base) is not None:
            raise ValueError(f"blob store {brief(self.blob_base)}: not {answers.BLOB_STORE_FORMAT}")

    def blob_url(self, asset: Asset) -> str | None:
        """The stable S3 URL of the asset's bytes (a good cache key); None if unknown."""
        if self.blob_base is None:
            return None
        b = asset.blob
        return f"{self.blob_base}/blobs/{b[0:3]}/{b[3:6]}/{b}"

    def download_url(self, asset: Asset) -> str | None:
        """The API's download URL, which redirects to a presigned URL; None where the asset's id is not known.

        Only an id the version lists is used: a listing's id that may not be
        the version's (000020's shipped one's came from a DataLad annex) is no
        address of the asset, so such a listing has none (``read_listing``).
        """
        return None if asset.asset_id is None else f"{self.api}/assets/{asset.asset_id}/download/"

    def urls(self, asset: Asset) -> tuple[str, ...]:
        """Where to read the asset from, best first: the blob, then the download URL (where known)."""
        return tuple(url for url in (self.blob_url(asset), self.download_url(asset)) if url)


def _check_version(version: str, example: str | None = None) -> None:
    """Refuse, without any I/O, a version that is neither ``draft`` nor a published id (like ``example``)."""
    if version != DRAFT and not _PUBLISHED_VERSION.match(version):
        like = f" such as {example!r}" if example else " (<major>.<yymmdd>.<hhmm>)"
        raise UnknownVersionError(f"unknown dandiset version {version!r}: use a published version{like} or 'draft'")


LISTING_COLUMNS = ("path", "size", "sha256", "blob")
"""The columns every asset listing CSV has."""
OPTIONAL_LISTING_COLUMNS = ("asset_id", "dandi_etag")
"""Columns a listing has where it knows them: the version's asset id, DANDI's dandi-etag (empty: unknown)."""


def read_listing(path: str | Path) -> dict[str, Asset]:
    """The assets of a listing CSV (``LISTING_COLUMNS``, and any of ``OPTIONAL_LISTING_COLUMNS``), by path.

    An empty ``sha256``, ``asset_id`` or ``dandi_etag`` (or a column not
    there) is None: not known. ``TableFormatError`` naming the file and line
    for a column missing or a value not of DANDI's format (see ``Asset``).
    """
    return read_listing_with_recordings(path)[0]


def read_listing_with_recordings(path: str | Path) -> tuple[dict[str, Asset], dict[str, Recording]]:
    """The assets of a listing CSV (see ``read_listing``) and, where it has ``RECORDING_COLUMNS``, their recordings."""
    assets, recordings = {}, {}
    with open(path, newline="") as listing:
        rows = csv.DictReader(listing)
        missing = [name for name in LISTING_COLUMNS if name not in (rows.fieldnames or [])]
        if missing:
            raise TableFormatError(
                f"{path}: no column(s) {missing}; an asset listing has {list(LISTING_COLUMNS)}, "
                f"and may have {list(OPTIONAL_LISTING_COLUMNS + RECORDING_COLUMNS)}"
            )
        for row in rows:
            try:
                asset = Asset(row["path"], row.get("asset_id") or None, row["blob"], int(row["size"]),
                              row["sha256"] or None, row.get("dandi_etag") or None)
                recording = from_row(row)
            except (TypeError, ValueError) as exc:
                raise TableFormatError(f"{path}, line {rows.line_num}: {exc}") from exc
            assets[asset.path] = asset
            if recording is not None:
                recordings[asset.path] = recording
    return assets, recordings


def shipped_index(dandiset: str, pinned: PinnedListing) -> AssetIndex:
    """The index a shipped listing gives of ``dandiset`` at its version, on DANDI's own API and blob store (read
    once a process; no request)."""
    return _pinned_index(config.DANDI_API, config.DANDI_S3, dandiset, pinned.version, pinned.path)


@lru_cache(maxsize=32)
def _pinned_index(api: str, blob_base: str, dandiset: str, version: str, path: str) -> AssetIndex:
    return AssetIndex(api, dandiset, version, blob_base, *read_listing_with_recordings(path))


@lru_cache(maxsize=32)
def _draft_index(api: str, dandiset: str) -> AssetIndex:
    return _fetch_index(api, dandiset, DRAFT)


def _fetch_index(api: str, dandiset: str, version: str) -> AssetIndex:
    """The version's index from one paged listing of its assets, every value checked (see ``answers``)."""
    from ..transport.download import get_json

    listing = f"{api}/dandisets/{dandiset}/versions/{version}/assets/"
    if config.offline():
        raise OfflineError(
            f"the asset index of dandiset {dandiset} version {version} is not cached and "
            f"{config.OFFLINE_ENV} forbids fetching it from {listing}"
        )
    first = f"{listing}?{urlencode({'page_size': PAGE_SIZE, 'metadata': 1})}"
    paging = answers.Paging(api, first)
    assets: dict[str, Asset] = {}
    recordings: dict[str, Recording] = {}
    blob_base: str | None = None
    url: str | None = first
    while url is not None:
        try:
            page = get_json(url)
        except FetchError as exc:
            if exc.status == 404 and url == first:
                raise UnknownVersionError(
                    f"dandiset {dandiset} has no version {version!r} at {api}; "
                    f"use the catalog's published version or 'draft'"
                ) from exc
            if url == first and api != config.DANDI_API and exc.status is None and not isinstance(exc, ServerAnswerError):
                raise type(exc)(
                    f"{exc} (the DANDI API named by {config.DANDI_API_ENV}={api}: is that server running? "
                    f"Unset {config.DANDI_API_ENV} for DANDI's own)",
                    exc.status,
                ) from exc
            raise
        results = answers.results_of(page, url)
        for position, item in enumerate(results, 1):
            values, content_urls = answers.asset_fields(item, url, position)
            if values["path"] in assets:
                raise answers.refuse(url, f"result {position}'s path", values["path"], "each path listed once")
            assets[values["path"]] = Asset(**values)
            recording = answers.recording_of(item, url, values["path"])
            if recording is not None:
                recordings[values["path"]] = recording
            blob_base = blob_base or answers.blob_base(content_urls, url)
        url = paging.after(page, results, url)
    return AssetIndex(api, dandiset, version, blob_base, assets, recordings)


def _cached_index(path: Path, api: str, dandiset: str, version: str) -> AssetIndex:
    """The index cached at ``path``: fetched and saved first if it is not there, or not to be trusted."""
    from ..transport.cache import cached_file

    fetched: list[AssetIndex] = []

    def fetch(dest: Path) -> None:
        fetched.append(_fetch_index(api, dandiset, version))
        _save(fetched[-1], dest)

    for _ in range(2):  # a file that fails its check is removed, then fetched again
        cached_file(path, fetch)
        index = fetched[-1] if fetched else _trusted(path, (api, dandiset, version))
        if index is not None:
            return index
    raise CacheError(
        f"{path}: the asset index cached there fails its check, and so did the one that replaced it; "
        f"remove {path.parent} or set {config.CACHE_ENV} to another cache"
    )


def _save(index: AssetIndex, path: Path) -> None:
    """Write ``index`` to ``path`` atomically, sealed with the SHA-256 of its content (``transport.sealed``)."""
    from ..transport.atomic import atomic_output
    from ..transport.sealed import seal

    body = {"format": INDEX_FORMAT, **asdict(index)}
    body["assets"] = [asdict(asset) for asset in index.assets.values()]
    body["recordings"] = {path: asdict(recording) for path, recording in index.recordings.items()}
    with atomic_output(path) as partial:
        partial.write_text(seal(body))


def _trusted(path: Path, source: tuple[str, str, str]) -> AssetIndex | None:
    """The index saved at ``path`` by ``_save`` from ``source`` (api, dandiset, version), if it passes its check.

    One that does not is removed, with a ``CacheIntegrityWarning`` naming it,
    unless another process replaced it meanwhile; then None.
    """
    from ..transport.cache import locked
    from ..transport.verified import discard

    try:
        stamp = _stamp(path)
        return _load(path, stamp, source)
    except FileNotFoundError:  # removed by another process meanwhile
        return None
    except OSError as exc:
        raise CacheError(
            f"{path}: the cached asset index cannot be read ({exc.strerror or exc}); "
            f"check its permissions, or set {config.CACHE_ENV} to another cache"
        ) from exc
    except ValueError as exc:
        with locked(path):
            if path.exists() and _stamp(path) == stamp:
                discard(path, f"this cached DANDI asset index {exc}")
        return None


def _stamp(path: Path) -> tuple[int, int, int]:
    """What changes when a file is written: its size, modification time (ns) and inode."""
    status = path.stat()
    return status.st_size, status.st_mtime_ns, status.st_ino


def index_path(api: str, dandiset: str, version: str) -> Path:
    """Where the cache keeps the index of ``dandiset`` at ``version`` as the API at ``api`` lists it."""
    api_key = hashlib.sha256(api.encode()).hexdigest()[:8]
    return config.cache_dir() / config.DANDI_DIR / api_key / dandiset / f"{version}.v{INDEX_FORMAT}.json"


def cached_index_problem(path: Path) -> str | None:
    """What is wrong with the asset index cached at ``path``; None if nothing (for ``patchseq-intake cache verify``).

    The checks of every use (see ``_read_index``), and that it lies where
    its API, dandiset and version put it. ``OSError`` if it cannot be read.
    """
    try:
        index = _read_index(path)
    except ValueError as exc:
        return f"this cached DANDI asset index {exc}"
    if path.parts[-3:] != index_path(index.api, index.dandiset, index.version).parts[-3:]:
        return f"it holds the index of dandiset {index.dandiset} version {index.version} from {index.api}"
    return None


@lru_cache(maxsize=32)
def _load(path: Path, stamp: tuple[int, int, int], source: tuple[str, str, str]) -> AssetIndex:
    """The index saved at ``path`` from ``source`` (api, dandiset, version); memoised while its ``stamp`` is unchanged.

    ``ValueError`` saying why it is not to be trusted (see ``_read_index``), or that it is another version's.
    """
    index = _read_index(path)
    if (index.api, index.dandiset, index.version) != source:
        api, dandiset, version = source
        raise ValueError(f"is not the index of dandiset {dandiset} version {version} from {api}")
    return index


def _read_index(path: Path) -> AssetIndex:
    """The index saved at ``path`` by ``_save``.

    ``ValueError`` saying why it is not to be trusted: not JSON (truncated,
    nested too deep), not an object, failing its digest, of another layout,
    or holding a value not of DANDI's format. ``OSError`` if it cannot be read.
    """
    from ..transport.sealed import unseal

    body = unseal(path.read_bytes())
    if body.get("format") != INDEX_FORMAT:
        raise ValueError(f"is of format {brief(body.get('format'))}, not {INDEX_FORMAT}")
    try:
        source = [body["api"], body["dandiset"], body["version"]]
        if not all(isinstance(part, str) for part in source):
            raise TypeError(f"api, dandiset and version are {brief(source)}, not text")
        assets = [Asset(**item) for item in body["assets"]]
        recordings = {path: Recording(**item) for path, item in body["recordings"].items()}
        index = AssetIndex(*source, body["blob_base"], {asset.path: asset for asset in assets}, recordings)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"does not hold an asset index ({type(exc).__name__}: {exc})") from None
    if len(index.assets) != len(assets):
        raise ValueError("lists a path twice")
    return index
