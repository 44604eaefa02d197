"""Fixtures of the features tests: cells IPFX can analyse, served by a DANDI replica, and IPFX's own results.

The files are written at 25 kHz (IPFX's spike detection filters at 10 kHz
and refuses slower sweeps) and at 0.3 of the release's durations: 0.3 s
long squares, the shortest IPFX takes (at 0.2 it answers "No long square
sweeps were long enough"). ``serve_cells`` writes each cell's file once a
session (by its ``Recipe``) and serves a fresh replica per test, with the
catalogs pointed at it; ``ipfx_itself`` is what IPFX computes from a
downloaded file on its own (``ipfx_reference``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

import h5py
import pytest

from patchseq_intake.testing.mies import MiesLayout, write_mies_nwb
from patchseq_intake.testing.nwb import write_cell_nwb
from patchseq_intake.testing.physiology import (
    IZERO, RAMP, CellSpec, SweepSpec, WrittenCell, default_sweeps, nwb_file_name,
)
from patchseq_intake.testing.world import DEMO_CELLS, CellPlan, World, serve_world
from patchseq_intake.transport import download

from .ipfx_reference import IpfxOnFile

RATE = 25_000.0
"""Hz: above the 20 kHz IPFX's spike detection needs (its 10 kHz Bessel filter)."""
SCALE = 0.3
"""Of the release's durations: 0.9 s long-square sweeps holding a 0.3 s step."""
PLANS = {plan.specimen_id: plan for plan in DEMO_CELLS}


def protocol(izero: bool = False, **counts: int) -> tuple[SweepSpec, ...]:
    """``default_sweeps`` at ``RATE`` and ``SCALE`` (``counts``: its ``n_*``, ``legacy_codes``); no I=0 sweep unless
    asked.

    Its ramps are ``1 / SCALE`` times steeper, so that in their shorter time they reach the current they reach
    at full length (the default cell's rheobase and more: they fire).
    """
    sweeps = default_sweeps(scale=SCALE, sampling_rate=RATE, **counts)
    steeper = [replace(spec, amplitude=spec.amplitude / SCALE) if spec.kind == RAMP else spec for spec in sweeps]
    return tuple(spec for spec in steeper if izero or spec.kind != IZERO)


SMALL_PROTOCOL = protocol(n_subthreshold=3, n_suprathreshold=1, n_short_square=2)
"""Every stimulus type's features (long squares -110 to 50 pA, 180 and 210 pA; short squares 500 and 2000 pA; a
ramp) at about half the default protocol's cost."""


@dataclass(frozen=True)
class Recipe:
    """How a cell's file is written: by MIES' layout (``layout``) or by pynwb (``layout`` None).

    ``says_mies=False``: without ``general/generated_by`` (pynwb's file only),
    as another acquisition program leaves it. IPFX then reads it with its
    reader of other files (``HBGNWBData``); a file that says MIES but has no
    lab notebook it refuses. ``broken``: the file's HDF5 signature overwritten
    after writing, so that no HDF5 reader opens it (DANDI's checksum is of
    those bytes: a malformed file, not a damaged download).
    """

    sweeps: tuple[SweepSpec, ...] = field(default_factory=protocol)
    layout: MiesLayout | None = MiesLayout()
    cell: CellSpec = CellSpec()
    says_mies: bool = True
    broken: bool = False

    def write(self, path: Path, plan: CellPlan) -> WrittenCell:
        ids = dict(specimen_id=plan.specimen_id, session_id=plan.session_id, subject_id=plan.subject_id)
        if self.layout is not None:
            written = write_mies_nwb(path, **ids, sweeps=self.sweeps, cell=self.cell, seed=7, layout=self.layout)
        else:
            written = write_cell_nwb(path, **ids, sweeps=self.sweeps, cell=self.cell, seed=7)
        if self.says_mies and not self.broken:
            return written
        if not self.says_mies:
            with h5py.File(path, "r+") as h5:
                del h5["general/generated_by"]
        if self.broken:
            with path.open("r+b") as stream:
                stream.write(b"NOT HDF5")
        return replace(written, size=path.stat().st_size, sha256=hashlib.sha256(path.read_bytes()).hexdigest())


SMALL = Recipe(SMALL_PROTOCOL)


@pytest.fixture(scope="session")
def written_files(tmp_path_factory: pytest.TempPathFactory) -> Callable[[int, Recipe], WrittenCell]:
    """``write(specimen_id, recipe)``: that cell's file written so (once a session), under its release name."""
    done: dict[tuple[int, Recipe], WrittenCell] = {}
    root = tmp_path_factory.mktemp("feature-cells")

    def write(specimen_id: int, recipe: Recipe) -> WrittenCell:
        if (specimen_id, recipe) not in done:
            plan = PLANS[specimen_id]
            folder = root / str(len(done))
            folder.mkdir()
            done[specimen_id, recipe] = recipe.write(folder / nwb_file_name(plan.subject_id, plan.session_id), plan)
        return done[specimen_id, recipe]

    return write


@pytest.fixture
def serve_cells(written_files, monkeypatch: pytest.MonkeyPatch):
    """``serve(recipes)``: a DANDI replica of these cells' files (the others not in it), the catalogs pointed at it."""
    running: list[World] = []

    def serve(recipes: Mapping[int, Recipe]) -> World:
        files = {PLANS[cell]: written_files(cell, recipe) for cell, recipe in recipes.items()}
        world = serve_world(files)
        running.append(world)
        for name, value in world.environment().items():
            monkeypatch.setenv(name, value)
        return world

    monkeypatch.setattr(download, "DEFAULT_RETRY", download.RetryPolicy(attempts=2, backoff_s=0.01))
    yield serve
    for world in running:
        world.stop()


@pytest.fixture(scope="session")
def ipfx_itself() -> Callable[[Path], IpfxOnFile]:
    """``ipfx_itself(path)``: IPFX on its own on that file (read once a session, each result computed once)."""
    return cache(IpfxOnFile)
