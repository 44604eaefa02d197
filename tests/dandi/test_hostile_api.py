"""A DANDI API that lies, and a cached asset index that was changed: refused, named, never used.

Hostile APIs run on 127.0.0.1: the world's replica with its listing pages
changed (``_tamper``), or a server of our own that answers pages as a test
says (``hostile_api``). Every loop a hostile server could make endless stops
after ``STOP_AFTER`` requests, so that the code before these checks fails
the tests instead of hanging them. Values that would name a file outside the
cache point at ``<tmp_path>/outside``, which must never appear.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pandas as pd
import pytest

import patchseq_intake
from patchseq_intake import config
from patchseq_intake.errors import brief
from patchseq_intake.dandi.assets import (
    INDEX_FORMAT,
    Asset,
    DandisetVersion,
    cached_index_problem,
    read_listing,
)
from patchseq_intake.errors import CacheIntegrityWarning, ServerAnswerError, TableFormatError
from patchseq_intake.tables.shipped import shipped_dandiset
from patchseq_intake.testing.server import LocalServer, Reply, Request
from patchseq_intake.testing.world import DEMO_CELLS, dandi_path
from patchseq_intake.transport import download

CELL = 569835804  # human; the manifest describes DANDI's bytes
DANDISET, VERSION = shipped_dandiset("human")
PATH = dandi_path(next(plan for plan in DEMO_CELLS if plan.specimen_id == CELL))
LISTING = re.compile(r"^/api/dandisets/[^/]+/versions/[^/]+/assets/$")
STOP_AFTER = 20
"""A hostile server's endless pages end after this many requests (the old code would loop forever)."""
UUID_1 = "5dfc2d9e-94cb-486d-8b8d-ffa5973847f5"
UUID_2 = "37fdd4cc-d101-4cb0-884a-2997e25a6109"
SHA = "e927d9cb77a44b84ebdb276e752fb71c14c6f31c92aed0128439f1220eba1a40"


# --- helpers ------------------------------------------------------------------------------------------------


def _listing_url(api: str) -> str:
    return f"{api}/dandisets/{DANDISET}/versions/{VERSION}/assets/?page_size=1000&metadata=1"


def _tamper(world, change: Callable[[dict[str, Any], Request], Any]) -> None:
    """The world's DANDI API answers each listing page as ``change(page, request)`` returns it (JSON, or a Reply)."""
    honest = world.server.routes["/api/"]

    def answer(request: Request) -> Reply:
        reply = honest(request)
        if not LISTING.match(request.path) or reply.status != 200:
            return reply
        changed = change(json.loads(reply.body), request)
        return changed if isinstance(changed, Reply) else Reply.json(changed)

    world.server.add_route("/api/", answer)


def _in_asset(path: str, mutate: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any], Request], Any]:
    """A page change: ``mutate`` the listing result of the asset at ``path``."""

    def change(page: dict[str, Any], request: Request) -> dict[str, Any]:
        for item in page["results"]:
            if item["path"] == path:
                mutate(item)
        return page

    return change


