"""A store of files' indexes shared beyond one cache: a lab's folder, a bucket, a web server.

A file's index (``cell_index``) depends only on the file's bytes and the
code that derived it, so one built anywhere serves everyone: a cluster or a
lab walks each file once, ever. The store is named by a URL: a folder's
path (a shared file system) or ``file://``, and any fsspec URL
(``s3://bucket/prefix``, ``gs://...`` with s3fs or gcsfs installed;
``memory://`` in tests), read and written; an ``http(s)://`` base URL, read
only (with the package's own transport: bounded answers, its timeout; fsspec's
HTTP needs aiohttp, which the package does not install). The URL in force
(``in_force``): the one given (the ``index_store`` parameter, carried by
``modes.Access``), else the one chosen for this context (``using``), else
``$PATCHSEQ_INTAKE_INDEX_STORE``; none by default. A plain relative path is
made absolute where the store is named (``located``: the ``Access`` made in the
caller's process, the variable's value where it is read), so that a worker with
another working directory uses the same folder; a plain path with ``//`` in it
(``s3//bucket``) is refused as a mistyped URL.

An index is the object ``<url>/<name>`` (``cell_index.store_name``: the
file's checksum, the index schema and the deriving code's digest, so that
two versions of the package in one lab keep their own). Written whole or not
at all: in a folder a temporary file renamed over it, elsewhere one put (an
object store's put is atomic), so two workers writing at once leave one
valid index. What is read from a store is judged by ``cell_index`` exactly as
a cached index is, never trusted as it comes.

A store is never an error to a reader: one that cannot be read (unreachable,
a missing backend, an unknown protocol) is not asked again by this process,
one that cannot be written (``http(s)``, a folder without write permission)
is not written again, and either is said once a process and store
(``IndexStoreWarning``); the reader goes on with the local cache and the
file. Absent objects (404, 410; and 403, which S3 answers for a missing
object where listing is not public) are misses. Offline
(``PATCHSEQ_INTAKE_OFFLINE``), only folders and ``memory://`` stores are used.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from .. import config
from ..errors import CacheIntegrityWarning, FetchError, IndexStoreWarning, SettingError, caller_stacklevel
from ..transport.answers import RetryPolicy
from ..transport.atomic import atomic_output

logger = logging.getLogger(__name__)

MAX_INDEX_BYTES = 64 * 1024 * 1024
"""An index larger than this is refused unread (the release's largest files' are well under a megabyte)."""
FOLDER_PROTOCOLS = ("file", "local")
OFFLINE_PROTOCOLS = (*FOLDER_PROTOCOLS, "memory")
"""Stores that are no network: used also under ``PATCHSEQ_INTAKE_OFFLINE``."""
READ_ONLY_PROTOCOLS = ("http", "https")
BACKENDS = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs"}
"""fsspec's backend packages for the object stores, which no extra of this package installs."""
ABSENT_STATUSES = (403, 404, 410)
STORE_RETRY = RetryPolicy(attempts=2, backoff_s=0.1, stall_attempts=1, max_total_wait_s=2.0)
"""A store is a shortcut: a failing one is given up quickly, and the reader walks the file instead."""

_chosen: ContextVar[str | None] = ContextVar("patchseq_intake_index_store", default=None)
_lock = threading.Lock()
_unreadable: set[str] = set()
"""Stores this process could not read: not asked again."""
_unwritable: set[str] = set()
"""Stores this process could not write: not written again."""
_said: set[str] = set()
"""Stores and objects this process has warned of (once each)."""


class StoreUnusable(Exception):
    """The store cannot be read or written as asked: ``str()`` says why, naming the URL."""


def in_force(given: str | None = None) -> str | None:
    """The store's URL: ``given`` (not None), else the one chosen for this context, else the variable's; None: none.

    Empty text, given or chosen, is none (``using("")``: no store, whatever the variable says). The variable's
    value is ``located`` here (``SettingError`` naming it for a mistyped URL); ``given`` and chosen URLs are
    taken as their makers located them (``modes.Access`` does, in the caller's process).
    """
    chosen = given if given is not None else _chosen.get()
    if chosen is None:
        return configured()
    return chosen.strip().rstrip("/") or None


def configured() -> str | None:
    """``$PATCHSEQ_INTAKE_INDEX_STORE``'s store, ``located`` in this process; None: not set (or empty).

    ``SettingError`` naming the variable if its value looks like a mistyped URL.
    """
    value = config.index_store()
    if value is None:
        return None
    try:
        return located(value)
    except ValueError as exc:
        raise SettingError(f"{config.INDEX_STORE_ENV}={value!r}: {exc}") from None


def located(url: str) -> str:
    """``url`` as a store's name that means the same in every process: a plain path (no ``://``) made absolute
    against this process's working directory (``~`` expanded), so that a Dask worker started elsewhere, or a
    later command, finds the same folder; a URL as given. Surrounding blanks and trailing ``/`` dropped.

    ``ValueError`` (saying why, and the forms expected) for a plain path with ``//`` in it: a mistyped URL
    (``s3//bucket``), which would otherwise become a folder under the working directory.
    """
    url = url.strip().rstrip("/")
    if not url or "://" in url or "::" in url:  # empty: none; a URL, or fsspec's chained URL, as given
        return url
    if "//" in url:
        raise ValueError(f"{url} looks like a mistyped URL (it has // but no ://): give a folder's path, or a "
                         "file://, s3://, gs:// or http(s):// URL")
    return os.path.abspath(os.path.expanduser(url))


