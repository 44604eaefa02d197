"""The shipped catalogs: structure, the three ways to open them, and the `metadata` entry."""

from __future__ import annotations

import pickle

import intake
import pandas as pd
import pytest
import yaml

import patchseq_intake
from patchseq_intake.catalog import CatalogMetadata, ValueEntry

PUBLISHED = {"human": ("000023", "0.210914.1900"), "mouse": ("000020", "0.210913.1639")}


def test_root_catalog_lists_both_archives_with_their_tables(cat):
    from patchseq_intake.dandi.dandisets import registry

    from patchseq_intake.tables.shipped import shipped_papers

    assert list(cat)[:3] == ["human", "mouse", "sessions"]  # the 2020 archives first, as the seed describes
    assert list(cat)[3:6] == list(shipped_papers()) == ["paper_human_l1", "paper_mouse_l1", "paper_human_interneurons"]
    assert list(cat)[6:] == [d.name for d in registry().values() if d.name not in ("human", "mouse")]
    both = ["metadata", "manifest", "nwb_files", "ephys", "features", "files", "morphology"]
    assert list(cat.human) == both  # the human release has no transcriptomes
    assert list(cat.mouse) == [*both, "transcriptomics"]


@pytest.mark.parametrize("archive", ["human", "mouse"])
def test_archive_catalog_pins_its_dandiset_and_version(cat, archive):
    meta = cat[archive].metadata
    assert (meta["dandiset"], meta["dandi_version"]) == PUBLISHED[archive]


def test_three_ways_to_open_give_the_same_catalog():
    by_path = intake.open_catalog(patchseq_intake.CATALOG)
    by_function = patchseq_intake.open_catalog()
    by_entry_point = intake.cat.patchseq
    for cat in (by_function, by_entry_point):
        assert list(cat) == list(by_path)
        assert cat.mouse.metadata["dandiset"] == by_path.mouse.metadata["dandiset"]


def test_every_way_to_open_takes_parameters_as_values(monkeypatch):
    monkeypatch.setenv("PATCHSEQ_TEST_SECRET", "s3cr3t")
    for cat in (intake.open_catalog(patchseq_intake.CATALOG), patchseq_intake.open_catalog(), intake.cat.patchseq):
        catalogs = [name for name in cat if name != "sessions" and not name.startswith("paper_")]  # tables
        assert all(isinstance(cat[archive]._entries[name], ValueEntry) for archive in catalogs for name in cat[archive])
        source = cat.human.ephys(root="env(PATCHSEQ_TEST_SECRET)", access="local", specimen_id=None)
        assert (source.access.root, source.specimen_ids) == ("env(PATCHSEQ_TEST_SECRET)", [])


def test_metadata_attribute_reads_the_cell_table(cat, served_tables, cells):
    frame = cat.human.metadata.read()
    assert isinstance(frame, pd.DataFrame)
    expected = sorted(c.specimen_id for c in cells if c.archive == "human")
    assert sorted(frame["cell_specimen_id"]) == expected
    pd.testing.assert_frame_equal(frame, cat.human["metadata"].read())


def test_metadata_attribute_takes_parameters_and_gives_dask(cat, served_tables):
    source = cat.human.metadata(filters=[["structure", "==", "MTG"]], columns=["cell_specimen_id"])
    assert list(source.read().columns) == ["cell_specimen_id"]
    assert len(source.read()) == 2
    assert source.to_dask().compute().shape == (2, 1)
    assert cat.human.metadata.discover()["dtype"]["cell_specimen_id"] == "int64"


def test_catalog_metadata_stays_a_plain_dict_for_intake(cat):
    meta = cat.human.metadata
    assert isinstance(meta, dict) and meta["archive"] == "human"
    serialized = yaml.safe_load(cat.human.serialize())  # safe_load fails on python tags
    assert serialized["metadata"]["dandiset"] == "000023"
    assert cat.human.discover()["metadata"]["species"] == "Homo sapiens"
    assert "metadata" in cat.human.yaml()
    restored = pickle.loads(pickle.dumps(meta))
    assert type(restored) is dict and restored == dict(meta)


def test_catalog_without_a_metadata_entry_keeps_plain_attribute_errors(cat):
    meta = CatalogMetadata({"a": 1}, cat)  # the root catalog has no 'metadata' entry
    with pytest.raises(AttributeError, match="no entry 'metadata'"):
        meta.read()


def test_entries_do_no_io_when_instantiated(cat, table_server, cache_dir):
    table_server.stop()  # nothing to talk to: any I/O would fail
    source = cat.mouse.manifest(technique="intracellular_electrophysiology", filters=[["x", "==", 1]])
    assert source.container == "dataframe"
    assert not cache_dir.exists()


