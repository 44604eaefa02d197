"""Stream mode's first-contact downloads killed midway (``nwb/.transient-*/``): counted, and cleared once settled."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from patchseq_intake import config
from patchseq_intake.cli import cache_command
from tests.cli.test_cache_command import run

HUMAN_CELL = 569835804
WAIT_S = 60.0
"""How long the killed process may take to start its download (it imports the package and reads the tables)."""


def _killed_during_its_first_contact_download(world, cache_dir: Path) -> list[Path]:
    """Start a process whose stream-mode first contact downloads the cell's file over a slow link, and ``kill -9``
    it once the download has written bytes; the files it left."""
    world.server.faults.link_bytes_per_s = 50_000  # the file takes many seconds: killed midway
    script = ("import patchseq_intake; "
              f"patchseq_intake.open_catalog().human.ephys(specimen_id={HUMAN_CELL}, access='stream').read()")
    env = {**os.environ, config.FIRST_CONTACT_ENV: "download"}
    process = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline and process.poll() is None:
            left = [path for path in (cache_dir / config.NWB_DIR).glob(".transient-*/*") if path.stat().st_size]
            if left:
                break
            time.sleep(0.05)
        else:
            raise AssertionError(f"no download started ({process.poll()}): {process.stderr.read()!r}")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    world.server.faults.link_bytes_per_s = None
    return [path for path in (cache_dir / config.NWB_DIR).rglob("*") if path.is_file()]


def _row(out: str, label: str) -> list[str] | None:
    found = [line.split()[len(label.split()):] for line in out.splitlines() if line.startswith(f"  {label} ")]
    return found[0] if found else None


def test_a_killed_first_contact_download_is_a_partial_download_cleared_once_settled(capsys, world, cache_dir):
    [part] = _killed_during_its_first_contact_download(world, cache_dir)
    folder = part.parent
    assert folder.name.startswith(".transient-")  # as opening.transient_copy names it, a download's partial write
    assert re.fullmatch(rf"\.{cache_command.CHECKSUM}\.nwb\.[0-9a-f]{{32}}\.part", part.name), part.name
    status, out, _ = run(capsys, "cache")
    assert status == 0 and _row(out, "partial downloads")[0] == "1"
    assert "not patchseq-intake" not in out
    status, out, _ = run(capsys, "cache", "verify")  # unfinished: not checked, and not removed
    assert status == 0 and "not checked here: 1 partial downloads" in out and part.exists()

    status, out, _ = run(capsys, "cache", "clear")  # just killed: as another process's download in progress, left
    assert status == 0 and part.exists()
    assert "left 1 file of partial downloads less than 1 hour old, which another process may be writing" in out
    assert str(part) in out and "did not write" not in out

    settled = time.time() - cache_command.TRANSIENT_SETTLE_S - 60
    for path in (part, folder):
        os.utime(path, (settled, settled))
    status, out, _ = run(capsys, "cache", "clear")
    assert status == 0 and "left" not in out and not folder.exists()


def test_clear_leaves_a_recent_one_beside_a_settled_one(capsys, world, cache_dir):
    nwb = cache_dir / config.NWB_DIR
    settled = time.time() - cache_command.TRANSIENT_SETTLE_S - 60
    for name, when in ((".transient-old1", settled), (".transient-new1", None)):
        (nwb / name).mkdir(parents=True)
        partial = nwb / name / f".{'0' * 64}.nwb.{'f' * 32}.part"
        partial.write_bytes(b"partial")
        if when is not None:
            os.utime(partial, (when, when))
    (nwb / ".transient-empty").mkdir()  # killed before its first byte, long ago
    os.utime(nwb / ".transient-empty", (settled, settled))
    status, out, _ = run(capsys, "cache")
    assert _row(out, "partial downloads")[:3] == ["2", "14", "B"]
    status, out, _ = run(capsys, "cache", "clear")
    assert status == 0 and sorted(path.name for path in nwb.iterdir()) == [".transient-new1"]
    assert "removed 7 B" in out and "left 1 file of partial downloads" in out
