"""A cache one may read but not write: what it holds is read, and what it lacks is named as the cache's fault.

The cache is made read-only for real, in a process of its own: by ``chmod``
for a user (whom permissions bind), and for root (whom they do not) by a
read-only bind mount in a private mount namespace (``unshare -m``), which
ends with that process; where neither bites, the tests skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import patchseq_intake
from patchseq_intake import config
from patchseq_intake.transport.verified import record, record_path

HUMAN_CELL = 569835804
STREAMED_CELL = 541549258


def _can_unshare() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-m", "true"], capture_output=True, timeout=10).returncode == 0


def _read_only(cache: Path, script: str) -> subprocess.CompletedProcess:
    """Run ``script`` in a Python process of its own that may read ``cache`` but not write it."""
    command = [sys.executable, "-c", textwrap.dedent(script)]
    if os.geteuid() != 0:
        modes = {path: path.stat().st_mode for path in [cache, *cache.rglob("*")]}
        for path in modes:
            path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            return subprocess.run(command, capture_output=True, text=True, timeout=120)
        finally:
            for path, mode in modes.items():
                path.chmod(mode)
    if not _can_unshare():
        pytest.skip("root, and no private mount namespace to make the cache read-only in (unshare -m)")
    mount = 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" "$1" && shift && exec "$@"'
    return subprocess.run(["unshare", "-m", "sh", "-c", mount, "sh", str(cache), *command],
                          capture_output=True, text=True, timeout=120)


def _snapshot(cache: Path) -> dict[str, bytes]:
    return {str(path.relative_to(cache)): path.read_bytes() for path in sorted(cache.rglob("*")) if path.is_file()}


def test_a_read_only_cache_that_holds_the_files_serves_the_reads_that_write_nothing(world, cache_dir):
    cat = patchseq_intake.open_catalog()
    cat.human.metadata.read()
    cat.human.ephys(specimen_id=HUMAN_CELL).read()  # downloaded, verified and recorded
    cat.human.ephys(specimen_id=STREAMED_CELL, access="stream").sweep(5)  # its index cached
    for lock in cache_dir.rglob("*.lock"):  # a copied cache, or a cleared one, has none: reading needs none
        lock.unlink()
    before = _snapshot(cache_dir)

    result = _read_only(cache_dir, f"""
        import warnings
        warnings.simplefilter("error")  # nothing to warn of: every file is as verified
        warnings.filterwarnings("ignore", category=UserWarning, message=".*unverified")  # the replica's tables
        warnings.filterwarnings("ignore", category=UserWarning, message=".*manifest describes other bytes")
        import patchseq_intake
        cat = patchseq_intake.open_catalog()
        assert len(cat.human.metadata.read()) == 2
        source = cat.human.ephys(specimen_id={HUMAN_CELL})
        assert len(source.read()) > 0 and source.sweep(5).sweep_number == 5
        assert [path.name for path in source.fetch()] == [path.name for path in source.fetch()]
        streamed = cat.human.ephys(specimen_id={STREAMED_CELL}, access="stream")
        assert len(streamed.read()) > 0 and streamed.sweep(5).sweep_number == 5
        print("read")
    """)
    assert result.returncode == 0 and result.stdout.split() == ["read"], result.stderr
    assert _snapshot(cache_dir) == before


@pytest.mark.parametrize("index", ["missing", "older"])
def test_a_read_only_cache_holding_a_file_without_a_current_index_reads_it_with_an_index_in_memory(
    world, cache_dir, index
):
    """No index (a cleared one), or one another version of the package derived, in a read-only cache: the index
    is built again and used, nothing is written, and an index that could not be saved is said once a process."""
    from patchseq_intake.transport.sealed import seal, unseal

    cat = patchseq_intake.open_catalog()
    cat.human.metadata.read()
    cat.human.ephys(specimen_id=HUMAN_CELL).read()  # downloaded and verified; its index cached
    for path in (cache_dir / "index").glob("*.json"):
        if index == "missing":
            path.unlink()
        else:
            path.write_text(seal({**unseal(path.read_bytes()), "builder": "an older version's code"}))
    for lock in cache_dir.rglob("*.lock"):
        lock.unlink()
    before = _snapshot(cache_dir)

    result = _read_only(cache_dir, f"""
        import warnings
        warnings.filterwarnings("ignore", category=UserWarning, message=".*unverified")  # the replica's tables
        warnings.filterwarnings("ignore", category=UserWarning, message=".*manifest describes other bytes")
        import patchseq_intake
        source = patchseq_intake.open_catalog().human.ephys(specimen_id={HUMAN_CELL})
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            assert len(source.read()) > 0 and len(source.read()) > 0 and source.sweep(5).sweep_number == 5
        for message in said:
            if "index" in str(message.message):
                print(message.message)
    """)
    assert result.returncode == 0, result.stderr
    assert _snapshot(cache_dir) == before
    said = result.stdout.splitlines()
    if index == "missing":
        assert len(said) == 1 and "a file's index is kept in memory only, as the cache cannot be written" in said[0]
        assert config.CACHE_ENV in said[0]


def test_a_read_only_cache_without_the_file_is_named_with_the_variable_to_move_it(world, cache_dir):
    cache_dir.mkdir()
    result = _read_only(cache_dir, "import patchseq_intake.cli as cli; raise SystemExit(cli.main(['cells', 'human']))")
    assert result.returncode == 1 and result.stdout == ""
    (message,) = [line for line in result.stderr.splitlines() if "warning" not in line]
    assert message.startswith(f"patchseq-intake: cannot make the folder {cache_dir / config.TABLES_DIR} in the cache: ")
    assert config.CACHE_ENV in message and "Traceback" not in result.stderr


def test_a_verified_file_that_cannot_be_read_in_a_read_only_cache_is_the_file_s_error_not_the_lock_s(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    made = cache / "table.parquet"
    made.write_bytes(b"not parquet")
    import hashlib

    record(made, hashlib.sha256(made.read_bytes()).hexdigest())
    assert record_path(made).exists() and not list(cache.glob("*.lock"))
    result = _read_only(cache, f"""
        from pathlib import Path
        from patchseq_intake.transport.verified import read_checked
        path = Path({str(made)!r})

        def read(found):
            raise ValueError("not a parquet file")

        try:
            read_checked(lambda: path, read, (ValueError,), lambda found, error: KeyError(f"{{found}}: {{error}}"))
        except KeyError as exc:
            print("format error:", exc)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"format error: '{made}: not a parquet file'"


