"""The demo's replica served for one's own Python: ``patchseq-intake demo --serve`` and ``demo_replica()``."""

from __future__ import annotations

import os
import queue
import shlex
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

import patchseq_intake
from patchseq_intake import config
from patchseq_intake.testing.world import demo_replica

START_S = 120.0
"""The replica writes eight NWB files and lists every real asset before it prints its lines."""


def _lines(stream, into: queue.Queue) -> None:
    for line in stream:
        into.put(line)
    into.put(None)


def _exports(process: subprocess.Popen, into: queue.Queue) -> tuple[dict[str, str], list[str], list[str]]:
    """The variables the served replica's ``export`` lines set, those its ``unset`` line names, and every line
    up to its last comment (bounded in time)."""
    exported, unset, lines = {}, [], []
    while not lines or "Ctrl-C stops the replica" not in lines[-1]:
        line = into.get(timeout=START_S)
        assert line is not None, f"the command ended ({process.wait()}) before printing its lines: {lines}"
        lines.append(line.rstrip("\n"))
        words = shlex.split(lines[-1]) if lines[-1].startswith(("export ", "unset ")) else []
        if words and words[0] == "export":
            name, value = words[1].split("=", 1)
            exported[name] = value
        elif words and words[0] == "unset":
            unset = words[1:]
        else:
            assert lines[-1].startswith("# "), f"not a shell line: {lines[-1]!r}"
    return exported, unset, lines


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_demo_serve_prints_the_shell_lines_serves_until_stopped_and_removes_its_files(tmp_path: Path, stop):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    lab_store = tmp_path / "lab store"  # the caller's shell names a lab's real store, and a first contact
    env = {**os.environ, "TMPDIR": str(scratch), config.OFFLINE_ENV: "1", config.INDEX_STORE_ENV: str(lab_store),
           config.FIRST_CONTACT_ENV: "walk"}
    process = subprocess.Popen(
        [sys.executable, "-m", "patchseq_intake", "demo", "--serve"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    printed: queue.Queue = queue.Queue()
    threading.Thread(target=_lines, args=(process.stdout, printed), daemon=True).start()
    try:
        exported, unset, lines = _exports(process, printed)
        assert set(exported) == {config.TABLES_ENV, config.UNPINNED_TABLES_ENV, config.DANDI_API_ENV,
                                 config.BIL_ENV, config.NEMO_ENV, config.CACHE_ENV, config.INDEX_STORE_ENV}
        assert exported[config.INDEX_STORE_ENV] == ""  # no store: the demo's indexes never reach a lab's
        # the caller's offline switch would refuse it; their first-contact choice is not the demo's
        assert unset == [config.OFFLINE_ENV, config.LOCAL_ROOT_ENV, config.FIRST_CONTACT_ENV]
        assert any(line.startswith("# human cell 541549258 (MTG): sweeps 0-2, 4-17") for line in lines)
        assert "# mouse cell 601506507 (VISpm4): sweeps 0-2, 4-17; full reconstruction; transcriptome" in lines
        assert "# mouse cell 627867607 (VISp6a): sweeps 0-2, 4-17" in lines  # neither
        assert lines[-1].startswith("# The replica's tables hold these cells only")
        cache = Path(exported[config.CACHE_ENV])
        assert cache.is_relative_to(scratch)

        # The printed URLs answer, and one's own Python, with those settings, reads a cell's sweep.
        with urllib.request.urlopen(f"{exported[config.TABLES_ENV]}/20200625_patchseq_metadata_human.csv",
                                    timeout=10) as answer:
            assert answer.status == 200 and b"541549258" in answer.read()
        own = {name: value for name, value in env.items() if name not in unset}
        script = ("import patchseq_intake; cat = patchseq_intake.open_catalog(); "
                  "print(len(cat.human.metadata.read()), cat.human.ephys(specimen_id=541549258).sweep(5).sweep_number, "
                  "len(cat.human.morphology(specimen_id=541549258).read()) > 0)")
        result = subprocess.run([sys.executable, "-c", script], env={**own, **exported}, capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == ["2", "5", "True"]  # the BIL stand-in too
        assert cache.is_dir() and not lab_store.exists()
    finally:
        process.send_signal(stop)
        status = process.wait(timeout=30)
    assert status == 128 + stop, process.stderr.read()
    assert "Traceback" not in process.stderr.read()
    assert list(scratch.iterdir()) == []  # its files and the cache it named are removed


def test_demo_replica_points_this_process_at_the_replica_and_restores_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setenv(config.OFFLINE_ENV, "yes")
    monkeypatch.setenv(config.TIMEOUT_ENV, "7")
    monkeypatch.delenv(config.TABLES_ENV, raising=False)
    lab_store = tmp_path / "lab store"  # the caller's lab store (never made: tmp_path is found empty at the end)
    monkeypatch.setenv(config.INDEX_STORE_ENV, str(lab_store))
    monkeypatch.setenv(config.FIRST_CONTACT_ENV, "walk")
    before = dict(os.environ)
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # TMPDIR read again
    with demo_replica() as world:
        assert os.environ[config.DANDI_API_ENV] == world.replica.api_url
        assert config.OFFLINE_ENV not in os.environ
        assert os.environ[config.TIMEOUT_ENV] == "7"  # the caller's own, kept
        assert os.environ[config.INDEX_STORE_ENV] == "" and config.FIRST_CONTACT_ENV not in os.environ
        cache = Path(os.environ[config.CACHE_ENV])
        cat = patchseq_intake.open_catalog()
        assert sorted(cat.human.metadata.read()["cell_specimen_id"]) == [541549258, 569835804]
        assert cat.human.ephys(specimen_id=569835804).sweep(5).sweep_number == 5
        assert cat.human.ephys(specimen_id=541549258, access="stream").sweep(5).sweep_number == 5
        assert cache.is_relative_to(tmp_path) and cache.is_dir()
        assert not lab_store.exists()  # nothing of the demo's synthetic files reached the lab's store
    assert dict(os.environ) == before
    assert not cache.exists() and list(tmp_path.iterdir()) == []
