"""The local DANDI replica answers like api.dandiarchive.org and its S3 bucket."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import requests

from patchseq_intake.testing.dandi import DandiReplica, ReplicaAsset
from patchseq_intake.testing.server import Faults, LocalServer

DANDISET = "000020"
VERSION = "0.210914.1900"
BULK = 2500
FILTER_PATHS = [
    "sub-1/sub-1_ses-1_icephys.nwb",
    "sub-1/sub-1_ses-1_icephys.nwb.bak",
    "sub-10/sub-10_ses-2_icephys.nwb",
    "Sub-2/Sub-2_ses-3_icephys.nwb",
]
TOTAL = BULK + len(FILTER_PATHS)


@pytest.fixture(scope="module")
def running_server():
    """One server for the module: stopping one takes half a second."""
    with LocalServer() as running:
        yield running


@pytest.fixture
def server(running_server: LocalServer) -> LocalServer:
    """The module's server, emptied: no files, routes, faults or logged requests."""
    running_server.wait_until_idle()  # so that no answer of an earlier test is logged in this one
    running_server.files.clear()
    running_server.routes.clear()
    running_server.log.clear()
    running_server.faults = Faults()
    return running_server


@pytest.fixture
def replica(server: LocalServer) -> DandiReplica:
    """One published version with 2500 bulk assets plus a few to exercise the filters."""
    dandi = DandiReplica(server)
    for i in range(BULK):
        dandi.add_asset(DANDISET, VERSION, f"bulk/cell-{i:04d}_icephys.nwb", f"cell {i}".encode())
    for path in FILTER_PATHS:
        dandi.add_asset(DANDISET, VERSION, path, path.encode())
    return dandi


def listing_url(replica: DandiReplica, version: str = VERSION) -> str:
    return f"{replica.api_url}/dandisets/{DANDISET}/versions/{version}/assets/"


def listed_paths(replica: DandiReplica, **params: str | int) -> list[str]:
    reply = requests.get(listing_url(replica), params=params)
    reply.raise_for_status()
    return [item["path"] for item in reply.json()["results"]]


def test_dandiset_reports_the_draft_and_the_newest_published_version(replica: DandiReplica) -> None:
    replica.add_asset(DANDISET, "0.200101.0000", "old.nwb", b"old")
    info = requests.get(f"{replica.api_url}/dandisets/{DANDISET}/").json()
    assert info["identifier"] == DANDISET
    assert info["draft_version"]["version"] == "draft"
    assert info["draft_version"]["asset_count"] == 0
    published = info["most_recent_published_version"]
    assert published["version"] == VERSION
    assert published["asset_count"] == TOTAL
    assert published["status"] == "Published"
    expected_size = sum(len(f"cell {i}") for i in range(BULK)) + sum(len(p) for p in FILTER_PATHS)
    assert published["size"] == expected_size


def test_a_dandiset_with_only_a_draft_has_no_published_version(server: LocalServer) -> None:
    replica = DandiReplica(server)
    replica.add_asset("000001", "draft", "a.nwb", b"abc")
    info = requests.get(f"{replica.api_url}/dandisets/000001/").json()
    assert info["most_recent_published_version"] is None
    assert info["draft_version"]["asset_count"] == 1


def test_listing_pages_through_every_asset_in_path_order(replica: DandiReplica) -> None:
    pages = []
    url: str | None = f"{listing_url(replica)}?page_size=1000"
    while url:
        pages.append(requests.get(url).json())
        url = pages[-1]["next"]
    assert [len(page["results"]) for page in pages] == [1000, 1000, TOTAL - 2000]
    assert [page["count"] for page in pages] == [TOTAL, None, None]
    paths = [item["path"] for page in pages for item in page["results"]]
    assert paths == sorted(paths) and len(set(paths)) == TOTAL
    assert pages[0]["previous"] is None
    assert pages[1]["previous"] == f"{listing_url(replica)}?page_size=1000"
    assert pages[2]["previous"] == f"{listing_url(replica)}?page=2&page_size=1000"


def test_listing_results_have_the_real_fields(replica: DandiReplica) -> None:
    item = requests.get(listing_url(replica), params={"path": FILTER_PATHS[2]}).json()["results"][0]
    assert set(item) == {"asset_id", "blob", "zarr", "path", "size", "created", "modified"}
    assert item["zarr"] is None
    assert item["size"] == len(FILTER_PATHS[2])


@pytest.mark.parametrize(("asked", "served"), [(None, 100), (5, 5), (5000, 1000), (0, 100), ("x", 100)])
def test_page_size_defaults_to_100_and_is_clamped_to_1000(replica: DandiReplica, asked, served) -> None:
    params = {} if asked is None else {"page_size": asked}
    assert len(listed_paths(replica, **params)) == served


def test_a_page_past_the_end_is_not_found(replica: DandiReplica) -> None:
    reply = requests.get(listing_url(replica), params={"page_size": 1000, "page": 4})
    assert reply.status_code == 404
    assert reply.json() == {"detail": "Invalid page."}


