"""Settings read from the environment, each with a documented default.

Every function reads the environment when called, so a change made after
import (in a notebook, or by a test) takes effect on the next read.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "PATCHSEQ_INTAKE_CACHE"
TABLES_ENV = "PATCHSEQ_INTAKE_TABLES"
OFFLINE_ENV = "PATCHSEQ_INTAKE_OFFLINE"
DANDI_API_ENV = "PATCHSEQ_INTAKE_DANDI_API"
LOCAL_ROOT_ENV = "PATCHSEQ_INTAKE_LOCAL_ROOT"

DANDI_API = "https://api.dandiarchive.org/api"

_TRUE = {"1", "true", "yes", "on"}


def cache_dir() -> Path:
    """The cache directory: ``$PATCHSEQ_INTAKE_CACHE``, else the user cache dir."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("patchseq-intake"))


def tables_source() -> str | None:
    """A base URL or directory holding the release tables, or None for upstream."""
    return os.environ.get(TABLES_ENV) or None


def offline() -> bool:
    """True when ``PATCHSEQ_INTAKE_OFFLINE`` forbids every network access."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in _TRUE


def dandi_api() -> str:
    """Base URL of the DANDI REST API: ``$PATCHSEQ_INTAKE_DANDI_API``, else DANDI's own."""
    return (os.environ.get(DANDI_API_ENV) or DANDI_API).rstrip("/")


def local_root() -> Path | None:
    """A local copy of the dandisets, as ``dandi download`` lays them out, if configured."""
    configured = os.environ.get(LOCAL_ROOT_ENV)
    return Path(configured).expanduser() if configured else None
