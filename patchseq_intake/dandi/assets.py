"""DANDI: the asset index of a dandiset version, and where an asset's bytes are.

An index lists every asset of one version with its size, DANDI's digests of
its bytes (``dandi:sha2-256``, ``dandi:dandi-etag``) and its blob. It comes
from, in this order:

pinned
    The listing the catalog ships for its pinned version (``PinnedListing``,
    see ``catalogs/dandi-assets/README.md``): used for that version when
    ``PATCHSEQ_INTAKE_DANDI_API`` is DANDI's own API. No request at all.
cache
    ``<cache>/dandi/<api hash>/<dandiset>/<version>.v2.json``: a published
    version's index, fetched from the API once, ever (a published version
    never changes).
the API
    One paged listing of the version's assets with ``metadata=1`` and
    ``page_size`` 1000: each result then carries the asset's metadata, whose
    ``digest`` and ``contentUrl`` give the checksums and the blob URLs. A
    ``draft`` index is kept in memory for the life of the process only.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from .. import config
from ..errors import FetchError, OfflineError, UnknownVersionError
from ..transport.checksums import DANDI_ETAG, SHA256, Checksum

DRAFT = "draft"
PAGE_SIZE = 1000
INDEX_FORMAT = 2
"""Bump when the cached index's layout changes, so that older files are not read."""
_PUBLISHED_VERSION = re.compile(r"^\d+\.\d{6}\.\d{4}$")


@dataclass(frozen=True)
class Asset:
    """One file of a dandiset version, as DANDI lists it.

    ``size`` is in bytes; ``sha256`` and ``etag`` are DANDI's digests of the
    bytes (``dandi:sha2-256``, ``dandi:dandi-etag``), None where DANDI gives none.
    """

    path: str
    asset_id: str
    blob: str
    size: int
    sha256: str | None = None
    etag: str | None = None

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
    """A listing of every asset of ``version`` shipped with the catalog: a CSV at ``path``.

    Its columns: ``path``, ``size``, ``sha256``, ``asset_id``, ``blob``.
    """

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
            return _pinned_index(self.dandiset, self.version, self.pinned.path)
        if self.version == DRAFT:
            return _draft_index(api, self.dandiset)
        from ..transport.cache import cached_file

        api_key = hashlib.sha256(api.encode()).hexdigest()[:8]
        path = config.cache_dir() / config.DANDI_DIR / api_key / self.dandiset / f"{self.version}.v{INDEX_FORMAT}.json"
        cached_file(path, lambda dest: _save(_fetch_index(api, self.dandiset, self.version), dest))
        return _load(path, path.stat().st_mtime_ns)


@dataclass(frozen=True)
class AssetIndex:
    """Every asset of one dandiset version, by path, and where their blobs live."""

    api: str
    dandiset: str
    version: str
    blob_base: str | None
    assets: dict[str, Asset]

    def blob_url(self, asset: Asset) -> str | None:
        """The stable S3 URL of the asset's bytes (a good cache key); None if unknown."""
        if self.blob_base is None:
            return None
        b = asset.blob
        return f"{self.blob_base}/blobs/{b[0:3]}/{b[3:6]}/{b}"

    def download_url(self, asset: Asset) -> str:
        """The API's download URL, which redirects to a presigned URL."""
        return f"{self.api}/assets/{asset.asset_id}/download/"

    def urls(self, asset: Asset) -> tuple[str, ...]:
        """Where to read the asset from, best first."""
        return tuple(url for url in (self.blob_url(asset), self.download_url(asset)) if url)

    def metadata_url(self, asset: Asset) -> str:
        """The API's URL of the asset's metadata at this version (its ``digest`` among them)."""
        return f"{self.api}/dandisets/{self.dandiset}/versions/{self.version}/assets/{asset.asset_id}/"


