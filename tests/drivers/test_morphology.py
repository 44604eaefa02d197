"""The ``morphology`` entry against the test world: cells -> their SWC (or marker) files on the BIL stand-in ->
the points ``testing.morphology`` planted, fetched once and read from the cache after."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from patchseq_intake import config
from patchseq_intake.errors import (
    InvalidQueryError,
    NoMatchingCellsError,
    NoReleaseFileError,
    OfflineError,
    UnknownCellError,
)
from patchseq_intake.testing.archives import BIL
from patchseq_intake.testing.morphology import synthetic_neuron
from patchseq_intake.testing.world import DEMO_CELLS

MOUSE_CELL = 601506507
HUMAN_FULL, HUMAN_DENDRITE_ONLY = 541549258, 569835804
WITHOUT_RECONSTRUCTION = 627867607  # a mouse cell of the world with no manifest row at all
MOUSE_WITH_RECONSTRUCTION = [plan.specimen_id for plan in DEMO_CELLS if plan.archive == "mouse" and plan.reconstruction]
ASPINY_MOUSE = [601790961, 601808698, 623434306, WITHOUT_RECONSTRUCTION]  # the world's aspiny mouse cells
RECONSTRUCTION_TYPE = {plan.specimen_id: plan.reconstruction for plan in DEMO_CELLS}


def planted(specimen_id: int):
    """The neuron the world's BIL stand-in serves for the cell (``testing.archives``: seed 0)."""
    return synthetic_neuron(specimen_id, dendrite_only=RECONSTRUCTION_TYPE[specimen_id] == "dendrite-only")


def expected_points(specimen_id: int, kind: str) -> pd.DataFrame:
    """What ``read()`` must give for one cell: its columns, then the samples as planted."""
    points = planted(specimen_id).points(kind)
    points.insert(0, "cell_specimen_id", np.int64(specimen_id))
    points.insert(1, "neuron_reconstruction_type", pd.Series([RECONSTRUCTION_TYPE[specimen_id]] * len(points),
                                                             dtype="string"))
    return points


def bil_requests(world) -> list[str]:
    return [entry.path for entry in world.server.log if entry.path.startswith(f"{BIL}/")]


@pytest.mark.parametrize(("archive", "cell"), [("mouse", MOUSE_CELL), ("human", HUMAN_FULL),
                                               ("human", HUMAN_DENDRITE_ONLY)])
@pytest.mark.parametrize("kind", ["transformed", "raw"])
def test_one_cells_points_are_the_planted_ones(cat, world, archive, cell, kind):
    frame = cat[archive].morphology(specimen_id=cell, kind=kind).read()
    pd.testing.assert_frame_equal(frame, expected_points(cell, kind), check_exact=True)
    assert frame.attrs["comments"] == {cell: planted(cell).comments(kind)}


def test_a_dendrite_only_reconstruction_has_no_axon_and_says_so_on_every_row(cat, world):
    frame = cat.human.morphology(specimen_id=[HUMAN_FULL, HUMAN_DENDRITE_ONLY]).read()
    by_cell = dict(tuple(frame.groupby("cell_specimen_id")))
    assert set(by_cell[HUMAN_DENDRITE_ONLY]["neuron_reconstruction_type"]) == {"dendrite-only"}
    assert set(by_cell[HUMAN_FULL]["neuron_reconstruction_type"]) == {"full"}
    assert 2 not in set(by_cell[HUMAN_DENDRITE_ONLY]["type"]) and 2 in set(by_cell[HUMAN_FULL]["type"])
    assert frame["cell_specimen_id"].tolist() == [HUMAN_FULL] * planted(HUMAN_FULL).n_points + [
        HUMAN_DENDRITE_ONLY] * planted(HUMAN_DENDRITE_ONLY).n_points  # in the order asked


