"""read_swc: the synthetic files of both layouts read as planted; each bad input refused with its file and line."""

from __future__ import annotations

import gzip
import subprocess
import sys

import pandas as pd
import pytest

from patchseq_intake.errors import ReleaseFileFormatError
from patchseq_intake.morphology.swc import COLUMNS, SWC_TYPES, read_swc, swc_type_name
from patchseq_intake.testing.morphology import KINDS, LAYOUTS, swc_bytes, synthetic_neuron

CELL = 601506507
SOURCE = "https://bil.example/pseq/morph/200526/601506507_transformed.swc"
GOOD = "# header\n1 1 0 0 0 5 -1\n2 3 5 0 0 1 1\n3 3 10 0 0 1 2\n"


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("kind", KINDS)
def test_both_layouts_read_as_planted(kind, layout):
    neuron = synthetic_neuron(CELL, seed=3)
    read = read_swc(swc_bytes(CELL, kind, seed=3, layout=layout), SOURCE)
    pd.testing.assert_frame_equal(read.points, neuron.points(kind, layout))
    assert list(read.points.columns) == list(COLUMNS)
    assert read.points.dtypes.astype(str).tolist() == ["int64"] * 2 + ["float64"] * 4 + ["int64"]
    assert read.comments == neuron.comments(kind, layout)
    assert len(read.points) == neuron.n_points


def _links(points: pd.DataFrame) -> list[tuple[tuple, tuple]]:
    """Each sample's position with its parent's: the tree, whatever the ids."""
    xyz = points.set_index("id")[["x", "y", "z"]]
    children = points[points["parent"] >= 0]
    parents = xyz.loc[children["parent"]].to_numpy()
    return sorted(zip(map(tuple, children[["x", "y", "z"]].to_numpy()), map(tuple, parents)))


def test_the_other_layout_is_the_same_tree_under_other_ids():
    other = read_swc(swc_bytes(CELL, layout="other"), SOURCE).points
    assert other["id"].min() == 100 and not other["id"].is_monotonic_increasing
    position = {sample: n for n, sample in enumerate(other["id"])}
    assert any(position[parent] > n for n, parent in enumerate(other["parent"]) if parent >= 0)  # child first
    assert _links(other) == _links(read_swc(swc_bytes(CELL), SOURCE).points)


def test_dendrite_only_files_have_no_axon():
    read = read_swc(swc_bytes(CELL, dendrite_only=True), SOURCE)
    assert set(read.points["type"]) == {1, 3, 4}
    assert len(read.points) == synthetic_neuron(CELL, dendrite_only=True).n_points


def test_the_field_s_variants_are_read():
    text = (
        "\ufeff#n,type,x,y,z,radius,parent\r\n"   # a BOM, the Allen's other header, CRLF
        "#  spaces kept\r\n"
        "\r\n"
        "0 1 0.0000 -1156.4475 0.0000 6.3436 -1\r\n"  # ids from 0
        "  7\t4  6.0840\t-1155.3560 -1.8869 2.6171 0   # a comment after a sample\r\n"
        "# a comment between samples\r\n"
        "3.0 4 8.3320e0 -1.1553486E3 -2.5163 1.1928 7.0\r\n"  # ids written as floats, scientific notation
    )
    read = read_swc(text.encode(), SOURCE)
    assert read.comments == ("n,type,x,y,z,radius,parent", "  spaces kept")
    assert read.points["id"].tolist() == [0, 7, 3]
    assert read.points["parent"].tolist() == [-1, 0, 7]
    assert read.points["y"].tolist() == [-1156.4475, -1155.356, -1155.3486]


def test_a_latin1_comment_is_read():
    read = read_swc("# Zellkörper 5 µm\n1 1 0 0 0 5 -1\n".encode("latin-1"), SOURCE)
    assert read.comments == (" Zellkörper 5 µm",)


def test_children_before_parents_are_read():
    read = read_swc(b"3 3 10 0 0 1 2\n2 3 5 0 0 1 1\n1 1 0 0 0 5 -1\n", SOURCE)
    assert read.points["id"].tolist() == [3, 2, 1] and read.comments == ()


BAD = {
    "six fields": ("1 1 0 0 0 5 -1\n2 3 5 0 0 1\n", 2, "6 fields"),
    "eight fields": ("1 1 0 0 0 5 -1\n2 3 5 0 0 1 1 9\n", 2, "8 fields"),
    "a word": ("1 1 0 0 0 5 -1\n2 3 five 0 0 1 1\n", 2, "x is 'five', not a finite number"),
    "nan": ("1 1 0 0 0 5 -1\n2 3 5 0 0 nan 1\n", 2, "radius is 'nan', not a finite number"),
    "inf": ("1 1 0 0 0 5 -1\n2 3 5 0 inf 1 1\n", 2, "z is 'inf', not a finite number"),
    "a fractional id": ("1 1 0 0 0 5 -1\n2.5 3 5 0 0 1 1\n", 2, "id is '2.5', not an integer"),
    "a fractional type": ("1 1 0 0 0 5 -1\n2 3.5 5 0 0 1 1\n", 2, "type is '3.5', not an integer"),
    "a fractional parent": ("1 1 0 0 0 5 -1\n2 3 5 0 0 1 1.5\n", 2, "parent is '1.5', not an integer"),
    "a duplicate id": ("1 1 0 0 0 5 -1\n2 3 5 0 0 1 1\n2 3 9 0 0 1 1\n", 3, "id 2 again (line 2 has it)"),
    "a parent not in the file": ("1 1 0 0 0 5 -1\n2 3 5 0 0 1 1\n3 3 9 0 0 1 9\n", 3,
                                 "parent 9 is no sample's id in the file"),
    "a parent below -1": ("1 1 0 0 0 5 -2\n", 1, "parent -2 is no sample's id in the file"),
}