@lru_cache(maxsize=1024)
def fetch_dandi_etag(metadata_url: str) -> str | None:
    """DANDI's ``dandi:dandi-etag`` of an asset, from its metadata (one request, once a process).

    For assets whose listing lacks it (the catalogs' pinned listings carry
    SHA-256 only). None if DANDI gives none; ``FetchError`` if the API does
    not answer.
    """
    from ..transport.download import get

    with get(metadata_url) as reply:
        digest = reply.json().get("digest") or {}
    return digest.get(f"dandi:{DANDI_ETAG}")


def _check_version(version: str, example: str | None = None) -> None:
    """Refuse, without any I/O, a version that is neither ``draft`` nor a published id (like ``example``)."""
    if version != DRAFT and not _PUBLISHED_VERSION.match(version):
        like = f" such as {example!r}" if example else " (<major>.<yymmdd>.<hhmm>)"
        raise UnknownVersionError(f"unknown dandiset version {version!r}: use a published version{like} or 'draft'")


def read_listing(path: str | Path) -> dict[str, Asset]:
    """The assets of a listing CSV (``path``, ``size``, ``sha256``, ``asset_id``, ``blob``), by path."""
    with open(path, newline="") as listing:
        return {
            row["path"]: Asset(row["path"], row["asset_id"], row["blob"], int(row["size"]), row["sha256"] or None)
            for row in csv.DictReader(listing)
        }


@lru_cache(maxsize=4)
def _pinned_index(dandiset: str, version: str, path: str) -> AssetIndex:
    return AssetIndex(config.DANDI_API, dandiset, version, config.DANDI_S3, read_listing(path))


@lru_cache(maxsize=8)
def _draft_index(api: str, dandiset: str) -> AssetIndex:
    return _fetch_index(api, dandiset, DRAFT)


def _fetch_index(api: str, dandiset: str, version: str) -> AssetIndex:
    from ..transport.download import get

    listing = f"{api}/dandisets/{dandiset}/versions/{version}/assets/"
    if config.offline():
        raise OfflineError(
            f"the asset index of dandiset {dandiset} version {version} is not cached and "
            f"{config.OFFLINE_ENV} forbids fetching it from {listing}"
        )
    assets: dict[str, Asset] = {}
    blob_base: str | None = None
    url: str | None = listing
    params: dict[str, str | int] | None = {"page_size": PAGE_SIZE, "metadata": 1}
    while url:
        try:
            with get(url, params=params) as reply:
                page = reply.json()
        except FetchError as exc:
            if exc.status == 404:
                raise UnknownVersionError(
                    f"dandiset {dandiset} has no version {version!r} at {api}; "
                    f"use the catalog's published version or 'draft'"
                ) from exc
            raise
        for item in page["results"]:
            metadata = item.get("metadata") or {}
            assets[item["path"]] = _asset(item, metadata.get("digest") or {})
            blob_base = blob_base or _blob_base(metadata.get("contentUrl") or [])
        url, params = page.get("next"), None
    return AssetIndex(api, dandiset, version, blob_base, assets)


def _asset(item: dict[str, Any], digest: dict[str, str]) -> Asset:
    return Asset(
        path=item["path"],
        asset_id=item["asset_id"],
        blob=item["blob"],
        size=int(item["size"]),
        sha256=digest.get(f"dandi:{SHA256}"),
        etag=digest.get(f"dandi:{DANDI_ETAG}"),
    )


def _blob_base(content_urls: list[str]) -> str | None:
    """Where blobs live, read off an asset's ``contentUrl`` (S3 for DANDI itself)."""
    for url in content_urls:
        if "/blobs/" in url:
            return url.split("/blobs/", 1)[0]
    return None


def _save(index: AssetIndex, path: Path) -> None:
    from ..transport.atomic import atomic_output

    payload = asdict(index)
    payload["assets"] = [asdict(asset) for asset in index.assets.values()]
    with atomic_output(path) as partial:
        partial.write_text(json.dumps(payload))


@lru_cache(maxsize=8)
def _load(path: Path, modified_ns: int) -> AssetIndex:
    """The index saved at ``path``; memoised while the file is unchanged (``modified_ns``)."""
    payload = json.loads(path.read_text())
    assets = {item["path"]: Asset(**item) for item in payload.pop("assets")}
    return AssetIndex(assets=assets, **payload)
