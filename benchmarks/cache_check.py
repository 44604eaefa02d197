"""What checking a cached NWB file costs, against opening it and reading its sweep table.

A cached NWB file is used only as it was verified (``transport.verified``):
every use checks its stamp (size, modification time in ns, inode: one
``stat`` and reading a record of about 150 bytes); a changed stamp costs a
full SHA-256 of the file; ``patchseq-intake cache verify`` hashes every file
whatever its stamp. This writes one file as MIES wrote the release's
(``patchseq_intake.testing.mies``: chunked, gzip + shuffle compressed,
a lab notebook, wave notes; default about 70 MB, the release's largest file
is 94 MB, its median 22 MB mouse, 39 MB human), records it as a download
does, and times, side by side:

- the stamp check, as every use makes it (``verified.check``, stamp unchanged);
- the check after the stamp changed (``os.utime``): a full SHA-256, the
  record renewed;
- the full SHA-256 alone, from the page cache, and with the file's pages
  dropped first (``posix_fadvise(DONTNEED)``: read from the disk, except
  on tmpfs, where memory is the disk; the file system is printed);
- opening the file with h5py and reading its sweep table (as download mode
  does for a file whose index is not cached yet), opening it only, and
  opening it and reading one sweep (what a warm ``sweep(n)`` does in
  download mode, after the stamp check).

Offline, in a temporary directory, in well under a minute.

Usage: python benchmarks/cache_check.py [--long-squares 180] [--repeat 5] [--dir DIR]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import h5py

from patchseq_intake.nwb.sweep_table import read_sweep_table
from patchseq_intake.nwb.sweeps import read_sweep
from patchseq_intake.testing.mies import write_mies_nwb
from patchseq_intake.testing.physiology import default_sweeps
from patchseq_intake.transport import verified
from patchseq_intake.transport.checksums import sha256_of

MB = 1e6
STAMP_CALLS = 2000
"""Stamp checks timed together (one takes microseconds)."""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--long-squares", type=int, default=180, help="long-square sweeps in the file (its size grows with them)"
    )
    parser.add_argument("--repeat", type=int, default=5, help="times each slow case runs; the median is shown")
    parser.add_argument("--dir", type=Path, help="where to write the file (default: a temporary directory)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir) as scratch:
        run(Path(scratch), args.long_squares, args.repeat)


def run(scratch: Path, long_squares: int, repeat: int) -> None:
    print(f"writing a MIES-layout NWB file with {long_squares} long squares ...", file=sys.stderr)
    sweeps = default_sweeps(n_subthreshold=long_squares // 2, n_suprathreshold=long_squares - long_squares // 2,
                            n_short_square=12, n_ramp=3)
    written = write_mies_nwb(scratch / "file.nwb", specimen_id=1, session_id=2, subject_id=3, sweeps=sweeps)
    path = scratch / f"{written.sha256}.nwb"
    written.path.rename(path)
    verified.record(path, written.sha256)  # as a verified download records it
    size = path.stat().st_size

    def stamp() -> None:
        for _ in range(STAMP_CALLS):
            assert verified.check(path)

    def changed_stamp() -> None:
        os.utime(path)  # as a copy or a touch would: same bytes, new stamp
        assert verified.check(path)

    def sha256_warm() -> None:
        assert sha256_of(path) == written.sha256

    def sha256_from_disk() -> None:
        _evict(path)
        assert sha256_of(path) == written.sha256

    def open_only() -> None:
        with h5py.File(path, "r"):
            pass

    def open_and_table() -> None:
        with h5py.File(path, "r") as h5:
            assert len(read_sweep_table(h5, 0, "benchmark cell", warn=False)) == len(sweeps)

    def open_and_sweep() -> None:
        with h5py.File(path, "r") as h5:
            number = sweeps[4].sweep_number
            assert read_sweep(h5, number, 0, True, "benchmark cell").sweep_number == number

    sha256_warm()  # the file's pages in memory, as after its download
    opened = _median(open_and_table, repeat)
    rows = [
        ("stamp check (stat + record), every use", _median(stamp, repeat) / STAMP_CALLS, None),
        ("check after the stamp changed (SHA-256 + new record)", _median(changed_stamp, repeat), size),
        ("full SHA-256, file in the page cache", _median(sha256_warm, repeat), size),
    ]
    if hasattr(os, "posix_fadvise"):
        from_disk = _median(sha256_from_disk, repeat)
        rows.append(("full SHA-256, file's pages dropped first (read from the disk)", from_disk, size))
    rows += [
        ("open with h5py only", _median(open_only, repeat), None),
        ("open with h5py + read its sweep table", opened, None),
        ("open with h5py + read one 3 s sweep", _median(open_and_sweep, repeat), None),
    ]
    record_bytes = verified.record_path(path).stat().st_size
    rows[0] = (rows[0][0], rows[0][1], record_bytes)
    _print(rows, opened, size, len(sweeps), repeat, _file_system(path))


def _median(case: Callable[[], None], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        case()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _evict(path: Path) -> None:
    """Ask the kernel to drop the file's pages from memory, so that the next read comes from the disk."""
    with path.open("rb") as stream:
        os.fsync(stream.fileno())
        os.posix_fadvise(stream.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def _file_system(path: Path) -> str:
    """The type of file system holding ``path``, from /proc/mounts where there is one (else "unknown")."""
    try:
        mounts = [line.split() for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return "unknown"
    resolved = str(path.resolve())
    best = max((m for m in mounts if resolved == m[1] or resolved.startswith(m[1].rstrip("/") + "/")),
               key=lambda m: len(m[1]), default=None)
    return best[2] if best else "unknown"


def _print(
    rows: list[tuple[str, float, int | None]], opened: float, size: int, sweeps: int, repeat: int, file_system: str
) -> None:
    print(
        f"A {size / MB:.1f} MB NWB file ({sweeps} sweeps, MIES layout) on {file_system}; medians of {repeat} runs "
        f"(stamp checks: of {STAMP_CALLS} calls each); Python {platform.python_version()}, "
        f"h5py {h5py.__version__}, {platform.machine()}, {os.cpu_count()} cores.\n"
    )
    print("| case | time s | bytes read | MB/s | x (open + sweep table) |")
    print("|---|---|---|---|---|")
    for case, seconds, read in rows:
        shown = "" if read is None else f"{read} B" if read < 1e4 else f"{read / MB:.1f} MB"
        rate = f"{read / MB / seconds:.0f}" if read and read >= 1e4 else ""
        print(f"| {case} | {_seconds(seconds)} | {shown} | {rate} | {seconds / opened:.3g} |")


def _seconds(seconds: float) -> str:
    return f"{seconds:.6f}" if seconds < 0.001 else f"{seconds:.3f}"


if __name__ == "__main__":
    main()
