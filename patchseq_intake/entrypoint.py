"""Target of the ``intake.catalogs`` entry point: ``intake.cat.patchseq``.

Imported only when intake looks the entry point up, so ``import patchseq_intake``
itself does not parse the catalogs.
"""

from .catalog import open_catalog

patchseq = open_catalog()