def _set_digest(name: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(item: dict[str, Any]) -> None:
        item["metadata"]["digest"][name] = value

    return mutate


def _nothing_outside_the_cache(tmp_path: Path, *made: str) -> None:
    """``tmp_path`` holds the cache and what the test made itself, nothing else; no ``outside`` folder."""
    assert not (tmp_path / "outside").exists()
    assert {path.name for path in tmp_path.iterdir()} <= {"cache", *made}


def _nwb_files() -> pd.DataFrame:
    """The human nwb_files table, read afresh (a catalog keeps its sources and their tables)."""
    return patchseq_intake.open_catalog().human.nwb_files.read()


def _cached_listing(cache_dir: Path) -> Path:
    (path,) = (cache_dir / config.DANDI_DIR).rglob("*.json")
    return path


def _canonical_digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _synthetic(n: int, server: LocalServer) -> dict[str, Any]:
    """Listing result ``n`` of a synthetic dandiset: well formed, unique."""
    blob = str(uuid.UUID(int=10**6 + n))
    return {
        "asset_id": str(uuid.UUID(int=n + 1)),
        "blob": blob,
        "path": f"sub-{n}/sub-{n}_ses-{n}_icephys.nwb",
        "size": 10,
        "metadata": {
            "digest": {"dandi:sha2-256": f"{n:064x}"},
            "contentUrl": [f"{server.url}/s3/blobs/{blob[:3]}/{blob[3:6]}/{blob}"],
        },
    }


def _page_url(server: LocalServer, request: Request, **changes: str) -> str:
    query = {name: values[-1] for name, values in request.query.items()} | changes
    return f"{server.url}{request.path}?{urlencode(query)}"


@pytest.fixture
def hostile_api(monkeypatch: pytest.MonkeyPatch):
    """A server on 127.0.0.1 that the catalog takes for the DANDI API; tests add its routes. Fast retries."""
    monkeypatch.setattr(download, "DEFAULT_RETRY", download.RetryPolicy(attempts=2, backoff_s=0.01))
    with LocalServer() as server:
        monkeypatch.setenv(config.DANDI_API_ENV, f"{server.url}/api")
        yield server


def _index() -> None:
    """The published version's index, from the API the environment names (the pinned listing is DANDI's own)."""
    DandisetVersion(DANDISET, VERSION).index()


# --- values that would become paths outside the cache or the local root ---------------------------------------


@pytest.mark.parametrize("access", ["download", "stream"])
@pytest.mark.parametrize("absolute", [False, True], ids=["relative", "absolute"])
def test_a_digest_that_is_a_path_writes_nothing_outside_the_cache(cat, world, tmp_path, streamed, access, absolute):
    """The issue's attack: a digest ``../../outside/PWNED`` named <cache>/nwb/<digest>.nwb and the index's file."""
    attack = str(tmp_path / "outside" / "PWNED") if absolute else "../../outside/PWNED"
    _tamper(world, _in_asset(PATH, _set_digest("dandi:sha2-256", attack)))
    expected = (
        rf"the DANDI API answered {re.escape(_listing_url(world.replica.api_url))} with asset '{PATH}' "
        rf"metadata\.digest\['dandi:sha2-256'\] {re.escape(brief(attack))}, "  # shown bounded, whatever tmp_path's length
        r"where DANDI's API gives 64 hexadecimal digits"
    )
    with pytest.raises(ServerAnswerError, match=expected):
        cat.human.ephys(specimen_id=CELL, access=access).read()
    _nothing_outside_the_cache(tmp_path)
    assert not list((tmp_path / "cache").rglob("*.json"))  # no index of the version saved either


def test_an_etag_that_is_a_path_is_refused(cat, world, tmp_path):
    def etag_only(item: dict[str, Any]) -> None:
        item["metadata"]["digest"] = {"dandi:dandi-etag": "../../outside/PWNED-1"}

    _tamper(world, _in_asset(PATH, etag_only))
    with pytest.raises(ServerAnswerError, match=r"metadata\.digest\['dandi:dandi-etag'\] '\.\./\.\./outside/PWNED-1', "
                                                r"where DANDI's API gives 32 hexadecimal digits, '-' and the number"):
        cat.human.ephys(specimen_id=CELL).read()
    _nothing_outside_the_cache(tmp_path)


@pytest.mark.parametrize("absolute", [False, True], ids=["relative", "absolute"])
def test_local_mode_never_reads_a_file_outside_its_root(cat, world, tmp_path, absolute):
    """The same listing, with the asset's path ``../outside/...`` or absolute, read a file beside --root (exit 0)."""
    outside = tmp_path / "outside" / PATH.split("/")[1]
    outside.parent.mkdir()
    outside.write_bytes(world.written[CELL].path.read_bytes())  # the right bytes, so nothing else would refuse it
    root = tmp_path / "root"
    root.mkdir()
    attack = str(outside) if absolute else f"../outside/{outside.name}"

    def move(item: dict[str, Any]) -> None:
        item["path"] = attack

    _tamper(world, _in_asset(PATH, move))
    with pytest.raises(ServerAnswerError, match=rf"result \d+'s path {re.escape(brief(attack))}, where DANDI's API "
                                                r"gives a relative POSIX path"):
        cat.human.ephys(specimen_id=CELL, access="local", root=str(root)).read()


# --- each value of a listing result, checked -------------------------------------------------------------------


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(item: dict[str, Any]) -> None:
        item[key] = value

    return mutate


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda item: item.pop(key)


def _set_metadata(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(item: dict[str, Any]) -> None:
        item["metadata"][key] = value

    return mutate


BAD_RESULTS = {
    "size 'big'": (_set("size", "big"), r"asset '{path}' size 'big', where DANDI's API gives a whole number of bytes"),
    "size -1": (_set("size", -1), r"asset '{path}' size -1, where"),
    "size true": (_set("size", True), r"asset '{path}' size True, where"),
    "size 1.5": (_set("size", 1.5), r"asset '{path}' size 1\.5, where"),
    "path 12345": (_set("path", 12345), r"result \d+'s path 12345, where DANDI's API gives a relative POSIX path"),
    "path a//b": (_set("path", "a//b.nwb"), r"result \d+'s path 'a//b\.nwb', where"),
    "path ./a": (_set("path", "./a.nwb"), r"result \d+'s path '\./a\.nwb', where"),
    "path backslash": (_set("path", "..\\a.nwb"), r"result \d+'s path '\.\.\\\\a\.nwb', where"),
    "path NUL": (_set("path", "a\x00.nwb"), r"result \d+'s path 'a\\x00\.nwb', where"),
    "no blob": (_drop("blob"), r"asset '{path}' blob missing \(or null\), where DANDI's API gives a UUID"),
    "blob a path": (_set("blob", "../../../api/x"), r"asset '{path}' blob '\.\./\.\./\.\./api/x', where .* a UUID"),
    "asset_id a path": (_set("asset_id", "../x"), r"asset '{path}' asset_id '\.\./x', where DANDI's API gives a UUID"),
    "no asset_id": (_drop("asset_id"), r"asset '{path}' asset_id missing \(or null\), where DANDI's API gives a UUID"),
    "digest a list": (_set_metadata("digest", ["a"]), r"asset '{path}' metadata\.digest \['a'\], where .* an object"),
    "metadata a list": (_set("metadata", []), r"asset '{path}' metadata \[\], where DANDI's API gives an object"),
    "contentUrl a string": (
        _set_metadata("contentUrl", "http://x/blobs/y"),
        r"metadata\.contentUrl 'http://x/blobs/y', where DANDI's API gives a list of URLs",
    ),
    "contentUrl of numbers": (_set_metadata("contentUrl", [1]), r"metadata\.contentUrl \[1\], where"),
    "blobs in a local file": (
        _set_metadata("contentUrl", ["file:///etc/blobs/x"]),
        r"a blob URL in metadata\.contentUrl 'file:///etc/blobs/x', where DANDI's API gives an http\(s\) URL",
    ),
    "a long value": (_set("size", "9" * 500), r"asset '{path}' size '9{{37}}\.\.\.9{{38}}', where"),  # 80 characters
}


@pytest.mark.parametrize("case", list(BAD_RESULTS))
def test_a_malformed_listing_result_is_refused_naming_server_asset_field_and_value(cat, world, case):
    mutate, expected = BAD_RESULTS[case]
    first_path = next(iter(sorted(world.replica.assets(DANDISET, VERSION))))
    _tamper(world, _in_asset(first_path, mutate))
    with pytest.raises(ServerAnswerError) as raised:
        cat.human.nwb_files.read()
    message = str(raised.value)
    assert message.startswith(f"the DANDI API answered {_listing_url(world.replica.api_url)} with ")
    assert re.search(expected.format(path=re.escape(first_path)), message), message
    assert "nothing of this answer was used (PATCHSEQ_INTAKE_DANDI_API names the API to ask" in message


BAD_PAGES = {
    "results null": ({"count": 1, "next": None, "results": None}, r"with 'results' missing \(or null\), where "
                                                                  r"DANDI's API gives a list of assets"),
    "an empty object": ({}, r"with 'results' missing \(or null\)"),
    "a JSON list": ([1, 2], r"with a page that is \[1, 2\], where DANDI's API gives an object with 'count', 'next'"),
    "a result that is a string": ({"count": 1, "next": None, "results": ["x"]}, r"with result 1 being 'x', where"),
    "next a number": ({"count": 0, "next": 7, "results": []}, r"with 'next' 7, where DANDI's API gives the URL of the "
                                                              r"next page, or null after the last"),
    "count missing": ({"next": None, "results": []}, r"with page 1's 'count' missing \(or null\), where"),
}


@pytest.mark.parametrize("case", list(BAD_PAGES))
def test_a_malformed_page_is_refused_naming_the_server(hostile_api, case, cache_dir):
    page, expected = BAD_PAGES[case]
    hostile_api.add_route("/api/", lambda request: Reply.json(page))
    with pytest.raises(ServerAnswerError, match=re.escape(_listing_url(f"{hostile_api.url}/api")) + ".*" + expected):
        _index()
    assert not cache_dir.exists() or not list(cache_dir.rglob("*.json"))


def test_an_html_page_with_status_200_is_refused_naming_the_server(hostile_api):
    html = Reply(200, b"<html><body>Maintenance</body></html>", {"Content-Type": "text/html"})
    hostile_api.add_route("/api/", lambda request: html)
    url = _listing_url(f"{hostile_api.url}/api")
    with pytest.raises(ServerAnswerError, match=rf"{re.escape(url)}: sent text/html.*, not JSON.*Maintenance"):
        _index()


def test_a_path_listed_twice_is_refused(hostile_api):
    twice = [_synthetic(1, hostile_api), {**_synthetic(2, hostile_api), "path": _synthetic(1, hostile_api)["path"]}]
    hostile_api.add_route("/api/", lambda request: Reply.json({"count": 2, "next": None, "results": twice}))
    with pytest.raises(ServerAnswerError, match=r"result 2's path 'sub-1/sub-1_ses-1_icephys\.nwb', where DANDI's API "
                                                r"gives each path listed once"):
        _index()


def test_a_well_formed_synthetic_listing_is_taken(hostile_api, cache_dir):
    """The hostile server's well-formed answers pass: what the other tests break is what they refuse."""
    pages = {"1": [_synthetic(1, hostile_api)], "2": [_synthetic(2, hostile_api)]}

    def answer(request: Request) -> Reply:
        number = request.query.get("page", ["1"])[-1]
        following = _page_url(hostile_api, request, page="2") if number == "1" else None
        return Reply.json({"count": 2 if number == "1" else None, "next": following, "results": pages[number]})

    hostile_api.add_route("/api/", answer)
    index = DandisetVersion(DANDISET, VERSION).index()
    assert sorted(index.assets) == ["sub-1/sub-1_ses-1_icephys.nwb", "sub-2/sub-2_ses-2_icephys.nwb"]
    assert index.blob_base == f"{hostile_api.url}/s3"
    assert len(hostile_api.log) == 2


# --- paging -----------------------------------------------------------------------------------------------------


def _serve_pages(server: LocalServer, page: Callable[[Request, int], dict[str, Any]]) -> None:
    """Answer request ``n`` (from 1) with ``page(request, n)``; after ``STOP_AFTER``, with an empty last page."""
    served = itertools.count(1)

    def answer(request: Request) -> Reply:
        n = next(served)
        return Reply.json(page(request, n) if n <= STOP_AFTER else {"count": None, "next": None, "results": []})

    server.add_route("/api/", answer)


def test_a_next_link_to_the_same_page_stops_at_once(hostile_api):
    """The issue measured 605 requests in 40 s on such a listing."""
    _serve_pages(hostile_api, lambda request, n: {
        "count": 1, "next": _page_url(hostile_api, request), "results": [_synthetic(n, hostile_api)]})
    with pytest.raises(ServerAnswerError, match=r"listing .* loops: page 1 \(.*\) gives as the next page .*, which was "
                                                r"fetched already; refused after 1 pages"):
        _index()
    assert len(hostile_api.log) == 1


def test_a_cycle_of_pages_in_another_query_order_stops(hostile_api):
    def page(request: Request, n: int) -> dict[str, Any]:
        back = f"{hostile_api.url}{request.path}?metadata=1&page_size=1000"  # page 1, its query reordered
        following = _page_url(hostile_api, request, page="2") if "page" not in request.query else back
        return {"count": 2, "next": following, "results": [_synthetic(n, hostile_api)]}

    _serve_pages(hostile_api, page)
    with pytest.raises(ServerAnswerError, match=r"loops: page 2 .*which was fetched already"):
        _index()
    assert len(hostile_api.log) == 2


def test_more_pages_than_the_count_implies_stop(hostile_api):
    _serve_pages(hostile_api, lambda request, n: {
        "count": 2 if n == 1 else None, "next": _page_url(hostile_api, request, page=str(n + 1)),
        "results": [_synthetic(n, hostile_api)]})
    with pytest.raises(ServerAnswerError, match=r"goes on past page 3 .*but the 2 assets its page 1 counts imply at "
                                                r"most 2 pages; refused"):
        _index()
    assert len(hostile_api.log) == 3  # one page of slack


def test_a_count_no_version_could_have_is_refused_at_page_1(hostile_api):
    """The probe's listing: every page a new URL with 1000 results, counting 10**12 assets (RSS grew without end)."""
    _serve_pages(hostile_api, lambda request, n: {
        "count": 10**12, "next": _page_url(hostile_api, request, page=str(n + 1)),
        "results": [_synthetic(n, hostile_api)]})
    with pytest.raises(ServerAnswerError, match=r"with page 1's 'count' 1000000000000, where DANDI's API gives at most "
                                                r"100000 assets in one version"):
        _index()
    assert len(hostile_api.log) == 1


def test_an_empty_page_with_a_next_is_refused(hostile_api):
    _serve_pages(hostile_api, lambda request, n: {
        "count": 50_000, "next": _page_url(hostile_api, request, page=str(n + 1)), "results": []})
    with pytest.raises(ServerAnswerError, match=r"with 'next' .*, where DANDI's API gives null after a page with no "
                                                r"results \(the last\)"):
        _index()
    assert len(hostile_api.log) == 1


def test_pages_of_one_asset_stop_at_the_page_cap(hostile_api, monkeypatch):
    from patchseq_intake.dandi import answers

    monkeypatch.setattr(answers, "MAX_PAGES", 5)
    _serve_pages(hostile_api, lambda request, n: {
        "count": 90_000 if n == 1 else None, "next": _page_url(hostile_api, request, page=str(n + 1)),
        "results": [_synthetic(n, hostile_api)]})
    with pytest.raises(ServerAnswerError, match=r"goes on past page 5 .*imply at most 4 pages \(a listing has at most 5\); refused"):
        _index()
    assert len(hostile_api.log) == 5


@pytest.mark.parametrize("elsewhere", ["https://127.0.0.1:{port}", "http://localhost:{port}",
                                       "http://127.0.0.1:{other}"])
def test_a_next_link_to_another_server_is_refused_and_not_followed(hostile_api, elsewhere):
    port = int(hostile_api.url.rsplit(":", 1)[1])
    base = elsewhere.format(port=port, other=port + 1 if port < 65535 else port - 1)
    _serve_pages(hostile_api, lambda request, n: {
        "count": 1, "next": f"{base}{request.path}?page=2", "results": [_synthetic(n, hostile_api)]})
    with pytest.raises(ServerAnswerError, match=rf"with 'next' '{re.escape(base)}/api/.*, where DANDI's API gives a "
                                                rf"URL on the API's own server, {re.escape(hostile_api.url)}"):
        _index()
    assert len(hostile_api.log) == 1


# --- no Asset with an unsafe value can exist, nor a listing row ---------------------------------------------------


@pytest.mark.parametrize(("field", "value"), [
    ("path", "../x.nwb"), ("path", "/x.nwb"), ("path", ""), ("path", "a/"), ("path", "a\\b"), ("path", "a\x00b"),
    ("path", None), ("asset_id", "x"), ("blob", UUID_1 + "/.."), ("size", -1), ("size", "10"), ("size", False),
    ("sha256", "../../outside/PWNED"), ("sha256", SHA + "\n"), ("sha256", "g" * 64),
    ("etag", SHA), ("etag", "a" * 32 + "-"),
    ("etag", "a" * 32 + "-\u0661"),  # an Arabic-Indic digit one: \d would take it
])
def test_no_asset_holds_a_value_of_another_format(field, value):
    fields = {"path": "sub-1/a.nwb", "asset_id": UUID_1, "blob": UUID_2, "size": 10, "sha256": SHA, "etag": None}
    with pytest.raises(ValueError, match=rf"asset {field} .*: not "):
        Asset(**(fields | {field: value}))


def test_an_assets_digests_are_kept_in_lower_case():
    asset = Asset("sub-1/a.nwb", UUID_1, UUID_2, 0, SHA.upper(), "ABCDEF0123456789ABCDEF0123456789-2")
    assert (asset.sha256, asset.etag) == (SHA, "abcdef0123456789abcdef0123456789-2")


def test_a_listing_csv_with_an_unsafe_value_is_refused_naming_file_and_line(tmp_path):
    listing = tmp_path / "000023.csv"
    listing.write_text(f"path,size,sha256,asset_id,blob\nsub-1/a.nwb,10,{SHA},{UUID_1},{UUID_2}\n"
                       f"../b.nwb,10,{SHA},{UUID_1},{UUID_2}\n")
    with pytest.raises(TableFormatError, match=rf"{re.escape(str(listing))}, line 3: asset path '\.\./b\.nwb': not a "
                                               r"relative POSIX path"):
        read_listing(listing)
    listing.write_text(f"path,size,sha256,asset_id\nsub-1/a.nwb,10,{SHA},{UUID_1}\n")
    with pytest.raises(TableFormatError, match=r"no column\(s\) \['blob'\]; an asset listing has \['path', 'size', "
                                               r"'sha256', 'blob'\], and may have \['asset_id', 'dandi_etag', 'subject_id', 'session_id', "
                                               r"'species', 'sex', 'age', 'genotype'\]"):
        read_listing(listing)


@pytest.mark.parametrize(("column", "value"), [("dandi_etag", "../../outside/x-1"), ("dandi_etag", SHA),
                                               ("asset_id", "../x"), ("asset_id", UUID_1 + "/..")])
def test_a_listings_optional_columns_are_checked_as_an_apis_answer(tmp_path, column, value):
    listing = tmp_path / "000020.csv"
    listing.write_text(f"path,size,sha256,blob,{column}\nsub-1/a.nwb,10,{SHA},{UUID_2},{value}\n")
    name = {"dandi_etag": "etag"}.get(column, column)
    with pytest.raises(TableFormatError, match=rf"{re.escape(str(listing))}, line 2: asset {name} '.*': not "):
        read_listing(listing)


def test_a_listings_optional_columns_may_be_absent_or_empty(tmp_path):
    listing = tmp_path / "000020.csv"
    listing.write_text(f"path,size,sha256,blob,asset_id,dandi_etag\nsub-1/a.nwb,10,{SHA},{UUID_2},,\n"
                       f"sub-1/b.nwb,10,{SHA},{UUID_2},{UUID_1},{'A' * 32}-2\n")
    a, b = read_listing(listing).values()
    assert (a.asset_id, a.etag) == (None, None) and (b.asset_id, b.etag) == (UUID_1, "a" * 32 + "-2")
    listing.write_text(f"path,size,sha256,blob\nsub-1/a.nwb,10,{SHA},{UUID_2}\n")
    assert read_listing(listing)["sub-1/a.nwb"] == Asset("sub-1/a.nwb", None, UUID_2, 10, SHA)


# --- the cached asset index ---------------------------------------------------------------------------------------


def _truncate(raw: bytes) -> bytes:
    return raw[: len(raw) // 2]


def _altered_checksum(raw: bytes) -> bytes:
    data = json.loads(raw)
    data["assets"][0]["sha256"] = "0" * 64
    return json.dumps(data).encode()


def _without_digest(raw: bytes) -> bytes:
    data = json.loads(raw)
    del data["digest"]
    return json.dumps(data).encode()


def _forged_unsafe(raw: bytes) -> bytes:
    """A file whose digest was recomputed over an unsafe checksum: the values are checked all the same."""
    body = {name: value for name, value in json.loads(raw).items() if name != "digest"}
    body["assets"][0]["sha256"] = "../../outside/PWNED"
    return json.dumps({**body, "digest": _canonical_digest(body)}).encode()


def _another_versions(raw: bytes) -> bytes:
    """A sound index of another version (its digest recomputed), in this version's place."""
    body = {name: value for name, value in json.loads(raw).items() if name != "digest"}
    body["version"] = "0.200101.0000"
    return json.dumps({**body, "digest": _canonical_digest(body)}).encode()


CORRUPTIONS: dict[str, Callable[[bytes], bytes]] = {
    "truncated": _truncate,
    "empty": lambda raw: b"",
    "not JSON": lambda raw: b"{not json",
    "not UTF-8": lambda raw: b"\xff\xfe\x00",
    "nested deeply": lambda raw: b"[" * 200_000 + b"]" * 200_000,
    "an object nested deeply": lambda raw: b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    "a JSON list": lambda raw: b"[1, 2, 3]",
    "a checksum altered": _altered_checksum,
    "no digest": _without_digest,
    "a forged unsafe value": _forged_unsafe,
    "another version's": _another_versions,
}


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_a_cached_index_that_fails_its_check_is_removed_with_a_warning_and_fetched_again(cat, world, cache_dir, case):
    first = _nwb_files()
    path = _cached_listing(cache_dir)
    assert path.name == f"{VERSION}.v{INDEX_FORMAT}.json"
    path.write_bytes(CORRUPTIONS[case](path.read_bytes()))
    with pytest.warns(CacheIntegrityWarning, match=rf"{re.escape(str(path))}: this cached DANDI asset index .*; it was "
                                                   r"removed and will be fetched or derived again") as caught:
        again = _nwb_files()
    assert len([w for w in caught if issubclass(w.category, CacheIntegrityWarning)]) == 1
    assert again.equals(first)
    assert world.replica.index_listings(DANDISET, VERSION) == 2
    saved = json.loads(path.read_bytes())
    assert saved["digest"] == _canonical_digest({k: v for k, v in saved.items() if k != "digest"})
    _nwb_files()  # the new file passes: no warning, no request
    assert world.replica.index_listings(DANDISET, VERSION) == 2
    _nothing_outside_the_cache(cache_dir.parent)


def test_a_cached_listing_whose_checksum_was_altered_no_longer_blames_dandi(cat, world, cache_dir, recwarn):
    """The issue: 'the bytes DANDI served are not the ones its listing describes', forever. Now: fetched again."""
    cat.human.nwb_files.read()
    path = _cached_listing(cache_dir)
    data = json.loads(path.read_bytes())
    (asset,) = [asset for asset in data["assets"] if asset["path"] == PATH]
    asset["sha256"] = "0" * 64  # what a flipped digit, or a hand edit, leaves
    path.write_text(json.dumps(data))
    table = cat.human.ephys(specimen_id=CELL).read()
    assert len(table) == len(world.written[CELL].sweeps)
    written = world.written[CELL]
    assert (cache_dir / config.NWB_DIR / f"{written.sha256}.nwb").read_bytes() == written.path.read_bytes()
    assert [str(w.message) for w in recwarn if issubclass(w.category, CacheIntegrityWarning)] == [
        f"{path}: this cached DANDI asset index fails its own digest (its content changed, or was cut short); "
        "it was removed and will be fetched or derived again"
    ]
    assert world.replica.index_listings(DANDISET, VERSION) == 2


def test_a_cached_index_is_judged_in_full_for_cache_verify(cat, world, cache_dir):
    _nwb_files()
    path = _cached_listing(cache_dir)
    assert cached_index_problem(path) is None
    elsewhere = path.with_name(f"0.200101.0000.v{INDEX_FORMAT}.json")
    shutil.copy(path, elsewhere)
    assert cached_index_problem(elsewhere) == (
        f"it holds the index of dandiset {DANDISET} version {VERSION} from {world.replica.api_url}"
    )
    path.write_bytes(_altered_checksum(path.read_bytes()))
    assert cached_index_problem(path) == (
        "this cached DANDI asset index fails its own digest (its content changed, or was cut short)"
    )
    path.write_bytes(_forged_unsafe(path.read_bytes()))
    assert cached_index_problem(path) == (
        "this cached DANDI asset index does not hold an asset index (ValueError: asset sha256 "
        "'../../outside/PWNED': not 64 hexadecimal digits (a SHA-256))"
    )


def test_an_api_named_by_the_environment_that_does_not_answer_is_named_with_its_variable(monkeypatch, cache_dir):
    """No server at PATCHSEQ_INTAKE_DANDI_API: the error says which setting named it, and how to go back to DANDI."""
    import socket

    from patchseq_intake.errors import FetchError

    with socket.socket() as probe:  # a port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    api = f"http://127.0.0.1:{port}/api"
    monkeypatch.setenv(config.DANDI_API_ENV, api)
    monkeypatch.setenv(config.TIMEOUT_ENV, "1")
    monkeypatch.setattr(download, "DEFAULT_RETRY", download.RetryPolicy(attempts=2, backoff_s=0.01))
    with pytest.raises(FetchError, match=rf"the DANDI API named by {config.DANDI_API_ENV}={re.escape(api)}: "
                                         rf"is that server running\? Unset {config.DANDI_API_ENV}") as raised:
        _index()
    assert raised.value.status is None
