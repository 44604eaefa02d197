"""``patchseq-intake features``: IPFX's features of cells from the shell, against the local replica."""

from __future__ import annotations

import io
import math
import re

import pytest

from patchseq_intake.cli import main
from tests.cli.test_cli import DONOR_331663_ASPINY, HUMAN_CELLS, _csv, fails, misused, ok


@pytest.fixture
def world(ipfx_world):
    """The replica, serving files IPFX can analyse (the suite's usual ones are too short and slow for it)."""
    return ipfx_world


def test_one_row_per_cell_with_ipfxs_features_and_planted_values(capsys, world):
    table = _csv(ok(capsys, "features", "human", *map(str, HUMAN_CELLS), "--format", "csv", "--workers", "2"))
    assert list(table["cell_specimen_id"]) == HUMAN_CELLS
    assert list(table.columns[:2]) == ["cell_specimen_id", "ap_1_threshold_v_ramp"] and table.columns[-1] == "error"
    for row in table.itertuples():
        planted = world.written[row.cell_specimen_id].cell
        assert math.isclose(row.input_resistance, planted.input_resistance_mohm, rel_tol=0.05)
        assert math.isclose(row.v_baseline, planted.baseline_mv, abs_tol=1.0)
        assert row.rheobase_i > planted.rheobase_pa


def test_the_filters_choose_the_cells_and_a_second_run_computes_nothing(capsys, world):
    argv = ["features", "mouse", "--filter", "cell_specimen_id", "in", ",".join(map(str, DONOR_331663_ASPINY)),
            "--access", "stream", "--format", "csv"]
    first = _csv(ok(capsys, *argv))
    assert sorted(first["cell_specimen_id"]) == sorted(DONOR_331663_ASPINY)
    before = len(world.server.log)
    again = _csv(ok(capsys, *argv))
    assert len(world.server.log) == before  # read from the cache
    assert again.equals(first)


def test_spikes_and_sweeps_tables(capsys, world):
    spikes = _csv(ok(capsys, "features", "human", str(HUMAN_CELLS[1]), "--table", "spikes", "--format", "csv"))
    assert {"cell_specimen_id", "stimulus", "sweep_number", "threshold_t", "peak_v", "width"} <= set(spikes.columns)
    long_squares = spikes[spikes["stimulus"] == "long_square"]
    assert len(long_squares) > 0 and (long_squares["peak_v"] > long_squares["threshold_v"]).all()
    sweeps = _csv(ok(capsys, "features", "human", str(HUMAN_CELLS[1]), "--table", "sweeps", "--format", "csv"))
    assert set(sweeps["sweep_number"]) >= set(long_squares["sweep_number"])
    assert (sweeps.loc[sweeps["stimulus"] == "long_square", "avg_rate"] >= 0).all()


def test_bad_flags_say_which_and_what_is_right(capsys, world):
    for flag, value, low, high in (("--amp-interval", "0", 1, 1000), ("--amp-interval", "-20", 1, 1000),
                                   ("--workers", "0", 1, 256), ("--max-above-rheo", "2.5", 0, 2000)):
        said = misused(capsys, "features", "human", flag, value)
        assert f"argument {flag}: '{value}' is not a whole number from {low} to {high}" in said
    assert "invalid choice: 'cell'" in misused(capsys, "features", "human", "--table", "cell")
    message = fails(capsys, "features", "human", "601506507")
    assert "not in the human Patch-seq dataset" in message and "patchseq-intake features mouse" in message


def test_the_cache_command_lists_verifies_and_clears_the_features(capsys, world, cache_dir):
    from patchseq_intake import config

    ok(capsys, "features", "human", *map(str, HUMAN_CELLS))
    results = sorted((cache_dir / config.FEATURES_DIR).glob("*/cell.*.json"))
    assert len(results) == 2
    assert re.search(r"^  ipfx features +2 ", ok(capsys, "cache"), re.MULTILINE)
    assert re.search(r"^  ipfx features +2 +2 +0 ", ok(capsys, "cache", "verify"), re.MULTILINE)
    damaged, sound = results
    damaged.write_text(damaged.read_text().replace('"input_resistance":', '"input_resistance":1e3,"x":', 1))
    status = main(["cache", "verify"])
    out = capsys.readouterr().out
    assert status == 1 and f"removed {damaged}: it fails its own digest" in out
    assert not damaged.exists() and sound.exists()
    ok(capsys, "cache", "clear")
    assert not (cache_dir / config.FEATURES_DIR).exists()


def test_csv_keeps_the_float64_digits_ipfx_computed(capsys, world):
    import pandas as pd

    import patchseq_intake

    cell = HUMAN_CELLS[1]
    text = ok(capsys, "features", "human", str(cell), "--format", "csv")
    written = pd.read_csv(io.StringIO(text), float_precision="round_trip")  # pandas' default parser rounds some
    computed = patchseq_intake.open_catalog().human.features(specimen_id=cell).read()
    numbers = [c for c in computed.columns if c not in ("cell_specimen_id", "error")]
    pd.testing.assert_frame_equal(written[numbers], computed[numbers], check_exact=True)  # read back to the bit


def test_without_ipfx_the_command_says_in_one_line_what_to_install(world):
    import subprocess
    import sys

    code = ("import sys; sys.modules['ipfx'] = None\n"
            "from patchseq_intake.cli import main\n"
            f"sys.exit(main(['features', 'human', '{HUMAN_CELLS[1]}']))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and done.stdout == ""
    lines = [line for line in done.stderr.splitlines() if "warning:" not in line]
    assert lines == ['patchseq-intake: features are computed by IPFX, which is not installed: pip install '
                     '"patchseq-intake[features]" (from a clone of the project: pip install ".[features]")']


def test_a_device_the_file_does_not_hold_is_the_cells_error_in_its_row(capsys, world):
    status = main(["features", "human", str(HUMAN_CELLS[1]), "--device", "Dev9", "--format", "csv"])
    out, err = capsys.readouterr()
    assert status == 1 and err.splitlines()[-1].startswith("patchseq-intake: no cell has features: every row's error")
    table = _csv(out)  # the rows are written all the same
    error = table["error"].iloc[0]
    assert "no device 'Dev9' recorded there; its devices are 'ITC18USB_Dev_0'" in error and table.drop(columns=["cell_specimen_id", "error"]).isna().all().all()