def test_path_is_a_case_insensitive_prefix(replica: DandiReplica) -> None:
    expected = [FILTER_PATHS[0], FILTER_PATHS[1], FILTER_PATHS[2]]
    assert listed_paths(replica, path="sub-1") == expected
    assert listed_paths(replica, path="SUB-1") == expected
    assert listed_paths(replica, path="sub-2/") == [FILTER_PATHS[3]]


def test_an_exact_path_lists_only_that_asset(replica: DandiReplica) -> None:
    assert listed_paths(replica, path=FILTER_PATHS[0]) == [FILTER_PATHS[0]]


def test_glob_matches_the_whole_path_case_insensitively(replica: DandiReplica) -> None:
    assert listed_paths(replica, glob="*ses-1_ICEPHYS.nwb") == [FILTER_PATHS[0]]
    assert listed_paths(replica, glob="sub-1*") == FILTER_PATHS[:3]
    assert listed_paths(replica, glob="bulk/cell-000?_icephys.nwb") == []
    assert len(listed_paths(replica, glob="bulk/cell-00*_icephys.nwb", page_size=1000)) == 100


@pytest.mark.parametrize(
    "path",
    [
        "/dandisets/999999/",
        f"/dandisets/999999/versions/{VERSION}/assets/",
        f"/dandisets/{DANDISET}/versions/0.999999.9999/assets/",
        f"/dandisets/{DANDISET}/versions/draft/assets/00000000-0000-0000-0000-000000000000/",
        "/assets/00000000-0000-0000-0000-000000000000/download/",
        "/no/such/endpoint/",
    ],
)
def test_unknown_things_are_not_found(replica: DandiReplica, path: str) -> None:
    reply = requests.get(f"{replica.api_url}{path}", allow_redirects=False)
    assert reply.status_code == 404
    assert reply.json() == {"detail": "Not found."}


def test_asset_metadata_gives_content_urls_and_digests(replica: DandiReplica) -> None:
    item = requests.get(listing_url(replica), params={"path": FILTER_PATHS[0]}).json()["results"][0]
    metadata = requests.get(f"{listing_url(replica)}{item['asset_id']}/").json()
    content = FILTER_PATHS[0].encode()
    assert metadata["identifier"] == item["asset_id"]
    assert metadata["path"] == FILTER_PATHS[0]
    assert metadata["contentSize"] == len(content)
    assert metadata["encodingFormat"] == "application/x-nwb"
    blob = item["blob"]
    assert metadata["contentUrl"] == [
        f"{replica.api_url}/assets/{item['asset_id']}/download/",
        f"{replica.server.url}/s3/blobs/{blob[:3]}/{blob[3:6]}/{blob}",
    ]
    inner = hashlib.md5(content).digest()
    assert metadata["digest"] == {
        "dandi:dandi-etag": hashlib.md5(inner).hexdigest() + "-1",
        "dandi:sha2-256": hashlib.sha256(content).hexdigest(),
    }


def test_asset_metadata_of_another_version_is_not_found(replica: DandiReplica) -> None:
    asset = replica.add_asset(DANDISET, "draft", "draft-only.nwb", b"draft")
    reply = requests.get(f"{listing_url(replica)}{asset.asset_id}/")
    assert reply.status_code == 404


def test_download_redirects_to_a_new_presigned_url_every_time(replica: DandiReplica) -> None:
    asset = replica.add_asset(DANDISET, VERSION, "big.nwb", bytes(range(256)) * 40)
    first = requests.get(replica.download_url(asset), allow_redirects=False)
    second = requests.head(replica.download_url(asset))
    assert first.status_code == second.status_code == 302
    locations = [first.headers["Location"], second.headers["Location"]]
    assert locations[0] != locations[1]
    assert all(location.startswith(f"{replica.blob_url(asset)}?") for location in locations)
    assert all("X-Amz-Signature=" in location for location in locations)


def test_the_presigned_url_serves_ranges_and_head(replica: DandiReplica) -> None:
    content = bytes(range(256)) * 40
    asset = replica.add_asset(DANDISET, VERSION, "big.nwb", content)
    whole = requests.get(replica.download_url(asset))
    assert whole.status_code == 200 and whole.content == content
    location = requests.head(replica.download_url(asset)).headers["Location"]
    part = requests.get(location, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(content)}"
    assert part.content == content[100:200]
    head = requests.head(location)
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == len(content)


def test_same_bytes_share_a_blob_and_ids_are_deterministic(server: LocalServer) -> None:
    one, other = DandiReplica(server), DandiReplica(server)
    a = one.add_asset(DANDISET, VERSION, "a.nwb", b"same")
    b = one.add_asset(DANDISET, VERSION, "b.nwb", b"same")
    again = other.add_asset(DANDISET, VERSION, "a.nwb", b"same")
    assert a.blob == b.blob and a.asset_id != b.asset_id
    assert again == a
    assert one.add_asset(DANDISET, "draft", "a.nwb", b"same").asset_id != a.asset_id


