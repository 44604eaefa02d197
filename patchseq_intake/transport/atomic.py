"""Write files so that they appear complete under their final name, or not at all."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_output(dest: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; rename it to ``dest`` on success.

    If the block raises, the temporary file is removed and ``dest`` is left as
    it was. The temporary name starts with a dot and ends in ``.part``, so it
    is never taken for a finished file. ``dest``'s directory must exist.
    """
    partial = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.part")
    try:
        yield partial
        os.replace(partial, dest)
    finally:
        partial.unlink(missing_ok=True)
