"""DANDI: the asset index of a dandiset version, and the URLs of an asset's bytes.

The index is one paged listing of the version's assets (``page_size`` 1000),
kept in ``<cache>/dandi/<api hash>/<dandiset>/<version>.json``. A published version never
changes, so its index is fetched once, ever; a ``draft`` index is kept in
memory for the life of the process only.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from . import config
from .errors import FetchError, OfflineError, UnknownVersionError

DRAFT = "draft"
PAGE_SIZE = 1000
_PUBLISHED_VERSION = re.compile(r"^\d+\.\d{6}\.\d{4}$")


@dataclass(frozen=True)
class Asset:
    """One file of a dandiset version."""

    path: str
    asset_id: str
    blob: str
    size: int


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

    def urls(self, asset: Asset) -> list[str]:
        """Where to read the asset from, best first."""
        return [url for url in (self.blob_url(asset), self.download_url(asset)) if url]


def check_version(version: str) -> None:
    """Refuse, without any I/O, a version that is neither ``draft`` nor a published id."""
    if version != DRAFT and not _PUBLISHED_VERSION.match(version):
        raise UnknownVersionError(
            f"unknown dandiset version {version!r}: use a published version such as "
            f"'0.210914.1900' or 'draft'"
        )


def asset_index(dandiset: str, version: str) -> AssetIndex:
    """The asset index of ``dandiset`` at ``version``, from the cache or the API."""
    check_version(version)
    api = config.dandi_api()
    if version == DRAFT:
        return _draft_index(api, dandiset)
    from .cache import cached_file

    api_key = hashlib.sha256(api.encode()).hexdigest()[:8]
    path = config.cache_dir() / config.DANDI_DIR / api_key / dandiset / f"{version}.json"
    cached_file(path, lambda dest: _save(_fetch_index(api, dandiset, version), dest))
    return _load(path, path.stat().st_mtime_ns)


@lru_cache(maxsize=8)
def _draft_index(api: str, dandiset: str) -> AssetIndex:
    return _fetch_index(api, dandiset, DRAFT)


def _fetch_index(api: str, dandiset: str, version: str) -> AssetIndex:
    from .download import get

    listing = f"{api}/dandisets/{dandiset}/versions/{version}/assets/"
    if config.offline():
        raise OfflineError(
            f"the asset index of dandiset {dandiset} version {version} is not cached and "
            f"{config.OFFLINE_ENV} forbids fetching it from {listing}"
        )
    assets: dict[str, Asset] = {}
    url: str | None = listing
    params: dict[str, str | int] | None = {"page_size": PAGE_SIZE}
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
            assets[item["path"]] = Asset(item["path"], item["asset_id"], item["blob"], int(item["size"]))
        url, params = page.get("next"), None
    return AssetIndex(api, dandiset, version, _blob_base(api, dandiset, version, assets), assets)


def _blob_base(api: str, dandiset: str, version: str, assets: dict[str, Asset]) -> str | None:
    """Where blobs live, read off one asset's ``contentUrl`` (S3 for DANDI itself)."""
    from .download import get

    if not assets:
        return None
    asset = next(iter(assets.values()))
    with get(f"{api}/dandisets/{dandiset}/versions/{version}/assets/{asset.asset_id}/") as reply:
        content_urls = reply.json().get("contentUrl", [])
    for url in content_urls:
        if "/blobs/" in url:
            return url.split("/blobs/", 1)[0]
    return None


def _save(index: AssetIndex, path: Path) -> None:
    from .atomic import atomic_output

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
