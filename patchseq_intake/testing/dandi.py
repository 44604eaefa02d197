"""A local replica of the parts of the DANDI REST API the package uses.

``DandiReplica`` serves dandisets on a ``LocalServer``: the API under ``/api``
(dandiset info, the paged asset listing with its ``path``, ``glob`` and
``metadata`` parameters, asset metadata, and download redirects to
"presigned" URLs) and the assets' bytes under ``/s3/blobs/...``, laid out as
on DANDI's S3 bucket.

Assets are added with their bytes (``add_asset``), or listed only, as a real
listing describes them, with no bytes to serve (``add_listed_asset``, with
assets read by ``patchseq_intake.dandi.assets.read_listing``).

As on DANDI, an asset id addresses an asset of a version only if the version
lists it: a version-scoped call (``/versions/{v}/assets/{id}/``) by any other
id answers 404. A listed asset gets an id of the replica's own unless one is
given, not the listing's: the ids of the shipped 000020 listing's source came
from a DataLad annex, not from the version (``catalogs/dandi-assets/README.md``),
so nothing may rely on them reaching the version's asset.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Literal
from urllib.parse import parse_qs, quote, urlencode, urlparse

from ..dandi.assets import Asset
from ..dandi.recordings import Recording
from .server import LocalServer, LoggedRequest, Reply, Request

DRAFT = "draft"
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
TIMESTAMP = "2021-09-14T19:00:00.000000Z"
"""When every replica asset and version was created and last modified."""

RequestKind = Literal["dandiset", "listing", "asset", "download", "blob", "other"]

_NAMESPACE = uuid.UUID("6f1d1f5e-3c55-4b1e-9a43-5d2f7c0e8a11")
_HASH_CHUNK = 1024 * 1024
ETAG_PART_BYTES = 64 * 1024 * 1024
"""DANDI's upload part size, which its dandi-etag is computed over (files up to 640 GB)."""
_NOT_FOUND = {"detail": "Not found."}
_ENDPOINTS: dict[RequestKind, re.Pattern[str]] = {
    "dandiset": re.compile(r"^/api/dandisets/(?P<dandiset>[^/]+)/$"),
    "listing": re.compile(r"^/api/dandisets/(?P<dandiset>[^/]+)/versions/(?P<version>[^/]+)/assets/$"),
    "asset": re.compile(
        r"^/api/dandisets/(?P<dandiset>[^/]+)/versions/(?P<version>[^/]+)/assets/(?P<asset_id>[^/]+)/$"
    ),
    "download": re.compile(r"^/api/assets/(?P<asset_id>[^/]+)/download/$"),
    "blob": re.compile(r"^/s3/blobs/[^/]{3}/[^/]{3}/[^/]+$"),
}

@dataclass(frozen=True)
class ReplicaAsset:
    """One asset of a dandiset version, as the replica serves it."""

    path: str
    content: bytes | Path | None
    """None for an asset that is listed only: its blob URL answers 404."""
    asset_id: str
    """Given, or derived from dandiset, version and path: the same inputs give the same id."""
    blob: str
    """Given, or derived from the content's SHA-256: the same bytes give the same blob, as on DANDI."""
    size: int
    sha256: str | None
    """``dandi:sha2-256``; None where the metadata publishes none (DANDI computes it after upload)."""
    etag: str | None
    """``dandi:dandi-etag``: MD5 of the MD5s of the 64 MiB upload parts, ``-<parts>``; None if unknown."""
    recording: Recording | None = None
    """The donor and session its metadata names (``wasAttributedTo``, ``wasGeneratedBy``); None: neither."""

    def digest(self) -> dict[str, str]:
        """The asset metadata's ``digest``."""
        found = {"dandi:dandi-etag": self.etag, "dandi:sha2-256": self.sha256}
        return {name: value for name, value in found.items() if value}


_Assets = dict[str, ReplicaAsset]
"""The assets of one dandiset version, by path."""


