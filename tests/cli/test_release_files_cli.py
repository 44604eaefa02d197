"""The command line for the release's files on BIL and NeMO: ``files``/``fetch --technique``, ``morphology``, ``expression``.

Run in-process against the test world (the ``world`` fixture), whose BIL and
NeMO stand-ins serve the demo cells' SWC files and transcriptomes at the
release's paths, described by manifest rows of their own bytes.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pandas as pd
import pytest
import yaml

from patchseq_intake import catalog as shipped
from patchseq_intake.cli.release_commands import VALUES
from tests.cli.test_cli import fails, misused, ok, run

MOUSE_CELL = 601506507
MOUSE_CELLS = [601790961, 601506507]
MOUSE_CELL_WITHOUT_FILES = 627867607  # no manifest row, no SWC, no transcriptome
HUMAN_CELL = 541549258
SWC_TYPES = ["marker_swc", "raw_swc", "transformed_swc"]  # the manifest's order of a cell's rows
READS_TYPES = ["forward_fastq", "reverse_fastq", "bam_file"]


def _csv(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text))


def _lines(out: str) -> list[tuple[str, str, Path]]:
    """``fetch --technique``'s lines: (cell or -, file type, path)."""
    rows = [line.split("\t") for line in out.splitlines()]
    assert all(len(row) == 3 for row in rows), out
    return [(cell, file_type, Path(path)) for cell, file_type, path in rows]


def _manifest(world, cell: int | None) -> dict[str, dict]:
    """The manifest's rows of a cell's files (None: the release-wide matrices), by file type (or file name)."""
    if cell is None:
        return {row["file_name"]: row for row in world.archives.release_rows["mouse"]}
    return {row["file_type"]: row for row in world.archives.cell_rows[cell]}


def _archive_requests(world) -> list[str]:
    return [entry.path for entry in world.server.log if entry.path.startswith(("/bil/", "/nemo/"))]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- help ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["morphology", "expression"])
def test_new_subcommands_have_help_with_examples(capsys, command):
    with pytest.raises(SystemExit) as exit_:
        run(capsys, command, "--help")
    assert exit_.value.code == 0
    assert f"examples:\n  patchseq-intake {command} mouse" in capsys.readouterr().out


def test_the_command_lists_the_new_subcommands_and_files_and_fetch_show_technique_examples(capsys):
    with pytest.raises(SystemExit):
        run(capsys, "--help")
    top = capsys.readouterr().out
    assert "morphology" in top and "expression" in top
    for command, example in (("files", "files human --technique morphology"),
                             ("fetch", "fetch mouse --technique transcriptomics --file-type csv")):
        with pytest.raises(SystemExit):
            run(capsys, command, "--help")
        text = capsys.readouterr().out
        assert f"patchseq-intake {example}" in text and "--technique" in text


# --- files --technique --------------------------------------------------------------------------


def test_files_of_morphology_list_each_swc_file_where_it_is_fetched_today(capsys, world):
    table = _csv(ok(capsys, "files", "mouse", "--technique", "morphology", "--format", "csv"))
    assert list(table.columns[:4]) == ["cell_specimen_id", "technique", "file_type", "file_name"]
    assert {"url", "packed_in", "bytes_match"} <= set(table.columns)
    mine = table[table["cell_specimen_id"] == MOUSE_CELL].set_index("file_type")
    assert sorted(mine.index) == SWC_TYPES
    for file_type, row in _manifest(world, MOUSE_CELL).items():
        if file_type in SWC_TYPES:
            assert mine.loc[file_type, "sha256"] == row["sha256_checksum"]
            assert mine.loc[file_type, "url"] == f"{world.server.url}/bil/biccn/zeng/pseq/morph/200526/{row['file_name']}"
    assert mine["packed_in"].isna().all() and mine["bytes_match"].isna().all()  # not packed; nothing fetched yet


def test_files_of_transcriptomics_with_filters_and_columns(capsys, world):
    out = ok(capsys, "files", "mouse", "--technique", "transcriptomics", "--filter", "file_type", "==", "csv",
             "--columns", "file_name,packed_in,cell_specimen_id", "--format", "csv")
    table = _csv(out)
    assert list(table["file_name"]) == list(_manifest(world, None))
    assert list(table["packed_in"]) == [f"{name}.tar" for name in table["file_name"]]
    assert table["cell_specimen_id"].isna().all()


def test_files_say_what_was_fetched(capsys, world):
    ok(capsys, "fetch", "mouse", str(MOUSE_CELL), "--technique", "morphology", "--file-type", "raw_swc")
    table = _csv(ok(capsys, "files", "mouse", "--technique", "morphology", "--filter", "cell_specimen_id", "==",
                    str(MOUSE_CELL), "--columns", "file_type", "bytes_match", "--format", "csv"))
    matched = table.set_index("file_type")["bytes_match"]
    assert matched["raw_swc"] == True  # noqa: E712 (a value read from CSV)
    assert matched.drop("raw_swc").isna().all()  # not fetched here


