"""The ``transcriptomics`` entry against the test world: cells -> their ``transcriptomics_sample_id`` -> the
values ``testing.transcriptomes`` planted in the matrices the NeMO stand-in serves in tars."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

from patchseq_intake import config
from patchseq_intake.errors import InvalidQueryError, NoMatchingCellsError, NoReleaseFileError, OtherBytesWarning
from patchseq_intake.testing.archives import MATRIX_SEEDS, NEMO, NEMO_LIVE
from patchseq_intake.testing.transcriptomes import matrix_csv, matrix_values
from patchseq_intake.testing.world import DEMO_CELLS
from patchseq_intake.testing.archives import tar_bytes as tar

SAMPLE = "transcriptomics_sample_id"
SAMPLE_OF = {plan.specimen_id: plan.sample_id for plan in DEMO_CELLS if plan.archive == "mouse"}
WITH_TRANSCRIPTOME = [plan.specimen_id for plan in DEMO_CELLS if plan.transcriptome]
NOT_IN_MATRIX = 627867607  # a mouse cell of the world whose sample the matrices do not hold
ASPINY_MOUSE = [601790961, 601808698, 623434306, NOT_IN_MATRIX]
GENES = ["Sst", "Pvalb", "Gm10001", "Vip", "Gad1"]
CELLS = [623434306, 601506507, 601803754]


def planted(world, values: str) -> pd.DataFrame:
    """The world's matrix of ``values`` as written: genes x samples."""
    return matrix_values(world.archives.genes, world.archives.samples, values, seed=MATRIX_SEEDS[values])


def expected(world, values: str, genes: list[str], cells: list[int]) -> pd.DataFrame:
    """What ``read()`` must give: one row per cell, its sample, then the genes asked, in the orders asked."""
    samples = [SAMPLE_OF[cell] for cell in cells]
    frame = planted(world, values).loc[genes, samples].T.reset_index(drop=True)
    frame.insert(0, "cell_specimen_id", np.array(cells, dtype=np.int64))
    frame.insert(1, SAMPLE, samples)
    return frame


def nemo_requests(world) -> list[str]:
    return [entry.path for entry in world.server.log if entry.path.startswith(f"{NEMO}/")]


def assert_same_values(frame: pd.DataFrame, want: pd.DataFrame) -> None:
    """The same cells, samples and genes in the same order, with exactly the planted values."""
    assert frame["cell_specimen_id"].tolist() == want["cell_specimen_id"].tolist()
    assert frame[SAMPLE].astype(str).tolist() == want[SAMPLE].tolist()
    assert [str(column) for column in frame.columns] == [str(column) for column in want.columns]
    genes = list(want.columns[2:])
    assert np.array_equal(frame[genes].to_numpy(dtype=np.float64), want[genes].to_numpy(dtype=np.float64))


def test_genes_and_cells_are_read_as_planted_in_the_order_asked(cat, world):
    frame = cat.mouse.transcriptomics(genes=GENES, specimen_id=CELLS).read()
    assert_same_values(frame, expected(world, "counts", GENES, CELLS))
    assert all(str(frame[gene].dtype) == "int64" for gene in GENES)  # counts are whole numbers
    assert planted(world, "counts").loc[GENES, [SAMPLE_OF[c] for c in CELLS]].to_numpy().any()  # not all zeros
    one = cat.mouse.transcriptomics(genes="Sst", specimen_id=CELLS[0]).read()  # a gene and a cell, not lists
    assert_same_values(one, expected(world, "counts", ["Sst"], CELLS[:1]))


@pytest.mark.parametrize("values", ["counts", "cpm", "exon", "intron"])
def test_values_read_their_own_matrix(cat, world, values):
    world.server.log.clear()
    frame = cat.mouse.transcriptomics(genes=GENES, specimen_id=CELLS, values=values).read()
    assert_same_values(frame, expected(world, values, GENES, CELLS))
    word = {"counts": "count"}.get(values, values)
    assert [path.rsplit("/", 1)[1] for path in nemo_requests(world)] == [
        f"20200513_Mouse_PatchSeq_Release_{word}.csv.tar"]
    assert str(frame[GENES[0]].dtype) == ("float64" if values == "cpm" else "int64")


