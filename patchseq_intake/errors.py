"""The errors patchseq-intake raises; each message says what was wrong and what would be right."""

from __future__ import annotations


class PatchseqError(Exception):
    """Base class of every error raised by patchseq-intake."""


class FetchError(PatchseqError):
    """A file could not be fetched from its URL; ``status`` is the HTTP status, if any."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class ChecksumError(PatchseqError):
    """Fetched bytes do not match the size or SHA-256 they were pinned to."""


class OfflineError(PatchseqError):
    """The network is needed but ``PATCHSEQ_INTAKE_OFFLINE`` forbids it."""


class TableFormatError(PatchseqError):
    """A release table does not have the columns or values the release has."""


class InvalidQueryError(PatchseqError, ValueError):
    """A filter, column or parameter that the table cannot answer."""
