"""A GUI command serving the demo's replica in a process of its own, for the tests that stop it with SIGTERM."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def demo_process(tmp_path: Path, module: str, *arguments: str) -> Iterator[tuple[subprocess.Popen, Path]]:
    """``python -m <module> <arguments>`` with its own temporary folder and cache: the process and that folder.

    After the block: the process is gone (killed if still there), the
    folder is empty (the demo's replica and files removed) and nothing it
    said on stderr is a traceback.
    """
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch), "PATCHSEQ_INTAKE_CACHE": str(tmp_path / "cache")}
    server = subprocess.Popen([sys.executable, "-m", module, *arguments],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        yield server, scratch
    finally:
        server.kill()
        server.wait()
    assert list(scratch.iterdir()) == []  # the demo's replica and files are gone
    assert "Traceback" not in server.stderr.read()