def test_a_damaged_file_in_a_read_only_cache_is_named_by_reads_and_by_cache_verify(world, cache_dir):
    """The cached NWB file fails its check and cannot be replaced: the read and `cache verify` name the file and
    what is wrong with it, not only the lock the file system refused; verify says it could not remove it."""
    from patchseq_intake.testing.damage import flip_byte

    cat = patchseq_intake.open_catalog()
    cat.human.metadata.read()
    [nwb] = cat.human.ephys(specimen_id=HUMAN_CELL).fetch()
    flip_byte(nwb, 4096)
    for lock in cache_dir.rglob("*.lock"):
        lock.unlink()
    before = _snapshot(cache_dir)

    result = _read_only(cache_dir, f"""
        import warnings
        warnings.simplefilter("ignore")
        import patchseq_intake
        from patchseq_intake.errors import CacheError
        try:
            patchseq_intake.open_catalog().human.ephys(specimen_id={HUMAN_CELL}).read()
        except CacheError as exc:
            print(exc)
        import patchseq_intake.cli as cli
        raise SystemExit(cli.main(["cache", "verify"]))
    """)
    assert result.returncode == 1, result.stderr
    said = result.stdout.splitlines()[0]
    assert said.startswith(f"the NWB file {nwb} is not what was verified (its SHA-256 is not the "), said
    assert "it cannot be replaced: cannot take the lock" in said
    assert f"could not remove {nwb} (" in result.stdout
    assert "1 cached files failed their check; 1 of them could not be removed" in result.stderr
    assert config.CACHE_ENV not in result.stderr.splitlines()[-1]  # moving the cache verifies nothing
    assert _snapshot(cache_dir) == before
