"""User parameters: taken as values (never as templates), whole numbers checked, long id lists named briefly."""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pytest

from patchseq_intake.catalog import ArchiveCatalog
from patchseq_intake.errors import InvalidQueryError, UnknownCellError, UnknownVersionError

HUMAN_CELL = 541549258
SECRET = "s3cr3t-t0ken-value"


# --- parameters are values, not templates ----------------------------------------------------------------


def test_env_and_templates_in_a_users_value_are_not_expanded(cat, monkeypatch):
    monkeypatch.setenv("PATCHSEQ_TEST_SECRET", SECRET)
    with pytest.raises(UnknownVersionError) as refused:
        cat.human.ephys(version="env(PATCHSEQ_TEST_SECRET)")
    assert "env(PATCHSEQ_TEST_SECRET)" in str(refused.value) and SECRET not in str(refused.value)
    with pytest.raises(UnknownVersionError) as refused:
        cat.mouse.nwb_files(version="{{ env('PATCHSEQ_TEST_SECRET') }}")
    assert SECRET not in str(refused.value)
    source = cat.human.ephys(root="{{ env('PATCHSEQ_TEST_SECRET') }}", access="local")
    assert source.access.root == "{{ env('PATCHSEQ_TEST_SECRET') }}"
    table = cat.human.metadata(filters=[["structure", "==", "env(PATCHSEQ_TEST_SECRET)"]])
    assert table._filters == [["structure", "==", "env(PATCHSEQ_TEST_SECRET)"]]


def test_none_means_the_default(cat):
    table = cat.human.metadata(filters=None, columns=None)
    assert (table._filters, table._columns) == ([], [])
    assert cat.human.manifest(technique=None, filters=None)._filters == []
    ephys = cat.human.ephys(specimen_id=None, filters=None, headstage=None, version=None, access=None)
    assert (ephys.specimen_ids, ephys._filters, ephys.headstage) == ([], [], 0)
    assert (ephys.dandi.version, ephys.access.mode) == ("0.210914.1900", "download")


def test_values_reach_the_driver_as_given_not_through_text(cat):
    # Through intake's templates these became text and were parsed back: inf and nan are not Python literals.
    filters = [["depth_from_pia_um", "<", math.inf], ["structure", "in", ("MTG", "FroL")]]
    assert cat.human.metadata(filters=filters)._filters == [["depth_from_pia_um", "<", math.inf],
                                                            ["structure", "in", ["MTG", "FroL"]]]
    assert cat.human.metadata(columns="structure")._columns == "structure"  # one column, not its letters
    source = cat.human.ephys(specimen_id=HUMAN_CELL)
    assert source(access="stream").specimen_ids == [HUMAN_CELL]  # a source's own parameters are kept


def test_unknown_parameters_and_values_outside_the_allowed_ones_are_refused(cat):
    with pytest.raises(InvalidQueryError, match="unknown parameter.* 'specimen' for human.ephys; its parameters: "
                                                "specimen_id, filters, access, root, version, headstage"):
        cat.human.ephys(specimen=HUMAN_CELL)
    with pytest.raises(InvalidQueryError, match="unknown parameter.* 'archive' for mouse.metadata"):
        cat.mouse.metadata(archive="human")
    with pytest.raises(InvalidQueryError, match="access of human.ephys must be one of download, stream, local"):
        cat.human.ephys(access="{{ 7*7 }}")


def test_the_describe_of_an_entry_shows_its_arguments_as_written(cat):
    args = cat.human.metadata.describe()["args"]
    assert (args["filters"], args["columns"], args["table"]) == ("{{ filters }}", "{{ columns }}", "metadata")


_ENTRY = """
sources:
  cells:
    description: a table
    driver: patchseq_table
    args:
      url: http://127.0.0.1:9/cells.csv
      sha256: null
      table: metadata
      archive: human
      filters: "{{{{ filters }}}}"
      columns: "{{{{ columns }}}}"
    parameters:
      filters: {{description: rows, type: {filters_type}, default: null}}
      columns: {{description: columns, type: list, default: null}}
"""


@pytest.mark.parametrize("filters_type", ["list", "other"])
def test_a_default_of_null_in_yaml_is_the_drivers_default(tmp_path, filters_type):
    path = tmp_path / "cells.yaml"
    path.write_text(_ENTRY.format(filters_type=filters_type))
    source = ArchiveCatalog(str(path)).cells
    assert (source._filters, source._columns) == ([], [])


def test_a_parameter_must_set_the_argument_of_its_name(tmp_path):
    path = tmp_path / "cells.yaml"
    entry = _ENTRY.format(filters_type="list")
    path.write_text(entry.replace('filters: "{{ filters }}"', 'filters: "[{{ filters }}]"'))
    with pytest.raises(ValueError, match="catalog entry 'cells': parameter 'filters' must set the argument of its "
                                         'name, written filters: "{{ filters }}"'):
        list(ArchiveCatalog(str(path)))


# --- whole numbers ------------------------------------------------------------------------------------------

NOT_WHOLE_NUMBERS = [1.5, True, np.bool_(True), "abc", "", " ", math.nan, math.inf, "１２", "1.0", 2**70, -(2**70)]


