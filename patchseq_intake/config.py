"""Settings read from the environment, each with a documented default.

Every function reads the environment when called, so a change made after
import (in a notebook, or by a test) takes effect on the next read.

Work shipped to other processes (Dask workers) carries the caller's settings
with it: ``snapshot()`` takes them, ``using(snapshot)`` applies them for the
duration of a task, in that task's context only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from urllib.parse import urlparse

from .errors import SettingError

CACHE_ENV = "PATCHSEQ_INTAKE_CACHE"
TABLES_ENV = "PATCHSEQ_INTAKE_TABLES"
OFFLINE_ENV = "PATCHSEQ_INTAKE_OFFLINE"
DANDI_API_ENV = "PATCHSEQ_INTAKE_DANDI_API"
LOCAL_ROOT_ENV = "PATCHSEQ_INTAKE_LOCAL_ROOT"
TIMEOUT_ENV = "PATCHSEQ_INTAKE_TIMEOUT"
UNPINNED_TABLES_ENV = "PATCHSEQ_INTAKE_UNPINNED_TABLES"
BIL_ENV = "PATCHSEQ_INTAKE_BIL"
NEMO_ENV = "PATCHSEQ_INTAKE_NEMO"
INDEX_STORE_ENV = "PATCHSEQ_INTAKE_INDEX_STORE"
FIRST_CONTACT_ENV = "PATCHSEQ_INTAKE_FIRST_CONTACT"
FIRST_CONTACTS = ("auto", "walk", "download")

DEFAULT_TIMEOUT_S = 15.0
"""Seconds a request may go without progress (to connect, to its first byte, between its bytes)."""

DANDI_API = "https://api.dandiarchive.org/api"
DANDI_S3 = "https://dandiarchive.s3.amazonaws.com"
"""Where DANDI's blobs live: ``<DANDI_S3>/blobs/<b[0:3]>/<b[3:6]>/<blob id>``."""

BIL = "https://download.brainimagelibrary.org"
"""The Brain Image Library's HTTPS file server: the release's SWC files, at the paths of its dead FTP server."""
NEMO = "https://data.nemoarchive.org"
"""NeMO's HTTPS file server: the release's transcriptomes (tars), under ``other/AIBS/AIBS_patchseq/`` since 2021."""

TABLES_DIR, DANDI_DIR, NWB_DIR, INDEX_DIR = "tables", "dandi", "nwb", "index"
"""The cache's parts: release tables (parquet), DANDI asset indexes (JSON), NWB files, their indexes (JSON)."""
FILES_DIR, STORES_DIR = "files", "stores"
"""More parts: the release's files from BIL and NeMO (by the manifest's SHA-256), expression matrices as stores."""
FEATURES_DIR = "features"
"""IPFX's features of each NWB file (JSON), by the file's checksum, IPFX's version and the parameters."""

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}
SETTINGS = (
    CACHE_ENV, TABLES_ENV, OFFLINE_ENV, DANDI_API_ENV, LOCAL_ROOT_ENV, TIMEOUT_ENV, UNPINNED_TABLES_ENV, BIL_ENV,
    NEMO_ENV, INDEX_STORE_ENV, FIRST_CONTACT_ENV,
)
_applied: ContextVar[Mapping[str, str] | None] = ContextVar("patchseq_intake_settings", default=None)


def _setting(name: str) -> str | None:
    applied = _applied.get()
    return applied.get(name) if applied is not None else os.environ.get(name)


def snapshot() -> dict[str, str]:
    """The settings in force here, to carry to another process."""
    return {name: value for name in SETTINGS if (value := _setting(name)) is not None}


@contextmanager
def using(settings: Mapping[str, str]) -> Iterator[None]:
    """Apply a ``snapshot()`` instead of the environment, in this context only."""
    token = _applied.set(dict(settings))
    try:
        yield
    finally:
        _applied.reset(token)


def cache_dir() -> Path:
    """The cache directory: ``$PATCHSEQ_INTAKE_CACHE``, else the user cache dir."""
    configured = _setting(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("patchseq-intake"))


def tables_source() -> str | None:
    """A base URL or directory holding the release tables, or None for upstream."""
    return _setting(TABLES_ENV) or None


