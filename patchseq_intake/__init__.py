"""Intake catalogs of the Allen Institute's Patch-seq release (DANDI 000020 and 000023).

>>> import patchseq_intake
>>> cat = patchseq_intake.open_catalog()
>>> cat.human.metadata.read()            # doctest: +SKIP
"""

from __future__ import annotations

__version__ = "0.1.0"

from .catalog import CATALOG, open_catalog  # noqa: E402

__all__ = ["CATALOG", "open_catalog", "__version__"]
