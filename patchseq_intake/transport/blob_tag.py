"""The ETag every answer for one blob must carry: DANDI's dandi-etag where it is known, else the blob's own.

A DANDI asset's bytes live in one S3 object (its blob), whose ``ETag`` is
DANDI's ``dandi:dandi-etag`` of those bytes: the MD5 of the MD5s of its
64 MiB upload parts, then ``-<parts>``. Ranges read from a blob are tied to
it by that ETag, never by an asset id (the shipped listings' asset ids are
not the pinned versions': ``catalogs/dandi-assets/README.md``):

- where the asset listing gives the dandi-etag, every answer must carry it;
- where it does not (000020's listing has the SHA-256 only), the first
  answer's ETag is taken, if it has the form of a dandi-etag of a file of
  that size (``<32 hex>-<parts>``, the parts DANDI's upload makes of it), and
  every later answer must carry the same one: every range is then of one
  object, whose ETag the file's index records (see ``access.cell_index``).
  An ETag of another form (a mirror's own) ties nothing: the reader then
  treats the bytes as untied, as where no answer has an ETag.

An answer whose ETag is another is of other bytes (``ChecksumError``, at
once); one without an ETag where one is required cannot be tied to the blob
(``ChecksumError`` too).
"""

from __future__ import annotations

import logging
import re
import threading

from ..errors import ChecksumError

logger = logging.getLogger(__name__)

_DANDI_ETAG = re.compile(r"[0-9a-f]{32}-(?P<parts>[0-9]+)")


class BlobTag:
    """The ETag of one blob of ``size`` bytes: ``known`` (DANDI's dandi-etag) or learnt from its first answer.

    ``required``: every answer must carry an ETag (else only an ETag that is
    there is checked). Shared by the threads reading one file.
    """

    def __init__(self, known: str | None, size: int, required: bool = True):
        self.known = known.lower() if known else None
        self.size = size
        self.required = required
        self._learnt: str | None = None
        self._untied = False  # an answer without an ETag was taken: nothing learnt later ties the earlier ones
        self._doubted = False  # an ETag not of DANDI's form was logged: said once per blob, not once per answer
        self._lock = threading.Lock()

    @property
    def value(self) -> str | None:
        """The blob's ETag: DANDI's, else the one its answers carried; None before any (or where none was)."""
        return self.known or self._learnt

    def check(self, url: str, served: str) -> None:
        """Accept an answer from ``url`` whose ``ETag`` header is ``served`` ("" if none), or raise ``ChecksumError``."""
        served = served.removeprefix("W/").strip('"').lower()
        with self._lock:
            expected = self.value
            if not served:
                if expected is not None and (self.required or self.known is None):
                    raise ChecksumError(f"{url}: the answer has no ETag to tie it to the blob's ETag {expected}")
                self._untied = expected is None
                return
            if expected is None:
                if not self._untied and self._plausible(served):
                    self._learnt = served
                return
        if served != expected:
            source = "the asset's dandi-etag" if self.known else "the ETag of this blob's earlier answers"
            raise ChecksumError(f"{url}: ETag {served}, but {source} is {expected}: other bytes")

    def _plausible(self, served: str) -> bool:
        """Whether ``served`` has the form of a dandi-etag of ``size`` bytes: 32 hex digits, ``-<DANDI's parts>``."""
        from dandischema.digests.dandietag import PartGenerator

        form = _DANDI_ETAG.fullmatch(served)
        parts = len(PartGenerator.for_file_size(self.size)) if self.size > 0 else 1
        if form is None or int(form["parts"]) != parts:
            if not self._doubted:  # under check's lock
                self._doubted = True
                logger.info("ETag %r is not a dandi-etag of a file of %d bytes: nothing is tied to it", served,
                            self.size)
            return False
        return True