@pytest.mark.parametrize("text, line, problem", BAD.values(), ids=BAD.keys())
def test_a_bad_line_is_named_with_its_file_number_and_problem(text, line, problem):
    with pytest.raises(ReleaseFileFormatError) as raised:
        read_swc(text.encode(), SOURCE)
    message = str(raised.value)
    bad_line = text.split("\n")[line - 1]
    assert message.startswith(f"{SOURCE}: line {line} {bad_line!r}: ")
    assert problem in message


def test_the_first_fault_is_named_and_lines_count_comments_blank_lines_and_crlf():
    good = swc_bytes(CELL, layout="other").decode()
    lines = good.split("\r\n")
    at = len(lines) - 5
    lines[at] = lines[at].replace("\t", " ", 1).rsplit("\t", 1)[0]  # six fields
    with pytest.raises(ReleaseFileFormatError, match=f"line {at + 1} .*: 6 fields; an SWC sample is 7 numbers"):
        read_swc("\r\n".join(lines).encode(), SOURCE)


def test_a_long_bad_line_is_shown_briefly():
    line = "1 1 0 0 0 5 " + "9" * 5000
    with pytest.raises(ReleaseFileFormatError) as raised:
        read_swc(line.encode(), SOURCE)
    assert "..." in str(raised.value) and len(str(raised.value)) < 400


@pytest.mark.parametrize("data, said", [
    (b"", "no sample at all (no line but blank ones)"),
    (b"\n  \n", "no sample at all (no line but blank ones)"),
    (b"# id,type,x,y,z,r,pid\n# nothing else\n", "no sample at all (only 2 comment line(s))"),
])
def test_a_file_without_a_sample_is_refused(data, said):
    with pytest.raises(ReleaseFileFormatError, match=rf"^{SOURCE}: {said.replace('(', '[(]').replace(')', '[)]')}"):
        read_swc(data, SOURCE)


@pytest.mark.parametrize("data, said", [
    (b"<!DOCTYPE html>\n<html><body>Not found</body></html>\n", "an HTML page"),
    (b"  \n<HTML><head><title>BIL</title></head></HTML>", "an HTML page"),
    (b"<?xml version='1.0'?><Error><Code>NoSuchKey</Code></Error>", "markup"),
    (gzip.compress(GOOD.encode(), mtime=0), "gzip-compressed"),  # no timestamp: the same test id in every worker
    (b"1 1 0 0 0 5 -1\x00\x01\x02", "not text"),
])
def test_bytes_that_are_not_an_swc_file_s_text_are_named_so(data, said):
    with pytest.raises(ReleaseFileFormatError) as raised:
        read_swc(data, SOURCE)
    assert str(raised.value).startswith(f"{SOURCE}: the bytes are") and said in str(raised.value)
    assert "an SWC file" in str(raised.value)


def test_the_standard_types_are_named():
    assert SWC_TYPES == {0: "undefined", 1: "soma", 2: "axon", 3: "basal dendrite", 4: "apical dendrite"}
    assert [swc_type_name(code) for code in (1, 4, 5, 12, -1)] == ["soma", "apical dendrite", "custom", "custom",
                                                                    "undefined"]


def test_numbers_are_python_s_also_where_pandas_parser_reads_them_otherwise():
    digits17 = "1 1 1220.9912000000001 610.78159999999991 30.800000000000001 7.7811000000000003 -1\n"
    large = "1 1 4.347e+70 1e-15 0e1000 1.2345678901234567e-300 -1\n"
    for text in (digits17, large):
        values = read_swc(text.encode(), SOURCE).points.iloc[0, 2:6].tolist()
        assert values == [float(field) for field in text.split()[2:6]]  # exactly, not to the last bit


def test_an_exponent_that_wraps_round_is_no_finite_number():
    with pytest.raises(ReleaseFileFormatError, match="z is '1e4294967297', not a finite number"):
        read_swc(b"1 1 0 0 1e4294967297 5 -1\n", SOURCE)  # pandas' parser alone reads it as 10


def test_a_first_sample_of_eight_fields_is_refused_not_cut_short():
    with pytest.raises(ReleaseFileFormatError, match=r"line 2 .*: 8 fields"):
        read_swc(b"# h\n1 1 0 0 0 5 -1 7\n2 3 5 0 0 1 1\n", SOURCE)  # pandas' parser alone drops the 7 and reads it


def test_an_exponent_of_2_to_the_31_does_not_crash_the_process():
    code = (
        "from patchseq_intake.morphology.swc import read_swc\n"
        "try:\n"
        "    read_swc(b'1 1 0 0 3.e3627000000e+01 5 -1\\n2 3 1e2147483648 0 0 1 1\\n', 'f.swc')\n"
        "except Exception as error:\n"
        "    print(error)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr  # pandas' C parser alone dies of a segmentation fault here
    assert "f.swc: line 1 '1 1 0 0 3.e3627000000e+01 5 -1': z is '3.e3627000000e+01'" in done.stdout
