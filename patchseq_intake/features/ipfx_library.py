"""IPFX, the optional extra ``features``: imported on first use, or a one-line error that says what to install."""

from __future__ import annotations

import warnings
from functools import cache
from types import ModuleType

INSTALL = 'pip install "patchseq-intake[features]" (from a clone of the project: pip install ".[features]")'
"""How to install IPFX: the package's ``features`` extra (IPFX 2.1, which pins pynwb 3.1.2)."""


class IpfxMissingError(ImportError):
    """IPFX is not installed: features need the ``features`` extra."""


@cache
def ipfx() -> ModuleType:
    """The ``ipfx`` module, with the parts the package uses imported; ``IpfxMissingError`` (an ``ImportError``)
    naming the extra where it is not installed.

    Importing ``ipfx.bin.run_feature_collection`` imports argschema, whose
    deprecation notices about marshmallow concern IPFX's command-line schema,
    not the user: they are not shown.
    """
    try:
        import ipfx
    except ImportError:
        raise IpfxMissingError(f"features are computed by IPFX, which is not installed: {INSTALL}") from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import ipfx.bin.run_feature_collection  # noqa: F401
        import ipfx.dataset.ephys_data_set  # noqa: F401
        import ipfx.script_utils  # noqa: F401
    return ipfx


@cache
def ipfx_version() -> str:
    """IPFX's version, part of every cached result's key: from its installed metadata, without importing it
    (importing IPFX takes about a second; a cached result needs none); ``IpfxMissingError`` where it is missing."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ipfx")
    except PackageNotFoundError:  # not installed, or importable without its metadata (a source checkout)
        pass
    return str(ipfx().__version__)