def test_file_content_is_hashed_at_add_time_and_served_from_disk(server: LocalServer, tmp_path: Path) -> None:
    file = tmp_path / "cell.nwb"
    file.write_bytes(b"x" * 3_000_000)
    replica = DandiReplica(server)
    asset = replica.add_asset(DANDISET, VERSION, "cell.nwb", file)
    assert isinstance(asset.content, Path)
    assert asset.size == 3_000_000
    assert asset.sha256 == hashlib.sha256(file.read_bytes()).hexdigest()
    file.write_bytes(b"changed")
    assert requests.get(replica.blob_url(asset)).content == b"changed"


def test_injected_faults_apply_to_the_api(replica: DandiReplica) -> None:
    replica.server.faults.statuses = [503]
    replica.server.faults.retry_after = "2"
    refused = requests.get(listing_url(replica))
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "2"
    assert requests.get(listing_url(replica)).status_code == 200


def test_requests_are_counted_by_kind(replica: DandiReplica) -> None:
    assert replica.requests() == [] and replica.index_listings() == 0
    url: str | None = f"{listing_url(replica)}?page_size=1000"
    while url:
        url = requests.get(url).json()["next"]
    asset: ReplicaAsset = replica.add_asset(DANDISET, VERSION, "c.nwb", b"c")
    requests.get(replica.download_url(asset))
    requests.get(f"{replica.server.url}/elsewhere")
    assert replica.index_listings() == 1
    assert replica.index_listings(DANDISET, "draft") == 0
    assert len(replica.requests("listing")) == 3
    assert [entry.status for entry in replica.requests("download", "blob")] == [302, 200]
    assert len(replica.requests()) == 5
    replica.server.wait_until_idle()
    assert len(replica.server.log) == 6


def test_an_asset_listed_in_two_versions_answers_in_both_by_the_replicas_id(replica: DandiReplica) -> None:
    from patchseq_intake.dandi.assets import Asset

    annex_id = "5dfc2d9e-94cb-486d-8b8d-ffa5973847f5"  # a DataLad annex's id: not the version's
    listed = Asset("sub-1/real.nwb", annex_id, "37fdd4cc-d101-4cb0-884a-2997e25a6109", 10, "a" * 64)
    ids = {version: replica.add_listed_asset(DANDISET, version, listed).asset_id for version in (VERSION, "draft")}
    assert ids[VERSION] == ids["draft"] != annex_id
    for version in (VERSION, "draft"):
        url = f"{replica.api_url}/dandisets/{DANDISET}/versions/{version}/assets/{ids[version]}/"
        metadata = requests.get(url).json()
        assert metadata["digest"] == {"dandi:sha2-256": "a" * 64} and metadata["contentSize"] == 10
        by_annex_id = requests.get(f"{replica.api_url}/dandisets/{DANDISET}/versions/{version}/assets/{annex_id}/")
        assert (by_annex_id.status_code, by_annex_id.json()) == (404, {"detail": "Not found."})
    assert requests.get(f"{replica.api_url}/assets/{annex_id}/download/", allow_redirects=False).status_code == 404
    assert requests.get(replica.blob_url(replica.assets(DANDISET, VERSION)["sub-1/real.nwb"])).status_code == 404


def test_a_listed_asset_takes_the_id_given_as_the_versions(replica: DandiReplica) -> None:
    from patchseq_intake.dandi.assets import Asset

    listed = Asset("sub-1/real.nwb", None, "37fdd4cc-d101-4cb0-884a-2997e25a6109", 10, "a" * 64)
    version_id = "a9156bb0-baac-4393-a70c-fd8651aedf8c"
    assert replica.add_listed_asset(DANDISET, VERSION, listed, asset_id=version_id).asset_id == version_id
    assert requests.get(f"{listing_url(replica)}{version_id}/").json()["identifier"] == version_id


def test_a_listing_with_metadata_carries_each_assets_digest_and_urls(replica: DandiReplica) -> None:
    replica.add_asset(DANDISET, VERSION, "sub-1/etag-only.nwb", b"etag only", publish_sha256=False)
    page = requests.get(listing_url(replica), params={"metadata": 1, "path": "sub-1/", "page_size": 10}).json()
    by_path = {result["path"]: result for result in page["results"]}
    assert set(by_path) == {"sub-1/sub-1_ses-1_icephys.nwb", "sub-1/sub-1_ses-1_icephys.nwb.bak", "sub-1/etag-only.nwb"}
    content = b"etag only"
    etag = hashlib.md5(hashlib.md5(content).digest()).hexdigest() + "-1"
    metadata = by_path["sub-1/etag-only.nwb"]["metadata"]
    assert metadata["digest"] == {"dandi:dandi-etag": etag}
    assert metadata["contentUrl"][1].endswith(by_path["sub-1/etag-only.nwb"]["blob"])
    assert "metadata" not in requests.get(listing_url(replica), params={"page_size": 1}).json()["results"][0]


def test_a_file_over_64_mib_has_a_two_part_etag(server: LocalServer) -> None:
    content = bytes(64 * 1024 * 1024) + b"tail"
    asset = DandiReplica(server).add_asset(DANDISET, VERSION, "big.nwb", content)
    parts = [hashlib.md5(content[: 64 * 1024 * 1024]).digest(), hashlib.md5(b"tail").digest()]
    assert asset.etag == hashlib.md5(b"".join(parts)).hexdigest() + "-2"
