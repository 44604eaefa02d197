"""``python -m patchseq_intake``: the command line."""

import sys

from .cli import main

sys.exit(main())
