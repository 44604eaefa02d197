"""``patchseq-intake cache``: where the cache is, what it holds, checking it in full, and clearing it."""

from __future__ import annotations

import argparse
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from .. import config
from .options import CommandError, subcommand


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
        "DANDI asset indexes and NWB files, with their counts and sizes. verify: check every cached "
        "file in full, whatever its stamp: each file recorded as verified (NWB files; tables, where "
        "recorded) against the size and SHA-256 it was verified with, an NWB file cached before records "
        "were kept against the SHA-256 it is named by, each NWB file's index and each DANDI asset index "
        "against its own digest and values; a bad one is removed (each named) and fetched or built again "
        "when next needed, and the exit status is then 1. Tables cached without a record are not "
        "checked here: they are counted as such. Every use checks a cached NWB file's stamp (size, modification "
        "time, inode) and its SHA-256 again when the stamp changed; verify also finds bytes changed "
        "behind an unchanged stamp. Shows progress in a terminal, nothing else until its report. "
        "clear: delete them, without asking (everything in the cache is fetched again when needed); "
        f"files that patchseq-intake did not put there are left alone. Set ${config.CACHE_ENV} to "
        "move the cache.",
        examples=["patchseq-intake cache", "patchseq-intake cache verify", "patchseq-intake cache clear"],
        run=_run_cache,
    )
    sub.add_argument(
        "action",
        nargs="?",
        choices=("info", "verify", "clear"),
        default="info",
        metavar="ACTION",
        help="info, verify or clear",
    )


def _run_cache(args: argparse.Namespace) -> None:
    root = config.cache_dir()
    if args.action == "clear":
        _clear_cache(root)
    elif args.action == "verify":
        _verify_cache(root)
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


class _Verdict(NamedTuple):
    """What ``cache verify`` found of one file: ``problem`` (None: good), or that it was not checked here."""

    problem: str | None
    checked: bool = True


NOT_CHECKED = _Verdict(None, checked=False)


def _judge(part: CachePart, path: Path) -> _Verdict:
    """One cached file, checked in full: by its record, by the SHA-256 it is named by, or by its own digest."""
    from ..access.cell_index import index_problem
    from ..dandi.assets import cached_index_problem
    from ..transport import verified

    named = path.stem if part.directory == config.NWB_DIR and _is_sha256(path.stem) else None
    found = verified.read_record(path)
    if found is not None and named is not None and found.sha256 != named:
        return _Verdict(f"recorded as verified with SHA-256 {found.sha256}, but named by {named}")
    if found is not None:
        return _Verdict(verified.audit_problem(path))
    if named is not None:  # cached before records were kept, or its record damaged: checked by its name
        return _Verdict(None if verified.check(path, named) else f"its SHA-256 is not the {named} it is named by")
    if part.directory == config.NWB_DIR:
        return _Verdict("no record of its verification, and its name is no SHA-256 to check it by")
    if part.directory == config.INDEX_DIR:
        return _Verdict(index_problem(path))
    if part.directory == config.DANDI_DIR:
        return _Verdict(cached_index_problem(path))
    if verified.record_path(path).exists():
        return _Verdict("its record of verification is unreadable")
    return NOT_CHECKED


def _is_sha256(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


@dataclass
class _Tally:
    """What ``cache verify`` found in one part of the cache: counts of files, and their sizes (bytes)."""

    checked: int = 0
    good: int = 0
    bad: int = 0
    size: int = 0
    unchecked: int = 0
    unchecked_size: int = 0


def _verify_cache(root: Path) -> None:
    """Check every cached file in full (``_judge``), remove the bad ones, and report; exit status 1 if any."""
    from ..transport.progress import progress_bar

    if not root.is_dir():
        print(f"cache: {root} (empty: nothing to verify)")
        return
    files = [
        (part, path, path.stat().st_size)
        for part in CACHE_PARTS
        for path in _files(root / part.directory, part.pattern)
    ]
    tallies = {part: _Tally() for part in CACHE_PARTS}
    removed: list[str] = []
    with progress_bar(sum(size for _, _, size in files), "verifying the cache") as bar:
        for part, path, size in files:
            verdict, tally = _judge(part, path), tallies[part]
            bar.update(size)
            if not verdict.checked:
                tally.unchecked += 1
                tally.unchecked_size += size
                continue
            tally.checked += 1
            tally.size += size
            if verdict.problem is None:
                tally.good += 1
                continue
            if _removed_if_still_bad(part, path):
                tally.bad += 1
                removed.append(f"removed {path}: {verdict.problem}")
            else:  # made again meanwhile by another process, and good
                tally.good += 1
    _print_verification(root, tallies, removed)
    bad = sum(tally.bad for tally in tallies.values())
    if bad:
        checked = sum(tally.checked for tally in tallies.values())
        raise CommandError(
            f"{bad} of {checked} cached files failed their check and were removed (listed above); "
            "each is fetched or built again when next needed"
        )


def _removed_if_still_bad(part: CachePart, path: Path) -> bool:
    """Remove ``path`` and its record if, judged again under its lock, it is still bad (another process may have
    made it again meanwhile); whether it is gone."""
    from ..transport.cache import locked
    from ..transport.verified import record_path

    with locked(path):
        if path.exists() and _judge(part, path).problem is None:
            return False
        path.unlink(missing_ok=True)
        record_path(path).unlink(missing_ok=True)
    return True


def _print_verification(root: Path, tallies: dict[CachePart, _Tally], removed: list[str]) -> None:
    print(f"cache: {root}")
    print(f"  {'':<20} {'checked':>7} {'good':>6} {'bad (removed)':>13} {'size':>10}")
    for part, tally in tallies.items():
        if tally.checked:
            print(
                f"  {part.label:<20} {tally.checked:>7} {tally.good:>6} {tally.bad:>13} {_human_size(tally.size):>10}"
            )
    for part, tally in tallies.items():
        if tally.unchecked:
            print(f"  not checked here: {tally.unchecked} {part.label} ({_human_size(tally.unchecked_size)})")
    for line in removed:
        print(f"  {line}")


def _human_size(size: float) -> str:
    """``size`` bytes in decimal units: 950 B, 1.2 kB, 45.0 MB."""
    if size < 1000:
        return f"{size:.0f} B"
    for unit in ("kB", "MB", "GB", "TB"):
        size /= 1000
        if size < 1000:
            break
    return f"{size:.1f} {unit}"