def test_the_four_matrices_differ(world):
    """The planted matrices are not one another (else the test above could not tell them apart)."""
    matrices = {values: planted(world, values).to_numpy(dtype=np.float64) for values in MATRIX_SEEDS}
    assert all(not np.array_equal(matrices[a], matrices[b]) for a in matrices for b in matrices if a < b)


def test_every_gene_and_every_cell_by_default(cat, world):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the cell without a sample in the matrix is left out
        frame = cat.mouse.transcriptomics().read()
    assert list(frame.columns[2:]) == world.archives.genes
    assert frame["cell_specimen_id"].tolist() == WITH_TRANSCRIPTOME


def test_an_unknown_gene_is_refused_naming_the_closest(cat, world):
    with pytest.raises(InvalidQueryError) as raised:
        cat.mouse.transcriptomics(genes=["Sst", "Pvallb"], specimen_id=CELLS).read()
    message = str(raised.value)
    assert "'Pvallb' (closest: 'Pvalb'" in message and "20200513_Mouse_PatchSeq_Release_count.csv" in message
    assert "'Sst'" not in message.split("closest")[0]  # the known one is not blamed


@pytest.mark.parametrize("genes", [[], [1], [None], [["Sst"]]])
def test_genes_that_are_not_gene_symbols_are_refused(cat, world, genes):
    with pytest.raises(InvalidQueryError, match="gene symbol"):
        cat.mouse.transcriptomics(genes=genes, specimen_id=CELLS).read()


def test_values_that_do_not_exist_are_refused_listing_them(cat, world):
    with pytest.raises(InvalidQueryError, match="values of mouse.transcriptomics must be one of counts, cpm, exon, "
                                                "intron, not 'tpm'"):
        cat.mouse.transcriptomics(values="tpm")


def test_a_named_cell_whose_sample_is_not_in_the_matrix_is_an_error(cat, world):
    with pytest.raises(NoReleaseFileError) as raised:
        cat.mouse.transcriptomics(genes=GENES, specimen_id=[CELLS[0], NOT_IN_MATRIX]).read()
    message = str(raised.value)
    assert f"[{NOT_IN_MATRIX}]" in message and SAMPLE_OF[NOT_IN_MATRIX] in message
    assert "20200513_Mouse_PatchSeq_Release_count.csv" in message and f"{len(WITH_TRANSCRIPTOME)} samples" in message


def test_filtered_cells_without_a_sample_are_left_out_with_a_warning(cat, world):
    with pytest.warns(UserWarning) as said:
        frame = cat.mouse.transcriptomics(genes=GENES, filters=[["dendrite_type", "==", "aspiny"]]).read()
    (left_out,) = [str(w.message) for w in said if "left out" in str(w.message)]
    assert left_out == ("1 of the 4 mouse cells chosen have no sample in 20200513_Mouse_PatchSeq_Release_count.csv "
                        f"and are left out: [{NOT_IN_MATRIX}]")
    assert_same_values(frame, expected(world, "counts", GENES, ASPINY_MOUSE[:3]))
    with pytest.raises(NoMatchingCellsError, match="none of the 1 mouse cells chosen is in") as none:
        cat.mouse.transcriptomics(genes=GENES, filters=[["cell_specimen_id", "==", NOT_IN_MATRIX]]).read()
    assert f"[{NOT_IN_MATRIX}]" in str(none.value) and "SM-GE63V_S103_E1-50" in str(none.value)  # which, and why


