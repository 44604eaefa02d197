"""The store of an expression matrix: every value back exactly, by any selection, reading only the asked genes."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest

from patchseq_intake.errors import InvalidQueryError
from patchseq_intake.testing.transcriptomes import gene_symbols, matrix_csv, matrix_values, sample_ids
from patchseq_intake.transcriptomes import matrix_csv as matrix_csv_module
from patchseq_intake.transcriptomes import matrix_store
from patchseq_intake.transcriptomes.matrix_store import MatrixStore, convert

SHA = "ab" * 32


def _store(tmp_path: Path, genes, samples, values="counts", writer="pandas", chunk_genes=None, seed=0) -> MatrixStore:
    csv_path = tmp_path / f"{values}_{writer}.csv"
    csv_path.write_bytes(matrix_csv(genes, samples, values, seed, writer))
    store_path = tmp_path / f"{values}_{writer}.h5"
    convert(csv_path, store_path, source_sha256=SHA, chunk_genes=chunk_genes)
    return MatrixStore(store_path)


@pytest.mark.parametrize("writer", ["pandas", "R"])
@pytest.mark.parametrize("values", ["counts", "cpm"])
def test_random_selections_give_back_exactly_the_values_written_in_the_order_asked(tmp_path, writer, values):
    genes, samples = gene_symbols(300), sample_ids(120)
    store = _store(tmp_path, genes, samples, values, writer, chunk_genes=7, seed=5)
    planted = matrix_values(genes, samples, values, 5, writer)
    rng = np.random.default_rng(11)
    for size_genes, size_samples in ((1, 1), (25, 60), (300, 120)):
        asked_genes = [str(gene) for gene in rng.permutation(genes)[:size_genes]]
        asked_samples = [str(sample) for sample in rng.permutation(samples)[:size_samples]]
        chosen = store.select(asked_genes, asked_samples)
        assert list(chosen.index) == asked_samples and list(chosen.columns) == asked_genes
        expected = planted.loc[asked_genes, asked_samples].T.to_numpy()
        assert np.array_equal(chosen.to_numpy(), expected)  # exact: no float32, no rounding
        assert chosen.index.name == "transcriptomics_sample_id" and chosen.columns.name == "gene"
    assert str(chosen.dtypes.iloc[0]) == ("int64" if values == "counts" else "float64")
    assert store.integral is (values == "counts")
    assert store.genes == tuple(genes) and store.samples == tuple(samples) and store.source_sha256 == SHA


def test_cpm_with_seventeen_digits_survives_to_the_last_bit(tmp_path):
    genes, samples = gene_symbols(40), sample_ids(30)
    store = _store(tmp_path, genes, samples, "cpm", "pandas")
    planted = matrix_values(genes, samples, "cpm", 0, "pandas")
    as_float32 = planted.to_numpy().astype(np.float32).astype(np.float64)
    assert not np.array_equal(as_float32, planted.to_numpy())  # the values do need float64
    assert np.array_equal(store.select().to_numpy(), planted.to_numpy().T)


def test_none_selects_every_gene_and_every_sample_in_file_order(tmp_path):
    genes, samples = gene_symbols(50, duplicated=2), sample_ids(9)
    store = _store(tmp_path, genes, samples)
    everything = store.select(None, None)
    assert list(everything.columns) == genes and list(everything.index) == samples  # repeated symbols: every row
    assert np.array_equal(everything.to_numpy(), matrix_values(genes, samples).to_numpy().T)
    some = store.select(["Sst"], None)
    assert list(some.index) == samples


def test_a_repeated_symbol_asked_gives_its_first_row_and_says_so_once(tmp_path):
    genes, samples = gene_symbols(60, duplicated=1), sample_ids(8)
    store = _store(tmp_path, genes, samples)
    ((symbol, rows),) = store.duplicated_genes.items()
    assert rows == tuple(i for i, gene in enumerate(genes) if gene == symbol) and len(rows) == 2
    planted = matrix_values(genes, samples)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        chosen = store.select([symbol, "Sst", symbol], samples)
    assert len(said) == 1 and issubclass(said[0].category, UserWarning)
    assert symbol in str(said[0].message) and f"{rows[0]}, {rows[1]}" in str(said[0].message)
    assert np.array_equal(chosen[symbol].to_numpy().T[0], planted.iloc[rows[0]].to_numpy())
    assert not np.array_equal(planted.iloc[rows[0]].to_numpy(), planted.iloc[rows[1]].to_numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        store.select(["Sst"], samples)  # no repeated symbol asked: nothing said


def test_an_unknown_gene_is_refused_with_the_closest_symbols(tmp_path):
    store = _store(tmp_path, gene_symbols(80), sample_ids(5))
    with pytest.raises(InvalidQueryError) as caught:
        store.select(["Pvlab", "SST", "Sst"], None)
    assert caught.value.parameter == "genes" and caught.value.given == ["Pvlab", "SST"]
    message = str(caught.value)
    assert "'Pvlab' (closest: 'Pvalb'" in message and "'SST' (closest: 'Sst'" in message
    assert "counts_pandas.csv" in message
    assert len(store.closest("Gm100")) <= 5


def test_unknown_samples_are_named_and_missing_lists_them(tmp_path):
    samples = sample_ids(6)
    store = _store(tmp_path, gene_symbols(20), samples)
    asked = [samples[2], "PS9999_E1-50_S1", samples[0], "nope"]
    assert store.missing(asked) == ["PS9999_E1-50_S1", "nope"]
    assert store.missing(samples) == []
    with pytest.raises(InvalidQueryError) as caught:
        store.select(["Gad1"], asked)
    assert caught.value.parameter == "samples" and caught.value.given == ["PS9999_E1-50_S1", "nope"]
    assert "PS9999_E1-50_S1" in str(caught.value)


class _RecordingFile(io.FileIO):
    """A file that notes every byte range read from it."""

    def __init__(self, path: Path, reads: list[tuple[int, int]]):
        super().__init__(path, "rb")
        self.reads = reads

    def readinto(self, buffer) -> int:
        start = self.tell()
        count = super().readinto(buffer)
        self.reads.append((start, start + (count or 0)))
        return count

    def read(self, size: int = -1) -> bytes:
        start = self.tell()
        data = super().read(size)
        self.reads.append((start, start + len(data)))
        return data


def test_a_selection_reads_the_chunks_of_the_asked_genes_and_no_other(tmp_path, monkeypatch):
    genes, samples = gene_symbols(400), sample_ids(64)
    store = _store(tmp_path, genes, samples, chunk_genes=4)
    with h5py.File(store.path, "r") as opened:
        values = opened["values"]
        chunks = {values.id.get_chunk_info(i).chunk_offset[0] // 4: values.id.get_chunk_info(i)
                  for i in range(values.id.get_num_chunks())}
    assert len(chunks) == 100
    asked = [genes[397], genes[5], genes[6], genes[201]]  # chunks 99, 1 (twice), 50
    reads: list[tuple[int, int]] = []
    monkeypatch.setattr(matrix_store, "_open", lambda path: h5py.File(_RecordingFile(path, reads), "r"))
    chosen = store.select(asked, samples[::3])
    assert list(chosen.columns) == asked

    def read(info) -> bool:
        return any(start < info.byte_offset + info.size and info.byte_offset < stop for start, stop in reads)

    assert {number for number, info in chunks.items() if read(info)} == {1, 50, 99}


def test_the_store_is_chunked_by_whole_gene_rows_of_about_128_kib(tmp_path):
    assert matrix_store.genes_per_chunk(4435) == 3 and matrix_store.genes_per_chunk(10**6) == 1
    store = _store(tmp_path, gene_symbols(30), sample_ids(100))
    with h5py.File(store.path, "r") as opened:
        assert opened["values"].chunks == (163, 100) == (matrix_store.genes_per_chunk(100), 100)  # 128 KiB
        assert opened["values"].compression == "gzip" and opened["values"].dtype == np.float64
        assert opened.attrs["format_version"] == matrix_store.FORMAT_VERSION


def test_progress_is_told_every_byte_of_the_csv(tmp_path, monkeypatch):
    monkeypatch.setattr(matrix_csv_module, "READ_BUFFER_BYTES", 4096)
    csv_path = tmp_path / "m.csv"
    csv_path.write_bytes(matrix_csv(gene_symbols(2000), sample_ids(40)))
    told: list[int] = []
    convert(csv_path, tmp_path / "m.h5", source_sha256=SHA, progress=told.append)
    assert sum(told) == csv_path.stat().st_size and len(told) > csv_path.stat().st_size // 4096 - 1


def test_a_file_that_is_not_a_store_is_refused(tmp_path):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as opened:
        opened.attrs["format"] = "something else"
    with pytest.raises(Exception, match="not a patchseq-intake expression matrix of format version 1"):
        MatrixStore(other)


_REFUSED_WRITES = """
import resource, signal, sys
from pathlib import Path
from patchseq_intake.testing.transcriptomes import gene_symbols, matrix_csv, sample_ids
from patchseq_intake.transcriptomes.matrix_store import convert
folder = Path(sys.argv[1])
(folder / "m.csv").write_bytes(matrix_csv(gene_symbols(3000), sample_ids(200), "cpm", writer="R"))
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, resource.RLIM_INFINITY))  # writes past 300 kB fail: EFBIG
try:
    convert(folder / "m.csv", folder / "store.h5", source_sha256="0" * 64)
