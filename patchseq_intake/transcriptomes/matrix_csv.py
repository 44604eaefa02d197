"""An expression matrix's CSV text, read as a stream of gene blocks, checked line by line.

The release's matrices hold one row per gene and one column per sample: the
header is an empty cell (``,`` as pandas writes it, ``""`` as R's
``write.csv`` does) then the ``transcriptomics_sample_id`` of each column;
each line after it a gene symbol (quoted or not) then one number per sample.
Blank lines are skipped, as ``pandas.read_csv`` skips them; a UTF-8 byte order
mark and Windows line ends (``\r\n``) are taken.

``MatrixCsv(path).blocks(n)`` gives the gene rows ``n`` at a time, so that at
most one block is in memory: the numbers are parsed by ``numpy.loadtxt``
(correctly rounded, as Python's ``float``: a value written with 17
significant digits comes back as the same float64), and a block that does
not parse is read again field by field to name its first fault.
``ReleaseFileFormatError`` names the file, the line and what is wrong: an
empty file, an HTML page, binary bytes, no header, a repeated or empty sample
id, a line of another length, a value that is not a finite number, a line
without a gene symbol.
"""

from __future__ import annotations

import csv
import io
import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ReleaseFileFormatError

MAX_LINE_BYTES = 64 * 1024 * 1024
"""A longer line is not a matrix row (the release's are ~100 kB: 4435 samples): the file is not a matrix."""
READ_BUFFER_BYTES = 1024 * 1024


@dataclass(frozen=True)
class GeneBlock:
    """Consecutive gene rows: their symbols, their values (genes x samples, float64), the line of the first."""

    genes: list[str]
    values: np.ndarray
    first_line: int


class _Counted(io.RawIOBase):
    """A binary file that tells ``progress`` the bytes read from it."""

    def __init__(self, raw: io.RawIOBase, progress: Callable[[int], None] | None):
        self._raw, self._progress = raw, progress

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        count = self._raw.readinto(buffer)
        if count and self._progress is not None:
            self._progress(count)
        return count

    def close(self) -> None:
        self._raw.close()
        super().close()


