"""Intake catalogs of the Allen Institute's Patch-seq release (DANDI 000020 and 000023).

>>> import patchseq_intake
>>> cat = patchseq_intake.open_catalog()
>>> cat.human.metadata.read()            # doctest: +SKIP
>>> patchseq_intake.read_nwb("cell.nwb").read()   # doctest: +SKIP

Imports ``catalog``, ``version`` and, when ``read_nwb`` is called, ``drivers``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .catalog import CATALOG, open_catalog
from .version import __version__

if TYPE_CHECKING:
    from .drivers.nwb_file import NwbFileSource

__all__ = ["CATALOG", "open_catalog", "read_nwb", "__version__"]


def read_nwb(path: str | Path, headstage: int = 0, device: str | None = None) -> NwbFileSource:
    """One local NWB file as a source: ``.read()`` (its sweep table), ``.sweep(n)``, ``.sweeps([...])``, ``.open_nwb()``.

    Any NWB 2 file MIES wrote (or pynwb, in the same icephys layout); no
    catalog, no network. ``headstage``: whose recordings (0 to 7);
    ``device``: whose sweeps, where several devices recorded the headstage
    (None: all in the table; a sweep number several recorded must name one).
    See ``drivers.nwb_file``.
    """
    from .drivers.nwb_file import NwbFileSource  # here: importing the package loads no table or HDF5 library

    return NwbFileSource(path, headstage=headstage, device=device)
