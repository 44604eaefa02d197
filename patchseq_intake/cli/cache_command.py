"""``patchseq-intake cache``: where the cache is, what it holds, checking it in full, and clearing it."""

from __future__ import annotations

import argparse
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from .. import config
from .options import CommandError, subcommand


CHECKSUM = r"(?:[0-9a-f]{64}|[0-9a-f]{32}-[0-9]+)"
"""How the cache names an NWB file and its index: DANDI's SHA-256 of it, else its dandi-etag."""
COMPANION = re.compile(r"\.(?P<name>.+)\.(?:verified|lock|[^/]*\.part)|found\.json")
"""The hidden files the package keeps beside a file ``<name>``: its record, its lock, and partial writes; and the
note of what was found for a release file (``archives.found``), beside it in its folder."""


class CachePart(NamedTuple):
    """A subdirectory of the cache, the files the package writes in it, and what they are.

    ``name`` is a regular expression of their names; ``folders`` one for each
    level of folders between ``directory`` and them (none: they lie in it).
    ``settle_s``: ``cache clear`` removes a first-level folder's files only once
    its newest one is this many seconds old (another process may be writing
    them until then); None: at once.
    """

    directory: str
    folders: tuple[str, ...]
    name: str
    label: str
    settle_s: float | None = None

    def owns(self, relative: str, companions: bool = True) -> bool:
        """Whether the package writes the file (or scratch folder) at ``relative``, a path under ``directory``
        with ``/``: one of the part's files or, with ``companions``, one's record, lock or partial write."""
        *folders, name = relative.split("/")
        if len(folders) != len(self.folders) or not self.made_folder("/".join(folders)):
            return False
        companion = COMPANION.fullmatch(name) if companions else None
        if companion is not None and companion["name"] is None:  # a folder's note, not a file's companion
            return True
        return re.fullmatch(self.name, companion["name"] if companion else name) is not None

    def made_folder(self, relative: str) -> bool:
        """Whether the package makes folders such as ``relative`` under ``directory`` (``""``: itself)."""
        levels = relative.split("/") if relative else []
        return len(levels) <= len(self.folders) and all(map(re.fullmatch, self.folders, levels))

    def files(self, root: Path) -> list[Path]:
        """The part's own files under ``root`` (not their companions)."""
        base = root / self.directory
        return [path for path in _files(base) if self.owns(path.relative_to(base).as_posix(), companions=False)]


PARTIAL_DOWNLOADS = "partial downloads"
"""Downloads cut short: BIL's and NeMO's to resume (``files/downloads/``), and stream mode's first-contact
downloads of an NWB file killed midway (``nwb/.transient-*/``: ``access.opening.transient_copy``'s folders, which
their process removes unless it is killed)."""
TRANSIENT_SETTLE_S = 3600.0
"""A first-contact download's folder whose newest file is younger than this (s) may be another process's, still
being written: ``cache clear`` leaves it (a download that makes no progress for ``$PATCHSEQ_INTAKE_TIMEOUT``,
15 s by default, is given up)."""

CACHE_PARTS = (
    CachePart(config.TABLES_DIR, (), r".+\.(?:unpinned\.)?[0-9a-f]{16}\.parquet", "tables"),
    CachePart(config.DANDI_DIR, ("[0-9a-f]{8}", "[0-9]{6}"), r"[0-9A-Za-z.]+\.v[0-9]+\.json", "dandi asset indexes"),
    CachePart(config.NWB_DIR, (), rf"{CHECKSUM}\.nwb", "nwb files"),
    CachePart(config.INDEX_DIR, (), rf"{CHECKSUM}\.v[0-9]+\.json", "nwb file indexes"),
    CachePart(config.FILES_DIR, ("[0-9a-f]{64}",), r"(?!found\.json$)[^.].*", "bil and nemo files"),
    CachePart(config.FILES_DIR, ("other", "[0-9a-f]{64}"), r"[^.].*", "accepted other bytes"),
    CachePart(config.FILES_DIR, ("downloads", "[0-9a-f]{16}"), r"\..+\.partial(?:\.from)?", PARTIAL_DOWNLOADS),
    CachePart(config.NWB_DIR, (r"\.transient-[^/]+",), r".+", PARTIAL_DOWNLOADS, settle_s=TRANSIENT_SETTLE_S),
    CachePart(config.STORES_DIR, (), r"[0-9a-f]{64}\.[0-9]+\.h5", "expression stores"),
    CachePart(config.FEATURES_DIR, (CHECKSUM,), r"(?:cell|spikes)\.[0-9a-f]{24}\.json", "ipfx features"),
)


