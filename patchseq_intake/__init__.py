"""Intake catalogs of the Allen Institute's Patch-seq release (DANDI 000020 and 000023).

>>> import patchseq_intake
>>> cat = patchseq_intake.open_catalog()
>>> cat.human.metadata.read()            # doctest: +SKIP
"""

from __future__ import annotations

from .catalog import CATALOG, open_catalog
from .version import __version__

__all__ = ["CATALOG", "open_catalog", "__version__"]
