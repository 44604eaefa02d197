"""Where a release file lives today: the catalog's rewrites of the manifest's dead links, as data.

The 2020 manifest names each file by an ``archive_uri`` that no longer
answers (BIL's FTP server is offline; NeMO moved the release's folder). The
catalogs give, for each archive, the dead prefix and the path that replaced
it under the archive's base URL (``config.archive_base``: the live home, or
``PATCHSEQ_INTAKE_BIL`` / ``PATCHSEQ_INTAKE_NEMO``), each rule with the
evidence for it in a comment. A rule may also name *alternates*: other names
the live folder may hold the file under (NeMO's ``.v2`` matrices), tried in
order after the manifest's own name.

A ``Location`` is one URL to fetch and, where that URL is a tar, the name of
the member that is the file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlparse

from .. import config


@dataclass(frozen=True)
class Location:
    """One place to fetch a release file from: ``url``, and the tar member that is the file (None: the URL is the file)."""

    url: str
    member: str | None = None

    @property
    def name(self) -> str:
        """The file's name there: the member's, else the URL's last part."""
        return self.member or PurePosixPath(urlparse(self.url).path).name


@dataclass(frozen=True)
class Alternate:
    """Another name the live folder may hold a file under: ``tail`` -> ``to`` on the URL, ``member`` -> ``member_to``
    on the tar member's name (regular expressions and their replacements, as ``re.sub`` takes them)."""

    tail: str
    to: str
    member: str | None = None
    member_to: str | None = None

    def applied(self, location: Location) -> Location | None:
        """``location`` under this other name; None where the rule does not apply to it."""
        if not re.search(self.tail, location.url):
            return None
        member = location.member
        if member is not None and self.member is not None and self.member_to is not None:
            member = re.sub(self.member, self.member_to, member)
        return Location(re.sub(self.tail, self.to, location.url), member)


@dataclass(frozen=True)
class Rewrite:
    """One archive's move: manifest links starting with ``dead`` are at ``live`` (a path under the archive's base URL)."""

    archive: str
    dead: str
    live: str
    alternates: tuple[Alternate, ...] = ()

    def locations(self, archive_uri: str, file_name: str, base: str) -> tuple[Location, ...]:
        """Where the file the manifest names ``file_name`` at ``archive_uri`` is today, best first; ``base``: the
        archive's base URL (``config.archive_base``)."""
        tail = archive_uri[len(self.dead):]
        url = f"{base}/{self.live}{tail}"
        first = Location(url, member_of(url, file_name))
        more = (alternate.applied(first) for alternate in self.alternates)
        return (first, *(location for location in more if location is not None))


def member_of(url: str, file_name: str) -> str | None:
    """The tar member to take from ``url`` for the file ``file_name``: the file itself, where the URL is a tar
    of another name (NeMO packs each file, or a FASTQ pair, in a tar); None where the URL is the file."""
    name = url.partition("?")[0].rpartition("/")[2]
    return file_name if name.endswith(".tar") and name != file_name else None


@dataclass(frozen=True)
class Homes:
    """The catalog's rewrites, for every archive the manifest names besides DANDI."""

    rewrites: tuple[Rewrite, ...]

    @classmethod
    def from_catalog(cls, rules: Sequence[Mapping[str, Any]]) -> Homes:
        """From a catalog entry's ``homes``: a list of ``{archive, dead, live, alternates}``.

        ``ValueError`` naming the rule for one of another form (an archive the
        package has no base URL setting for, a missing or non-text field).
        """
        rewrites = []
        for n, rule in enumerate(rules):
            where = f"homes[{n}] of the catalog"
            if not isinstance(rule, Mapping) or not all(isinstance(rule.get(key), str) for key in ("archive", "dead", "live")):
                raise ValueError(f"{where}: give archive, dead and live as text, not {rule!r}")
            if rule["archive"] not in config.ARCHIVE_HOMES:
                raise ValueError(f"{where}: archive {rule['archive']!r} is none of {', '.join(config.ARCHIVE_HOMES)}")
            alternates = tuple(Alternate(**alternate) for alternate in rule.get("alternates") or ())
            rewrites.append(Rewrite(rule["archive"], rule["dead"], rule["live"], alternates))
        return cls(tuple(rewrites))

    def locator(self) -> Callable[[str, str, str], tuple[Location, ...]]:
        """``locate(archive, archive_uri, file_name)``: the live locations of a manifest row's file, best first
        (empty where no rule knows its link), with each archive's base URL read from the settings once."""
        bases = {archive: config.archive_base(archive) for archive in {rewrite.archive for rewrite in self.rewrites}}

        def locate(archive: str, archive_uri: str, file_name: str) -> tuple[Location, ...]:
            for rewrite in self.rewrites:
                if rewrite.archive == archive and archive_uri.startswith(rewrite.dead):
                    return rewrite.locations(archive_uri, file_name, bases[archive])
            return ()

        return locate

    def describe(self) -> str:
        """The dead prefixes the rules rewrite, for messages."""
        return ", ".join(f"{rewrite.dead} ({rewrite.archive})" for rewrite in self.rewrites) or "none"
