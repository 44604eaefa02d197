"""Synthetic expression matrices laid out as the release's (genes x samples CSV), with their planted values.

The release's four matrices (``20200513_Mouse_PatchSeq_Release_{count,cpm,exon,intron}.csv``) hold one row per
gene (~45 000), its symbol in the first column (whose header cell is empty), then one column per
``transcriptomics_sample_id`` (``PS0810_E1-50_S88``). Counts are non-negative integers, mostly zeros (a
single cell detects a fraction of the genes); CPM are those counts scaled to a million per sample.

- ``gene_symbols(n, duplicated=0)``: realistic symbols (markers first, then generated ones), some repeated;
- ``sample_ids(n)``: ids shaped as the release's;
- ``matrix_values(genes, samples, values, seed, writer)``: the values a file holds, as written (genes x
  samples ``DataFrame``), to compare a reader's answer with exactly;
- ``matrix_csv(...)``: the file's bytes; ``write_matrix_csv(stream, ...)``: the same, written block by block
  (a matrix of the real one's shape without holding it in memory).

Writers: ``"pandas"`` (``DataFrame.to_csv``: first header cell empty, nothing quoted, floats as Python's
shortest round-trip form, ``0.0``) and ``"R"`` (``write.csv``: every string quoted, first header cell ``""``,
numbers to 15 significant digits, ``0``). ``values``: ``"counts"``, ``"exon"``, ``"intron"`` (integers) or
``"cpm"`` (floats). The same ``seed`` gives the same counts whatever the ``writer``; ``cpm`` is computed from
the ``counts`` of that seed.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from typing import BinaryIO

import numpy as np
import pandas as pd

MARKER_GENES = (
    "Gad1", "Gad2", "Pvalb", "Sst", "Vip", "Lamp5", "Sncg", "Serpinf1", "Slc17a7", "Rbfox3", "Snap25", "Cux2",
    "Rorb", "Fezf2", "Foxp2", "Nr4a2", "Tshz2", "Npy", "Cck", "Chodl", "Nos1", "Meis2", "Calb2", "Reln",
    "Th", "Penk", "Tac1", "Crh", "Cplx3", "Pdyn", "Ndnf", "Lhx6", "Adarb2", "Htr3a", "Nxph1", "Sox6",
)
"""Genes of the field's marker panels (GABAergic classes, glutamatergic layers), placed first in every matrix."""

VALUES = ("counts", "exon", "intron", "cpm")
INTEGRAL = ("counts", "exon", "intron")
WRITERS = ("pandas", "R")
BLOCK_GENES = 512
"""Genes drawn and written together: the values of block ``b`` come from ``default_rng([seed, b])``."""

R_DIGITS = "%.15g"
"""R's ``write.csv``: 15 significant digits (``options(digits=15)``'s default for writing)."""