READ_IN_A_NEW_PROCESS = """
import json, sys, patchseq_intake
frame = patchseq_intake.open_catalog().mouse.transcriptomics(genes=json.loads(sys.argv[1]),
                                                             specimen_id=json.loads(sys.argv[2])).read()
print(frame.to_json(orient="split"))
"""


def test_a_second_read_in_a_new_process_makes_no_request(cat, world, cache_dir):
    first = cat.mouse.transcriptomics(genes=GENES, specimen_id=CELLS).read()
    assert len(nemo_requests(world)) == 1
    world.server.log.clear()
    genes, cells = ["Vip", "Sst"], CELLS[::-1]
    settings = {**os.environ, **world.environment(), config.CACHE_ENV: str(cache_dir)}
    done = subprocess.run([sys.executable, "-c", READ_IN_A_NEW_PROCESS, json.dumps(genes), json.dumps(cells)],
                          env=settings, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    split = json.loads(done.stdout)
    second = pd.DataFrame(split["data"], columns=split["columns"])
    assert world.server.log == []  # no request at all: tables, matrix and store come from the cache
    assert_same_values(second, expected(world, "counts", genes, cells))
    by_cell = first.set_index("cell_specimen_id")
    assert second[genes].to_numpy().tolist() == by_cell.loc[cells, genes].to_numpy().tolist()


def test_to_anndata_holds_the_same_selection(cat, world):
    anndata = pytest.importorskip("anndata")
    adata = cat.mouse.transcriptomics(genes=GENES, specimen_id=CELLS, values="cpm").to_anndata()
    assert isinstance(adata, anndata.AnnData)
    assert adata.shape == (len(CELLS), len(GENES))
    assert adata.obs_names.tolist() == [SAMPLE_OF[cell] for cell in CELLS] and adata.obs.index.name == SAMPLE
    assert adata.obs["cell_specimen_id"].tolist() == CELLS
    assert adata.var_names.tolist() == GENES
    want = expected(world, "cpm", GENES, CELLS)[GENES].to_numpy()
    assert np.array_equal(np.asarray(adata.X, dtype=np.float64), want)
    source = adata.uns["patchseq_intake"]
    assert source["values"] == "cpm" and source["matrix"] == "20200513_Mouse_PatchSeq_Release_cpm.csv"
    assert len(source["sha256"]) == 64  # which bytes X came from


def test_an_accepted_v2_matrix_is_the_one_named_when_it_lacks_a_sample(cat, world):
    """The manifest's matrix gone, a ``.v2`` one with a specimen dropped (as public code says of NeMO's): messages
    name the file read, not the manifest's."""
    analysis = f"{NEMO}/{NEMO_LIVE}transcriptome/scell/SMARTseq/processed/analysis/20200611"
    stem = "20200513_Mouse_PatchSeq_Release_count"
    world.server.files.pop(f"{analysis}/{stem}.csv.tar")
    dropped = world.archives.samples[0]
    kept = [sample for sample in world.archives.samples if sample != dropped]
    v2 = matrix_csv(world.archives.genes, kept, "counts", seed=MATRIX_SEEDS["counts"])
    world.server.serve_file(f"{analysis}/{stem}.v2.csv.tar", tar({f"{stem}.v2/{stem}.v2.csv": v2}))
    dropped_cell = next(cell for cell, sample in SAMPLE_OF.items() if sample == dropped)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OtherBytesWarning)
        named = rf"^{stem}\.v2\.csv has no sample of mouse cell.s. \[{dropped_cell}\]"
        with pytest.raises(NoReleaseFileError, match=named):
            cat.mouse.transcriptomics(genes=GENES, specimen_id=[dropped_cell, CELLS[0]], accept_other_bytes=True).read()
        left_out = rf"have no sample in {stem}\.v2\.csv and are left out: \[{dropped_cell}\]"
        with pytest.warns(UserWarning, match=left_out):
            frame = cat.mouse.transcriptomics(genes=GENES, accept_other_bytes=True,
                                              filters=[["cell_specimen_id", "in", [dropped_cell, CELLS[0]]]]).read()
    assert frame["cell_specimen_id"].tolist() == [CELLS[0]]



