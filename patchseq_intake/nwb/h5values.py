"""Values as MIES and pynwb store them in HDF5, as plain Python.

MIES writes numbers as 1-element arrays (``starting_time``, ``gain``) and
text datasets as variable-length strings, which h5py returns as ``bytes``;
newer MIES writes text attributes as fixed-length strings (``numpy.bytes_``);
pynwb writes scalars. These helpers take any of them.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def scalar(value: Any) -> Any:
    """The one value of a scalar or a 1-element array; anything else unchanged."""
    array = np.asarray(value)
    return array.reshape(-1)[0] if array.size == 1 else value


def text(value: Any) -> str:
    """A text value (``str``, ``bytes``, ``numpy.bytes_``, or a 1-element array of one) as ``str``."""
    value = scalar(value)
    return value.decode() if isinstance(value, (bytes, np.bytes_)) else str(value)


def number(value: Any) -> float:
    """A number (scalar or 1-element array) as ``float``."""
    return float(scalar(value))
