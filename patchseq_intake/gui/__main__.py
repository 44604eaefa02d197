"""``python -m patchseq_intake.gui``: serve intake's GUI on the catalog (see ``catalog_gui``)."""

from .catalog_gui import main

main()
