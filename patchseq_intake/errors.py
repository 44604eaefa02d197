"""The errors patchseq-intake raises; each message says what was wrong and what would be right."""

from __future__ import annotations

import os
import reprlib
import sys
from pathlib import Path
from typing import Any

_NOT_THE_CALLER = (
    str(Path(__file__).resolve().parent), f"{os.sep}intake{os.sep}", f"{os.sep}functools.py", f"{os.sep}dask{os.sep}"
)
"""Where a warning's caller is not: this package, intake's sources, ``functools`` (a ``cached_property``), Dask."""


class PatchseqError(Exception):
    """Base class of every error raised by patchseq-intake."""


class SettingError(PatchseqError, ValueError):
    """A ``PATCHSEQ_INTAKE_*`` environment variable with a value it does not take; the message lists those it does."""


class FetchError(PatchseqError):
    """A file could not be fetched from its URL; ``status`` is the HTTP status, if any."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class ServerAnswerError(FetchError):
    """A server's answer is not what its protocol promises: not JSON, another shape, a value unsafe to use as
    a path, an encoding not asked for, or more bytes than asked. The message names the server and the value."""


class UnresponsiveServerError(FetchError):
    """A server that did not connect, answer or keep sending within ``PATCHSEQ_INTAKE_TIMEOUT``, on every attempt."""


class CacheError(PatchseqError, OSError):
    """The cache cannot be written or read where it is: the message names the path and what to do
    (free space, permissions, or ``PATCHSEQ_INTAKE_CACHE`` to move the cache)."""


class ChecksumError(PatchseqError):
    """Fetched bytes do not match the size or checksum they were pinned to, or there is none to check."""


class OfflineError(PatchseqError):
    """The network is needed but ``PATCHSEQ_INTAKE_OFFLINE`` forbids it."""


class TableFormatError(PatchseqError):
    """A release table does not have the columns or values the release has."""


class InvalidQueryError(PatchseqError, ValueError):
    """A filter, column or parameter that the table cannot answer.

    Where it is one filter's or the column selection's fault, ``parameter`` names the parameter
    (``filters``, ``columns``), ``given`` the filter as given, and ``problem`` what is wrong without
    Python's form of it: for the command line to say in its own words (``--filter age_days == abc``).
    """

    def __init__(self, message: str, problem: str | None = None, parameter: str | None = None,
                 given: Any = None):
        super().__init__(message)
        self.problem = problem if problem is not None else message
        self.parameter = parameter
        self.given = given


class UnknownEntryError(PatchseqError, KeyError, AttributeError):
    """A name that is not an entry of a catalog (``cat.rat``, ``cat["rat"]``): the message names its entries.

    A ``KeyError`` for item access and an ``AttributeError`` for attribute access (``hasattr`` is False).
    """

    def __str__(self) -> str:
        return str(self.args[0])


class UnknownCellError(PatchseqError, KeyError):
    """A cell id that is not in the dataset; ``elsewhere``: the archive that holds the cells, if one does.

    The message says, in Python's words, where to find them
    (``cat.<elsewhere>.<entry>``, ``entry`` the entry asked: ``ephys`` by default); the command line says it
    in its own.
    """

    def __init__(self, message: str, elsewhere: str | None = None, entry: str = "ephys"):
        super().__init__(message)
        self.elsewhere = elsewhere
        self.entry = entry

    def __str__(self) -> str:
        return self.without_advice + (f": use cat.{self.elsewhere}.{self.entry}" if self.elsewhere else "")

    @property
    def without_advice(self) -> str:
        """The message, and the archive holding the cells, without saying how to reach it."""
        where = f"; they are cells of the {self.elsewhere} dataset" if self.elsewhere else ""
        return str(self.args[0]) + where


class NoNwbFileError(PatchseqError, LookupError):
    """A cell that neither the release manifest nor the dandiset version has an NWB file for."""


class NoMatchingCellsError(PatchseqError, LookupError):
    """Filters (and ids) that select no cell with an NWB file."""


class UnknownSweepError(PatchseqError, KeyError):
    """A sweep number the file does not have."""

    def __str__(self) -> str:
        return str(self.args[0])


class UnknownHeadstageError(PatchseqError, KeyError):
    """A headstage the file has no recording on."""

    def __str__(self) -> str:
        return str(self.args[0])


class NwbFormatError(PatchseqError):
    """A file that is not HDF5, not NWB, or not laid out as the release's files are."""