class DandiReplica:
    """Serves dandisets on a LocalServer: the REST API under /api and blobs under /s3.

    Every dandiset has a ``draft`` version, empty unless assets are added to
    it; published versions hold only the assets added to them.
    """

    def __init__(self, server: LocalServer) -> None:
        self.server = server
        self._dandisets: dict[str, dict[str, _Assets]] = {}
        self._by_id: dict[str, ReplicaAsset] = {}
        server.add_route("/api/", self._answer)

    @property
    def api_url(self) -> str:
        """The API's base URL, like ``https://api.dandiarchive.org/api``."""
        return f"{self.server.url}/api"

    def add_asset(
        self,
        dandiset: str,
        version: str,
        path: str,
        content: bytes | Path,
        *,
        asset_id: str | None = None,
        publish_sha256: bool = True,
        recording: Recording | None = None,
    ) -> ReplicaAsset:
        """Add (or replace) the asset at ``path`` of ``dandiset`` at ``version``, serving ``content``.

        Its size and digests are those of ``content``; with ``publish_sha256``
        False its metadata gives the dandi-etag only. ``recording``: the donor
        and session its metadata names.
        """
        size, sha256, etag = _digests(content)
        asset = ReplicaAsset(
            path=path,
            content=content,
            asset_id=asset_id or str(uuid.uuid5(_NAMESPACE, f"{dandiset}/{version}/{path}")),
            blob=str(uuid.UUID(bytes=bytes.fromhex(sha256)[:16], version=4)),
            size=size,
            sha256=sha256 if publish_sha256 else None,
            etag=etag,
            recording=recording,
        )
        self.server.serve_file(_blob_path(asset.blob), content, etag=etag)  # S3's ETag is DANDI's dandi-etag
        return self._put(dandiset, version, asset)

    def add_listed_asset(
        self, dandiset: str, version: str, listed: Asset, *, asset_id: str | None = None,
        recording: Recording | None = None,
    ) -> ReplicaAsset:
        """List an asset as a real listing describes it, with no bytes behind it (its blob is not served).

        Its id is ``asset_id``, else one derived from dandiset and path (the
        same in every version, as DANDI's id of an asset no version changed),
        never ``listed.asset_id``: pass that where the listing is the version's own.
        """
        asset_id = asset_id or str(uuid.uuid5(_NAMESPACE, f"listed/{dandiset}/{listed.path}"))
        asset = ReplicaAsset(
            listed.path, None, asset_id, listed.blob, listed.size, listed.sha256, listed.etag, recording
        )
        return self._put(dandiset, version, asset)

    def remove_asset(self, dandiset: str, version: str, path: str) -> None:
        """Take the asset at ``path`` out of ``version``, as a new draft may.

        Its download URL goes on working while another version lists it, as on DANDI.
        """
        removed = self._dandisets[dandiset][version].pop(path)
        listed = (asset for versions in self._dandisets.values() for assets in versions.values() for asset in assets.values())
        if not any(asset.asset_id == removed.asset_id for asset in listed):
            del self._by_id[removed.asset_id]

    def assets(self, dandiset: str, version: str) -> Mapping[str, ReplicaAsset]:
        """The assets of ``version``, by path (empty for a version there is none of)."""
        return MappingProxyType(self._dandisets.get(dandiset, {}).get(version, {}))

    def _put(self, dandiset: str, version: str, asset: ReplicaAsset) -> ReplicaAsset:
        versions = self._dandisets.setdefault(dandiset, {DRAFT: {}})
        versions.setdefault(version, {})[asset.path] = asset
        self._by_id[asset.asset_id] = asset
        return asset

    def blob_url(self, asset: ReplicaAsset) -> str:
        """The stable S3 URL of the asset's bytes."""
        return f"{self.server.url}{_blob_path(asset.blob)}"

    def download_url(self, asset: ReplicaAsset) -> str:
        """The API URL that redirects to a fresh presigned URL of the asset's bytes."""
        return f"{self.api_url}/assets/{asset.asset_id}/download/"

    def requests(self, *kinds: RequestKind) -> list[LoggedRequest]:
        """The logged requests of these kinds; of every kind but "other" if none given."""
        wanted = set(kinds) or set(_ENDPOINTS)
        self.server.wait_until_idle()
        return [entry for entry in list(self.server.log) if request_kind(entry) in wanted]

    def index_listings(self, dandiset: str | None = None, version: str | None = None) -> int:
        """How many asset listings were started: requests for a listing's first page."""
        count = 0
        for entry in self.requests("listing"):
            url = urlparse(entry.path)
            listed = _match("listing", url.path) or {}
            first_page = parse_qs(url.query).get("page", ["1"]) == ["1"]
            if first_page and dandiset in (None, listed["dandiset"]) and version in (None, listed["version"]):
                count += 1
        return count

    def _answer(self, request: Request) -> Reply:
        """Dispatch an API request to the handler of its endpoint."""
        handlers: dict[RequestKind, Callable[..., Reply]] = {
            "dandiset": self._dandiset,
            "listing": self._listing,
            "asset": self._asset,
            "download": self._download,
        }
        for kind, handler in handlers.items():
            params = _match(kind, request.path)
            if params is not None:
                return handler(request, **params)
        return Reply.json(_NOT_FOUND, 404)

    def _dandiset(self, request: Request, dandiset: str) -> Reply:
        versions = self._dandisets.get(dandiset)
        if versions is None:
            return Reply.json(_NOT_FOUND, 404)
        published = sorted((v for v in versions if v != DRAFT), key=_version_key)
        latest = _version_info(dandiset, published[-1], versions[published[-1]]) if published else None
        return Reply.json(
            {
                "identifier": dandiset,
                "created": TIMESTAMP,
                "modified": TIMESTAMP,
                "embargo_status": "OPEN",
                "draft_version": _version_info(dandiset, DRAFT, versions[DRAFT]),
                "most_recent_published_version": latest,
            }
        )

    def _listing(self, request: Request, dandiset: str, version: str) -> Reply:
        assets = self._dandisets.get(dandiset, {}).get(version)
        if assets is None:
            return Reply.json(_NOT_FOUND, 404)
        query = request.query
        found = _filtered(assets, _param(query, "path"), _param(query, "glob"))
        size = _page_size(_param(query, "page_size"))
        page = _positive_int(_param(query, "page") or "1")
        last_page = max(1, -(-len(found) // size))
        if page is None or page > last_page:
            return Reply.json({"detail": "Invalid page."}, 404)
        here = f"{self.server.url}{request.path}"
        with_metadata = (_param(query, "metadata") or "").lower() in ("1", "true")
        results = [
            {**_summary(asset), "metadata": self._metadata(asset)} if with_metadata else _summary(asset)
            for asset in found[(page - 1) * size : page * size]
        ]
        return Reply.json(
            {
                "count": len(found) if page == 1 else None,
                "next": _page_url(here, query, page + 1) if page < last_page else None,
                "previous": _page_url(here, query, page - 1) if page > 1 else None,
                "results": results,
            }
        )

    def _asset(self, request: Request, dandiset: str, version: str, asset_id: str) -> Reply:
        assets = self._dandisets.get(dandiset, {}).get(version, {})
        asset = next((listed for listed in assets.values() if listed.asset_id == asset_id), None)
        if asset is None:
            return Reply.json(_NOT_FOUND, 404)
        return Reply.json(self._metadata(asset))

    def _metadata(self, asset: ReplicaAsset) -> dict[str, object]:
        """The asset's metadata, as its endpoint and a listing with ``metadata=1`` give it."""
        return {
            "id": f"dandiasset:{asset.asset_id}",
            "schemaKey": "Asset",
            "identifier": asset.asset_id,
            "path": asset.path,
            "contentSize": asset.size,
            "encodingFormat": "application/x-nwb",
            "contentUrl": [self.download_url(asset), self.blob_url(asset)],
            "digest": asset.digest(),
            "dateModified": TIMESTAMP,
            "blobDateModified": TIMESTAMP,
            **_provenance(asset.recording),
        }

    def _download(self, request: Request, asset_id: str) -> Reply:
        asset = self._by_id.get(asset_id)
        if asset is None:
            return Reply.json(_NOT_FOUND, 404)
        return Reply.redirect(self._presigned_url(asset))

    def _presigned_url(self, asset: ReplicaAsset) -> str:
        """The blob URL with a query like S3's presigned URLs, different on every call."""
        filename = asset.path.rsplit("/", 1)[-1]
        query = {
            "response-content-disposition": f"attachment; filename={filename}",
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            "X-Amz-Expires": "3600",
            "X-Amz-SignedHeaders": "host",
            "X-Amz-Signature": secrets.token_hex(32),
        }
        return f"{self.blob_url(asset)}?{urlencode(query, quote_via=quote)}"


def _provenance(recording: Recording | None) -> dict[str, object]:
    """``wasAttributedTo`` (the Participant) and ``wasGeneratedBy`` (the Session, then DANDI's own Activity),
    laid out as DANDI's asset metadata has them; nothing for no recording."""
    if recording is None:
        return {}
    participant: dict[str, object] = {"schemaKey": "Participant", "identifier": recording.subject_id}
    if recording.species:
        participant["species"] = {"schemaKey": "SpeciesType", "name": recording.species}
    if recording.sex:
        participant["sex"] = {"schemaKey": "SexType", "name": recording.sex}
    if recording.age:
        participant["age"] = {"schemaKey": "PropertyValue", "value": recording.age, "unitText": "ISO-8601 duration"}
    if recording.genotype:
        participant["genotype"] = recording.genotype
    generated = [{"schemaKey": "Activity", "name": "Metadata generation"}]
    if recording.session_id:
        generated.insert(0, {"schemaKey": "Session", "identifier": recording.session_id, "name": "Acquisition session"})
    return {"wasAttributedTo": [participant], "wasGeneratedBy": generated}


def request_kind(entry: LoggedRequest) -> RequestKind:
    """Which replica endpoint a logged request went to ("other" if none)."""
    path = urlparse(entry.path).path
    return next((kind for kind, pattern in _ENDPOINTS.items() if pattern.match(path)), "other")


def _match(kind: RequestKind, path: str) -> dict[str, str] | None:
    """The URL parameters if ``path`` is an endpoint of ``kind``, else None."""
    found = _ENDPOINTS[kind].match(path)
    return found.groupdict() if found else None


def _blob_path(blob: str) -> str:
    return f"/s3/blobs/{blob[0:3]}/{blob[3:6]}/{blob}"


def _digests(content: bytes | Path) -> tuple[int, str, str]:
    """Size, SHA-256 and dandi-etag of ``content``, reading a file once.

    The etag is computed here as S3 computes a multipart upload's, over
    DANDI's 64 MiB parts: apart from the package's own (dandischema's), so
    that each checks the other.
    """
    sha256, size = hashlib.sha256(), 0
    part_md5s: list[bytes] = []
    part, part_bytes = hashlib.md5(), 0
    for chunk in _chunks(content):
        sha256.update(chunk)
        size += len(chunk)
        while chunk:
            taken = chunk[: ETAG_PART_BYTES - part_bytes]
            part.update(taken)
            part_bytes += len(taken)
            chunk = chunk[len(taken) :]
            if part_bytes == ETAG_PART_BYTES:
                part_md5s.append(part.digest())
                part, part_bytes = hashlib.md5(), 0
    if part_bytes or not part_md5s:
        part_md5s.append(part.digest())
    etag = f"{hashlib.md5(b''.join(part_md5s)).hexdigest()}-{len(part_md5s)}"
    return size, sha256.hexdigest(), etag


def _chunks(content: bytes | Path) -> Iterator[bytes]:
    if isinstance(content, bytes):
        for start in range(0, max(len(content), 1), _HASH_CHUNK):
            yield content[start : start + _HASH_CHUNK]
        return
    with content.open("rb") as stream:
        while chunk := stream.read(_HASH_CHUNK):
            yield chunk


def _version_key(version: str) -> tuple[int, ...]:
    """Orders published version ids such as ``0.210914.1900`` oldest first."""
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def _version_info(dandiset: str, version: str, assets: _Assets) -> dict[str, object]:
    return {
        "version": version,
        "name": f"Replica of dandiset {dandiset}",
        "asset_count": len(assets),
        "size": sum(asset.size for asset in assets.values()),
        "status": "Valid" if version == DRAFT else "Published",
        "created": TIMESTAMP,
        "modified": TIMESTAMP,
    }


def _filtered(assets: _Assets, path: str | None, glob: str | None) -> list[ReplicaAsset]:
    """The assets the ``path`` and ``glob`` filters keep, ordered by path."""
    if path is not None and path in assets:
        found = [assets[path]]
    else:
        prefix = (path or "").lower()
        found = [asset for asset in list(assets.values()) if asset.path.lower().startswith(prefix)]
    if glob is not None:
        pattern = re.compile(re.escape(glob).replace(r"\*", ".*"), re.IGNORECASE)
        found = [asset for asset in found if pattern.fullmatch(asset.path)]
    return sorted(found, key=lambda asset: asset.path)


def _param(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _positive_int(text: str) -> int | None:
    return int(text) if text.isdigit() and int(text) > 0 else None


def _page_size(text: str | None) -> int:
    """The page size asked for, clamped to the maximum; the default if not a positive int."""
    size = _positive_int(text) if text is not None else None
    return DEFAULT_PAGE_SIZE if size is None else min(size, MAX_PAGE_SIZE)


def _page_url(base: str, query: dict[str, list[str]], page: int) -> str:
    """``base`` with ``query`` asking for ``page`` (page 1 without a ``page`` parameter)."""
    params = {name: values for name, values in query.items() if name != "page"}
    if page > 1:
        params["page"] = [str(page)]
    encoded = urlencode(sorted(params.items()), doseq=True)
    return f"{base}?{encoded}" if encoded else base


def _summary(asset: ReplicaAsset) -> dict[str, object]:
    """An asset as the listing shows it."""
    return {
        "asset_id": asset.asset_id,
        "blob": asset.blob,
        "zarr": None,
        "path": asset.path,
        "size": asset.size,
        "created": TIMESTAMP,
        "modified": TIMESTAMP,
    }
