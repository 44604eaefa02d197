"""A complete local stand-in for the release: tables, a DANDI replica, synthetic NWB files.

``build_world(directory)`` writes synthetic NWB files for a few made-up cells
of both archives, release tables that point at them, and serves both from
one ``LocalServer`` on 127.0.0.1: tables under ``/tables/``, the DANDI API
under ``/api`` and blobs under ``/s3``. ``world.environment()`` gives the
environment variables that point the shipped catalog at it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .. import config
from ..catalog import shipped_dandiset
from .dandi import DandiReplica, ReplicaAsset
from .nwb import CellSpec, SweepSpec, WrittenCell, default_sweeps, nwb_file_name, write_cell_nwb
from .server import LocalServer
from .tables import Cell, NwbFile, release_tables


@dataclass(frozen=True)
class CellPlan:
    """A made-up cell to put in the world."""

    archive: str
    specimen_id: int
    session_id: int
    subject_id: int
    structure: str
    dendrite_type: str
    age: str
    donor_id: str
    has_nwb: bool = True
    input_resistance_mohm: float = 150.0


DEMO_CELLS = (
    CellPlan("human", 541549258, 541549227, 541549200, "MTG", "spiny", "28 yrs", "H16.03.007", input_resistance_mohm=120.0),
    CellPlan("human", 569835804, 569835790, 569835700, "MTG", "aspiny", "61 yrs", "H17.06.003", input_resistance_mohm=210.0),
    CellPlan("mouse", 601506507, 601506492, 599387254, "VISp5", "aspiny", "P55", "331294", input_resistance_mohm=180.0),
    CellPlan("mouse", 601790961, 601790945, 601462951, "VISp5", "aspiny", "P57", "331663", input_resistance_mohm=240.0),
    CellPlan("mouse", 601803754, 601803733, 601462951, "VISp5", "spiny", "P57", "331663", input_resistance_mohm=95.0),
    CellPlan("mouse", 601808698, 601808600, 601462951, "VISpm4", "aspiny", "P57", "331663", has_nwb=False),
)


@dataclass
class World:
    """The running stand-in: its server, DANDI replica, cells and written files."""

    server: LocalServer
    replica: DandiReplica
    cells: list[Cell]
    written: dict[int, WrittenCell] = field(default_factory=dict)
    assets: dict[int, ReplicaAsset] = field(default_factory=dict)
    """Each cell's asset in the published version of its dandiset."""

    def environment(self) -> dict[str, str]:
        """Environment variables that point the shipped catalogs at this world."""
        return {config.TABLES_ENV: f"{self.server.url}/tables", config.DANDI_API_ENV: self.replica.api_url}

    @contextmanager
    def active(self, cache: Path) -> Iterator[World]:
        """Point the package at this world, with ``cache``, for a ``with`` block.

        Every setting is replaced (see ``config.using``), so a caller's
        ``PATCHSEQ_INTAKE_OFFLINE`` or local root does not leak in.
        """
        with config.using({**self.environment(), config.CACHE_ENV: str(cache)}):
            yield self

    def stop(self) -> None:
        self.server.stop()


def build_world(
    directory: Path,
    plans: tuple[CellPlan, ...] = DEMO_CELLS,
    sweeps: list[SweepSpec] | None = None,
) -> World:
    """Write the world's files under ``directory`` and start serving them."""
    return serve_world(write_world_files(directory, plans, sweeps))


def write_world_files(
    directory: Path,
    plans: tuple[CellPlan, ...] = DEMO_CELLS,
    sweeps: list[SweepSpec] | None = None,
) -> dict[CellPlan, WrittenCell | None]:
    """Write an NWB file for each planned cell that has one."""
    directory.mkdir(parents=True, exist_ok=True)
    return {plan: _write_nwb(directory, plan, sweeps) if plan.has_nwb else None for plan in plans}


def serve_world(files: dict[CellPlan, WrittenCell | None]) -> World:
    """Start a server with the release tables and a DANDI replica of ``files``."""
    server = LocalServer().start()
    world = World(server, DandiReplica(server), cells=[])
    for plan, written in files.items():
        nwb = None
        if written is not None:
            world.assets[plan.specimen_id] = _publish(world.replica, plan, written)
            world.written[plan.specimen_id] = written
            nwb = NwbFile(plan.subject_id, written.size, written.sha256, _md5(written.path))
        world.cells.append(
            Cell(plan.archive, plan.specimen_id, plan.session_id, plan.structure, plan.dendrite_type,
                 plan.age, plan.donor_id, nwb=nwb)
        )
    for name, content in release_tables(world.cells, unassigned_files=1).items():
        server.serve_file(f"/tables/{name}", content)
    return world


def dandi_path(plan: CellPlan) -> str:
    """Where the plan's NWB file lives in its dandiset."""
    return f"sub-{plan.subject_id}/{nwb_file_name(plan.subject_id, plan.session_id)}"


def _write_nwb(directory: Path, plan: CellPlan, sweeps: list[SweepSpec] | None) -> WrittenCell:
    return write_cell_nwb(
        directory / nwb_file_name(plan.subject_id, plan.session_id),
        specimen_id=plan.specimen_id,
        session_id=plan.session_id,
        subject_id=plan.subject_id,
        sweeps=sweeps if sweeps is not None else default_sweeps(),
        cell=CellSpec(input_resistance_mohm=plan.input_resistance_mohm),
        seed=plan.specimen_id % 1000,
    )


def _publish(replica: DandiReplica, plan: CellPlan, written: WrittenCell) -> ReplicaAsset:
    """Add the file to the draft and the published version; return the published asset."""
    dandiset, version = shipped_dandiset(plan.archive)
    replica.add_asset(dandiset, "draft", dandi_path(plan), written.path)
    return replica.add_asset(dandiset, version, dandi_path(plan), written.path)


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()

