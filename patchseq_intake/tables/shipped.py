"""The shipped YAML catalogs: where they lie, and what they pin (tables' URLs and SHA-256, dandiset versions).

Read from the YAML files themselves (``catalogs/`` in the wheel), so that
code, tests and the demo use the very values the catalogs give intake.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    from .release import TableSpec
    from .schema import TableKind


ARCHIVES = ("human", "mouse")
"""The archives the shipped root catalog holds, each with its own catalog file."""


def check_archive(archive: str) -> str:
    """``archive`` if the shipped catalog holds it; ``ValueError`` naming the archives otherwise."""
    if archive not in ARCHIVES:
        raise ValueError(f"no archive {archive!r}: the archives are {', '.join(ARCHIVES)}")
    return archive


def catalog_dir() -> Path:
    """The folder of the shipped YAML catalogs: in the wheel, or the source tree's ``catalogs/``."""
    package = Path(__file__).parents[1]
    installed = package / "catalogs"  # inside a wheel
    return installed if installed.is_dir() else package.parent / "catalogs"


def shipped_listings() -> Path:
    """The folder of the DANDI asset listings the catalogs pin, ``<dandiset>.csv`` (see its README)."""
    return catalog_dir() / "dandi-assets"


DANDISETS = "dandisets.csv"
"""The registry of the Allen Patch-seq dandisets the catalogs know, beside the listings (see ``dandi.dandisets``)."""


@lru_cache(maxsize=1)
def shipped_dandisets() -> tuple[dict[str, str], ...]:
    """The rows of the dandisets' registry (``dandiset``, ``name``, ``version``, ``species``, ``listing``, ``title``)."""
    with open(shipped_listings() / DANDISETS, newline="") as table:
        return tuple(csv.DictReader(table))


PAPERS = "papers.csv"
"""The papers' per-cell tables the catalogs pin (see ``paper``), beside the dandisets' registry."""


@lru_cache(maxsize=1)
def shipped_papers() -> dict[str, dict[str, str]]:
    """The papers' per-cell tables, by entry name: ``repository``, ``commit``, ``path``, ``sha256``, ``label`` (its
    name in messages) and ``about`` (what it holds)."""
    with open(shipped_listings() / PAPERS, newline="") as table:
        return {row["name"]: row for row in csv.DictReader(table)}


def paper_url(paper: dict[str, str]) -> str:
    """Where a paper's table is fetched from: its repository's file at the commit pinned, as GitHub serves it raw."""
    return f"https://raw.githubusercontent.com/{paper['repository']}/{paper['commit']}/{paper['path']}"


def shipped_paper(name: str) -> TableSpec:
    """A paper's table as the catalogs pin it (URL and SHA-256); ``InvalidQueryError`` naming those there are."""
    from ..errors import InvalidQueryError
    from .release import TableSpec

    papers = shipped_papers()
    if name not in papers:
        raise InvalidQueryError(f"paper {name!r} is not a paper table the catalog pins; they are {', '.join(papers)}")
    paper = papers[name]
    return TableSpec(url=paper_url(paper), sha256=paper["sha256"], kind="paper", archive=paper["label"])


def archive_catalog_path(archive: str) -> Path:
    """The YAML file of one archive's catalog (``human`` or ``mouse``)."""
    return catalog_dir() / f"{archive}.yaml"


@lru_cache(maxsize=None)
def _archive_yaml(archive: str) -> dict:
    return yaml.safe_load(archive_catalog_path(archive).read_text())


def shipped_table(archive: str, kind: TableKind) -> TableSpec:
    """A release table as the shipped catalog of ``archive`` pins it (URL and SHA-256)."""
    from .release import TableSpec  # here: pandas and pyarrow stay out of ``import patchseq_intake``

    args = _archive_yaml(archive)["sources"][kind]["args"]
    return TableSpec(url=args["url"], sha256=args["sha256"], kind=kind, archive=archive)


def shipped_dandiset(archive: str) -> tuple[str, str]:
    """The dandiset id and published version the shipped catalog of ``archive`` pins."""
    metadata = _archive_yaml(archive)["metadata"]
    return metadata["dandiset"], metadata["dandi_version"]
