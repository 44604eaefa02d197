"""A CSV that is not an expression matrix: refused naming the file, the line and the fault; no store left."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

from patchseq_intake.errors import ReleaseFileFormatError
from patchseq_intake.testing.transcriptomes import gene_symbols, matrix_csv, matrix_values, sample_ids
from patchseq_intake.transcriptomes import matrix_csv as csv_reading
from patchseq_intake.transcriptomes.matrix_store import MatrixStore, convert

GOOD = ',PS0810_E1-50_S88,PS0810_E1-50_S89\nGad1,0,3\nSst,12,0\n'


def _refused(tmp_path: Path, content: bytes, *, chunk_genes: int | None = None) -> str:
    csv_path = tmp_path / "20200513_Mouse_PatchSeq_Release_count.csv"
    csv_path.write_bytes(content)
    store_path = tmp_path / "store.h5"
    with pytest.raises(ReleaseFileFormatError) as caught:
        convert(csv_path, store_path, source_sha256="0" * 64, chunk_genes=chunk_genes)
    assert not store_path.exists()  # nothing half-written left
    assert str(csv_path) in str(caught.value)
    return str(caught.value)


def test_the_good_file_these_variants_start_from_is_read(tmp_path):
    csv_path = tmp_path / "good.csv"
    csv_path.write_bytes(GOOD.encode())
    convert(csv_path, tmp_path / "good.h5", source_sha256="0" * 64)
    assert MatrixStore(tmp_path / "good.h5").select(["Sst"], None).to_numpy().tolist() == [[12], [0]]


@pytest.mark.parametrize("content, fault", [
    (b"", "the file is empty"),
    (b"\n  \n\n", "the file is empty"),
    (b"<!DOCTYPE html>\n<html><body>Not found</body></html>\n", "line 1: an HTML page"),
    (b"\n<HTML>\n<head><title>Sign in</title></head>\n", "line 2: an HTML page"),
    (b"Gad1,0,3\nSst,12,0\n", "line 1: numbers where the header's sample ids should be: the file has no header"),
    (b"gene\nGad1\n", "line 1: the header has 1 field, so no sample"),
    (b",A,,B\nGad1,1,2,3\n", "line 1: column 3 of the header is empty"),
    (b",A,B,A\nGad1,1,2,3\n", "line 1: the sample id 'A' heads columns 2 and 4"),
    (b",A,B\n", "a header and no gene row"),
    (GOOD.encode() + b"Vip,1\n", "line 4: 2 fields, where the header has 3"),
    (GOOD.encode() + b"Vip,1,2,3\n", "line 4: 4 fields, where the header has 3"),
    (GOOD.encode() + b"Vip\n", "line 4: 1 fields, where the header has 3"),
    (GOOD.encode() + b"Vip,1,abc\n", "line 4: column 3 (sample PS0810_E1-50_S89) holds 'abc', not a number"),
    (GOOD.encode() + b"Vip,,2\n", "line 4: column 2 (sample PS0810_E1-50_S88) holds '', not a number"),
    (GOOD.encode() + b"Vip,NA,2\n", "holds 'NA', not a number"),
    (GOOD.encode() + b"Vip,1_000,2\n", "holds '1_000', not a number"),
    (GOOD.encode() + b"Vip,nan,2\n", "holds 'nan', not a finite number"),
    (GOOD.encode() + b"Vip,1,inf\n", "holds 'inf', not a finite number"),
    (GOOD.encode() + b",1,2\n", "line 4: no gene symbol"),
    (b'"","A"\n"",1\n', "line 2: no gene symbol"),
    (b",A\nGad1,1\n\xff\xfebad\n", "line 3: bytes that are not UTF-8 text"),
    (b",A\nGad1,1\nVip,\x002\n", "line 3: NUL bytes"),
])
def test_each_fault_is_named_with_its_line(tmp_path, content, fault):
    message = _refused(tmp_path, content)
    assert fault in message
    assert "an expression matrix is a CSV file whose header is an empty cell then the sample ids" in message


def test_a_fault_deep_in_the_file_is_named_at_its_own_line_across_blocks_and_blank_lines(tmp_path):
    genes, samples = gene_symbols(200), sample_ids(5)
    lines = matrix_csv(genes, samples).decode().splitlines(keepends=True)
    fields = lines[150].split(",")
    lines[150] = ",".join([*fields[:3], "x" + fields[3], *fields[4:]])
    text = "".join(lines[:10]) + "\n\n" + "".join(lines[10:])  # two blank lines: skipped, but counted
    message = _refused(tmp_path, text.encode(), chunk_genes=4)
    assert f"line {150 + 1 + 2}: column 4 (sample {samples[2]}) holds 'x" in message


def test_a_tar_or_a_gzip_given_instead_of_the_csv_is_named_as_such(tmp_path):
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w") as tar:
        member = tarfile.TarInfo("m/m.csv")
        member.size = len(GOOD)
        tar.addfile(member, io.BytesIO(GOOD.encode()))
    assert "NUL bytes: not a CSV text file" in _refused(tmp_path, packed.getvalue())
    assert "not UTF-8 text" in _refused(tmp_path, gzip.compress(GOOD.encode() * 50))


def test_a_line_without_end_longer_than_a_row_can_be_is_refused_without_reading_it_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(csv_reading, "MAX_LINE_BYTES", 1000)
    assert "line 2: a line longer than 1000 bytes" in _refused(tmp_path, b",A\nGad1," + b"1" * 5000)


def test_windows_line_ends_a_byte_order_mark_and_blank_lines_are_taken(tmp_path):
    genes, samples = gene_symbols(30), sample_ids(4)
    text = matrix_csv(genes, samples, "cpm", writer="R").decode().replace("\n", "\r\n\r\n")
    csv_path = tmp_path / "windows.csv"
    csv_path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    convert(csv_path, tmp_path / "windows.h5", source_sha256="0" * 64)
    store = MatrixStore(tmp_path / "windows.h5")
    assert store.samples == tuple(samples) and store.genes == tuple(genes)
    assert np.array_equal(store.select().to_numpy(), matrix_values(genes, samples, "cpm", writer="R").to_numpy().T)