def test_files_default_technique_is_the_nwb_files_table(capsys, world):
    default = ok(capsys, "files", "human", "--format", "csv")
    assert ok(capsys, "files", "human", "--technique", "intracellular_electrophysiology", "--format", "csv") == default
    assert _csv(default).columns[:3].tolist() == ["cell_specimen_id", "ephys_session_id", "dandi_path"]


def test_files_of_human_transcriptomics_is_a_clear_error(capsys, world):
    assert fails(capsys, "files", "human", "--technique", "transcriptomics") == (
        "patchseq-intake: the human release has no transcriptomics files (its manifest lists none): its files are "
        "of --technique intracellular_electrophysiology or morphology")


def test_files_of_another_technique_take_no_dandi_version(capsys):
    message = misused(capsys, "files", "human", "--technique", "morphology", "--dandi-version", "draft")
    assert "--dandi-version chooses the NWB files' dandiset version: it goes with --technique " \
           "intracellular_electrophysiology, not --technique morphology" in message


def test_files_of_a_technique_matching_nothing(capsys, world):
    assert fails(capsys, "files", "mouse", "--technique", "morphology", "--filter", "file_type", "==", "csv") == (
        "patchseq-intake: no mouse morphology file matches --filter file_type == csv")


# --- fetch --technique --------------------------------------------------------------------------


def test_fetch_morphology_prints_cell_type_and_verified_path_per_file_in_the_order_named(capsys, world, cache_dir):
    lines = _lines(ok(capsys, "fetch", "mouse", *map(str, MOUSE_CELLS), "--technique", "morphology"))
    assert [(cell, file_type) for cell, file_type, _ in lines] == [
        (str(cell), file_type) for cell in MOUSE_CELLS for file_type in SWC_TYPES]
    for cell, file_type, path in lines:
        row = _manifest(world, int(cell))[file_type]
        assert path.is_relative_to(cache_dir) and path.name == row["file_name"]
        assert _sha256(path) == row["sha256_checksum"]


def test_a_second_fetch_makes_no_request(capsys, world):
    first = ok(capsys, "fetch", "mouse", str(MOUSE_CELL), "--technique", "transcriptomics")
    requests = _archive_requests(world)
    assert ok(capsys, "fetch", "mouse", str(MOUSE_CELL), "--technique", "transcriptomics") == first
    assert _archive_requests(world) == requests


def test_fetch_transcriptomics_of_a_cell_takes_its_fastq_pair_from_one_tar(capsys, world):
    lines = _lines(ok(capsys, "fetch", "mouse", str(MOUSE_CELL), "--technique", "transcriptomics"))
    assert [file_type for _, file_type, _ in lines] == READS_TYPES  # not the release's matrices
    manifest = _manifest(world, MOUSE_CELL)
    assert {_sha256(path) for _, _, path in lines} == {manifest[file_type]["sha256_checksum"] for file_type in READS_TYPES}
    tars = [path for path in _archive_requests(world) if path.endswith(".tar")]
    assert len(tars) == 2 and sum(path.endswith(".fastq.tar") for path in tars) == 1


def test_fetch_of_one_file_type(capsys, world):
    lines = _lines(ok(capsys, "fetch", "mouse", *map(str, MOUSE_CELLS), "--technique", "morphology",
                      "--file-type", "transformed_swc"))
    assert [(cell, file_type) for cell, file_type, _ in lines] == [(str(cell), "transformed_swc") for cell in MOUSE_CELLS]
    assert all(path.name.endswith("_transformed.swc") for _, _, path in lines)


def test_fetch_the_release_wide_matrices_needs_no_cell(capsys, world):
    lines = _lines(ok(capsys, "fetch", "mouse", "--technique", "transcriptomics", "--file-type", "csv"))
    manifest = _manifest(world, None)
    assert [(cell, file_type, path.name) for cell, file_type, path in lines] == [
        ("-", "csv", name) for name in manifest]
    assert [_sha256(path) for _, _, path in lines] == [row["sha256_checksum"] for row in manifest.values()]


def test_the_matrices_are_of_no_cell(capsys, world):
    message = misused(capsys, "fetch", "mouse", str(MOUSE_CELL), "--technique", "transcriptomics", "--file-type", "csv")
    assert "--file-type csv: these files are the release's, of no cell" in message
    assert "give no SPECIMEN_ID or --filter with it" in message


def test_fetch_of_a_technique_needs_cells_or_the_matrices(capsys, world):
    assert misused(capsys, "fetch", "mouse", "--technique", "transcriptomics").rstrip().endswith(
        "name the cells: SPECIMEN_ID ... or --filter COLUMN OP VALUE (or --file-type csv: the release's expression "
        "matrices)")