class MatrixCsv:
    """A matrix CSV opened for one pass: ``samples`` (read from the header on opening), then ``blocks()``.

    ``progress(n)`` is called with the bytes read from the file as they are
    read. Use as a context manager, or call ``close``.
    """

    def __init__(self, path: Path, progress: Callable[[int], None] | None = None):
        self.path = Path(path)
        self.line = 0
        raw = _Counted(open(self.path, "rb", buffering=0), progress)  # noqa: SIM115 (closed by close())
        self._lines = io.BufferedReader(raw, READ_BUFFER_BYTES)
        try:
            self.samples = self._header()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> MatrixCsv:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._lines.close()

    def error(self, line: int | None, problem: str) -> ReleaseFileFormatError:
        """The error for ``problem`` at ``line`` (None: the file as a whole)."""
        where = f", line {line}" if line is not None else ""
        return ReleaseFileFormatError(f"{self.path}{where}: {problem}; an expression matrix is a CSV file whose header "
                                      "is an empty cell then the sample ids, and each line after it a gene symbol "
                                      "then one number per sample")

    def _next_line(self) -> str | None:
        """The next line that is not blank, without its line end; None at the end of the file."""
        while True:
            line = self._lines.readline(MAX_LINE_BYTES)
            if not line:
                return None
            self.line += 1
            if len(line) == MAX_LINE_BYTES and not line.endswith(b"\n"):
                raise self.error(self.line, f"a line longer than {MAX_LINE_BYTES} bytes: not a matrix row")
            if self.line == 1:
                line = line.removeprefix(b"\xef\xbb\xbf")  # a byte order mark
            try:
                text = line.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as exc:
                raise self.error(self.line, f"bytes that are not UTF-8 text ({exc.reason}): not a CSV file "
                                            "(a compressed or binary file?)") from exc
            if "\x00" in text:
                raise self.error(self.line, "NUL bytes: not a CSV text file (a tar or other binary file?)")
            if text.strip():
                return text

    def _header(self) -> tuple[str, ...]:
        first = self._next_line()
        if first is None:
            raise self.error(None, "the file is empty")
        start = first.lstrip().lower()
        if start.startswith("<") and ("html" in start or "<body" in start):
            raise self.error(self.line, "an HTML page, not a CSV file (a server's error or login page saved as the "
                                        "file?)")
        fields = next(csv.reader([first]))
        samples = fields[1:]
        if not samples:
            raise self.error(self.line, f"the header has {len(fields)} field, so no sample")
        if all(_is_number(sample) for sample in samples):
            raise self.error(self.line, "numbers where the header's sample ids should be: the file has no header")
        seen: dict[str, int] = {}
        for column, sample in enumerate(samples, start=2):
            if not sample.strip():
                raise self.error(self.line, f"column {column} of the header is empty: every sample needs its id")
            if sample in seen:
                raise self.error(self.line, f"the sample id {sample!r} heads columns {seen[sample]} and {column}")
            seen[sample] = column
        return tuple(samples)

    def blocks(self, genes_per_block: int) -> Iterator[GeneBlock]:
        """The gene rows, ``genes_per_block`` at a time (the last may hold fewer); at least one, or an error."""
        any_row = False
        while True:
            lines, numbers = [], []
            while len(lines) < genes_per_block and (text := self._next_line()) is not None:
                lines.append(text)
                numbers.append(self.line)
            if not lines:
                break
            any_row = True
            yield self._block(lines, numbers)
        if not any_row:
            raise self.error(None, "a header and no gene row")

    def _block(self, lines: list[str], numbers: list[int]) -> GeneBlock:
        genes, rests = [], []
        for text in lines:
            gene, rest = _split_gene(text)
            genes.append(gene)
            rests.append(rest)
        try:
            with warnings.catch_warnings():  # a line of a gene alone is "no data" to numpy: diagnosed below
                warnings.simplefilter("ignore", UserWarning)
                values = np.loadtxt(rests, delimiter=",", quotechar='"', comments=None, dtype=np.float64, ndmin=2)
        except ValueError:
            values = None
        if (values is None or values.shape != (len(lines), len(self.samples)) or not np.isfinite(values).all()
                or not all(gene.strip() for gene in genes)):
            self._diagnose(lines, numbers)
            raise self.error(numbers[0], f"lines {numbers[0]} to {numbers[-1]} cannot be read as numbers")
        return GeneBlock(genes, values, numbers[0])

    def _diagnose(self, lines: list[str], numbers: list[int]) -> None:
        """Read ``lines`` field by field and raise the error of the first fault found."""
        width = len(self.samples) + 1
        for text, line in zip(lines, numbers):
            fields = next(csv.reader([text]))
            if len(fields) != width:
                raise self.error(line, f"{len(fields)} fields, where the header has {width} (the gene symbol and "
                                       f"{len(self.samples)} samples)")
            if not fields[0].strip():
                raise self.error(line, "no gene symbol: the first field is empty")
            for column, (sample, value) in enumerate(zip(self.samples, fields[1:]), start=2):
                if not _is_number(value):
                    raise self.error(line, f"column {column} (sample {sample}) holds {value!r}, not a number")
                if not math.isfinite(float(value)):
                    raise self.error(line, f"column {column} (sample {sample}) holds {value!r}, not a finite number")


def _split_gene(text: str) -> tuple[str, str]:
    """A row's gene symbol (unquoted as R quotes it) and the rest of the line after its comma."""
    if text.startswith('"'):
        end = text.find('",', 1)
        if end > 0:
            return text[1:end].replace('""', '"'), text[end + 2:]
    gene, _, rest = text.partition(",")
    return gene, rest


def _is_number(text: str) -> bool:
    """Whether ``text`` is a number as ``numpy.loadtxt`` reads one (no ``_`` separators, which ``float`` takes)."""
    try:
        float(text)
    except ValueError:
        return False
    return "_" not in text
