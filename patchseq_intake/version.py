"""The package's version (also in pyproject.toml), for the drivers' ``version`` and ``--version``."""

__version__ = "0.1.0"