class UnknownVersionError(PatchseqError, ValueError):
    """A dandiset version that does not exist or is not well formed."""


class UnknownDandisetError(PatchseqError, ValueError):
    """A dandiset that is not one of the Allen Institute's Patch-seq dandisets the catalog knows: the message lists them."""


class UnknownSessionError(PatchseqError, KeyError):
    """An ``ephys_session_id`` (or file) that no dandiset asked holds: the message says where it was looked for."""

    def __str__(self) -> str:
        return str(self.args[0])


class AccessError(PatchseqError, ValueError):
    """An access mode that cannot be used as asked."""


class LocalFileMissingError(PatchseqError, FileNotFoundError):
    """``access="local"``: the file is not under the local root."""


class NoReleaseFileError(PatchseqError, LookupError):
    """A cell the release manifest lists no such file for (no reconstruction of that kind, no transcriptome)."""


class PackedFileError(FetchError):
    """A tar that is truncated, does not hold the file the manifest names, or holds it at another size."""


class ReleaseFileFormatError(PatchseqError):
    """A release file (SWC, marker, expression matrix) whose content is not laid out as its format says."""


class OtherBytesWarning(UserWarning):
    """A release file whose live home holds other bytes than the 2020 manifest, taken because the user asked."""


class WorkerProcessError(PatchseqError, RuntimeError):
    """The processes computing cells stopped before answering (in a script: no ``if __name__ == "__main__":``)."""


class FeaturesFailedWarning(UserWarning):
    """Cells of a features table have an ``error``: said once a read, naming the ones to act on."""


class CacheIntegrityWarning(UserWarning):
    """A cached file is not what was verified (changed, truncated, unreadable): it is removed and made again."""


class IndexStoreWarning(UserWarning):
    """The index store (``PATCHSEQ_INTAKE_INDEX_STORE``, the ``index_store`` parameter) cannot be read or written
    (unreachable, read-only, its backend not installed): said once a process and store, naming it; reads go on
    from the local cache and the file itself."""


class UnpinnedTablesWarning(UserWarning):
    """Release tables taken unverified from ``PATCHSEQ_INTAKE_TABLES``, as ``PATCHSEQ_INTAKE_UNPINNED_TABLES`` asks."""


class ManifestMismatchWarning(UserWarning):
    """The release manifest's size or SHA-256 of selected NWB files differs from DANDI's."""


class _Brief(reprlib.Repr):
    """``reprlib``'s bounded repr, with the length of every list, tuple, set or dict it shortens."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlist = self.maxtuple = self.maxset = self.maxfrozenset = self.maxdict = 5
        self.maxstring = self.maxother = 80

    def _counted(self, items: Any, shown: str) -> str:
        return f"{shown} ({len(items)} in all)" if len(items) > self.maxlist else shown

    def repr_list(self, x: list, level: int) -> str:
        return self._counted(x, super().repr_list(x, level))

    def repr_tuple(self, x: tuple, level: int) -> str:
        return self._counted(x, super().repr_tuple(x, level))

    def repr_set(self, x: set, level: int) -> str:
        return self._counted(x, super().repr_set(x, level))

    def repr_frozenset(self, x: frozenset, level: int) -> str:
        return self._counted(x, super().repr_frozenset(x, level))

    def repr_dict(self, x: dict, level: int) -> str:
        return self._counted(x, super().repr_dict(x, level))


def brief(value: Any) -> str:
    """``repr(value)`` for a message, bounded: a long list shows its first items, ``...`` and its length; a long
    text its ends. A list of a million ids costs what one of six does."""
    return _Brief().repr(value)


class DeviceChoiceError(InvalidQueryError):
    """A sweep number that several devices recorded, read without naming the device: ``devices`` lists them.

    ``what`` is the message without the advice, for interfaces that name the
    parameter in their own words (the CLI's ``--device``).
    """

    def __init__(self, what: str, devices: list[str]):
        self.what, self.devices = what, devices
        choices = " or ".join(f"device={device!r}" for device in devices)
        super().__init__(f"{what}: choose one with {choices}")


def caller_stacklevel() -> int:
    """The ``stacklevel`` for ``warnings.warn``, called right after, that names the user's line: the first frame
    outside this package, intake, ``functools`` and Dask (else the outermost one)."""
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and any(part in frame.f_code.co_filename for part in _NOT_THE_CALLER):
        frame, level = frame.f_back, level + 1
    return level
