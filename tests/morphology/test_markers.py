"""read_markers: Vaa3D marker files as Vaa3D writes them, the Allen's codes named, bad lines refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from patchseq_intake.errors import ReleaseFileFormatError
from patchseq_intake.morphology.markers import COLUMNS, ONE_VOXEL_UM, read_markers
from patchseq_intake.testing.morphology import APICAL, AXON, BASAL, marker_bytes, synthetic_neuron

CELL = 601790961
SOURCE = "/cache/files/ab12/601790961.marker"
HEADER = "##x,y,z,radius,shape,name,comment, color_r,color_g,color_b\n"


def test_the_synthetic_file_reads_as_planted():
    read = read_markers(marker_bytes(CELL, seed=2), SOURCE)
    pd.testing.assert_frame_equal(read, synthetic_neuron(CELL, seed=2).markers())
    assert list(read.columns) == list(COLUMNS)
    assert {column: str(dtype) for column, dtype in read.dtypes.items()} == {
        "x": "float64", "y": "float64", "z": "float64", "radius": "float64", "shape": "int64", "name": "int64",
        "comment": "string", "color_r": "int64", "color_g": "int64", "color_b": "int64", "marker_type": "string",
    }


def test_codes_are_named_as_neuron_morphology_names_them():
    rows = [f"1.000, 2.000, 3.000, 0, 1, {code}, , 255,0,0" for code in (10, 20, 30, 40)]
    read = read_markers((HEADER + "\n".join(rows)).encode(), SOURCE)
    assert read["name"].tolist() == [10, 20, 30, 40]
    assert read["marker_type"].tolist() == ["cut_dendrite", "no_reconstruction", "type_30", "unknown"]


def test_coordinates_are_as_written_one_voxel_off_the_reconstruction():
    neuron = synthetic_neuron(CELL)
    read = read_markers(marker_bytes(CELL), SOURCE)
    assert ONE_VOXEL_UM == (0.1144, 0.1144, 0.28)  # neuron_morphology's constants.SPACING
    on_samples = read[["x", "y", "z"]].to_numpy() - np.array(ONE_VOXEL_UM)
    cut = on_samples[read["name"].to_numpy() == 10]
    axon_end = on_samples[read["name"].to_numpy() == 20]
    assert len(cut) == 2 and len(axon_end) == 1
    assert np.allclose(cut, neuron.raw[neuron.tip_rows((BASAL, APICAL))[:2]], atol=1e-3)
    assert np.allclose(axon_end, neuron.raw[neuron.tip_rows((AXON,))[:1]], atol=1e-3)
    soma = read[read["marker_type"] == "type_30"]
    assert np.allclose(soma[["x", "y"]].to_numpy() - ONE_VOXEL_UM[:2], [neuron.soma("raw")[:2]], atol=1e-3)


def test_the_field_s_variants_are_read():
    text = (
        "\ufeff" + HEADER.replace(" color_r", "color_r") + "\r\n"
        "10.5,20.25,30,1.5,0,30,soma,0,255,0\r\n"          # no spaces, a radius with decimals
        "11.000, 21.000, 31.000, 0, 1, 10, cut here, by hand, 255,0,0 \r\n"  # a comment holding a comma
    )
    read = read_markers(text.encode(), SOURCE)
    assert read["radius"].tolist() == [1.5, 0.0]
    assert read["comment"].tolist() == ["soma", "cut here,by hand"]
    assert read["color_b"].tolist() == [0, 0] and read["marker_type"].tolist() == ["type_30", "cut_dendrite"]


def test_a_file_of_only_its_header_has_no_markers():
    read = read_markers(HEADER.encode(), SOURCE)
    assert len(read) == 0 and list(read.columns) == list(COLUMNS) and str(read["name"].dtype) == "int64"


BAD = {
    "nine fields": ("1, 2, 3, 0, 1, 10, , 255,0", "9 fields; a marker is 10 comma-separated fields"),
    "a word for x": ("one, 2, 3, 0, 1, 10, , 255,0,0", "x is 'one', not a finite number"),
    "nan for z": ("1, 2, nan, 0, 1, 10, , 255,0,0", "z is 'nan', not a finite number"),
    "a name that is no code": ("1, 2, 3, 0, 1, soma, , 255,0,0", "the marker's code is 'soma', not an integer"),
    "a fractional shape": ("1, 2, 3, 0, 1.5, 10, , 255,0,0", "shape is '1.5', not an integer"),
    "a colour that is a word": ("1, 2, 3, 0, 1, 10, , red,0,0", "color_r is 'red', not an integer"),
}


@pytest.mark.parametrize("line, problem", BAD.values(), ids=BAD.keys())
def test_a_bad_line_is_named_with_its_file_number_and_problem(line, problem):
    text = HEADER + "\n1, 2, 3, 0, 1, 30, , 0,255,0\n" + line + "\n"
    with pytest.raises(ReleaseFileFormatError) as raised:
        read_markers(text.encode(), SOURCE)
    assert str(raised.value).startswith(f"{SOURCE}: line 4 {line!r}: ")
    assert problem in str(raised.value)


@pytest.mark.parametrize("data, said", [
    (b"", "neither a header nor a marker"),
    (b"\n\n", "neither a header nor a marker"),
    (b"<html><body>502 Bad Gateway</body></html>", "an HTML page"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "not text"),
])
def test_what_is_no_marker_file_is_refused(data, said):
    with pytest.raises(ReleaseFileFormatError) as raised:
        read_markers(data, SOURCE)
    assert str(raised.value).startswith(f"{SOURCE}: ") and said in str(raised.value)