@contextmanager
def using(url: str | None) -> Iterator[None]:
    """Indexes are read and written through the store at ``url`` in this context only (None: the variable's;
    empty: none). The drivers enter it with their ``Access.index_store``, around each cell's reader."""
    token = _chosen.set(url)
    try:
        yield
    finally:
        _chosen.reset(token)


def protocol(url: str) -> str:
    """The fsspec protocol of ``url``: ``file`` for a plain path."""
    from fsspec.utils import get_protocol

    return get_protocol(url)


def fetch(url: str, name: str) -> bytes | None:
    """The object ``name`` of the store at ``url``, or None: absent, or the store unusable (said once, not asked
    again), or a network store while offline."""
    if url in _unreadable or (config.offline() and protocol(url) not in OFFLINE_PROTOCOLS):
        return None
    try:
        return get(url, name)
    except StoreUnusable as exc:
        with _lock:
            _unreadable.add(url)
        _say(url, f"{exc}; it is not asked again by this process: indexes come from this cache or the files")
        return None


def keep(url: str, name: str, data: bytes) -> None:
    """Write ``data`` as the object ``name`` of the store at ``url``, atomically; a store that cannot be written is
    said once, and not written again by this process."""
    if url in _unreadable or url in _unwritable or (config.offline() and protocol(url) not in OFFLINE_PROTOCOLS):
        return
    try:
        put(url, name, data)
    except StoreUnusable as exc:
        with _lock:
            _unwritable.add(url)
        _say(url, f"{exc}; the indexes built here are kept in this cache only")


def distrusted(url: str, name: str, problem: str) -> None:
    """Say once (``CacheIntegrityWarning``) that the store's object ``name`` is not to be trusted, and why."""
    where = f"{url}/{name}"
    with _lock:
        if where in _said:
            return
        _said.add(where)
    warnings.warn(
        f"{where}: this index in the store {url} does not match its file ({problem}): ignored, built again and "
        "replaced",
        CacheIntegrityWarning,
        stacklevel=caller_stacklevel(),
    )


def get(url: str, name: str) -> bytes | None:
    """The object ``name`` of the store at ``url``; None if absent. ``StoreUnusable`` if the store cannot be read."""
    where = f"{url}/{name}"
    kind = protocol(url)
    if kind in READ_ONLY_PROTOCOLS:
        return _http_get(where)
    try:
        if kind in FOLDER_PROTOCOLS:
            return _folder(url).joinpath(name).read_bytes()
        filesystem, path = _filesystem(url)
        return filesystem.cat_file(f"{path}/{name}")
    except FileNotFoundError:
        return None
    except StoreUnusable:
        raise
    except Exception as exc:  # noqa: BLE001 - each fsspec backend raises its own classes (botocore's, aiohttp's)
        raise StoreUnusable(f"the index store {url} cannot be read ({type(exc).__name__}: {exc})") from exc


def put(url: str, name: str, data: bytes) -> None:
    """Write ``data`` as the object ``name`` of the store at ``url``, whole or not at all.

    ``StoreUnusable`` if it cannot be written (an ``http(s)`` store is read-only).
    """
    kind = protocol(url)
    if kind in READ_ONLY_PROTOCOLS:
        raise StoreUnusable(f"the index store {url} is read-only ({kind}): give a folder, file://, s3:// or gs:// "
                            "URL to write to")
    try:
        if kind in FOLDER_PROTOCOLS:
            folder = _folder(url)
            folder.mkdir(parents=True, exist_ok=True)
            with atomic_output(folder / name) as partial:
                partial.write_bytes(data)
            return
        filesystem, path = _filesystem(url)
        filesystem.pipe_file(f"{path}/{name}", data)  # one put: an object store's puts are atomic
    except StoreUnusable:
        raise
    except Exception as exc:  # noqa: BLE001 - as in get
        raise StoreUnusable(f"the index store {url} cannot be written ({type(exc).__name__}: {exc})") from exc


def _folder(url: str) -> Path:
    """The local folder of a ``file://`` URL or a path (``~`` expanded; a relative path from the working directory)."""
    from fsspec.core import strip_protocol

    return Path(strip_protocol(url))


def _filesystem(url: str) -> tuple[Any, str]:
    """fsspec's file system of ``url`` and the store's path in it; ``StoreUnusable`` naming what to install."""
    from fsspec.core import url_to_fs

    try:
        filesystem, path = url_to_fs(url)
    except ImportError as exc:
        backend = BACKENDS.get(protocol(url))
        install = f"pip install {backend}" if backend else "install fsspec's backend for it"
        raise StoreUnusable(f"the index store {url} needs a package that is not installed ({exc}): {install}") from exc
    except ValueError as exc:
        raise StoreUnusable(f"the index store {url} is not a URL fsspec knows ({exc})") from exc
    return filesystem, path.rstrip("/")


def _http_get(where: str) -> bytes | None:
    """The body at ``where``; None for an absent object (``ABSENT_STATUSES``); ``StoreUnusable`` for the rest."""
    from ..transport.download import get_body

    try:
        return get_body(where, max_bytes=MAX_INDEX_BYTES, retry=STORE_RETRY)[0]
    except FetchError as exc:
        if exc.status in ABSENT_STATUSES:
            return None
        raise StoreUnusable(f"the index store {where.rpartition('/')[0]} cannot be read ({exc})") from exc


def _say(url: str, message: str) -> None:
    """``IndexStoreWarning`` with ``message``, once a process for the store at ``url``."""
    with _lock:
        if url in _said:
            logger.debug("%s", message)
            return
        _said.add(url)
    warnings.warn(message, IndexStoreWarning, stacklevel=caller_stacklevel())