@pytest.mark.parametrize("number", [*NOT_WHOLE_NUMBERS, None, [4]], ids=repr)
def test_a_sweep_number_must_be_a_whole_number(cat, number):
    source = cat.human.ephys(specimen_id=HUMAN_CELL)  # refused before any I/O: no replica is running
    with pytest.raises(InvalidQueryError, match=r"^sweep_number must be a sweep number \(a whole number, e.g. 42\), "
                                                r"not .*$"):
        source.sweep(number)
    with pytest.raises(InvalidQueryError, match=r"^each of sweep_numbers must be a sweep number"):
        source.sweeps([4, number])
    with pytest.raises(InvalidQueryError, match=r"^each of sweep_numbers must be a sweep number"):
        source.to_dask_sweeps([number])


def test_sweep_numbers_must_be_a_list_and_trim_a_flag(cat):
    source = cat.human.ephys(specimen_id=HUMAN_CELL)
    for numbers in (4, "4", "[4, 5]"):
        with pytest.raises(InvalidQueryError, match=r"^sweep_numbers must be a list of sweep numbers \(e.g. \[4, 5"):
            source.sweeps(numbers)
    with pytest.raises(InvalidQueryError, match=r"^a cell of sweep_numbers must be a cell id"):
        source.to_dask_sweeps({"abc": [4]})
    with pytest.raises(InvalidQueryError, match="^trim must be True or False, not 'no'$"):
        source.sweep(4, trim="no")
    with pytest.raises(InvalidQueryError, match="^specimen_id must be a cell id"):
        source.sweep(4, specimen_id=1.5)
    with pytest.raises(InvalidQueryError, match="^max_concurrent must be a whole number from 1 to 64, not 0"):
        source.fetch(max_concurrent=0)


@pytest.mark.parametrize("specimen_id", [*NOT_WHOLE_NUMBERS, [HUMAN_CELL, None], [[HUMAN_CELL]]], ids=repr)
def test_a_specimen_id_must_be_a_whole_number_or_a_list_of_them(cat, specimen_id):
    with pytest.raises(InvalidQueryError, match=r"^specimen_id must be a cell id or a list of them \(cell_specimen_id: "
                                                r"whole numbers, e.g. 541549258\), not .*$"):
        cat.human.ephys(specimen_id=specimen_id)


@pytest.mark.parametrize("empty", [[], (), np.array([], dtype=np.int64), pd.Series([], dtype="int64")], ids=repr)
def test_an_empty_list_of_cells_is_refused_not_taken_for_every_cell(cat, empty):
    with pytest.raises(InvalidQueryError, match=r"^specimen_id=\[\] names no cell: give one or more cell ids"):
        cat.human.ephys(specimen_id=empty)
    assert cat.human.ephys().specimen_ids == [] and cat.human.ephys(specimen_id=None).specimen_ids == []


@pytest.mark.parametrize("headstage", [True, 8, -1, 1.5, "x", "１", math.nan, [0]], ids=repr)
def test_a_headstage_is_a_whole_number_from_0_to_7(cat, headstage):
    with pytest.raises(InvalidQueryError, match=r"^headstage must be a whole number from 0 to 7, not .*$"):
        cat.human.ephys(headstage=headstage)


def test_whole_numbers_come_as_ints_numpy_integers_whole_floats_or_ascii_digits(cat):
    ids = [HUMAN_CELL, np.int64(569835804), 541557114.0, " 601506507 ", np.float64(1.0)]
    assert cat.human.ephys(specimen_id=ids).specimen_ids == [HUMAN_CELL, 569835804, 541557114, 601506507, 1]
    assert cat.human.ephys(specimen_id=pd.Series([HUMAN_CELL], dtype="Int64")).specimen_ids == [HUMAN_CELL]
    assert cat.human.ephys(headstage=np.int8(3)).headstage == cat.human.ephys(headstage="3").headstage == 3


def test_a_version_and_a_root_must_be_text(cat, tmp_path):
    with pytest.raises(InvalidQueryError, match="^version must be a dandiset version: a published version id or "
                                                "'draft', not 5$"):
        cat.human.ephys(version=5)
    with pytest.raises(InvalidQueryError, match="^root must be a directory"):
        cat.human.ephys(access="local", root=5)
    assert cat.human.ephys(access="local", root=tmp_path).access.root == str(tmp_path)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (2**70, "1180591620717411303424 is out of range for cell_specimen_id (int64"),
        ("１２", "'１２' is not a valid int64 value"),
        (True, "True is not a valid int64 value"),
        (1.5, "1.5 is not a valid int64 value"),
        (None, "None is not a valid int64 value"),
    ],
)
def test_a_filter_value_must_fit_its_integer_column(cat, served_tables, value, message):
    with pytest.raises(InvalidQueryError, match=f"^filter on 'cell_specimen_id' for .*: {message}".replace("(", r"\(")):
        cat.human.metadata(filters=[["cell_specimen_id", "==", value]]).read()
    with pytest.raises(InvalidQueryError, match=message.replace("(", r"\(")):
        cat.human.ephys(filters=[["cell_specimen_id", "in", [HUMAN_CELL, value]]]).cells