def test_the_marker_kind_reads_the_marker_file(cat, world):
    frame = cat.mouse.morphology(specimen_id=MOUSE_CELL, kind="marker").read()
    markers = synthetic_neuron(MOUSE_CELL).markers()
    pd.testing.assert_frame_equal(frame.drop(columns=["cell_specimen_id", "neuron_reconstruction_type"]), markers)
    assert set(frame["cell_specimen_id"]) == {MOUSE_CELL} and set(frame["neuron_reconstruction_type"]) == {"full"}
    assert bil_requests(world) == [f"{BIL}/biccn/zeng/pseq/morph/200526/{MOUSE_CELL}.marker"]
    with pytest.raises(InvalidQueryError, match="kind='transformed' or kind='raw', not 'marker'"):
        cat.mouse.morphology(specimen_id=MOUSE_CELL, kind="marker").to_morphio()


def test_a_kind_that_does_not_exist_is_refused_listing_the_kinds(cat, world):
    with pytest.raises(InvalidQueryError, match="kind of mouse.morphology must be one of transformed, raw, marker, "
                                                "not 'skeleton'"):
        cat.mouse.morphology(specimen_id=MOUSE_CELL, kind="skeleton")


def test_filters_leave_out_cells_without_a_reconstruction_naming_them(cat, world):
    source = cat.mouse.morphology(filters=[["dendrite_type", "==", "aspiny"]])
    with pytest.warns(UserWarning) as said:
        npartitions = source.discover()["npartitions"]
    (left_out,) = [str(w.message) for w in said if "left out" in str(w.message)]
    assert left_out == ("1 of the 4 mouse cells chosen have no transformed SWC reconstruction in the release "
                        f"manifest and are left out: [{WITHOUT_RECONSTRUCTION}]")
    assert npartitions == 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = source.read()
    assert frame["cell_specimen_id"].unique().tolist() == ASPINY_MOUSE[:3]


def test_a_named_cell_without_a_reconstruction_is_an_error_naming_it(cat, world):
    with pytest.raises(NoReleaseFileError) as raised:
        cat.mouse.morphology(specimen_id=[MOUSE_CELL, WITHOUT_RECONSTRUCTION]).read()
    message = str(raised.value)
    assert f"no transformed SWC reconstruction for mouse cell(s) [{WITHOUT_RECONSTRUCTION}]" in message
    assert f"{len(MOUSE_WITH_RECONSTRUCTION)} of the mouse cells have one" in message
    assert "cat.mouse.files" in message
    with pytest.raises(NoReleaseFileError, match=f"no marker file for mouse cell.s. .{WITHOUT_RECONSTRUCTION}"):
        cat.mouse.morphology(specimen_id=WITHOUT_RECONSTRUCTION, kind="marker").read()
    assert bil_requests(world) == []


def test_filters_keeping_no_reconstructed_cell_and_unknown_cells_are_errors(cat, world):
    with pytest.raises(NoMatchingCellsError, match="none of the 1 mouse cell.s. chosen has a raw SWC reconstruction"):
        cat.mouse.morphology(filters=[["cell_specimen_id", "==", WITHOUT_RECONSTRUCTION]], kind="raw").read()
    with pytest.raises(UnknownCellError, match=str(HUMAN_FULL)):
        cat.mouse.morphology(specimen_id=HUMAN_FULL).read()


def test_one_request_per_file_cold_and_none_warm(cat, world):
    source = cat.mouse.morphology(specimen_id=MOUSE_WITH_RECONSTRUCTION[:3])
    world.server.log.clear()
    cold = source.read()
    assert sorted(bil_requests(world)) == sorted(
        f"{BIL}/biccn/zeng/pseq/morph/200526/{cell}_transformed.swc" for cell in MOUSE_WITH_RECONSTRUCTION[:3])
    world.server.log.clear()
    warm = cat.mouse.morphology(specimen_id=MOUSE_WITH_RECONSTRUCTION[:3]).read()
    assert world.server.log == []
    pd.testing.assert_frame_equal(warm, cold)
    assert warm.attrs == cold.attrs