def _switch(name: str) -> bool:
    """An on/off setting: ``1 true yes on`` (any case) is on; unset, empty, ``0 false no off`` off.

    ``SettingError`` naming the variable and those values for anything else
    (``PATCHSEQ_INTAKE_OFFLINE=offline`` must not silently mean online).
    """
    value = (_setting(name) or "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SettingError(
        f"{name}={_setting(name)!r}: give 1, true, yes or on to turn it on; 0, false, no, off or nothing to turn it off"
    )


def offline() -> bool:
    """True when ``PATCHSEQ_INTAKE_OFFLINE`` forbids every network access (see ``_switch`` for its values)."""
    return _switch(OFFLINE_ENV)


def dandi_api() -> str:
    """Base URL of the DANDI REST API: ``$PATCHSEQ_INTAKE_DANDI_API``, else DANDI's own."""
    return (_setting(DANDI_API_ENV) or DANDI_API).rstrip("/")


ARCHIVE_HOMES = {"BIL": (BIL_ENV, BIL), "NEMO": (NEMO_ENV, NEMO)}
"""Each archive the manifest names besides DANDI (its ``archive`` column): the setting naming its base URL, the default."""


def archive_base(archive: str) -> str:
    """Base URL of ``archive``'s (``BIL`` or ``NEMO``) file server: ``$PATCHSEQ_INTAKE_BIL`` / ``_NEMO``, else the live home.

    A mirror or a test server stands in by holding the same paths under its base.
    ``KeyError`` for an archive that is not one of ``ARCHIVE_HOMES``.
    """
    setting, default = ARCHIVE_HOMES[archive]
    base = (_setting(setting) or "").strip() or default
    if urlparse(base).scheme not in ("http", "https") or not urlparse(base).netloc:
        raise SettingError(f"{setting}={base!r}: give the base URL of a server, e.g. {default}")
    return base.rstrip("/")


def local_root() -> Path | None:
    """A local copy of the dandisets, as ``dandi download`` lays them out, if configured."""
    configured = _setting(LOCAL_ROOT_ENV)
    return Path(configured).expanduser() if configured else None


def index_store() -> str | None:
    """Where files' indexes are shared beyond this cache: ``$PATCHSEQ_INTAKE_INDEX_STORE``, else None (none).

    Any fsspec URL (a shared folder's path, ``file://``, ``s3://``, ``gs://``,
    ``memory://``) or an ``http(s)://`` base URL, read-only; see ``access.index_store``.
    """
    return (_setting(INDEX_STORE_ENV) or "").strip() or None


def first_contact() -> str:
    """How stream mode first reads a file to index it: ``$PATCHSEQ_INTAKE_FIRST_CONTACT``, else ``auto``.

    ``auto`` walks the headers or downloads the file, whichever the measured
    link makes cheaper; ``walk`` or ``download`` always does that (see
    ``access.first_contact``). ``SettingError`` naming the variable for another value.
    """
    configured = (_setting(FIRST_CONTACT_ENV) or "").strip().lower() or "auto"
    if configured not in FIRST_CONTACTS:
        raise SettingError(f"{FIRST_CONTACT_ENV}={configured!r}: give one of {', '.join(FIRST_CONTACTS)}")
    return configured


def timeout_s() -> float:
    """Seconds a request may go without progress before it is given up: ``$PATCHSEQ_INTAKE_TIMEOUT``, else 15.

    ``SettingError`` naming the variable if it is not a positive, finite number of seconds.
    """
    configured = (_setting(TIMEOUT_ENV) or "").strip()
    if not configured:
        return DEFAULT_TIMEOUT_S
    try:
        seconds = float(configured)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds < float("inf"):
        raise SettingError(f"{TIMEOUT_ENV}={configured!r}: give a positive, finite number of seconds, e.g. 30")
    return seconds


def unpinned_tables() -> bool:
    """True when ``PATCHSEQ_INTAKE_UNPINNED_TABLES`` accepts tables from ``PATCHSEQ_INTAKE_TABLES`` unverified.

    For one's own edited tables only: a mirror of the release holds the
    release's bytes, which are checked against the catalog's SHA-256.
    """
    return _switch(UNPINNED_TABLES_ENV)


def check() -> None:
    """Read every setting that has a form to check, so that a bad value is refused at once.

    ``SettingError`` naming the first bad one. Without this, a bad value
    would be refused only when it is first needed (a download), and the same
    command would work or fail by what the cache holds.
    """
    offline()
    unpinned_tables()
    timeout_s()
    first_contact()
    for archive in ARCHIVE_HOMES:
        archive_base(archive)