def test_a_warm_read_uses_the_store_without_the_matrix_csv(cat, world, cache_dir):
    from patchseq_intake.archives.found import matching_path

    first = cat.mouse.transcriptomics(genes=GENES, specimen_id=CELLS).read()
    matrix = cat.mouse.transcriptomics(genes=GENES).matrix_file
    matching_path(matrix.sha256, matrix.file_name).unlink()  # the CSV gone (e.g. removed to save space)
    world.server.log.clear()
    again = cat.mouse.transcriptomics(genes=GENES, specimen_id=CELLS).read()
    assert nemo_requests(world) == []  # the store, found by the manifest's SHA-256, needs no CSV
    pd.testing.assert_frame_equal(again, first)


def test_human_cells_asked_of_the_mouse_transcriptomes_are_not_sent_to_an_entry_that_does_not_exist(cat, world):
    from patchseq_intake.errors import UnknownCellError

    with pytest.raises(UnknownCellError) as refused:
        cat.mouse.transcriptomics(genes=GENES, specimen_id=541549258).read()
    message = str(refused.value)
    assert "they are cells of the human dataset, whose release has no transcriptomes" in message
    assert "cat.human.transcriptomics" not in message


def test_a_gene_named_twice_is_one_column(cat, world):
    frame = cat.mouse.transcriptomics(genes=["Sst", "Vip", "Sst"], specimen_id=CELLS).read()
    assert list(frame.columns) == ["cell_specimen_id", SAMPLE, "Sst", "Vip"]


def test_accepted_other_bytes_stay_reported_and_said_after_their_csv_is_removed(cat, world, monkeypatch):
    from patchseq_intake.archives import fetching
    from patchseq_intake.archives.found import other_path, read_found

    analysis = f"{NEMO}/{NEMO_LIVE}transcriptome/scell/SMARTseq/processed/analysis/20200611"
    stem = "20200513_Mouse_PatchSeq_Release_cpm"
    world.server.files.pop(f"{analysis}/{stem}.csv.tar")
    v2 = matrix_csv(world.archives.genes, world.archives.samples[1:], "cpm", seed=MATRIX_SEEDS["cpm"])
    world.server.serve_file(f"{analysis}/{stem}.v2.csv.tar", tar({f"{stem}.v2/{stem}.v2.csv": v2}))
    entry = cat.mouse.transcriptomics(genes=GENES, specimen_id=CELLS[0], values="cpm", accept_other_bytes=True)
    with pytest.warns(OtherBytesWarning):
        first = entry.read()
    matrix = entry.matrix_file
    other_path(read_found(matrix.sha256)).unlink()  # the CSV removed: its store stays
    monkeypatch.setattr(fetching, "_announced", set())  # as in a new process
    with pytest.warns(OtherBytesWarning, match=f"{stem}.v2.csv"):  # said again where the store is read
        again = cat.mouse.transcriptomics(genes=GENES, specimen_id=CELLS[0], values="cpm",
                                          accept_other_bytes=True).read()
    pd.testing.assert_frame_equal(again, first)
    row = cat.mouse.files(filters=[["file_name", "==", matrix.file_name]]).read().iloc[0]
    assert row["bytes_match"] is False or row["bytes_match"] == False  # noqa: E712 (pandas' boolean)
    assert row["found_name"] == f"{stem}.v2.csv"


def test_is_converted_says_whether_a_read_would_fetch_the_matrix(cat, world):
    entry = cat.mouse.transcriptomics(genes=GENES, specimen_id=CELLS, values="exon")
    assert entry.is_converted() is False and nemo_requests(world) == []  # looked at the cache only
    entry.read()
    world.server.log.clear()
    assert cat.mouse.transcriptomics(values="exon").is_converted() is True and nemo_requests(world) == []
