"""Version-scoped calls through the catalogs' pinned listings: only ids the version holds, or paths.

The shipped listings are DANDI's own (the pinned index is used only with
DANDI's API), so here the package takes the world's replica for DANDI
itself (``config.DANDI_API`` and ``config.DANDI_S3`` point at it), and the
catalog's pinned listing is one written in the shipped format for the
world's synthetic files:

- 000023's format (``asset_id``, ``blob``, ``dandi_etag``: the version's own):
  stream mode needs no request for the etag;
- 000020's format (no asset id: the annex's ids were not the version's):
  the etag is found by path in the version's listing, the bytes come from
  the blob only, and no id of the annex is ever sent. The replica serves
  the version's assets under ids of its own (not the annex's) and answers
  404 to a version-scoped call by any other id, as DANDI does.
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path
from urllib.parse import urlparse

import pytest

from patchseq_intake import config
from patchseq_intake.access.cell_index import load_index
from patchseq_intake.dandi.assets import DandisetVersion, PinnedListing
from patchseq_intake.errors import FetchError, ManifestMismatchWarning
from patchseq_intake.tables.shipped import shipped_dandiset
from patchseq_intake.testing.dandi import ReplicaAsset

from ..conftest import REFERENCE_ASSETS

HUMAN_CELL = 569835804
MOUSE_CELL = 601506507
MANIFEST_DIFFERS = (541549258, 623434306)  # a human and a mouse cell the manifest describes otherwise
MOUSE_COLUMNS = ("path", "size", "sha256", "blob")
"""The shipped 000020 listing's columns: no asset id, no dandi-etag."""


def _write_listing(path: Path, assets: list[ReplicaAsset], columns: tuple[str, ...]) -> Path:
    """A listing CSV in the shipped format with ``columns``, of the replica's ``assets``."""
    value = {"path": "path", "size": "size", "sha256": "sha256", "asset_id": "asset_id", "blob": "blob",
             "dandi_etag": "etag"}
    with path.open("w", newline="") as listing:
        rows = csv.writer(listing)
        rows.writerow(columns)
        rows.writerows([getattr(asset, value[column]) for column in columns] for asset in assets)
    return path


@pytest.fixture
def replica_as_dandi(world, monkeypatch):
    """The package takes the world's replica for DANDI's own API and blob store: pinned listings apply to it."""
    monkeypatch.setattr(config, "DANDI_API", world.replica.api_url)
    monkeypatch.setattr(config, "DANDI_S3", f"{world.server.url}/s3")
    return world


def _pinned(source, archive: str, listing: Path):
    """``source`` resolving its cells through ``listing`` as the catalog's pinned listing of its version."""
    dandiset, version = shipped_dandiset(archive)
    source.dandi = DandisetVersion(dandiset, version, PinnedListing(version, str(listing)))
    return source


def _version_assets(world, archive: str) -> list[ReplicaAsset]:
    """The published version's assets of the world's cells of ``archive``."""
    return [world.assets[cell.specimen_id] for cell in world.cells if cell.archive == archive]


def test_000023s_pinned_etag_needs_no_request_in_stream_mode(cat, replica_as_dandi, streamed, tmp_path):
    world = replica_as_dandi
    listing = _write_listing(tmp_path / "000023.csv", _version_assets(world, "human"),
                             ("path", "size", "sha256", "asset_id", "blob", "dandi_etag"))
    source = _pinned(cat.human.ephys(specimen_id=HUMAN_CELL, access="stream"), "human", listing)
    (cell,) = source.cells
    assert cell.asset.etag == world.assets[HUMAN_CELL].etag
    asset = world.assets[HUMAN_CELL]
    assert cell.urls == (world.replica.blob_url(asset), world.replica.download_url(asset))  # the version's id
    world.server.log.clear()
    assert len(source.read()) == len(world.written[HUMAN_CELL].sweeps)
    assert world.replica.requests("listing", "asset", "dandiset") == []  # the etag came with the listing
    assert world.replica.requests("blob")  # the file's headers were streamed


def test_000020s_pinned_listing_takes_the_blobs_etag_and_asks_the_api_nothing(cat, replica_as_dandi, streamed,
                                                                             tmp_path):
    world = replica_as_dandi
    asset = world.assets[MOUSE_CELL]
    listing = _write_listing(tmp_path / "000020.csv", _version_assets(world, "mouse"), MOUSE_COLUMNS)
    source = _pinned(cat.mouse.ephys(specimen_id=MOUSE_CELL, access="stream"), "mouse", listing)
    (cell,) = source.cells
    assert cell.asset_id is None and cell.asset.etag is None
    assert cell.urls == (world.replica.blob_url(asset),)  # no download URL made of an id the version may not hold
    world.server.log.clear()
    assert len(source.read()) == len(world.written[MOUSE_CELL].sweeps)
    assert [entry.path for entry in world.server.log if entry.path.startswith("/api/")] == []  # by id or by path
    assert all(entry.status != 404 for entry in world.replica.requests())
    index = load_index(cell.checksum.value, cell.size)
    assert index is not None and index.etag == asset.etag  # the blob's ETag, DANDI's dandi-etag of its bytes
    sent = " ".join(entry.path for entry in world.server.log)
    if REFERENCE_ASSETS.is_dir():  # the annex's ids, as the shipped listing had them before
        with (REFERENCE_ASSETS / "000020.csv").open(newline="") as annex:
            annex_ids = {row["asset_id"] for row in csv.DictReader(annex)}
        assert not any(annex_id in sent for annex_id in annex_ids)
        assert asset.asset_id not in annex_ids  # the replica's version holds its assets under other ids


def test_000020s_bytes_come_from_the_blob_only(cat, replica_as_dandi, tmp_path):
    world = replica_as_dandi
    listing = _write_listing(tmp_path / "000020.csv", _version_assets(world, "mouse"), MOUSE_COLUMNS)
    blob = urlparse(world.replica.blob_url(world.assets[MOUSE_CELL])).path
    del world.server.files[blob]  # the blob store answers 404: no other address is known good
    source = _pinned(cat.mouse.ephys(specimen_id=MOUSE_CELL), "mouse", listing)
    with pytest.raises(FetchError, match=rf"could not download .*{blob}"):
        source.read()
    assert world.replica.requests("download", "asset", "listing") == []


def test_the_manifest_mismatch_is_said_once_a_process_whatever_the_filters(cat, world):
    """Said by the first selection with such files; not again, even under filters that show every warning (a
    served GUI's sessions, the CLI's own filter)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cat.human.ephys(specimen_id=HUMAN_CELL).cells  # its file matches: nothing to say yet
        cat.human.ephys(specimen_id=MANIFEST_DIFFERS[0]).cells
        cat.human.ephys(specimen_id=[MANIFEST_DIFFERS[0], HUMAN_CELL]).cells
        cat.mouse.ephys().cells
    said = [str(w.message) for w in caught if issubclass(w.category, ManifestMismatchWarning)]
    assert said == [
        f"the release manifest describes other bytes than DANDI holds for the NWB file of human cell "
        f"{MANIFEST_DIFFERS[0]} (an earlier export); it is verified against DANDI's checksum; nwb_files' "
        "manifest_matches column shows which files of the release this concerns (said once a process)"
    ]
    with warnings.catch_warnings(record=True) as caught:  # a new block of filters: not said again
        warnings.simplefilter("always")
        cat.mouse.ephys(specimen_id=MANIFEST_DIFFERS[1]).cells
    assert [w for w in caught if issubclass(w.category, ManifestMismatchWarning)] == []
