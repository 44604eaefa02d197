"""The dandisets' catalogs: written by scripts/make_dandiset_catalogs.py from the registry, and what they hold."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

from patchseq_intake.dandi.dandisets import registry

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "make_dandiset_catalogs.py"


def _script():
    spec = importlib.util.spec_from_file_location("make_dandiset_catalogs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_shipped_catalogs_are_what_the_script_writes():
    for path, text in _script().written().items():
        assert path.read_text() == text, f"{path} differs: run python scripts/make_dandiset_catalogs.py"


@pytest.mark.parametrize("dandiset", [d for d in registry().values() if not d.release_2020], ids=lambda d: d.name)
def test_each_dandisets_catalog_pins_its_version_and_listing(cat, dandiset):
    catalog = cat[dandiset.dandiset]
    assert catalog.name == dandiset.name and list(catalog) == ["sessions", "nwb_files", "ephys", "features"]
    assert (catalog.metadata["dandiset"], catalog.metadata["dandi_version"]) == (dandiset.dandiset, dandiset.version)
    assert catalog.metadata["published"] is dandiset.published
    ephys = catalog.ephys()
    assert ephys.dandi.version == dandiset.version and ephys.id_parameter == "session_id"
    pinned = ephys.dandi.pinned
    assert (pinned is None) == (dandiset.listing is None)
    if pinned is not None:
        assert Path(pinned.path).is_file() and pinned.version == dandiset.version
    described = yaml.safe_load(Path(catalog.path).read_text())["description"]
    assert (f"published version {dandiset.version}" in described) == dandiset.published
    assert ("draft (no published version is pinned" in described) != dandiset.published and dandiset.dandiset in described


def test_a_draft_is_stated_as_such(cat):
    assert "draft (no published version is pinned" in cat.human_interneurons.description
    assert "published version 0.230915.2257" in cat.human_l1.description
    assert "210 NWB files (8.1 GB) of 210 sessions from 53 donors" in cat.human_l1.description
    assert "91 files carry no session id" in cat.human_2022_03.description
    assert "ships no listing" in cat.mouse_excitatory_2025.sessions.description
