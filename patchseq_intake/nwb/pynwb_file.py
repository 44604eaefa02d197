"""A release file as pynwb reads it: with the schemas it caches, and pynwb's notices shown once.

The release's files cache NWB core 2.2.4, hdmf-common 1.1.3 and the
``ndx-mies`` 0.1.0 extension; pynwb reads them with ``load_namespaces=True``
(it keeps its own, newer core and hdmf-common). On every file it says the
same few things about their age: an ``IZeroClampSeries``'s stimulus
description is set to "N/A", ``icephys_filtering`` is no longer used, cached
namespaces are ignored. Each kind of notice is shown once per process, not
once per series and file. (The notices are caught with
``warnings.catch_warnings``, which is process-wide: a warning another thread
raises while a file is being opened is caught with them.)
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import h5py

_shown: set[tuple[type[Warning], str]] = set()
_QUOTED = re.compile(r"'[^']*'")


@contextmanager
def read_nwb(h5: h5py.File) -> Iterator[Any]:
    """The ``pynwb.NWBFile`` of an open file, for the ``with`` block."""
    import pynwb

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        io = pynwb.NWBHDF5IO(file=h5, mode="r", load_namespaces=True)
        try:
            nwb = io.read()
        except BaseException:
            io.close()
            raise
    _show_once(caught)
    try:
        yield nwb
    finally:
        io.close()


def _show_once(caught: list[warnings.WarningMessage]) -> None:
    """Re-issue each kind of warning (its text, names left out) the first time this process sees it."""
    for warning in caught:
        kind = (warning.category, _QUOTED.sub("'…'", str(warning.message)))
        if kind not in _shown:
            _shown.add(kind)
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