@pytest.mark.parametrize(
    ("technique", "file_type", "expected"),
    [
        ("morphology", "swc", "--file-type swc is no file type of the mouse release: --technique morphology takes "
                              "--file-type marker_swc or raw_swc or transformed_swc"),
        ("transcriptomics", "raw_swc", "--file-type raw_swc is a file type of --technique morphology: --technique "
                                       "transcriptomics takes --file-type forward_fastq or reverse_fastq or bam_file or csv"),
    ],
)
def test_a_file_type_not_of_the_technique_lists_the_valid_ones(capsys, world, technique, file_type, expected):
    message = fails(capsys, "fetch", "mouse", str(MOUSE_CELL), "--technique", technique, "--file-type", file_type)
    assert message == f"patchseq-intake: {expected}"


def test_a_named_cell_without_such_files_is_named(capsys, world):
    message = fails(capsys, "fetch", "mouse", str(MOUSE_CELL), str(MOUSE_CELL_WITHOUT_FILES), "--technique", "morphology")
    assert f"lists no morphology files for mouse cell(s) [{MOUSE_CELL_WITHOUT_FILES}]" in message
    assert "patchseq-intake files mouse --technique morphology lists them" in message
    assert _archive_requests(world) == []  # refused before fetching anything


def test_cells_chosen_by_filter_without_such_files_are_left_out_with_a_warning(capsys, world):
    status, out, err = run(capsys, "fetch", "mouse", "--filter", "dendrite_type", "==", "aspiny",
                           "--technique", "transcriptomics", "--file-type", "bam_file")
    assert status == 0
    assert [cell for cell, _, _ in _lines(out)] == ["601790961", "601808698", "623434306"]
    assert err == ("patchseq-intake: warning: 1 of the 4 mouse cells chosen have no transcriptomics files of "
                   f"--file-type bam_file in the release manifest and are left out: [{MOUSE_CELL_WITHOUT_FILES}]\n")


def test_an_unknown_cell_names_the_other_archive(capsys, world):
    message = fails(capsys, "fetch", "mouse", str(HUMAN_CELL), "--technique", "morphology")
    assert message.endswith("patchseq-intake fetch human ...")


def _serve_other_bytes(world, cell: int, file_type: str) -> tuple[bytes, str]:
    """The BIL stand-in serves other bytes (of the same size) for a cell's file; they and its manifest SHA-256."""
    row = _manifest(world, cell)[file_type]
    path = f"/bil/biccn/zeng/pseq/morph/200526/{row['file_name']}"
    served = bytes(world.server.files[path])
    other = served[:-2] + b"\n\n" if not served.endswith(b"\n\n") else served[:-2] + b"  "
    world.server.files[path] = other
    return other, row["sha256_checksum"]


def test_other_bytes_are_refused_naming_the_flag_that_takes_them(capsys, world, cache_dir):
    other, manifest_sha256 = _serve_other_bytes(world, MOUSE_CELL, "raw_swc")
    message = fails(capsys, "fetch", "mouse", str(MOUSE_CELL), "--technique", "morphology", "--file-type", "raw_swc")
    assert hashlib.sha256(other).hexdigest() in message and manifest_sha256 in message
    assert "give --accept-other-bytes" in message and "accept_other_bytes" not in message
    assert not [path for path in (cache_dir / "files").rglob("*.swc")]


def test_other_bytes_taken_with_accept_other_bytes(capsys, world, cache_dir, monkeypatch):
    from patchseq_intake.archives import fetching

    monkeypatch.setattr(fetching, "_announced", set())  # a new process: the warning is said once per process
    other, manifest_sha256 = _serve_other_bytes(world, MOUSE_CELL, "raw_swc")
    status, out, err = run(capsys, "fetch", "mouse", str(MOUSE_CELL), "--technique", "morphology",
                           "--file-type", "raw_swc", "--accept-other-bytes")
    assert status == 0
    ((cell, file_type, path),) = _lines(out)
    assert path.read_bytes() == other and path.parent.name == hashlib.sha256(other).hexdigest()
    (warning,) = err.splitlines()
    assert warning.startswith("patchseq-intake: warning: raw_swc ") and "as --accept-other-bytes asks" in warning
    assert manifest_sha256 in warning and "accept_other_bytes" not in warning


@pytest.mark.parametrize("flags", [["--file-type", "raw_swc"], ["--accept-other-bytes"]])
def test_nwb_fetch_takes_no_flag_of_the_other_techniques(capsys, flags):
    message = misused(capsys, "fetch", "human", str(HUMAN_CELL), *flags)
    assert f"{flags[0]} is for --technique morphology or transcriptomics" in message


