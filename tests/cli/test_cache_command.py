"""``patchseq-intake cache verify``, and the cache's errors as the command reports them."""

from __future__ import annotations

import errno
import json
import os
import re
from pathlib import Path

import pytest

from patchseq_intake import config
from patchseq_intake.cli import main
from patchseq_intake.testing.damage import flip_byte
from patchseq_intake.transport import progress, verified

HUMAN_CELL = 569835804


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def _rows(out: str) -> dict[str, list[str]]:
    """The report's table rows, as {part: [checked, good, bad (removed), size...]}."""
    rows = {}
    for line in out.splitlines():
        found = re.match(r"  (tables|dandi asset indexes|nwb files|nwb file indexes) +(\d.*)$", line)
        if found:
            rows[found[1]] = found[2].split()
    return rows


def _cached_cell(capsys, cache_dir: Path) -> tuple[Path, Path]:
    """Read a cell's sweep table by download: its NWB file and its index are cached; their paths."""
    status, _, err = run(capsys, "sweeps", "human", str(HUMAN_CELL))
    assert status == 0, err
    [nwb] = (cache_dir / config.NWB_DIR).glob("*.nwb")
    [index] = (cache_dir / config.INDEX_DIR).glob("*.json")
    return nwb, index


def test_verify_of_a_sound_cache_checks_everything_and_says_nothing_else(capsys, world, cache_dir):
    nwb, index = _cached_cell(capsys, cache_dir)
    status, out, err = run(capsys, "cache", "verify")
    assert status == 0 and err == ""
    assert out.splitlines()[0] == f"cache: {cache_dir}"
    rows = _rows(out)
    assert rows["nwb files"][:3] == ["1", "1", "0"]
    assert rows["nwb file indexes"][:3] == ["1", "1", "0"]
    assert rows["dandi asset indexes"][:3] == ["1", "1", "0"]
    assert "not checked here" not in out
    assert nwb.exists() and index.exists()


