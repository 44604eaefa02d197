"""What a DANDI API answers, checked before any of it is used.

The API may be DANDI's own, a mirror, a replica, or any server that
``PATCHSEQ_INTAKE_DANDI_API`` points at; what it sends becomes file names in
the cache (an asset's checksums name its cached file and index), URLs (blob
and asset ids, the blob server, the next page of a listing) and paths under
a local root (asset paths). So every such value is checked against its
format (``problem``) when an answer is read, and an answer that is not what
DANDI's API sends is refused with a ``ServerAnswerError`` that names the
server's URL, the asset, the field, the value and what would be valid:

- an asset listing page (``results_of``, ``asset_fields``): an object with
  ``results``, each result an object with ``path``, ``asset_id``, ``blob``,
  ``size`` and, with ``metadata=1``, ``metadata`` holding ``digest`` (whose
  ``dandi:sha2-256`` and ``dandi:dandi-etag`` are taken) and ``contentUrl``;
- the pages of a listing (``Paging``): each ``next`` link on the API's own
  server, no page fetched twice, no more pages than page 1's ``count`` implies.

The formats are DANDI's (``dandischema``): a SHA-256 is 64 hexadecimal digits;
a dandi-etag 32 hexadecimal digits, ``-`` and the number of upload parts
(``DandiETag.REGEX``); asset and blob ids are UUIDs; an asset path is relative.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from .. import config
from ..errors import ServerAnswerError, brief
from .recordings import TEXT_FORMAT, Recording, from_metadata, text_problem

SHA256_KEY, ETAG_KEY = "dandi:sha2-256", "dandi:dandi-etag"
"""The keys of an asset metadata's ``digest`` that give its SHA-256 and its dandi-etag."""

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_ETAG = re.compile(r"[0-9a-fA-F]{32}-[0-9]{1,5}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\\]")

SHA256_FORMAT = "64 hexadecimal digits (a SHA-256)"
ETAG_FORMAT = (
    "32 hexadecimal digits, '-' and the number of upload parts (a dandi-etag, such as "
    "'0123456789abcdef0123456789abcdef-1')"
)
UUID_FORMAT = "a UUID (8-4-4-4-12 hexadecimal digits)"
PATH_FORMAT = (
    "a relative POSIX path: names joined by '/', none empty, '.' or '..', "
    "with no leading '/', backslash or control character"
)
SIZE_FORMAT = "a whole number of bytes, 0 or more"
BLOB_STORE_FORMAT = "an http(s) URL of a server holding blobs/<b[0:3]>/<b[3:6]>/<blob id>"


def _matches(pattern: re.Pattern[str], valid: str) -> Callable[[Any], str | None]:
    return lambda value: None if isinstance(value, str) and pattern.fullmatch(value) else valid


def _path_problem(value: Any) -> str | None:
    if (
        not isinstance(value, str)
        or value.startswith("/")
        or _CONTROL.search(value)
        or any(name in ("", ".", "..") for name in value.split("/"))
    ):
        return PATH_FORMAT
    return None


def _size_problem(value: Any) -> str | None:
    return None if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else SIZE_FORMAT


_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "path": _path_problem,
    "asset_id": _matches(_UUID, UUID_FORMAT),
    "blob": _matches(_UUID, UUID_FORMAT),
    "size": _size_problem,
    "sha256": _matches(_HEX64, SHA256_FORMAT),
    "etag": _matches(_ETAG, ETAG_FORMAT),
}
_OPTIONAL = frozenset({"sha256", "etag"})
"""The asset fields that may be None: DANDI gives no such digest."""


def problem(field: str, value: Any) -> str | None:
    """What ``value`` of an asset's ``field`` (``path``, ``asset_id``, ``blob``, ``size``, ``sha256``, ``etag``)
    should be, if it is not that; None if it is well formed."""
    if value is None and field in _OPTIONAL:
        return None
    return _CHECKS[field](value)


