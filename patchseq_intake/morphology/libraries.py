"""A reconstruction as an object of a well-kept morphology library, for morphometrics: morphio and NeuroM.

The package computes no morphometrics; these libraries do (NeuroM's
``neurom.features.get("total_length", m)``, ``"number_of_sections"``, Sholl
analyses, ...). They are the optional extra ``morphology``
(``pip install "patchseq-intake[morphology]"``); without it, ``ImportError``
says so in one line.

What morphio 3.5 (and so NeuroM 4, which reads SWC through it) makes of
SWC variants, tried on small files:

- accepted: a one-sample soma (the Allen's files), the NeuroMorpho
  three-point soma, a soma of several samples (read as cylinders); types 0
  and 5 and above (custom); ids from 0 or any number, in any order, children
  before parents; tabs, CRLF, comments after samples; bifurcations and
  trifurcations; zero-length segments; a neurite whose root has parent -1
  (a warning: "found a disconnected neurite"), a file without a soma (a
  warning); an eighth column (ignored);
- refused: two somata ("Multiple somata found"); a type that changes along
  a section, without a branch ("Section type changed without a bifucation":
  an axon that leaves a dendrite, which the Allen's reconstructions have,
  reads with ``options=morphio.Option.allow_unifurcated_section_change``,
  as a section of each type, and NeuroM then counts it per type with
  ``process_subtrees=True``); a sample that is its own parent; a soma sample
  whose parent is a neurite; a negative id; ids written as ``1.0`` (its own
  parser misreads them: ``read_swc`` takes them);
- dropped without a word: samples on a cycle of parents (``read_swc``
  does not check for cycles either).

morphio keeps points as float32 (about 7 digits: 0.5 nm at 5000 µm) and
starts a neurite at its first sample: the link from the soma is no part of
any section, nor of NeuroM's lengths; each child section starts with a copy
of its branch point.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ReleaseFileFormatError

if TYPE_CHECKING:
    import morphio
    import neurom.core

INSTALL = 'pip install "patchseq-intake[morphology]" (from a clone of the project: pip install ".[morphology]")'
"""How to install the libraries: the package's ``morphology`` extra (morphio, NeuroM)."""
_ESCAPES = re.compile(r"\x1b\[[0-9;]*m")
_TYPE_CHANGE = "Section type changed"


def load_morphio(path: str | os.PathLike, *, options: int = 0) -> morphio.Morphology:
    """The SWC file at ``path`` as a ``morphio.Morphology`` (immutable; points float32, µm).

    ``options``: morphio's ``Option`` flags (0: its defaults). ``path`` must
    end in ``.swc`` (morphio chooses its reader by the suffix).
    ``FileNotFoundError`` if there is no file; ``ReleaseFileFormatError``
    naming the file and morphio's reason where morphio refuses it; ``ImportError``
    without the ``morphology`` extra.
    """
    morphio = _morphio()
    if not Path(path).is_file():
        raise FileNotFoundError(f"{os.fspath(path)}: no such file, so no reconstruction to load")
    try:
        return morphio.Morphology(os.fspath(path), options=options)
    except morphio.MorphioError as error:
        raise ReleaseFileFormatError(_refusal(path, error)) from error


def load_neurom(path: str | os.PathLike, *, options: int = 0, process_subtrees: bool = False) -> neurom.core.Morphology:
    """The SWC file at ``path`` as NeuroM's morphology (``neurom.load_morphology`` of ``load_morphio(path)``).

    ``options``: morphio's ``Option`` flags for the reading; ``process_subtrees``:
    NeuroM's, to count a neurite of several types (an axon on a dendrite) per
    type. Errors as ``load_morphio``'s.
    """
    try:
        import neurom
    except ImportError as error:
        raise ImportError(f"neurom is not installed: {INSTALL}", name="neurom") from error
    return neurom.load_morphology(load_morphio(path, options=options), process_subtrees=process_subtrees)


def _morphio() -> Any:
    try:
        import morphio
    except ImportError as error:
        raise ImportError(f"morphio is not installed: {INSTALL}", name="morphio") from error
    return morphio


def _refusal(path: str | os.PathLike, error: Exception) -> str:
    """morphio's reason for refusing the file, on one line, without its terminal colours; with the way round it
    where there is one."""
    reason = " ".join(_ESCAPES.sub("", str(error)).split())
    advice = ("; an axon on a dendrite reads with options=morphio.Option.allow_unifurcated_section_change"
              if _TYPE_CHANGE in reason else "")
    return f"{os.fspath(path)}: morphio cannot read it: {reason}{advice}"
