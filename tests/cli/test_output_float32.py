"""Float32 values written by the command at float32's precision (``gain`` 0.02, not 0.019999999552965164)."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from patchseq_intake.cli.output import emit, float32_columns

GAIN = np.float32(0.02)  # as MIES stores it; the sweep table widens it to float64


def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "gain": np.array([GAIN, np.nan], dtype=np.float32).astype(np.float64),
        "v_mv": np.array([-70.1, 1 / 3], dtype=np.float32),
        "t_s": [2e-5, 0.1],  # float64 values no float32 holds: their own digits
        "sweep_number": [4, 5],
    })


def _written(frame: pd.DataFrame, output_format: str, capsys) -> str:
    emit(frame, output_format, None)
    return capsys.readouterr().out


def test_the_widened_float32_and_the_float32_columns_are_found_the_float64_ones_are_not():
    assert float32_columns(_frame()) == ["gain", "v_mv"]


def test_csv_writes_float32_values_as_their_shortest_decimals(capsys):
    out = _written(_frame(), "csv", capsys)
    assert "0.019999999552965164" not in out
    assert out.splitlines() == ["gain,v_mv,t_s,sweep_number", "0.02,-70.1,2e-05,4", ",0.33333334,0.1,5"]
    back = pd.read_csv(io.StringIO(out))
    assert np.float32(back["gain"][0]) == GAIN and np.array_equal(back["v_mv"].astype(np.float32), _frame()["v_mv"])
    assert back["t_s"].tolist() == [2e-5, 0.1]


def test_json_writes_float32_values_as_their_shortest_decimals(capsys):
    rows = json.loads(_written(_frame(), "json", capsys))
    assert [row["gain"] for row in rows] == [0.02, None]
    assert [row["v_mv"] for row in rows] == [-70.1, 0.33333334]


def test_the_text_table_writes_float32_values_as_their_shortest_decimals(capsys):
    lines = _written(_frame(), "table", capsys).splitlines()
    assert lines[1].split() == ["0.02", "-70.1", "0.00002", "4"]
    assert lines[2].split() == ["NaN", "0.33333334", "0.10000", "5"]


@pytest.mark.parametrize("value", [1e300, 0.1, 123456789.0])
def test_a_float64_column_with_a_value_no_float32_holds_keeps_its_digits(capsys, value):
    frame = pd.DataFrame({"x": [0.5, value]})
    assert float32_columns(frame) == []
    assert pd.read_csv(io.StringIO(_written(frame, "csv", capsys)))["x"].tolist() == [0.5, value]


def test_parquet_keeps_each_column_s_type_and_bits(tmp_path):
    emit(_frame(), "parquet", str(tmp_path / "out.parquet"))
    back = pd.read_parquet(tmp_path / "out.parquet")
    pd.testing.assert_frame_equal(back, _frame())
    assert back["gain"][0] == np.float64(GAIN) and back["v_mv"].dtype == np.float32


def test_the_sweep_table_s_gain_is_written_as_stored(capsys, world):
    from tests.cli.test_cli import ok

    out = ok(capsys, "sweeps", "human", "569835804", "--format", "csv")
    gains = pd.read_csv(io.StringIO(out), dtype={"gain": str})["gain"].dropna()
    assert len(gains) > 0 and "0.019999999552965164" not in out
    assert set(gains) == {"0.02"}  # MIES's float32 0.02, the synthetic files' gain