_SERVER_FIELDS = {
    "path": "path",
    "asset_id": "asset_id",
    "blob": "blob",
    "size": "size",
    "sha256": f"metadata.digest[{SHA256_KEY!r}]",
    "etag": f"metadata.digest[{ETAG_KEY!r}]",
}
"""Each asset field's name in the API's answer."""


def refuse(url: str, what: str, value: Any, valid: str) -> ServerAnswerError:
    """The error for an answer from ``url`` whose ``what`` is ``value`` where ``valid`` was due."""
    found = "missing (or null)" if value is None else brief(value)
    return ServerAnswerError(
        f"the DANDI API answered {url} with {what} {found}, where DANDI's API gives {valid}; "
        f"nothing of this answer was used ({config.DANDI_API_ENV} names the API to ask; by default DANDI's own)"
    )


def results_of(page: Any, url: str) -> list[Any]:
    """The ``results`` of a listing page: refused unless the page is an object holding a list of them."""
    if not isinstance(page, dict):
        raise refuse(url, "a page that is", page, "an object with 'count', 'next' and 'results'")
    results = page.get("results")
    if not isinstance(results, list):
        raise refuse(url, "'results'", results, "a list of assets")
    return results


def asset_fields(item: Any, url: str, position: int) -> tuple[dict[str, Any], list[str]]:
    """The checked fields of one listing result (``Asset``'s arguments), and its metadata's ``contentUrl``.

    ``position`` (from 1) names the result on its page where its path cannot.
    """
    if not isinstance(item, dict):
        raise refuse(url, f"result {position} being", item, "an object describing one asset")
    where = f"asset {item['path']!r}" if problem("path", item.get("path")) is None else f"result {position}'s"
    metadata = _object_in(item, "metadata", url, f"{where} metadata")
    digest = _object_in(metadata, "digest", url, f"{where} metadata.digest")
    fields = {
        "path": item.get("path"),
        "asset_id": item.get("asset_id"),
        "blob": item.get("blob"),
        "size": item.get("size"),
        "sha256": digest.get(SHA256_KEY),
        "etag": digest.get(ETAG_KEY),
    }
    for field, value in fields.items():
        valid = problem(field, value)
        if valid is not None:
            raise refuse(url, f"{where} {_SERVER_FIELDS[field]}", value, valid)
    content_urls = metadata.get("contentUrl")
    if content_urls is None:
        content_urls = []
    if not isinstance(content_urls, list) or not all(isinstance(u, str) for u in content_urls):
        raise refuse(url, f"{where} metadata.contentUrl", content_urls, "a list of URLs")
    return fields, content_urls


def recording_of(item: dict[str, Any], url: str, path: str) -> Recording | None:
    """What an asset's metadata says of its recording (``wasAttributedTo``, ``wasGeneratedBy``; see
    ``recordings``); None where it names neither. Refused where a value is not short text."""
    metadata = item.get("metadata") if isinstance(item.get("metadata"), dict) else {}
    values = from_metadata(metadata)
    if values is None:
        return None
    for name, value in values.items():
        if text_problem(value) is not None:
            where = "wasGeneratedBy's session identifier" if name == "session_id" else f"wasAttributedTo's {name}"
            raise refuse(url, f"asset {path!r} metadata {where}", value, TEXT_FORMAT)
    return Recording(**values)