def test_nwb_fetch_is_unchanged(capsys, world):
    (line,) = ok(capsys, "fetch", "human", "569835804").splitlines()
    cell, path = line.split("\t")
    assert cell == "569835804" and path.endswith(".nwb")


# --- morphology ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["transformed", "marker"])
def test_morphology_writes_the_entrys_points(capsys, world, cat, kind):
    table = _csv(ok(capsys, "morphology", "mouse", str(MOUSE_CELL), "--kind", kind, "--format", "csv"))
    expected = cat.mouse.morphology(specimen_id=MOUSE_CELL, kind=kind).read()
    assert list(table.columns) == list(expected.columns)
    assert len(table) == len(expected) and set(table["cell_specimen_id"]) == {MOUSE_CELL}
    if kind == "transformed":
        pd.testing.assert_frame_equal(table[["id", "parent"]], expected[["id", "parent"]].astype("int64"))
        assert (table[["x", "y", "z", "radius"]] - expected[["x", "y", "z", "radius"]]).abs().max().max() < 1e-9


def test_morphology_of_a_cell_without_reconstruction(capsys, world):
    message = fails(capsys, "morphology", "mouse", str(MOUSE_CELL_WITHOUT_FILES))
    assert f"no transformed SWC reconstruction for mouse cell(s) [{MOUSE_CELL_WITHOUT_FILES}]" in message
    assert "patchseq-intake files mouse --technique morphology lists them" in message and "cat." not in message


def test_morphology_of_an_unknown_kind_lists_the_kinds(capsys):
    message = misused(capsys, "morphology", "mouse", str(MOUSE_CELL), "--kind", "axon")
    assert "argument --kind: invalid choice: 'axon' (choose from" in message and "'marker'" in message


def test_morphology_into_a_parquet_file(capsys, world, cat, tmp_path):
    target = tmp_path / "cell.parquet"
    assert ok(capsys, "morphology", "human", str(HUMAN_CELL), "-o", str(target)) == ""
    expected = cat.human.morphology(specimen_id=HUMAN_CELL).read()
    pd.testing.assert_frame_equal(pd.read_parquet(target), expected)


# --- expression ---------------------------------------------------------------------------------


def test_expression_of_named_cells(capsys, world, cat):
    table = _csv(ok(capsys, "expression", "mouse", *map(str, MOUSE_CELLS), "--genes", "Pvalb", "Sst,Gad1",
                    "--values", "cpm", "--format", "csv"))
    expected = cat.mouse.transcriptomics(genes=["Pvalb", "Sst", "Gad1"], specimen_id=MOUSE_CELLS, values="cpm").read()
    assert list(table.columns) == ["cell_specimen_id", "transcriptomics_sample_id", "Pvalb", "Sst", "Gad1"]
    assert list(table["cell_specimen_id"]) == MOUSE_CELLS
    assert (table[["Pvalb", "Sst", "Gad1"]].to_numpy() - expected[["Pvalb", "Sst", "Gad1"]].to_numpy()).max() < 1e-9


def test_expression_of_filtered_cells_counts(capsys, world):
    table = _csv(ok(capsys, "expression", "mouse", "--filter", "donor_id", "==", "331663", "--genes", "Gad1",
                    "--format", "csv"))
    assert list(table["cell_specimen_id"]) == [601790961, 601803754, 601808698]
    assert table["Gad1"].dtype == "int64"


def test_expression_of_an_unknown_gene_names_the_flag_and_the_closest(capsys, world):
    message = fails(capsys, "expression", "mouse", str(MOUSE_CELL), "--genes", "Pvalb", "Sstt")
    assert message.startswith("patchseq-intake: --genes: 1 of the genes asked are not in ")
    assert "'Sstt' (closest: 'Sst')" in message


def test_expression_of_unknown_values_lists_them(capsys):
    message = misused(capsys, "expression", "mouse", "--genes", "Pvalb", "--values", "tpm")
    assert "argument --values: invalid choice: 'tpm' (choose from 'counts', 'cpm', 'exon', 'intron')" in message


def test_expression_values_are_the_catalogs():
    entry = yaml.safe_load(Path(shipped.CATALOG).with_name("mouse.yaml").read_text())["sources"]["transcriptomics"]
    assert list(VALUES) == entry["parameters"]["values"]["allowed"] == list(entry["args"]["matrices"])


def test_expression_of_human_is_a_clear_error(capsys, world):
    message = fails(capsys, "expression", "human", "--genes", "Pvalb")
    assert message.startswith("patchseq-intake: the human release has no transcriptomes")
    assert "patchseq-intake expression mouse" in message


def test_expression_needs_genes(capsys):
    assert "the following arguments are required: --genes" in misused(capsys, "expression", "mouse")
    assert "--genes names no gene" in misused(capsys, "expression", "mouse", "--genes", ",")