except OSError as exc:
    print("refused", exc.errno, flush=True)
"""


@pytest.mark.skipif(not hasattr(__import__("signal"), "SIGXFSZ"), reason="needs POSIX file size limits")
def test_a_write_the_file_system_refuses_is_raised_and_the_process_ends_cleanly(tmp_path):
    """HDF5 told of a failed write keeps the file half-closed, and the process crashes at exit (SIGSEGV):
    the refusal is kept from HDF5 and raised by convert, which removes the partial store."""
    import errno
    import subprocess
    import sys

    ended = subprocess.run([sys.executable, "-c", _REFUSED_WRITES, str(tmp_path)], capture_output=True, text=True,
                           timeout=60)
    assert ended.returncode == 0, ended.stderr[-2000:]
    assert ended.stdout.strip() == f"refused {errno.EFBIG}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.csv"]


def test_whole_numbers_beyond_float64s_exact_range_stay_floats(tmp_path):
    csv_path, store_path = tmp_path / "m.csv", tmp_path / "m.h5"
    csv_path.write_text(",S1,S2\nPvalb,-1,1e300\nSst,3,9007199254740993\n")
    convert(csv_path, store_path, source_sha256="0" * 64)
    store = MatrixStore(store_path)
    selected = store.select(["Pvalb", "Sst"], ["S1", "S2"])
    assert not store.integral and selected.dtypes.eq(np.float64).all()  # not wrapped into int64
    assert selected.loc["S2", "Pvalb"] == 1e300
