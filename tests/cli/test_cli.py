"""The command line, run in-process against the local replica of the release (the ``world`` fixture)."""

from __future__ import annotations

import re

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from patchseq_intake import config
from patchseq_intake.cli import main
from patchseq_intake.testing.world import DEMO_CELLS, dandi_path

HUMAN_CELL = 569835804  # the manifest describes its file as DANDI holds it
HUMAN_CELL_MANIFEST_DIFFERS = 541549258
HUMAN_CELLS = [541549258, 569835804]
MOUSE_CELL = 601506507
MOUSE_CELL_NOT_IN_MANIFEST = 627867607
DONOR_331663_ASPINY = [601790961, 601808698]
SUBCOMMANDS = ["cells", "files", "sweeps", "fetch", "morphology", "expression", "features", "cache", "demo"]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of the command."""
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def ok(capsys, *argv: str) -> str:
    """The stdout of a command that must succeed."""
    status, out, err = run(capsys, *argv)
    assert status == 0, err
    return out


def fails(capsys, *argv: str) -> str:
    """The one-line message of a command that must fail on a bad input."""
    status, out, err = run(capsys, *argv)
    assert status == 1
    assert out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("patchseq-intake: "), err
    return lines[0]


def misused(capsys, *argv: str) -> str:
    """argparse's message for a usage error, which exits with status 2."""
    with pytest.raises(SystemExit) as exit_:
        main(list(argv))
    assert exit_.value.code == 2
    return capsys.readouterr().err


def _csv(text: str) -> pd.DataFrame:
    """CSV text as a frame; only empty fields are missing (the I=0 sweep's code is "N/A")."""
    return pd.read_csv(io.StringIO(text), keep_default_na=False, na_values=[""])


# --- help ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_has_help_with_an_example(capsys, command):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    assert f"examples:\n  patchseq-intake {command}" in capsys.readouterr().out