def test_to_dask_over_several_cells_equals_read_and_carries_the_settings(cat, world, cache_dir, tmp_path,
                                                                        monkeypatch):
    source = cat.mouse.morphology(specimen_id=MOUSE_WITH_RECONSTRUCTION)
    world.server.log.clear()
    lazy = source.to_dask()
    assert lazy.npartitions == len(MOUSE_WITH_RECONSTRUCTION)
    assert bil_requests(world) == []  # nothing fetched before compute()
    monkeypatch.setenv(config.CACHE_ENV, str(tmp_path / "another-cache"))  # the tasks carry to_dask()'s settings
    computed = lazy.compute().reset_index(drop=True)
    assert len(bil_requests(world)) == len(MOUSE_WITH_RECONSTRUCTION)
    assert not (tmp_path / "another-cache").exists()
    monkeypatch.setenv(config.CACHE_ENV, str(cache_dir))
    world.server.log.clear()
    pd.testing.assert_frame_equal(computed, source.read())
    assert bil_requests(world) == []  # read() found what the tasks cached
    assert source.read_partition(2)["cell_specimen_id"].unique().tolist() == [MOUSE_WITH_RECONSTRUCTION[2]]


def test_reconstruction_gives_points_and_comments_of_one_cell(cat, world):
    source = cat.mouse.morphology(specimen_id=[MOUSE_CELL, 601790961], kind="raw")
    one = source.reconstruction(601790961)
    pd.testing.assert_frame_equal(one.points, planted(601790961).points("raw"), check_exact=True)
    assert tuple(one.comments) == planted(601790961).comments("raw")
    with pytest.raises(InvalidQueryError, match=r"reconstruction.. needs specimen_id: this source has 2 cells, .*; "
                                                r"e\.g\. reconstruction\(specimen_id=\d+\)"):
        source.reconstruction()
    with pytest.raises(UnknownCellError, match=f"cell {HUMAN_FULL} is not among this source's cells"):
        source.reconstruction(HUMAN_FULL)


@pytest.mark.parametrize("kind", ["transformed", "raw"])
def test_morphio_and_neurom_objects_measure_the_planted_neuron(cat, world, kind):
    pytest.importorskip("morphio")
    neurom = pytest.importorskip("neurom")
    source = cat.human.morphology(specimen_id=HUMAN_FULL, kind=kind)
    truth = planted(HUMAN_FULL)
    cell = source.to_morphio()
    points = np.unique(np.vstack([cell.soma.points, cell.points]).astype(np.float64), axis=0)  # branch points twice
    assert len(points) == truth.n_points
    assert np.allclose(cell.soma.points[0], truth.soma(kind), atol=1e-3)
    neuron = source.to_neurom()
    assert neurom.features.get("total_length", neuron) == pytest.approx(sum(truth.length_um(kind).values()), rel=1e-5)
    assert neurom.features.get("number_of_sections", neuron) == sum(truth.sections().values())


def test_offline_a_cached_reconstruction_reads_and_another_is_named(cat, world, monkeypatch):
    cold = cat.mouse.morphology(specimen_id=MOUSE_CELL).read()
    monkeypatch.setenv(config.OFFLINE_ENV, "1")
    world.server.log.clear()
    pd.testing.assert_frame_equal(cat.mouse.morphology(specimen_id=MOUSE_CELL).read(), cold)
    with pytest.raises(OfflineError, match=f"raw_swc {MOUSE_CELL}_raw.swc of cell {MOUSE_CELL} is not cached"):
        cat.mouse.morphology(specimen_id=MOUSE_CELL, kind="raw").read()
    assert bil_requests(world) == []


def test_a_warning_of_cells_left_out_names_the_users_line(cat, world):
    with pytest.warns(UserWarning, match="left out") as said:
        cat.mouse.morphology(filters=[["structure", "in", ["VISp6a", "VISp5"]]]).read()
    assert [record.filename for record in said if "left out" in str(record.message)] == [__file__]