def gene_symbols(n: int, duplicated: int = 0) -> list[str]:
    """``n`` gene symbols: ``MARKER_GENES`` first, then generated ones (``Gm10000``, ``0610005C13Rik``-like).

    ``duplicated``: that many of the symbols repeat an earlier one (as the release's symbols may): symbols at
    evenly spread positions, from the last one back, are replaced by the symbol two places before, so that a
    repeated symbol's rows are not adjacent.
    """
    if not 0 <= duplicated <= max(n - 2, 0):
        raise ValueError(f"duplicated={duplicated}: give 0 to {max(n - 2, 0)} for {n} genes")
    generated = (f"Gm{10000 + i}" if i % 3 else f"{i // 3 % 10000:04d}{chr(65 + i % 26)}{i % 97:02d}Rik"
                 for i in range(n))
    symbols = (list(MARKER_GENES) + list(generated))[:n]
    for k in reversed(range(duplicated)):  # from the first position on: a copied symbol is never lost
        at = n - 1 - k * ((n - 2) // duplicated)
        symbols[at] = symbols[at - 2]
    return symbols


def sample_ids(n: int) -> list[str]:
    """``n`` distinct ids shaped as the release's ``transcriptomics_sample_id`` (``PS0810_E1-50_S88``):
    a plate's date, its dilution, and the well (96 per plate)."""
    ids = []
    for i in range(n):
        plate, well = divmod(i, 96)
        month, day = 1 + plate // 28 % 12, 1 + plate % 28
        ids.append(f"PS{month:02d}{day:02d}_E{1 + plate // 336}-50_S{well + 1}")
    return ids


def _counts_block(block: int, rows: int, n_samples: int, seed: int, detected: float) -> np.ndarray:
    """Block ``block``'s counts (``rows`` x ``n_samples``, int64): a gene is detected in a sample with
    probability ``detected``, then counted from a long-tailed distribution (1 to tens of thousands)."""
    rng = np.random.default_rng([seed, block])
    hit = rng.random((rows, n_samples)) < detected
    level = rng.lognormal(mean=3.0, sigma=2.0, size=(rows, n_samples))
    return np.where(hit, np.floor(level).astype(np.int64) + 1, 0)


def _blocks(n_genes: int) -> Iterator[tuple[int, int, int]]:
    for block, start in enumerate(range(0, n_genes, BLOCK_GENES)):
        yield block, start, min(start + BLOCK_GENES, n_genes)


def _sample_totals(n_genes: int, n_samples: int, seed: int, detected: float) -> np.ndarray:
    """Each sample's total count over every gene, plus the one count every sample's first gene gets, so that
    none is zero (a CPM of an empty sample would be 0/0)."""
    totals = np.zeros(n_samples, dtype=np.int64)
    for block, start, stop in _blocks(n_genes):
        totals += _counts_block(block, stop - start, n_samples, seed, detected).sum(axis=0)
    return totals + 1


def _value_blocks(
    n_genes: int, n_samples: int, values: str, seed: int, detected: float
) -> Iterator[tuple[int, int, np.ndarray]]:
    """``(start, stop, block)`` for each block of genes: counts (int64) or CPM (float64), as drawn."""
    if values not in VALUES:
        raise ValueError(f"values={values!r}: give one of {', '.join(VALUES)}")
    seed = seed * len(VALUES) + VALUES.index(values if values != "cpm" else "counts")
    totals = _sample_totals(n_genes, n_samples, seed, detected) if values == "cpm" else None
    for block, start, stop in _blocks(n_genes):
        counts = _counts_block(block, stop - start, n_samples, seed, detected)
        if start == 0:
            counts[0] += 1
        yield start, stop, counts if totals is None else counts / totals * 1e6


def _as_written(block: np.ndarray, writer: str) -> np.ndarray:
    """A block's values as ``writer`` leaves them in the text: R rounds floats to 15 significant digits."""
    if writer == "R" and block.dtype.kind == "f":
        return np.char.mod(R_DIGITS, block).astype(np.float64)
    return block


def matrix_values(
    genes: Sequence[str], samples: Sequence[str], values: str = "counts", seed: int = 0, writer: str = "pandas",
    detected: float = 0.2,
) -> pd.DataFrame:
    """The values ``matrix_csv`` with the same arguments writes, exactly as a reader finds them in the text:
    genes x samples (index: the symbols, repeats kept; columns: the samples), int64 or float64."""
    _check_writer(writer)
    blocks = [_as_written(block, writer) for _, _, block in
              _value_blocks(len(genes), len(samples), values, seed, detected)]
    data = np.concatenate(blocks) if blocks else np.zeros((0, len(samples)))
    return pd.DataFrame(data, index=pd.Index(list(genes)), columns=pd.Index(list(samples)))


def write_matrix_csv(
    stream: BinaryIO, genes: Sequence[str], samples: Sequence[str], values: str = "counts", seed: int = 0,
    writer: str = "pandas", detected: float = 0.2,
) -> None:
    """Write the matrix to ``stream`` (binary) block by block, as ``writer`` writes it; see ``matrix_values``.

    ``detected``: the fraction of (gene, sample) values that are not zero. Memory: one block of
    ``BLOCK_GENES`` genes x the samples at a time.
    """
    _check_writer(writer)
    if writer == "pandas":
        stream.write(("," + ",".join(samples) + "\n").encode())
    else:
        stream.write((",".join(_quoted(name) for name in ["", *samples]) + "\n").encode())
    for start, stop, block in _value_blocks(len(genes), len(samples), values, seed, detected):
        frame = pd.DataFrame(block, index=pd.Index(list(genes[start:stop])))
        if writer == "pandas":
            stream.write(frame.to_csv(header=False, lineterminator="\n").encode())
        else:
            rows = frame.to_csv(header=False, index=False, float_format=R_DIGITS, lineterminator="\n")
            stream.write("".join(f"{_quoted(gene)},{row}\n" for gene, row in
                                 zip(genes[start:stop], rows.splitlines())).encode())


def matrix_csv(
    genes: Sequence[str], samples: Sequence[str], values: str = "counts", seed: int = 0, writer: str = "pandas",
    detected: float = 0.2,
) -> bytes:
    """The CSV file's bytes (see ``write_matrix_csv``); ``matrix_values`` gives what they hold."""
    stream = io.BytesIO()
    write_matrix_csv(stream, genes, samples, values, seed, writer, detected)
    return stream.getvalue()


def _quoted(text: str) -> str:
    """A string as R's ``write.csv`` writes it: in double quotes, a quote inside doubled."""
    return '"' + text.replace('"', '""') + '"'


def _check_writer(writer: str) -> None:
    if writer not in WRITERS:
        raise ValueError(f"writer={writer!r}: give one of {', '.join(WRITERS)}")
