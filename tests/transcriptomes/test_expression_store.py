"""A matrix's store in the cache: converted once, the CSV needed only then, checked on use, never half-written."""

from __future__ import annotations

import errno
import hashlib
from pathlib import Path

import h5py
import numpy as np
import pytest

from patchseq_intake.access.expression_store import expression_store, store_path
from patchseq_intake.errors import CacheError, CacheIntegrityWarning, ReleaseFileFormatError
from patchseq_intake.testing.damage import flip_byte
from patchseq_intake.testing.transcriptomes import gene_symbols, matrix_csv, matrix_values, sample_ids
from patchseq_intake.transcriptomes import matrix_store

GENES, SAMPLES = gene_symbols(240), sample_ids(70)
WHAT = "the mouse cpm matrix (20200513_Mouse_PatchSeq_Release_cpm.csv)"


class Csv:
    """A verified CSV as the fetching gives it (path, SHA-256), counting how often it was asked for."""

    def __init__(self, folder: Path, content: bytes | None = None):
        self.content = content if content is not None else matrix_csv(GENES, SAMPLES, "cpm", writer="R")
        self.path = folder / "20200513_Mouse_PatchSeq_Release_cpm.csv"
        self.path.write_bytes(self.content)
        self.sha256 = hashlib.sha256(self.content).hexdigest()
        self.calls = 0

    def __call__(self) -> tuple[Path, str]:
        self.calls += 1
        return self.path, self.sha256


def _stores_folder_holds(cache_dir: Path) -> list[str]:
    folder = cache_dir / "stores"
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock")) if folder.exists() else []


def _check_values(store) -> None:
    asked_genes, asked_samples = [GENES[200], GENES[3]], SAMPLES[::-7]
    planted = matrix_values(GENES, SAMPLES, "cpm", writer="R")
    assert np.array_equal(store.select(asked_genes, asked_samples).to_numpy(),
                          planted.loc[asked_genes, asked_samples].T.to_numpy())


def test_the_store_is_converted_once_and_the_csv_asked_for_only_then(tmp_path, cache_dir):
    csv = Csv(tmp_path)
    first = expression_store(csv, WHAT, sha256=csv.sha256)
    assert csv.calls == 1 and first.path == store_path(csv.sha256)
    assert first.path == cache_dir / "stores" / f"{csv.sha256}.{matrix_store.FORMAT_VERSION}.h5"
    assert _stores_folder_holds(cache_dir) == sorted([first.path.name, f".{first.path.name}.verified"])
    csv.path.unlink()  # the CSV may go: the store is enough
    again = expression_store(csv, WHAT, sha256=csv.sha256)
    assert csv.calls == 1 and again.source_sha256 == csv.sha256
    _check_values(again)


def test_without_the_sha256_beforehand_the_csv_is_asked_for_but_converted_once(tmp_path, cache_dir, monkeypatch):
    csv = Csv(tmp_path)
    conversions = []
    real_convert = matrix_store.convert
    monkeypatch.setattr(matrix_store, "convert", lambda *a, **k: conversions.append(1) or real_convert(*a, **k))
    for _ in range(3):
        _check_values(expression_store(csv, WHAT))
    assert csv.calls == 3 and len(conversions) == 1


def test_other_bytes_than_the_sha256_given_get_a_store_of_their_own(tmp_path, cache_dir):
    csv = Csv(tmp_path)
    pinned = "c" * 64  # the manifest's SHA-256; the CSV the fetching gives is other bytes, accepted
    store = expression_store(csv, WHAT, sha256=pinned)
    assert store.path == store_path(csv.sha256) and not store_path(pinned).exists()


class FullDisk:
    """h5py's writes of values fail with ``error`` after ``writes`` of them, while ``full``."""

    def __init__(self, monkeypatch, writes: int, error: BaseException):
        self.writes, self.error, self.written, self.full = writes, error, 0, True
        real_setitem = h5py.Dataset.__setitem__

        def setitem(dataset, key, value):
            if dataset.name == "/values" and self.full:
                if self.written == self.writes:
                    raise self.error
                self.written += 1
            return real_setitem(dataset, key, value)

        monkeypatch.setattr(h5py.Dataset, "__setitem__", setitem)


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()])
def test_a_conversion_cut_midway_leaves_no_store_and_the_next_call_converts_afresh(tmp_path, cache_dir, monkeypatch,
                                                                                    error):
    monkeypatch.setattr(matrix_store, "BLOCK_CHUNKS", 1)
    monkeypatch.setattr(matrix_store, "CHUNK_BYTES", 4096)  # 7 genes of 70 samples: 35 blocks to write
    csv = Csv(tmp_path)
    disk = FullDisk(monkeypatch, 3, error)
    with pytest.raises(CacheError if isinstance(error, OSError) else KeyboardInterrupt) as caught:
        expression_store(csv, WHAT, sha256=csv.sha256)
    assert disk.written == 3  # it was cut midway, after three blocks had been written
    if isinstance(error, OSError):
        assert str(store_path(csv.sha256)) in str(caught.value) and "no space left" in str(caught.value)
        assert "PATCHSEQ_INTAKE_CACHE" in str(caught.value)
    assert _stores_folder_holds(cache_dir) == []  # no store, no partial file, no record
    disk.full = False  # space again
    store = expression_store(csv, WHAT, sha256=csv.sha256)
    assert csv.calls == 2 and store.genes == tuple(GENES)
    _check_values(store)


def test_a_csv_that_is_not_a_matrix_leaves_nothing_in_the_cache(tmp_path, cache_dir):
    csv = Csv(tmp_path, b"<!doctype html><html><body>maintenance</body></html>")
    with pytest.raises(ReleaseFileFormatError, match="an HTML page"):
        expression_store(csv, WHAT, sha256=csv.sha256)
    assert _stores_folder_holds(cache_dir) == []


def test_a_store_changed_in_the_cache_is_removed_and_converted_again(tmp_path, cache_dir):
    csv = Csv(tmp_path)
    made = expression_store(csv, WHAT, sha256=csv.sha256).path
    flip_byte(made, made.stat().st_size // 2)
    with pytest.warns(CacheIntegrityWarning, match="expression store of the mouse cpm matrix"):
        store = expression_store(csv, WHAT, sha256=csv.sha256)
    assert csv.calls == 2
    _check_values(store)


def test_a_forged_store_that_cannot_be_opened_is_audited_removed_and_converted_again(tmp_path, cache_dir):
    csv = Csv(tmp_path)
    made = expression_store(csv, WHAT, sha256=csv.sha256).path
    flip_byte(made, 0, keep_stamp=True)  # the HDF5 signature, stamp kept: only a read that fails sees it
    with pytest.warns(CacheIntegrityWarning, match="reading this expression store"):
        store = expression_store(csv, WHAT, sha256=csv.sha256)
    assert csv.calls == 2
    _check_values(store)


def test_a_cache_that_cannot_be_written_is_named(tmp_path, cache_dir, monkeypatch):
    cache_dir.mkdir()
    (cache_dir / "stores").write_text("a file where the folder should be")
    csv = Csv(tmp_path)
    with pytest.raises(CacheError, match="stores"):
        expression_store(csv, WHAT, sha256=csv.sha256)
