"""``patchseq-intake cache``: where the cache is, what it holds, and clearing it."""

from __future__ import annotations

import argparse
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from .. import config
from .options import subcommand


class CachePart(NamedTuple):
    """A subdirectory of the cache, the files in it that count, and what they are."""

    directory: str
    pattern: str
    label: str


CACHE_PARTS = (
    CachePart(config.TABLES_DIR, "*.parquet", "tables"),
    CachePart(config.DANDI_DIR, "*.json", "dandi asset indexes"),
    CachePart(config.NWB_DIR, "*.nwb", "nwb files"),
    CachePart(config.INDEX_DIR, "*.json", "nwb file indexes"),
)


def add_cache(commands: argparse._SubParsersAction) -> None:
    sub = subcommand(
        commands,
        "cache",
        help="where the cache is and what it holds; clear it",
        description="info (the default): the cache directory and what it holds: release tables, "
        "DANDI asset indexes and NWB files, with their counts and sizes. clear: delete them, "
        "without asking (everything in the cache is fetched again when needed); files that "
        f"patchseq-intake did not put there are left alone. Set ${config.CACHE_ENV} to move "
        "the cache.",
        examples=["patchseq-intake cache", "patchseq-intake cache clear"],
        run=_run_cache,
    )
    sub.add_argument(
        "action", nargs="?", choices=("info", "clear"), default="info", metavar="ACTION", help="info or clear"
    )


def _run_cache(args: argparse.Namespace) -> None:
    root = config.cache_dir()
    if args.action == "clear":
        _clear_cache(root)
    else:
        _print_cache_info(root)


@dataclass(frozen=True)
class _Usage:
    """A number of files and their total size."""

    files: int
    size: int

    @classmethod
    def of(cls, paths: list[Path]) -> _Usage:
        return cls(len(paths), sum(path.stat().st_size for path in paths))


def _files(directory: Path, pattern: str = "*") -> list[Path]:
    return [path for path in directory.rglob(pattern) if path.is_file()] if directory.is_dir() else []


def _print_cache_info(root: Path) -> None:
    if not root.is_dir():
        print(f"cache: {root} (empty: nothing is cached yet)")
        return
    print(f"cache: {root}")
    print(f"  {'':<20} {'files':>6} {'size':>10}")
    for part in CACHE_PARTS:
        usage = _Usage.of(_files(root / part.directory, part.pattern))
        print(f"  {part.label:<20} {usage.files:>6} {_human_size(usage.size):>10}")
    print(f"  {'total':<20} {'':>6} {_human_size(_Usage.of(_files(root)).size):>10}")


def _clear_cache(root: Path) -> None:
    """Delete the cache's parts; the directory too if nothing else is left in it."""
    parts = [root / part.directory for part in CACHE_PARTS if (root / part.directory).is_dir()]
    size = _Usage.of([path for part in parts for path in _files(part)]).size
    for part in parts:
        shutil.rmtree(part)
    if root.is_dir() and not any(root.iterdir()):
        root.rmdir()
    print(f"removed {_human_size(size)} from {root}")


def _human_size(size: float) -> str:
    """``size`` bytes in decimal units: 950 B, 1.2 kB, 45.0 MB."""
    if size < 1000:
        return f"{size:.0f} B"
    for unit in ("kB", "MB", "GB", "TB"):
        size /= 1000
        if size < 1000:
            break
    return f"{size:.1f} {unit}"
