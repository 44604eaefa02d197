"""The Allen Institute's Patch-seq dandisets the catalog knows: ids, short names, pinned versions, listings.

``catalogs/dandi-assets/dandisets.csv`` names each one (``dandiset``, its
catalog entry's short ``name``, the ``version`` the catalog pins: a published
version, or ``draft`` where none is published or the catalog knows none,
``species``, the ``listing`` shipped for that version, ``title``). The 2020
release's two are first: ``human`` (000023) and ``mouse`` (000020). A
dandiset is named by its id (``000636``, ``636``) or its short name
(``human_interneurons``); anything else is an ``UnknownDandisetError`` that
lists them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from ..errors import UnknownDandisetError, brief
from ..tables.shipped import shipped_dandisets, shipped_listings
from .assets import DRAFT, DandisetVersion, PinnedListing

RELEASE_2020 = ("human", "mouse")
"""The short names of the 2020 release's dandisets, which have release tables and catalogs of their own."""


@dataclass(frozen=True)
class AllenDandiset:
    """One Allen Institute Patch-seq dandiset (see the module docstring); ``listing``: the shipped CSV's file name."""

    dandiset: str
    name: str
    version: str
    species: str
    listing: str | None
    title: str

    @property
    def published(self) -> bool:
        """Whether the pinned version is a published one (not ``draft``)."""
        return self.version != DRAFT

    @property
    def release_2020(self) -> bool:
        """Whether it is one of the 2020 release's dandisets (``human``, ``mouse``)."""
        return self.name in RELEASE_2020

    def pinned(self) -> PinnedListing | None:
        """The listing the catalog ships for the pinned version; None where the API lists it."""
        return PinnedListing(self.version, str(shipped_listings() / self.listing)) if self.listing else None

    def at(self, version: str | None = None, listing: Mapping[str, str] | None = None) -> DandisetVersion:
        """The dandiset at ``version`` (default: the pinned one), with the listing shipped for the pinned version:
        ``listing`` (a catalog entry's ``dandi_assets``, ``{"version": ..., "path": ...}``), else the registry's."""
        pinned = PinnedListing(listing["version"], os.path.normpath(listing["path"])) if listing else self.pinned()
        return DandisetVersion(self.dandiset, version or self.version, pinned)

    def __str__(self) -> str:
        return f"dandiset {self.dandiset} ({self.name})"


@lru_cache(maxsize=1)
def registry() -> dict[str, AllenDandiset]:
    """Every Allen Patch-seq dandiset the catalog knows, by id, in the registry's order."""
    rows = [AllenDandiset(**{**row, "listing": row["listing"] or None}) for row in shipped_dandisets()]
    return {row.dandiset: row for row in rows}


def find(name: object, what: str = "dandiset") -> AllenDandiset:
    """The dandiset named by ``name``: an id (``"000636"``, ``"636"``, 636) or a short name (``human_interneurons``).

    ``what`` names the parameter in the message. ``UnknownDandisetError``
    listing the ids and names the catalog knows for anything else.
    """
    known = registry()
    text = str(name).strip() if isinstance(name, (str, int)) and not isinstance(name, bool) else None
    if text is not None:
        if text.isdigit() and text.zfill(6) in known:
            return known[text.zfill(6)]
        for dandiset in known.values():
            if dandiset.name == text:
                return dandiset
    raise UnknownDandisetError(f"{what} {brief(name)} is not an Allen Institute Patch-seq dandiset the catalog knows; {known_names()}")


def known_names() -> str:
    """The ids and short names of every dandiset, for messages: ``000023 (human), 000020 (mouse), ...``."""
    return "they are " + ", ".join(f"{d.dandiset} ({d.name})" for d in registry().values())