def add_cache(commands: argparse._SubParsersAction) -> None:
    sub = subcommand(
        commands,
        "cache",
        help="where the cache is and what it holds; clear it",
        description="info (the default): the cache directory and what it holds: release tables, "
        "DANDI asset indexes, NWB files and their indexes, BIL and NeMO files (and other bytes accepted, "
        "partial downloads: BIL's and NeMO's to resume, stream mode's first-contact downloads killed midway), "
        "expression matrices' stores and IPFX's features, with their counts and sizes. verify: check "
        "every cached "
        "file in full, whatever its stamp: each file recorded as verified (NWB files; tables, where "
        "recorded) against the size and SHA-256 it was verified with, an NWB file cached before records "
        "were kept against the SHA-256 it is named by, each NWB file's index, each DANDI asset index and "
        "each cell's IPFX features against its own digest and values; a bad one is removed (each named) and fetched or built again "
        "when next needed, and the exit status is then 1. Tables cached without a record are not "
        "checked here: they are counted as such. Every use checks a cached NWB file's stamp (size, modification "
        "time, inode) and its SHA-256 again when the stamp changed; verify also finds bytes changed "
        "behind an unchanged stamp. Shows progress in a terminal, nothing else until its report. "
        "clear: delete them, without asking (everything in the cache is fetched again when needed): "
        "only the files patchseq-intake writes, by their names (tables/*.<key>.parquet, "
        "dandi/<api>/<dandiset>/<version>.v<n>.json, nwb/<checksum>.nwb, index/<checksum>.v<n>.json, "
        "files/<sha256>/<name> and found.json, files/other/<sha256>/<name>, files/downloads/<key>/, "
        "nwb/.transient-*/ (a stream-mode first contact's download, killed midway; left while its newest file is "
        "less than an hour old: another process may be writing it), "
        "stores/<sha256>.<n>.h5, features/<checksum>/<what>.<key>.json, and beside each its hidden record, lock and partial files), then the "
        "folders left empty; "
        "any other file is left alone, and named. Set "
        f"${config.CACHE_ENV} to move the cache.",
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
    found = next(path for path in (root, *root.parents) if path.exists())  # the root folder '/' exists
    if not found.is_dir():  # what every read of the cache would meet too
        what = "is not a folder" if found == root else f"lies under {found}, which is not a folder"
        raise CommandError(
            f"the cache {root} {what}: remove it, or set {config.CACHE_ENV} to a folder for the cache"
        )
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


def _files(directory: Path) -> list[Path]:
    return [path for path in directory.rglob("*") if path.is_file()] if directory.is_dir() else []


def _print_cache_info(root: Path) -> None:
    if not root.is_dir():
        print(f"cache: {root} (empty: nothing is cached yet)")
        return
    print(f"cache: {root}")
    print(f"  {'':<20} {'files':>6} {'size':>10}")
    everything = _files(root)
    rows: dict[str, list[Path]] = {part.label: [] for part in CACHE_PARTS} | {COMPANIONS: [], FOREIGN: []}
    for path in everything:  # one pass: each file is one part's own, a record or lock beside one, or not ours
        rows[_row_of(root, path)].append(path)
    for label, paths in rows.items():
        if label != FOREIGN or paths:
            usage = _Usage.of(paths)
            note = "   (cache clear leaves them)" if label == FOREIGN else ""
            print(f"  {label:<20} {usage.files:>6} {_human_size(usage.size):>10}{note}")
    print(f"  {'total':<20} {len(everything):>6} {_human_size(_Usage.of(everything).size):>10}")


COMPANIONS, FOREIGN = "records, locks", "not patchseq-intake"
"""The rows of ``cache`` for the hidden files beside the package's, and for files it did not write."""


def _row_of(root: Path, path: Path) -> str:
    """The row of ``cache`` that counts ``path``, a file under the cache ``root``."""
    for part in CACHE_PARTS:
        base = root / part.directory
        if path.is_relative_to(base):
            relative = path.relative_to(base).as_posix()
            if part.owns(relative, companions=False):
                return part.label
            if part.owns(relative):
                return COMPANIONS
    return FOREIGN


def _clear_cache(root: Path) -> None:
    """Delete what the package wrote in the cache (``CachePart.owns``), then the folders of the cache it leaves
    empty; report the size removed, and what was left (files the package did not write)."""
    from ..transport.cache import cache_errors

    removed = 0
    busy: list[Path] = []
    for part in CACHE_PARTS:
        base = root / part.directory
        if not base.is_dir():
            continue
        unsettled = _unsettled(part, base)
        for path in sorted(base.rglob("*"), reverse=True):  # what lies in a folder before the folder
            relative = path.relative_to(base).as_posix()
            if relative.split("/")[0] in unsettled:
                busy += [path] if path.is_file() else []
                continue
            with cache_errors(path, "remove"):
                if path.is_dir() and not path.is_symlink():
                    if part.owns(relative) or (part.made_folder(relative) and not any(path.iterdir())):
                        shutil.rmtree(path)  # a partial write's scratch folder, or a folder of the part left empty
                elif part.owns(relative):
                    removed += path.lstat().st_size
                    path.unlink()
        with cache_errors(base, "remove"):
            if not any(base.iterdir()):
                base.rmdir()
    with cache_errors(root, "remove"):
        if root.is_dir() and not any(root.iterdir()):
            root.rmdir()
    print(f"removed {_human_size(removed)} from {root}")
    if busy:
        print(f"left {len(busy)} file{'' if len(busy) == 1 else 's'} of {PARTIAL_DOWNLOADS} less than "
              f"{TRANSIENT_SETTLE_S / 3600:g} hour old, which another process may be writing (cleared once older): "
              f"{_named(busy)}")
    left = [path for path in _files(root) if path not in busy]
    if left:
        print(f"left {len(left)} file{'' if len(left) == 1 else 's'} that patchseq-intake did not write: "
              f"{_named(left)}")


def _unsettled(part: CachePart, base: Path) -> set[str]:
    """The names of ``part``'s first-level folders under ``base`` that may still be being written: those whose
    newest file (or the folder itself, empty) changed less than ``part.settle_s`` seconds ago."""
    import time

    if part.settle_s is None:
        return set()
    recent = time.time() - part.settle_s
    unsettled = set()
    for folder in base.iterdir():
        if folder.is_dir() and not folder.is_symlink() and part.made_folder(folder.name):
            newest = max((path.stat().st_mtime for path in _files(folder)), default=folder.stat().st_mtime)
            if newest > recent:
                unsettled.add(folder.name)
    return unsettled


def _named(paths: list[Path]) -> str:
    """The first five of ``paths``, and how many more."""
    return ", ".join(str(path) for path in paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")


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

    if part.label == PARTIAL_DOWNLOADS:  # unfinished: nothing to check them against (and maybe being written)
        return NOT_CHECKED
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
    if part.directory == config.FEATURES_DIR:
        from ..access.cell_features import result_problem

        return _Verdict(result_problem(path))
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
    from ..errors import CacheError
    from ..transport.progress import progress_bar

    if not root.is_dir():
        print(f"cache: {root} (empty: nothing to verify)")
        return
    files = [
        (part, path, path.stat().st_size)
        for part in CACHE_PARTS
        for path in part.files(root)
    ]
    tallies = {part.label: _Tally() for part in CACHE_PARTS}  # parts of one label (partial downloads): one row
    removed: list[str] = []
    kept: list[str] = []
    with progress_bar(sum(size for _, _, size in files), "verifying the cache") as bar:
        for part, path, size in files:
            verdict, tally = _judge(part, path), tallies[part.label]
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
            try:
                gone = _removed_if_still_bad(part, path)
            except CacheError as exc:  # a cache one may read but not write: the file is named, and stays
                tally.bad += 1
                kept.append(f"could not remove {path} ({verdict.problem}): {exc}")
                continue
            if gone:
                tally.bad += 1
                removed.append(f"removed {path}: {verdict.problem}")
            else:  # made again meanwhile by another process, and good
                tally.good += 1
    _print_verification(root, tallies, removed + kept)
    bad = sum(tally.bad for tally in tallies.values())
    if kept:
        raise CommandError(
            f"{bad} cached files failed their check; {len(kept)} of them could not be removed (listed above): "
            "make the cache writable and run 'patchseq-intake cache verify' again"
        )
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


def _print_verification(root: Path, tallies: dict[str, _Tally], removed: list[str]) -> None:
    print(f"cache: {root}")
    print(f"  {'':<20} {'checked':>7} {'good':>6} {'bad':>13} {'size':>10}")
    for label, tally in tallies.items():
        if tally.checked:
            print(f"  {label:<20} {tally.checked:>7} {tally.good:>6} {tally.bad:>13} {_human_size(tally.size):>10}")
    for label, tally in tallies.items():
        if tally.unchecked:
            print(f"  not checked here: {tally.unchecked} {label} ({_human_size(tally.unchecked_size)})")
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