def test_verify_finds_a_forged_nwb_file_removes_it_and_fails(capsys, world, cache_dir):
    nwb, _ = _cached_cell(capsys, cache_dir)
    flip_byte(nwb, nwb.stat().st_size // 2, mask=0x01, keep_stamp=True)
    assert verified.check(nwb)  # the stamp cannot see it
    status, out, err = run(capsys, "cache", "verify")
    assert status == 1
    assert f"removed {nwb}: its SHA-256 is not the {nwb.stem} it was verified with" in out
    assert _rows(out)["nwb files"][:3] == ["1", "0", "1"]
    checked = sum(int(row[0]) for row in _rows(out).values())
    assert err.splitlines() == [
        f"patchseq-intake: 1 of {checked} cached files failed their check and were removed (listed above); "
        "each is fetched or built again when next needed"
    ]
    assert not nwb.exists() and not verified.record_path(nwb).exists()
    status, _, err = run(capsys, "sweeps", "human", str(HUMAN_CELL), "--sweep", "4")
    assert status == 0, err
    assert nwb.read_bytes() == world.written[HUMAN_CELL].path.read_bytes()  # downloaded again when needed
    assert run(capsys, "cache", "verify")[0] == 0


def test_verify_finds_an_edited_index(capsys, world, cache_dir):
    _, index = _cached_cell(capsys, cache_dir)
    data = json.loads(index.read_text())
    data["size"] += 1
    index.write_text(json.dumps(data))
    status, out, _ = run(capsys, "cache", "verify")
    assert status == 1
    assert f"removed {index}: it fails its own digest (its content changed, or was cut short)" in out
    assert not index.exists()


def test_verify_finds_an_edited_dandi_asset_index(capsys, world, cache_dir):
    _cached_cell(capsys, cache_dir)
    [listing] = (cache_dir / config.DANDI_DIR).rglob("*.json")
    listing.write_text(listing.read_text()[:-40])  # truncated
    status, out, _ = run(capsys, "cache", "verify")
    assert status == 1
    assert f"removed {listing}: this cached DANDI asset index" in out
    assert not listing.exists()
    assert run(capsys, "sweeps", "human", str(HUMAN_CELL))[0] == 0  # listed again when next needed
    assert listing.exists() and run(capsys, "cache", "verify")[0] == 0


def test_verify_adopts_a_file_cached_before_records_were_kept(capsys, world, cache_dir):
    nwb, _ = _cached_cell(capsys, cache_dir)
    verified.record_path(nwb).unlink()
    status, out, _ = run(capsys, "cache", "verify")
    assert status == 0 and _rows(out)["nwb files"][:3] == ["1", "1", "0"]
    assert verified.read_record(nwb).sha256 == nwb.stem


def test_verify_removes_an_unrecorded_file_not_named_by_its_sha256(capsys, world, cache_dir):
    nwb, _ = _cached_cell(capsys, cache_dir)
    stranger = nwb.with_name(f"{'ab' * 16}-3.nwb")  # as a file named by a dandi-etag, without its record
    stranger.write_bytes(b"not verified")
    status, out, _ = run(capsys, "cache", "verify")
    assert status == 1
    assert f"removed {stranger}: no record of its verification" in out
    assert not stranger.exists() and nwb.exists()


def test_verify_shows_progress_when_someone_watches(capsys, world, cache_dir, monkeypatch):
    _cached_cell(capsys, cache_dir)
    monkeypatch.setattr(progress, "interactive", lambda: True)
    status, _, err = run(capsys, "cache", "verify")
    assert status == 0 and "verifying the cache" in err


def test_verify_of_an_empty_cache(capsys, cache_dir):
    assert run(capsys, "cache", "verify") == (0, f"cache: {cache_dir} (empty: nothing to verify)\n", "")


def test_the_help_says_what_verify_checks(capsys):
    with pytest.raises(SystemExit):
        main(["cache", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "verify: check every cached file in full" in text and "exit status is then 1" in text
    assert "each DANDI asset index and each cell's IPFX features against its own digest and values" in text
    assert "Tables cached without a record are not checked here" in text


def test_a_cache_under_a_file_is_one_line_naming_it(capsys, world, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(config.CACHE_ENV, str(blocker / "cache"))
    status, out, err = run(capsys, "cells", "human")
    assert status == 1 and out == ""
    [line] = err.splitlines()
    assert line.startswith(f"patchseq-intake: cannot make the folder {blocker / 'cache'}")
    assert "a file stands where a folder of the cache should be" in line and config.CACHE_ENV in line


# --- cache clear: only what the package wrote ----------------------------------------------------------------


def test_clear_in_a_project_folder_deletes_only_what_the_package_wrote(capsys, world, cache_dir):
    theirs = {
        "tables/my_results.csv": "cell,value\n",
        "tables/results.parquet": "their parquet",
        "index/index.html": "<html></html>",
        "index/notes.json": "{}",
        "nwb/my_recording.nwb": "their recording",
        "dandi/mine/000023/0.1.v3.json": "{}",
        "README.md": "a project",
    }
    _cached_cell(capsys, cache_dir)
    for name, text in theirs.items():
        (cache_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (cache_dir / name).write_text(text)
    assert run(capsys, "cells", "human")[0] == 0 and run(capsys, "fetch", "human", str(HUMAN_CELL))[0] == 0
    scratch = cache_dir / config.TABLES_DIR / ".20200625_patchseq_metadata_human.0123456789abcdef.parquet.ab_c9.part"
    scratch.mkdir()  # a killed table build's scratch folder
    (scratch / "20200625_patchseq_metadata_human.csv").write_text("partial")
    (cache_dir / config.NWB_DIR / f".{'0' * 64}.nwb.{'f' * 32}.part").write_bytes(b"partial")  # a killed download
    ours = [p for p in cache_dir.rglob("*") if p.is_file() and p.relative_to(cache_dir).as_posix() not in theirs]
    assert any(p.name.endswith(".verified") for p in ours) and any(p.name.endswith(".lock") for p in ours)
    status, out, err = run(capsys, "cache", "clear")
    assert status == 0 and err == ""
    left = sorted(path.relative_to(cache_dir).as_posix() for path in cache_dir.rglob("*") if path.is_file())
    assert left == sorted(theirs)
    assert not scratch.exists() and not (cache_dir / config.DANDI_DIR / "1544f326").exists()
    removed, said_left = out.splitlines()
    assert removed.startswith("removed ") and removed.endswith(f" MB from {cache_dir}")
    assert said_left.startswith(f"left {len(theirs)} files that patchseq-intake did not write: ")
    assert str(cache_dir / "nwb" / "my_recording.nwb") in said_left


def test_clear_of_a_cache_with_nothing_else_removes_every_folder(capsys, world, cache_dir):
    _cached_cell(capsys, cache_dir)
    (cache_dir / config.INDEX_DIR / "stale.v1.json").write_text("{}")  # not a checksum's name: not ours
    status, out, _ = run(capsys, "cache", "clear")
    assert status == 0 and "left 1 file that" in out
    assert sorted(path.relative_to(cache_dir).as_posix() for path in cache_dir.rglob("*")) == [
        config.INDEX_DIR, f"{config.INDEX_DIR}/stale.v1.json"
    ]


def test_info_and_verify_count_only_what_the_package_wrote(capsys, world, cache_dir):
    _cached_cell(capsys, cache_dir)
    (cache_dir / config.NWB_DIR / "my_recording.nwb").write_text("their recording")
    (cache_dir / config.INDEX_DIR / "notes.json").write_text("not an index")
    status, out, _ = run(capsys, "cache", "verify")
    assert status == 0 and _rows(out)["nwb files"][:3] == ["1", "1", "0"]
    assert (cache_dir / config.NWB_DIR / "my_recording.nwb").exists()
    assert (cache_dir / config.INDEX_DIR / "notes.json").exists()
    status, out, _ = run(capsys, "cache")
    assert _rows(out)["nwb files"][0] == "1" and _rows(out)["nwb file indexes"][0] == "1"
    theirs = len("their recording") + len("not an index")
    [foreign] = [line.split() for line in out.splitlines() if line.startswith("  not patchseq-intake")]
    assert foreign[2:5] == ["2", str(theirs), "B"] and "cache clear leaves them" in out
    [total] = [line.split() for line in out.splitlines() if line.startswith("  total")]
    assert int(total[1]) == sum(1 for path in cache_dir.rglob("*") if path.is_file())
    counted = [int(row[0]) for row in _rows(out).values()]
    [companions] = [line.split() for line in out.splitlines() if line.startswith("  records, locks")]
    assert sum(counted) + int(companions[2]) + int(foreign[2]) == int(total[1])  # the files column adds up too


def test_clear_that_may_not_remove_a_file_names_its_full_path(capsys, world, cache_dir, monkeypatch):
    nwb, _ = _cached_cell(capsys, cache_dir)
    unlink = Path.unlink

    def refused(path: Path, missing_ok: bool = False) -> None:
        if path == nwb:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        unlink(path, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", refused)
    status, out, err = run(capsys, "cache", "clear")
    assert status == 1
    [line] = err.splitlines()
    assert line.startswith(f"patchseq-intake: cannot remove {nwb} in the cache: permission denied on {nwb}")
    assert f"fix the permissions of {nwb.parent}" in line and config.CACHE_ENV not in line  # moving clears nothing


def _cache_info_meeting(error: type[OSError], number: int, capsys, cache_dir, monkeypatch) -> tuple[int, str, Path]:
    """``patchseq-intake cache`` whose listing meets ``error(number)`` about an NWB file of the cache: its exit
    status, its stderr, and that file."""
    from patchseq_intake.cli import cache_command

    inside = cache_dir / config.NWB_DIR / f"{'a' * 64}.nwb"

    def meets(root: Path) -> None:
        raise error(number, os.strerror(number), str(inside))

    monkeypatch.setattr(cache_command, "_print_cache_info", meets)
    status, _, err = run(capsys, "cache")
    return status, err, inside


def test_an_os_error_about_a_file_in_the_cache_is_one_line_naming_it(capsys, world, cache_dir, monkeypatch):
    status, err, inside = _cache_info_meeting(PermissionError, errno.EACCES, capsys, cache_dir, monkeypatch)
    assert status == 1
    [line] = err.splitlines()
    assert line.startswith(f"patchseq-intake: cannot use {inside} in the cache: permission denied on {inside}")
    assert config.CACHE_ENV in line


def test_a_cache_name_too_long_is_one_line_naming_it(capsys, world, tmp_path, monkeypatch):
    cache = tmp_path / ("c" * 300)
    monkeypatch.setenv(config.CACHE_ENV, str(cache))
    status, out, err = run(capsys, "cells", "human")
    assert status == 1 and out == ""
    [line] = [line for line in err.splitlines() if "warning:" not in line]
    assert line.startswith(f"patchseq-intake: cannot read {cache}/") and config.CACHE_ENV in line
    assert "Traceback" not in err


# --- a failed read of a cached file, through the command -----------------------------------------------------


def test_a_forged_chunk_of_a_cached_file_is_warned_of_and_the_sweep_read_right(capsys, world, cache_dir):
    import h5py

    status, good, _ = run(capsys, "sweeps", "human", str(HUMAN_CELL), "--sweep", "5", "--format", "csv")
    assert status == 0
    [nwb] = (cache_dir / config.NWB_DIR).glob("*.nwb")
    with h5py.File(nwb, "r") as h5:
        chunk = h5[world.written[HUMAN_CELL].sweep(5).response_name]["data"].id.get_chunk_info(0)
    flip_byte(nwb, chunk.byte_offset + chunk.size // 2, mask=0x01, keep_stamp=True)
    assert verified.check(nwb)
    status, out, err = run(capsys, "sweeps", "human", str(HUMAN_CELL), "--sweep", "5", "--format", "csv")
    assert status == 0 and out == good
    assert f"patchseq-intake: warning: {nwb}: reading this NWB file failed (OSError: " in err
    assert "Traceback" not in err


@pytest.mark.parametrize("action", ["info", "verify", "clear"])
def test_a_cache_path_that_is_a_file_is_named_by_every_cache_command(capsys, cache_dir, action, monkeypatch):
    cache_dir.write_text("someone's notes")
    status, out, err = run(capsys, "cache", action)
    assert status == 1 and out == ""
    assert err == f"patchseq-intake: the cache {cache_dir} is not a folder: remove it, or set {config.CACHE_ENV} " \
                  "to a folder for the cache\n"
    assert cache_dir.read_text() == "someone's notes"
    monkeypatch.setenv(config.CACHE_ENV, str(cache_dir / "inside"))  # a cache path under that file
    status, out, err = run(capsys, "cache", action)
    assert status == 1 and out == ""
    assert f"the cache {cache_dir / 'inside'} lies under {cache_dir}, which is not a folder" in err


def test_a_cache_that_cannot_be_cleared_is_not_told_to_move(capsys, world, cache_dir, monkeypatch):
    """Moving the cache does not clear this one: the advice for a refused removal is about this cache."""
    _cached_cell(capsys, cache_dir)
    unlink = Path.unlink

    def read_only(path: Path, missing_ok: bool = False) -> None:
        if path.suffix == ".nwb":
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        unlink(path, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", read_only)
    status, _, err = run(capsys, "cache", "clear")
    assert status == 1 and "is on a read-only file system: only where it is mounted writable" in err
    assert config.CACHE_ENV not in err


def test_a_file_gone_from_the_cache_meanwhile_is_not_told_to_move_the_cache(capsys, world, cache_dir, monkeypatch):
    """ENOENT is a race, not the cache's place refusing: the message is the file system's, with the path."""
    status, err, inside = _cache_info_meeting(FileNotFoundError, errno.ENOENT, capsys, cache_dir, monkeypatch)
    assert status == 1 and str(inside) in err and "No such file or directory" in err
    assert config.CACHE_ENV not in err and "in the cache:" not in err


def test_the_bil_and_nemo_files_and_the_stores_are_counted_verified_and_cleared(capsys, world, cache_dir):
    import patchseq_intake

    cat = patchseq_intake.open_catalog()
    cat.mouse.morphology(specimen_id=601506507).read()
    cat.mouse.transcriptomics(genes=["Sst"], specimen_id=601506507).read()
    [swc] = (cache_dir / config.FILES_DIR).glob("*/601506507_transformed.swc")
    [store] = (cache_dir / config.STORES_DIR).glob("*.h5")
    status, out, _ = run(capsys, "cache")
    assert status == 0
    counts = {line.split("  ")[1].strip(): line.split()[-3] for line in out.splitlines()[2:] if "  " in line}
    assert counts["bil and nemo files"] == "2" and counts["expression stores"] == "1"  # the SWC, the counts CSV
    assert "not patchseq-intake" not in out  # found.json, records and locks are the package's
    flip_byte(swc, 100)
    status, out, _ = run(capsys, "cache", "verify")
    assert status == 1 and f"removed {swc}" in out and not swc.exists() and store.exists()
    seen = cat.mouse.files(filters=[["file_name", "==", swc.name]], columns=["bytes_match", "found_url"]).read()
    assert seen["bytes_match"].isna().all() and seen["found_url"].isna().all()  # the file gone: not said to be seen
    status, out, _ = run(capsys, "cache", "clear")
    assert status == 0 and "left" not in out and not cache_dir.exists()