def test_python_dash_m_runs_the_command():
    done = subprocess.run(
        [sys.executable, "-m", "patchseq_intake", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert all(command in done.stdout for command in SUBCOMMANDS)


def test_no_subcommand_is_a_usage_error(capsys):
    assert "usage: patchseq-intake" in misused(capsys)


# --- cells --------------------------------------------------------------------------------------


def test_cells_as_a_table(capsys, world):
    out = ok(capsys, "cells", "human")
    header, *rows = out.splitlines()
    assert header.split()[:2] == ["project", "cell_specimen_id"]
    assert [int(row.split()[1]) for row in rows] == HUMAN_CELLS


def test_cells_as_csv_with_filters_and_columns(capsys, world):
    out = ok(
        capsys, "cells", "mouse", "--filter", "donor_id", "==", "331663", "--filter", "dendrite_type", "==", "aspiny",
        "--columns", "cell_specimen_id", "structure", "--format", "csv",
    )
    expected = pd.DataFrame({"cell_specimen_id": DONOR_331663_ASPINY, "structure": ["VISpm5", "VISp5"]})
    pd.testing.assert_frame_equal(_csv(out), expected)


def test_columns_may_be_comma_separated(capsys, world):
    spaced = ok(capsys, "cells", "mouse", "--columns", "structure", "age_days", "--format", "csv")
    commas = ok(capsys, "cells", "mouse", "--columns", "structure,age_days", "--format", "csv")
    assert commas == spaced and spaced.startswith("structure,age_days\n")


def test_set_operators_take_comma_separated_values(capsys, world):
    chosen = ok(capsys, "cells", "mouse", "--filter", "cell_specimen_id", "in", "601506507, 627867607",
                "--format", "csv")
    assert list(_csv(chosen)["cell_specimen_id"]) == [MOUSE_CELL, MOUSE_CELL_NOT_IN_MANIFEST]
    rest = ok(capsys, "cells", "mouse", "--filter", "structure", "not in", "VISp2/3,VISp5,VISp6a", "--format", "csv")
    assert list(_csv(rest)["structure"]) == ["VISpm4", "VISpm5"]


def test_cells_as_json_records(capsys, world, cat):
    records = json.loads(ok(capsys, "cells", "human", "--format", "json"))
    assert [record["cell_specimen_id"] for record in records] == HUMAN_CELLS
    assert set(records[0]) == set(cat.human.metadata.read().columns)


def test_cells_as_parquet_file(capsys, world, cat, tmp_path):
    target = tmp_path / "cells.parquet"
    assert ok(capsys, "cells", "mouse", "--format", "parquet", "-o", str(target)) == ""
    pd.testing.assert_frame_equal(pd.read_parquet(target), cat.mouse.metadata.read())


@pytest.mark.parametrize("suffix", ["csv", "json", "parquet"])
def test_the_suffix_of_the_output_file_picks_the_format(capsys, world, tmp_path, suffix):
    target = tmp_path / f"cells.{suffix}"
    ok(capsys, "cells", "human", "-o", str(target))
    read = {"csv": pd.read_csv, "json": pd.read_json, "parquet": pd.read_parquet}[suffix]
    assert list(read(target)["cell_specimen_id"]) == HUMAN_CELLS


def test_table_format_into_a_file(capsys, world, tmp_path):
    target = tmp_path / "cells.txt"
    ok(capsys, "cells", "human", "--columns", "cell_specimen_id", "-o", str(target))
    assert target.read_text().split() == ["cell_specimen_id", *map(str, HUMAN_CELLS)]


@pytest.mark.parametrize("name", ["cells.xlsx", "cells.tsv", "cells.CSV.gz"])
def test_an_output_file_of_another_format_is_refused(capsys, tmp_path, name):
    target = tmp_path / name
    message = misused(capsys, "cells", "human", "-o", str(target))
    suffix = target.suffix.lower()
    assert f"-o {target}: no format is written as {suffix}; use .csv, .json, .parquet or .txt" in message
    assert not target.exists()


def test_format_overrides_the_suffix(capsys, world, tmp_path):
    target = tmp_path / "cells.data"
    ok(capsys, "cells", "human", "--format", "csv", "-o", str(target))
    assert list(pd.read_csv(target)["cell_specimen_id"]) == HUMAN_CELLS


def test_parquet_needs_an_output_file(capsys):
    assert "--format parquet writes a file: give -o FILE" in misused(capsys, "cells", "human", "--format", "parquet")


def test_no_cell_matching_the_filters(capsys, world):
    message = fails(capsys, "cells", "mouse", "--filter", "structure", "==", "MOp")
    assert message == "patchseq-intake: no mouse cell matches --filter structure == MOp"  # the CLI's words


def test_unknown_filter_column_lists_the_valid_ones(capsys, world):
    message = fails(capsys, "cells", "mouse", "--filter", "layer", "==", "5")
    assert "unknown column 'layer'" in message and "valid columns: project, cell_specimen_id" in message


def test_unknown_operator_lists_the_valid_ones(capsys, world):
    assert "valid operators: ==, !=" in fails(capsys, "cells", "mouse", "--filter", "structure", "like", "VISp")


def test_unknown_archive_is_a_usage_error(capsys):
    said = misused(capsys, "cells", "rat")
    assert "argument ARCHIVE: 'rat' is not an Allen Institute Patch-seq dandiset the catalog knows: give human, " in said
    assert "000023 (human), 000020 (mouse), 000109 (human_2021_06)" in said and "000636 (human_interneurons)" in said


def test_offline_without_the_tables_cached(capsys, world, monkeypatch):
    monkeypatch.setenv(config.OFFLINE_ENV, "1")
    assert "is not cached yet and PATCHSEQ_INTAKE_OFFLINE forbids" in fails(capsys, "cells", "human")


def test_unwritable_output_file(capsys, world, tmp_path):
    assert "No such file or directory" in fails(capsys, "cells", "human", "-o", str(tmp_path / "no" / "x.csv"))


# --- files --------------------------------------------------------------------------------------


def test_files_lists_every_cells_file_as_dandi_holds_it(capsys, world):
    table = _csv(ok(capsys, "files", "mouse", "--format", "csv"))
    mine = table[table["cell_specimen_id"].isin(world.written)].set_index("cell_specimen_id")
    for cell, written in world.written.items():
        if cell in mine.index:
            assert mine.loc[cell, "sha256"] == written.sha256 and mine.loc[cell, "size"] == written.size
    assert not mine.loc[MOUSE_CELL_NOT_IN_MANIFEST, "in_manifest"]
    assert mine.loc[623434306, "manifest_matches"] == False  # noqa: E712 (a value read from CSV)


def test_files_with_a_boolean_filter_and_columns(capsys, world):
    out = ok(capsys, "files", "mouse", "--filter", "in_manifest", "==", "false",
             "--columns", "cell_specimen_id,ephys_session_id", "--format", "json")
    assert json.loads(out) == [{"cell_specimen_id": MOUSE_CELL_NOT_IN_MANIFEST, "ephys_session_id": 627867536}]


def test_files_of_another_version(capsys, world):
    world.replica.remove_asset("000023", "draft", "sub-569800644/sub-569800644_ses-569835791_icephys.nwb")
    out = ok(capsys, "files", "human", "--dandi-version", "draft", "--columns", "cell_specimen_id", "--format", "csv")
    assert list(_csv(out)["cell_specimen_id"]) == [HUMAN_CELL_MANIFEST_DIFFERS]


def test_files_refuses_an_unknown_column_listing_the_valid_ones(capsys, world):
    message = fails(capsys, "files", "human", "--filter", "md5", "==", "x")
    assert "unknown column 'md5'" in message
    assert "valid columns: cell_specimen_id, ephys_session_id, dandi_path, asset_id, size, sha256" in message
    assert fails(capsys, "files", "human", "--filter", "in_manifest", "==", "maybe") == (
        "patchseq-intake: --filter in_manifest == maybe: in_manifest holds true or false, not 'maybe'")


def test_files_matching_nothing(capsys, world):
    message = fails(capsys, "files", "human", "--filter", "size", "<", "0")
    assert message == "patchseq-intake: no human NWB file matches --filter size '<' 0"


# --- sweeps -------------------------------------------------------------------------------------


def test_sweep_table_as_csv(capsys, world):
    table = _csv(ok(capsys, "sweeps", "human", str(HUMAN_CELL), "--format", "csv"))
    written = world.written[HUMAN_CELL].sweeps
    assert list(table["sweep_number"]) == [summary.sweep_number for summary in written]
    assert list(table["stimulus_code"]) == [summary.stimulus_code for summary in written]
    assert set(table["cell_specimen_id"]) == {HUMAN_CELL}


def test_sweep_table_as_json(capsys, world):
    records = json.loads(ok(capsys, "sweeps", "mouse", str(MOUSE_CELL), "--format", "json"))
    assert [record["sweep_number"] for record in records] == [s.sweep_number for s in world.written[MOUSE_CELL].sweeps]


def test_samples_of_one_sweep(capsys, world, cat):
    samples = _csv(ok(capsys, "sweeps", "human", str(HUMAN_CELL), "--sweep", "9", "--format", "csv"))
    sweep = cat.human.ephys(specimen_id=HUMAN_CELL).sweep(9)
    assert list(samples.columns) == ["t_s", "v_mv", "i_pa"]
    np.testing.assert_allclose(samples["t_s"], sweep.t)
    np.testing.assert_allclose(samples["v_mv"], sweep.v)
    np.testing.assert_allclose(samples["i_pa"], sweep.i)


def test_stream_access_reads_ranges(capsys, world, streamed):
    out = ok(capsys, "sweeps", "human", str(HUMAN_CELL), "--access", "stream", "--format", "csv")
    assert len(_csv(out)) == len(world.written[HUMAN_CELL].sweeps)
    blob_reads = world.replica.requests("blob")
    assert blob_reads and all(entry.range for entry in blob_reads)


def test_a_root_means_local_access(capsys, world, tmp_path):
    plan = next(plan for plan in DEMO_CELLS if plan.specimen_id == HUMAN_CELL)
    target = tmp_path / dandi_path(plan)
    target.parent.mkdir(parents=True)
    target.write_bytes(world.written[HUMAN_CELL].path.read_bytes())
    out = ok(capsys, "sweeps", "human", str(HUMAN_CELL), "--root", str(tmp_path), "--format", "csv")
    assert len(_csv(out)) == len(world.written[HUMAN_CELL].sweeps)
    assert world.replica.requests("blob") == []


def test_root_with_another_access_is_a_usage_error(capsys):
    err = misused(capsys, "sweeps", "human", str(HUMAN_CELL), "--access", "stream", "--root", "/data")
    assert "--root is for --access local, not --access stream" in err


def test_unknown_access_is_a_usage_error(capsys):
    assert "invalid choice: 'ftp'" in misused(capsys, "sweeps", "human", str(HUMAN_CELL), "--access", "ftp")


def test_specimen_id_must_be_a_number(capsys):
    assert "argument SPECIMEN_ID: 'abc' is not a whole number" in misused(capsys, "sweeps", "human", "abc")


def test_unknown_cell(capsys, world):
    assert "cell(s) [123] are not in the human Patch-seq dataset" in fails(capsys, "sweeps", "human", "123")


def test_cell_of_the_other_archive(capsys, world):
    message = fails(capsys, "sweeps", "human", str(MOUSE_CELL))
    assert "they are cells of the mouse dataset: patchseq-intake sweeps mouse ..." in message
    assert "cat." not in message  # no Python advice on the command line


def test_cell_without_nwb_file_in_the_version(capsys, world):
    world.replica.remove_asset("000020", "draft", "sub-617297348/sub-617297348_ses-627867536_icephys.nwb")
    message = fails(capsys, "sweeps", "mouse", str(MOUSE_CELL_NOT_IN_MANIFEST), "--dandi-version", "draft")
    assert "(ephys_session_id 627867536)" in message and "nor dandiset 000020 version draft has one" in message


def test_bad_sweep_number_lists_the_sweeps(capsys, world):
    assert "its sweeps are [0, 1, 2, 4," in fails(capsys, "sweeps", "human", str(HUMAN_CELL), "--sweep", "3")


@pytest.mark.parametrize(
    ("version", "expected"),
    [("latest", "unknown dandiset version 'latest'"), ("0.999999.9999", "has no version '0.999999.9999'")],
)
def test_unknown_version(capsys, world, version, expected):
    assert expected in fails(capsys, "sweeps", "human", str(HUMAN_CELL), "--dandi-version", version)


def test_local_root_without_the_file(capsys, world, tmp_path):
    message = fails(capsys, "sweeps", "human", str(HUMAN_CELL), "--root", str(tmp_path))
    assert f"the NWB file of cell {HUMAN_CELL} is not under {tmp_path}" in message


def test_local_access_without_a_root(capsys, world, monkeypatch):
    monkeypatch.delenv(config.LOCAL_ROOT_ENV, raising=False)
    message = misused(capsys, "sweeps", "human", str(HUMAN_CELL), "--access", "local")
    assert "--access local needs the folder holding the dandisets: --root DIR" in message
    assert "root=" not in message and "access='local'" not in message  # the CLI's words, not Python's


def test_offline_without_the_file_cached(capsys, world, monkeypatch):
    ok(capsys, "cells", "mouse")
    ok(capsys, "sweeps", "mouse", "601790961")  # the tables are cached, the file of MOUSE_CELL is not
    monkeypatch.setenv(config.OFFLINE_ENV, "1")
    assert f"the NWB file of cell {MOUSE_CELL}" in fails(capsys, "sweeps", "mouse", str(MOUSE_CELL))


# --- fetch --------------------------------------------------------------------------------------


def _fetched(out: str) -> dict[int, Path]:
    """``fetch``'s lines, cell_specimen_id TAB path, as {cell: path}, in their order."""
    rows = [line.split("\t") for line in out.splitlines()]
    assert all(len(row) == 2 for row in rows), out
    return {int(cell): Path(path) for cell, path in rows}


def test_fetch_by_id_prints_each_cell_and_its_verified_cached_file(capsys, world, cache_dir):
    fetched = _fetched(ok(capsys, "fetch", "mouse", *map(str, reversed(DONOR_331663_ASPINY))))
    assert list(fetched) == DONOR_331663_ASPINY[::-1]  # in the order named
    for cell, path in fetched.items():
        assert path == cache_dir / "nwb" / f"{world.written[cell].sha256}.nwb"
        assert path.read_bytes() == world.written[cell].path.read_bytes()


def test_fetch_help_says_what_it_prints(capsys):
    with pytest.raises(SystemExit):
        main(["fetch", "--help"])
    assert "its cell_specimen_id, a tab, and the path" in " ".join(capsys.readouterr().out.split())


def test_fetch_does_not_fetch_a_cached_file_again(capsys, world):
    first = ok(capsys, "fetch", "human", str(HUMAN_CELL))
    assert ok(capsys, "fetch", "human", str(HUMAN_CELL)) == first
    assert len(world.replica.requests("blob")) == 1


def test_fetch_by_filter_warns_of_cells_without_a_file(capsys, world):
    world.replica.remove_asset("000020", "draft", "sub-601462951/sub-601462951_ses-601808619_icephys.nwb")
    status, out, err = run(capsys, "fetch", "mouse", "--filter", "donor_id", "==", "331663",
                           "--filter", "dendrite_type", "==", "aspiny", "--dandi-version", "draft")
    assert status == 0
    assert _fetched(out) == {601790961: config.cache_dir() / "nwb" / f"{world.written[601790961].sha256}.nwb"}
    assert err == (
        "patchseq-intake: warning: 1 of the 2 mouse cells matching the filters have no NWB file in "
        "dandiset 000020 version draft and are left out\n"
    )


def test_fetch_of_a_file_the_manifest_describes_otherwise_warns_once_and_verifies(capsys, world, cache_dir):
    status, out, err = run(capsys, "fetch", "human", *map(str, HUMAN_CELLS))
    assert status == 0
    assert {cell: path.name for cell, path in _fetched(out).items()} == {
        cell: f"{world.written[cell].sha256}.nwb" for cell in HUMAN_CELLS}
    (warning,) = err.splitlines()
    assert warning.startswith("patchseq-intake: warning: the release manifest describes other bytes than DANDI "
                              "holds for 1 of the 2 selected human NWB files")


def test_fetch_needs_ids_or_filters(capsys):
    assert "name the cells: SPECIMEN_ID ... or --filter" in misused(capsys, "fetch", "human")


def test_fetch_no_cell_matching_the_filters(capsys, world):
    assert fails(capsys, "fetch", "human", "--filter", "structure", "==", "V1") == (
        "patchseq-intake: no human cell matches --filter structure == V1")


def test_fetch_refuses_corrupt_bytes(capsys, world, cache_dir):
    from urllib.parse import urlparse

    blob = urlparse(world.replica.blob_url(world.assets[HUMAN_CELL])).path
    world.server.files[blob] = world.written[HUMAN_CELL].path.read_bytes()[:-10] + b"0123456789"
    assert "SHA-256 mismatch" in fails(capsys, "fetch", "human", str(HUMAN_CELL))
    assert list((cache_dir / "nwb").glob("*.nwb")) == []


def test_fetch_failure(capsys, world):
    ok(capsys, "files", "human")  # caches the tables and the asset index
    world.stop()
    message = fails(capsys, "fetch", "human", str(HUMAN_CELL))
    assert message.startswith("patchseq-intake: could not download sub-") and "gave up after 3 attempts" in message


# --- cache --------------------------------------------------------------------------------------


def _info(capsys) -> dict[str, list[str]]:
    """``cache info`` as {label: the words of the rest of its line}."""
    lines = ok(capsys, "cache").splitlines()
    return {line[:22].strip(): line[22:].split() for line in lines[1:]}


def test_cache_info_counts_what_the_cache_holds(capsys, world, cache_dir):
    ok(capsys, "fetch", "mouse", *map(str, DONOR_331663_ASPINY))
    out = ok(capsys, "cache")
    assert out.splitlines()[0] == f"cache: {cache_dir}"
    info = _info(capsys)
    assert info[""] == ["files", "size"]
    assert info["tables"][0] == "2"  # the mouse metadata and manifest
    assert info["dandi asset indexes"][0] == "1"
    nwb_size = sum(world.written[cell].size for cell in DONOR_331663_ASPINY)
    assert info["nwb files"] == ["2", f"{nwb_size / 1e6:.1f}", "MB"]
    files = [path for path in cache_dir.rglob("*") if path.is_file()]
    assert info["total"] == [str(len(files)), f"{sum(path.stat().st_size for path in files) / 1e6:.1f}", "MB"]


def test_cache_info_of_an_empty_cache(capsys, cache_dir):
    assert ok(capsys, "cache", "info") == f"cache: {cache_dir} (empty: nothing is cached yet)\n"


def test_cache_clear_removes_the_cache(capsys, world, cache_dir):
    ok(capsys, "fetch", "human", str(HUMAN_CELL))
    assert ok(capsys, "cache", "clear").startswith("removed ")
    assert not cache_dir.exists()


def test_cache_clear_leaves_other_files_alone(capsys, world, cache_dir):
    ok(capsys, "fetch", "human", str(HUMAN_CELL))
    stranger = cache_dir / "notes.txt"
    stranger.write_text("not ours")
    ok(capsys, "cache", "clear")
    assert sorted(cache_dir.iterdir()) == [stranger]


# --- demo ---------------------------------------------------------------------------------------


def test_demo_walks_through_to_a_sweep(capsys, cache_dir):
    out = ok(capsys, "demo")
    assert "5. One long-square sweep" in out and out.rstrip().endswith("once the environment is not overridden.")
    assert "found by its ephys_session_id 627867536: sub-617297348/sub-617297348_ses-627867536_icephys.nwb" in out
    assert "864 samples (396 basal dendrite, 334 axon, 133 apical dendrite, 1 soma); full reconstruction" in out
    assert re.search(r"^ +623434306 +SM-GE62S_S111_E1-50 +[0-9.]+", out, re.MULTILINE)  # a cell's genes, by sample id
    step9 = out.split("9. IPFX's features")[1]
    row = re.search(r"^ +601790961 +([0-9.]+) +([0-9.]+) ", step9, re.MULTILINE)  # the replica plants 240 MOhm
    assert row is not None and float(row[1]) == 180.0 and abs(float(row[2]) - 240.0) < 0.05 * 240.0
    step10 = out.split("10. Every Allen Patch-seq recording")[1]  # the replica lists every shipped listing
    # the synthetic file of 000630's session differs from its copy in another dandiset: one more row, two more differ
    assert "6827 rows: {'Homo sapiens': 2157, 'Macaca nemestrina': 235, 'Mus musculus': 4435}; 72 rows" in step10
    assert "the table keeps the two apart, never merged: 000142 0.211007.1926 sub-" in step10
    assert re.search(r"^ +1001422850 +\d+ +\w+", step10.split("11. A recording of human_l1")[1], re.MULTILINE)
    assert not cache_dir.exists()  # the demo uses a throw-away cache


def test_all_samples_of_a_sweep_and_another_headstage(capsys, world):
    trimmed = _csv(ok(capsys, "sweeps", "human", str(HUMAN_CELL), "--sweep", "4", "--format", "csv"))
    whole = _csv(ok(capsys, "sweeps", "human", str(HUMAN_CELL), "--sweep", "4", "--all-samples", "--format", "csv"))
    assert len(whole) == world.written[HUMAN_CELL].sweep(4).n_samples >= len(trimmed)
    assert "its headstages are [0]" in fails(capsys, "sweeps", "human", str(HUMAN_CELL), "--headstage", "1")
    assert "--all-samples goes with --sweep N" in misused(capsys, "sweeps", "human", str(HUMAN_CELL), "--all-samples")