def test_bad_technique_is_refused_by_the_catalog(cat):
    with pytest.raises(ValueError, match="technique"):
        cat.mouse.manifest(technique="patch-clamp")


def test_every_entry_has_a_description_and_plots_metadata(cat):
    for archive in ("human", "mouse"):
        assert cat[archive].description
        for name in cat[archive]:
            entry = cat[archive][name]
            assert len(entry.description) > 40
            assert "plots" in entry.metadata


# --- a name or filters that are not the catalog's ------------------------------------------------


@pytest.mark.parametrize("way", ["function", "entry point"])
def test_an_unknown_archive_is_named_with_the_archives_there_are(way):
    from patchseq_intake.errors import UnknownEntryError

    cat = patchseq_intake.open_catalog() if way == "function" else intake.cat.patchseq
    message = (r"catalog 'patchseq' has no archive or dandiset 'rat'; its entries: human, mouse, sessions, "
               r"paper_human_l1, .*, human_l1, human_interneurons \(a dandiset also by its id, e\.g\. cat\['000636'\]\)")
    with pytest.raises(AttributeError, match=f"^{message}$") as attribute:
        cat.rat
    with pytest.raises(KeyError, match=f"^{message}$") as item:
        cat["rat"]
    assert isinstance(attribute.value, UnknownEntryError) and isinstance(item.value, UnknownEntryError)
    assert not hasattr(cat, "rat") and getattr(cat, "rat", None) is None


def test_an_unknown_entry_of_an_archive_is_named_with_its_entries(cat):
    with pytest.raises(AttributeError, match="^catalog 'human' has no entry 'ephsy'; its entries: metadata, manifest, "
                                             "nwb_files, ephys, features, files, morphology$"):
        cat.human.ephsy
    with pytest.raises(AttributeError, match="^catalog 'human' has no entry 'transcriptomics'; its entries: .*morphology$"):
        cat.human.transcriptomics  # the human release has no transcriptomes
    assert cat["human"]["ephys"].name == "ephys" and cat["human.ephys"].name == "ephys"  # known names as before


@pytest.mark.parametrize(
    "filters, message",
    [
        ("a==b", r"filters for human\.{entry} must be a list of \[column, op, value\] filters, "
                 r'e\.g\. \[\["structure", "==", "MTG"\], .*\], not \'a==b\'$'),
        (("structure", "==", "MTG"), r"filters for human\.{entry} is a list of filters, each \[column, op, value\]: "
                                     r"for one filter, give a list of one, \[\['structure', '==', 'MTG'\]\]"),
        ([["structure", "=="]], r"bad filter \['structure', '=='\] for human\.{entry}: each filter is "
                                r'\[column, op, value\], e\.g\. \[\["structure"'),
        ([("structure", "==", "MTG"), "dendrite_type"], r"bad filter 'dendrite_type' for human\.{entry}"),
    ],
)
@pytest.mark.parametrize("entry", ["metadata", "nwb_files", "ephys"])
def test_filters_of_the_wrong_form_are_refused_with_an_example_before_any_table_is_fetched(
    cat, cache_dir, filters, message, entry
):
    from patchseq_intake.errors import InvalidQueryError

    with pytest.raises(InvalidQueryError, match="^" + message.format(entry=entry)):
        cat.human[entry](filters=filters)  # made, not read: no table is fetched
    assert not cache_dir.exists()


def test_the_root_catalogs_own_tables_take_values_and_say_when_intake_rendered_one():
    """The package's openers make the root's entries ``ValueEntry``s (``paper=None``: none); intake's own opener
    renders a None as the template's text, which the driver refuses naming the parameter and the ways out."""
    from patchseq_intake.errors import InvalidQueryError

    for cat in (patchseq_intake.open_catalog(), intake.cat.patchseq):
        assert isinstance(cat._entries["sessions"], ValueEntry) and cat.sessions(paper=None, filters=None).paper is None
    plain_intake = intake.open_catalog(patchseq_intake.CATALOG)
    for parameter in ("paper", "filters", "dandisets"):
        with pytest.raises(InvalidQueryError, match=rf"^{parameter} arrived as the catalog's template text "
                                                    rf"'{{{{ {parameter} }}}}': intake.open_catalog\(path\) renders"):
            plain_intake.sessions(**{parameter: None})
    with pytest.raises(InvalidQueryError, match=r"^columns arrived as the catalog's template text"):
        plain_intake.paper_human_l1(columns=None)