def blob_store_problem(base: Any) -> str | None:
    """What a blob store's URL should be, if ``base`` is not an http(s) URL of a server; else None."""
    parts = urlsplit(base) if isinstance(base, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or _CONTROL.search(base):
        return BLOB_STORE_FORMAT
    return None


def blob_base(content_urls: list[str], url: str) -> str | None:
    """Where blobs live, read off an asset's ``contentUrl`` (``https://<bucket>`` of ``.../blobs/...``).

    None if no URL is a blob's; refused unless it is an http(s) URL of a server.
    """
    for content_url in content_urls:
        if "/blobs/" in content_url:
            base = content_url.split("/blobs/", 1)[0]
            if blob_store_problem(base) is not None:
                raise refuse(url, "a blob URL in metadata.contentUrl", content_url, BLOB_STORE_FORMAT)
            return base
    return None


def _object_in(container: dict[str, Any], key: str, url: str, what: str) -> dict[str, Any]:
    """``container[key]``: an object, or {} where it is missing or null."""
    value = container.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise refuse(url, what, value, "an object")
    return value


MAX_LISTED_ASSETS = 100_000
"""The most assets one version's listing may count: bounds set here, not by the server (the largest
Allen Patch-seq dandiset, 000020, has 4435)."""
MAX_PAGES = 1_000
"""The most pages one listing may have (100 000 assets in pages of 100, the smallest DANDI's API gives)."""


class Paging:
    """Follows a listing's ``next`` links, refusing those that would never end.

    A ``next`` must be a URL on the API's own server (scheme, host and port of
    ``api``), not one fetched before (a loop), and follow a page with results;
    the pages may not outnumber what page 1's ``count`` and length imply, by
    more than one, nor ``MAX_PAGES``, and ``count`` may not pass
    ``MAX_LISTED_ASSETS``: a server that lies in ``count`` cannot make the
    listing endless.
    """

    def __init__(self, api: str, first: str) -> None:
        self.api = api
        self.first = first
        self.pages = 0
        self.count: int | None = None
        self.allowed = 0
        self._seen = {_same_page(first)}

    def after(self, page: dict[str, Any], results: list[Any], url: str) -> str | None:
        """The URL of the page after ``page`` (fetched from ``url``, holding ``results``); None after the last."""
        self.pages += 1
        if self.count is None:
            count = page.get("count")
            if _size_problem(count) is not None:
                raise refuse(url, "page 1's 'count'", count, "the number of assets listed, a whole number")
            if count > MAX_LISTED_ASSETS:
                raise refuse(url, "page 1's 'count'", count, f"at most {MAX_LISTED_ASSETS} assets in one version")
            self.count = count
            self.allowed = min(max(1, math.ceil(count / max(len(results), 1))) + 1, MAX_PAGES)
        following = page.get("next")
        if following is None:
            return None
        if not isinstance(following, str):
            raise refuse(url, "'next'", following, "the URL of the next page, or null after the last")
        if not results:
            raise refuse(url, "'next'", following, "null after a page with no results (the last)")
        if _server(following) != _server(self.api):
            raise refuse(url, "'next'", following, f"a URL on the API's own server, {_server_name(self.api)}")
        if _same_page(following) in self._seen:
            raise ServerAnswerError(
                f"the DANDI API's listing {self.first} loops: page {self.pages} ({url}) gives as the next page "
                f"{brief(following)}, which was fetched already; refused after {self.pages} pages"
            )
        if self.pages >= self.allowed:
            raise ServerAnswerError(
                f"the DANDI API's listing {self.first} goes on past page {self.pages} (next: {brief(following)}), "
                f"but the {self.count} assets its page 1 counts imply at most {self.allowed - 1} pages"
                f"{' (a listing has at most ' + str(MAX_PAGES) + ')' if self.allowed == MAX_PAGES else ''}; refused"
            )
        self._seen.add(_same_page(following))
        return following


def _server(url: str) -> tuple[str, str | None, int | None]:
    """A URL's scheme, host and port (the scheme's default where none is given)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # not a number
        return parts.scheme, None, None
    return parts.scheme.lower(), parts.hostname, port or {"http": 80, "https": 443}.get(parts.scheme.lower())


def _server_name(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _same_page(url: str) -> tuple[tuple[str, str | None, int | None], str, str]:
    """What makes two URLs the same page: server, path, and the query whatever its order."""
    parts = urlsplit(url)
    return _server(url), parts.path, urlencode(sorted(parse_qsl(parts.query, keep_blank_values=True)))
