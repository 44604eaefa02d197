"""Fixtures: an isolated cache and environment, local servers on 127.0.0.1, and nothing else reachable."""

from __future__ import annotations

import gc
import hashlib
import socket
from functools import cache
from pathlib import Path

import pytest

from patchseq_intake import config
from patchseq_intake.testing.physiology import default_sweeps
from patchseq_intake.testing.server import LocalServer
from patchseq_intake.testing.tables import Cell, NwbFile, release_tables
from patchseq_intake.testing.world import serve_world, write_world_files
from patchseq_intake.transport import download

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
REFERENCE_TABLES = REFERENCE / "ipfx-data-release"
REFERENCE_ASSETS = REFERENCE / "dandi-assets"
"""Every NWB asset of both dandisets (``<dandiset>.csv``); tests that need it skip without it."""
LOOPBACK = {"127.0.0.1", "::1", "localhost"}
ONE_AT_A_TIME = "one-at-a-time"
"""The work unit of pytest-xdist (``--dist loadgroup``, in pyproject.toml's ``addopts``) that holds the tests of
``ONE_AT_A_TIME_MODULES``: they run on one worker, one after another, never beside each other. The suite runs on
as many workers as the machine has cores (``-n auto``); any other test may run beside one of these."""
ONE_AT_A_TIME_MODULES = frozenset({
    # Headless Chromium (several processes, more than a core at times) beside a panel server in the test's process.
    "tests/gui/test_gui.py",
    "tests/gui/test_browser_serving.py",
    "tests/gui/test_browser_escaping.py",
    # Counts round trips at 50 ms of latency: the client's work between answers must stay well under it.
    "tests/access/test_walk_waves.py",
})
"""Test modules (paths from the project's root) that need a core or more of their own: a test that starts a
browser, or whose assertion rests on the client's work between answers taking less than the server's added
latency. A new module of either kind belongs here (an ``xdist_group`` mark in a test file is not enough: on
pytest 9.2 and later pytest-xdist 3.8 ignores it, pytest-xdist issue 1386)."""


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """With ``--dist loadgroup``: pytest-xdist's own scheduler, its work unit for a test being ``ONE_AT_A_TIME`` for
    the tests of ``ONE_AT_A_TIME_MODULES`` and, as xdist has it, the test itself or its ``xdist_group`` for the
    others. Decided here, in the controller, from the test ids: not by marks added to the tests, which xdist
    only sees through the test ids it rewrites, and no longer can on pytest 9.2 (pytest-xdist issue 1386)."""
    if config.getoption("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class OneAtATime(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.split("::", 1)[0] in ONE_AT_A_TIME_MODULES:
                return ONE_AT_A_TIME
            return super()._split_scope(nodeid)

    return OneAtATime(config, log)


@pytest.fixture(autouse=True)
def garbage_collected_between_tests():
    """No garbage collection during a test: it runs between tests, in the main thread, not in a server's.

    The servers run in the tests' process. A collection that frees an h5py
    object needs h5py's global lock; in a server thread it would wait for the
    test's h5py call, which waits for that server's answer: stuck until the
    request times out. (The package's own threads never wait inside h5py
    calls: see ``remote_file``.)
    """
    gc.disable()
    yield
    gc.enable()


@pytest.fixture(autouse=True, scope="session")
def reconstructions_drawn_once_a_session():
    """The replica's SWC and marker files, drawn once a session, not once a test: each ``world`` serves its
    cells' reconstructions, and drawing them was half of starting one (about 1 s). The same bytes: both functions
    give bytes from their arguments alone (the neuron is drawn from a generator seeded with them)."""
    from patchseq_intake.testing import archives

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(archives, "swc_bytes", cache(archives.swc_bytes))
        patch.setattr(archives, "marker_bytes", cache(archives.marker_bytes))
        yield


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reaches anything but this machine: looking up another host fails the test at once."""
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if host not in LOOPBACK and not (isinstance(host, bytes) and host.decode() in LOOPBACK):
            raise AssertionError(f"a test tried to reach {host!r}: only 127.0.0.1 is allowed")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture(autouse=True)
def a_new_process_for_once_said_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test is a new process for the warnings said once a process (the manifest's other bytes)."""
    from patchseq_intake.dandi import cells

    monkeypatch.setattr(cells, "_said", False)


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty cache and no overrides from the caller's shell."""
    cache = tmp_path / "cache"
    monkeypatch.setenv(config.CACHE_ENV, str(cache))
    monkeypatch.delenv(config.TABLES_ENV, raising=False)
    monkeypatch.delenv(config.OFFLINE_ENV, raising=False)
    monkeypatch.delenv(config.DANDI_API_ENV, raising=False)
    monkeypatch.delenv(config.LOCAL_ROOT_ENV, raising=False)
    monkeypatch.delenv(config.TIMEOUT_ENV, raising=False)
    monkeypatch.delenv(config.UNPINNED_TABLES_ENV, raising=False)
    monkeypatch.delenv(config.INDEX_STORE_ENV, raising=False)
    monkeypatch.delenv(config.FIRST_CONTACT_ENV, raising=False)
    return cache


def _nwb(subject: int, seed: int) -> NwbFile:
    digest = hashlib.sha256(str(seed).encode())
    return NwbFile(subject_id=subject, size=1000 + seed, sha256=digest.hexdigest(), md5=digest.hexdigest()[:32])


@pytest.fixture
def cells() -> list[Cell]:
    """Made-up cells of both archives, covering the cases the real tables have."""
    return [
        Cell("human", 541549258, 541549227, "MTG", "spiny", "28 yrs", "H16.03.007", 558.0, _nwb(1, 1), True),
        Cell("human", 541557114, 541557101, "MTG", "aspiny", "28 yrs", "H16.03.007", None, _nwb(1, 2)),
        Cell("human", 569835804, 569835790, "FroL", "spiny", "61 yrs", "H17.06.003", 320.5, _nwb(2, 3)),
        Cell("mouse", 601506507, 601506492, "VISp5", "aspiny", "P55", "331294", None, _nwb(599387254, 4), True),
        Cell("mouse", 601790961, 601790945, "VISp5", "spiny", "P57", "331663", None, _nwb(601462951, 5)),
        Cell("mouse", 601803754, 601803733, "VISpm4", "aspiny", "P60", "331663", None, None),
    ]


@pytest.fixture
def streamed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stream mode walks even the tests' small files (by default it downloads small files whole, and on the
    tests' fast local link first contact would measure a download as cheaper)."""
    from patchseq_intake import config
    from patchseq_intake.access import cell_reader

    monkeypatch.setattr(cell_reader, "SMALL_FILE_BYTES", 0)
    monkeypatch.setenv(config.FIRST_CONTACT_ENV, "walk")


@pytest.fixture(scope="session")
def release_server():
    """The four real release tables from ../shared, served on 127.0.0.1 under their upstream names."""
    if not REFERENCE_TABLES.is_dir():
        pytest.skip(f"reference tables not found at {REFERENCE_TABLES}")
    with LocalServer() as server:
        for path in REFERENCE_TABLES.glob("*.csv"):
            server.serve_file(f"/{path.name}", path)
        yield server


@pytest.fixture
def table_server(cells: list[Cell]):
    """A local server with the synthetic release tables under /tables/."""
    with LocalServer() as server:
        for name, content in release_tables(cells, unassigned_files=2).items():
            server.serve_file(f"/tables/{name}", content)
        yield server


@pytest.fixture
def served_tables(table_server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> LocalServer:
    """The catalog reads its tables from ``table_server``: made-up tables, so taken unpinned, by choice."""
    monkeypatch.setenv(config.TABLES_ENV, f"{table_server.url}/tables")
    monkeypatch.setenv(config.UNPINNED_TABLES_ENV, "1")
    return table_server


@pytest.fixture
def cat():
    import patchseq_intake

    return patchseq_intake.open_catalog()


@pytest.fixture(scope="session")
def world_files(tmp_path_factory):
    """Small synthetic NWB files for the demo cells, written once."""
    return write_world_files(tmp_path_factory.mktemp("nwb"), sweeps=default_sweeps(scale=0.1, sampling_rate=10e3))


@pytest.fixture(scope="session")
def ipfx_world_files(tmp_path_factory):
    """The demo cells' files with sweeps IPFX analyses: 25 kHz (its spike detection needs more than 20 kHz) and
    sweeps lasting 0.2 s past their step (its ``validate_sweeps``); ``world_files``' are too short and slow."""
    return write_world_files(tmp_path_factory.mktemp("nwb-ipfx"), sweeps=default_sweeps(scale=0.3, sampling_rate=25e3))


@pytest.fixture
def ipfx_world(ipfx_world_files, monkeypatch):
    """As ``world``, serving ``ipfx_world_files``."""
    yield from _serve(ipfx_world_files, monkeypatch)


@pytest.fixture
def world(world_files, monkeypatch):
    """A running replica of the world, with the catalog pointed at it and fast retries."""
    yield from _serve(world_files, monkeypatch)


def _serve(files, monkeypatch):
    running = serve_world(files, listings=REFERENCE_ASSETS if REFERENCE_ASSETS.is_dir() else None)
    for name, value in running.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(download, "DEFAULT_RETRY", download.RetryPolicy(attempts=3, backoff_s=0.01))
    yield running
    running.stop()