def test_filters_and_columns_of_the_wrong_form_are_refused(cat, served_tables):
    with pytest.raises(InvalidQueryError, match=r"^filters for .* must be a list of \[column, op, value\]"):
        cat.human.metadata(filters="[['structure', '==', 'MTG']]").read()
    with pytest.raises(InvalidQueryError, match=r"filter on 'depth_from_pia_um' .*: 'nan' is not a valid double value"):
        cat.human.metadata(filters=[["depth_from_pia_um", ">", "nan"]]).read()
    with pytest.raises(InvalidQueryError, match=r"^columns for .* must be a list of column names, not 5$"):
        cat.human.metadata(columns=5).read()
    with pytest.raises(InvalidQueryError, match=r"^filters for .* must be a list of \[column, op, value\].*, not 0$"):
        cat.human.metadata(filters=0).read()
    with pytest.raises(InvalidQueryError, match=r"^unknown column\(s\) \[''\]"):
        cat.human.metadata(columns="").read()


def test_whole_numbers_of_every_kind_read_the_same_sweep(cat, world):
    source = cat.human.ephys(specimen_id=str(HUMAN_CELL))
    for number in (4, np.int64(4), 4.0, "4"):
        assert source.sweep(number).sweep_number == 4
    assert [s.sweep_number for s in source.sweeps(np.array([5, 4]))] == [5, 4]
    assert list(source.read_partition(np.int64(0))["cell_specimen_id"].unique()) == [HUMAN_CELL]
    for partition in (1, -1, 0.5, True, "x"):
        with pytest.raises(InvalidQueryError, match=r"^i must be a partition number from 0 to 0, not "):
            source.read_partition(partition)


# --- many ids -------------------------------------------------------------------------------------------------


def test_an_error_about_many_unknown_ids_names_a_few_and_counts_them(cat, served_tables):
    unknown = list(range(1, 10_001))
    with pytest.raises(UnknownCellError) as refused:
        cat.human.ephys(specimen_id=[HUMAN_CELL, *unknown]).cells
    message = str(refused.value)
    assert message.startswith("cell(s) [1, 2, 3, 4, 5, ...] (10000 in all) are not in the human Patch-seq dataset")
    assert len(message) < 200
    source = cat.human.ephys(filters=[["structure", "==", "MTG"]])
    with pytest.raises(UnknownCellError) as refused:
        source.sweep(4, specimen_id=1)
    assert str(refused.value) == f"cell 1 is not among this source's cells [{HUMAN_CELL}, 541557114]"


def test_a_million_unknown_ids_are_refused_in_seconds(cat, served_tables):
    cat.human.metadata.read()  # the table is cached: what is timed is the ids' work
    started = time.perf_counter()
    with pytest.raises(UnknownCellError, match=r"\(1000000 in all\)"):
        cat.human.ephys(specimen_id=np.arange(1, 1_000_001)).cells
    assert time.perf_counter() - started < 6  # 12.8 s before, with a 7.9 MB message


def test_no_match_names_a_few_ids_and_filters(cat, served_tables):
    from patchseq_intake.errors import NoMatchingCellsError

    mtg = [HUMAN_CELL, 541557114]
    with pytest.raises(NoMatchingCellsError, match=r"^none of the 2 human cells \[541549258, 541557114\] matches "
                                                   r"the filters \[\['structure', '==', 'FroL'\]\]$"):
        cat.human.ephys(specimen_id=[*mtg, *mtg, *mtg], filters=[["structure", "==", "FroL"]]).cells  # once each
    with pytest.raises(NoMatchingCellsError, match=r"in', \[0, 1, 2, 3, 4, \.\.\.\] \(100000 in all\)\]\]$"):
        cat.human.ephys(filters=[["cell_specimen_id", "in", list(range(100_000))]]).cells


def test_to_dask_sweeps_names_a_few_of_the_cells_it_does_not_hold(cat, world):
    source = cat.human.ephys(specimen_id=HUMAN_CELL)
    with pytest.raises(InvalidQueryError) as refused:
        source.to_dask_sweeps({cell: [4] for cell in range(1, 10_001)})
    assert str(refused.value) == (
        "to_dask_sweeps: cells [1, 2, 3, 4, 5, ...] (10000 in all) are not among this source's [541549258]"
    )


def test_many_cells_without_a_file_are_described_five_and_counted():
    from types import SimpleNamespace

    from patchseq_intake.dandi.cells import _no_file_message
    from patchseq_intake.dandi.nwb_files import Unresolved

    missing = {cell: Unresolved(session_id=cell + 1, manifest_path=None) for cell in range(10, 4010)}
    message = _no_file_message(SimpleNamespace(name="mouse"), "dandiset 000020 version draft", missing)
    assert message.startswith("no NWB file for 4000 mouse cell(s): cell 10 (ephys_session_id 11): neither")
    assert message.count("neither the release manifest") == 5
    assert message.endswith("; and 3995 more: [15, 16, 17, 18, 19, ...] (3995 in all)") and len(message) < 1000
