"""A complete local stand-in for the release: tables, a DANDI replica, synthetic NWB files.

``build_world(directory)`` writes synthetic NWB files for a few real cells of
both archives (``DEMO_CELLS``: their ids, sessions, subjects, structure,
dendrite type, age and donor as released; the other metadata columns, such
as the normalized depth (0.42 for every cell) and the t-type, are made up in
``tables``), release tables that describe them, and serves both from one
``LocalServer`` on 127.0.0.1: tables under ``/tables/``, the DANDI API under
``/api``, blobs under ``/s3``, and the cells' SWC files and transcriptomes
under ``/bil/`` and ``/nemo/`` at the release's paths (``archives``: their
reconstruction types, sample ids and t-types are the release's, their bytes
synthetic). ``world.environment()`` gives the
environment variables that point the shipped catalog at it (its made-up
tables taken unpinned, with ``PATCHSEQ_INTAKE_UNPINNED_TABLES``).

``demo_replica()`` is the demo's replica for one's own Python: a ``with``
block in which this process (and the processes it starts) reads the
replica, with a throw-away cache, as ``patchseq-intake demo --serve`` does
for another shell; ``demo_world()`` the same without changing the
environment (``demo_settings`` names the variables).

Given ``listings`` (a folder of ``<dandiset>.csv`` listings, such as
``shared/reference/dandi-assets/`` or the catalogs' ``dandi-assets/``), the
replica lists every real asset of both dandisets, in the published version
and the draft, as DANDI lists them; the cells written replace their real
asset's bytes with synthetic ones (the listed size and digests are then
those of the synthetic bytes). The other assets have no bytes to serve.

As in the real release, the manifest of a written cell gives either its
bytes' size and SHA-256, or another file's (``released_as``: what the real
manifest says of the 266 files DANDI holds other bytes for), or has no row
for it (``in_manifest=False``: as for 595 real mouse cells).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .. import config
from ..dandi.assets import Asset, read_listing, read_listing_with_recordings
from ..dandi.dandisets import registry
from ..tables.shipped import shipped_dandiset, shipped_listings
from .archives import ArchiveCell, ServedArchives, serve_archives
from .dandi import DRAFT, DandiReplica, ReplicaAsset
from .mies import write_mies_nwb
from .physiology import CellSpec, SweepSpec, WrittenCell, default_sweeps, nwb_file_name
from .server import LocalServer
from .tables import Cell, NwbFile, release_tables


@dataclass(frozen=True)
class ReleasedFile:
    """What the release manifest says of a file: its size (bytes), SHA-256 and MD5."""

    size: int
    sha256: str
    md5: str


@dataclass(frozen=True)
class CellPlan:
    """A cell to put in the world, with a synthetic NWB file.

    ``released_as``: the manifest describes other bytes (None: the file's
    own); ``in_manifest=False``: the manifest has no row for the file.
    """

    archive: str
    specimen_id: int
    session_id: int
    subject_id: int
    structure: str
    dendrite_type: str
    age: str
    donor_id: str
    released_as: ReleasedFile | None = None
    in_manifest: bool = True
    input_resistance_mohm: float = 150.0
    reconstruction: str | None = None
    """The metadata's ``neuron_reconstruction_type``; not None: the cell's SWC and marker files are on the BIL stand-in."""
    sample_id: str | None = None
    """The metadata's ``transcriptomics_sample_id`` (None: made up)."""
    t_type: str | None = None
    """The metadata's t-type (``corresponding_AIT2.3.1_alias``; None: made up)."""
    transcriptome: bool = False
    """Whether the NeMO stand-in has the cell's FASTQ pair, BAM and matrix column (mouse cells)."""


DEMO_CELLS = (
    # As released: cell, session, subject (DANDI path), structure, dendrite type, age, donor; reconstruction type,
    # transcriptomics sample and t-type from the release's metadata; SWC and transcriptome files where the
    # manifest lists them (their bytes synthetic).
    # The manifest's row of this cell describes 29016929 bytes; DANDI holds 29377521.
    CellPlan("human", 541549258, 541549227, 541516760, "MTG", "spiny", "28 yrs", "H16.03.007",
             released_as=ReleasedFile(29016929, "6a1c9f11358a5e72ef723bb0b63de4f65cdf329d4325c9e7b51912791a709136",
                                      "feed5e9f13d5450cec6d59f6728143e6"), input_resistance_mohm=120.0,
             reconstruction="full", sample_id="RS1SS-161025-01_E12-50_S63", t_type="Exc L2-3 LINC00507 FREM3"),
    CellPlan("human", 569835804, 569835791, 569800644, "MTG", "spiny", "61 yrs", "H17.03.002", input_resistance_mohm=210.0,
             reconstruction="dendrite-only", sample_id="huPSX170327_E1-50_S15", t_type="Exc L2 LAMP5 LTK"),
    CellPlan("mouse", 601506507, 601506492, 599387254, "VISpm4", "sparsely spiny", "P55", "331294", input_resistance_mohm=180.0,
             reconstruction="full", sample_id="PS0810_E1-50_S88", t_type="Vip Gpc3 Slc18a3", transcriptome=True),
    CellPlan("mouse", 601790961, 601790945, 601462951, "VISpm5", "aspiny", "P57", "331663", input_resistance_mohm=240.0,
             reconstruction="full", sample_id="PS0817_E1-50_S19", t_type="Sst Tac2 Myh4", transcriptome=True),
    CellPlan("mouse", 601803754, 601803733, 601462951, "VISp2/3", "sparsely spiny", "P57", "331663", input_resistance_mohm=95.0,
             reconstruction="full", sample_id="PS0817_E1-50_S25", t_type="Sst Calb2 Pdlim5", transcriptome=True),
    CellPlan("mouse", 601808698, 601808619, 601462951, "VISp5", "aspiny", "P57", "331663", input_resistance_mohm=160.0,
             reconstruction="full", sample_id="PS0817_E1-50_S26", t_type="Sst Hpse Cbln4", transcriptome=True),
    # The manifest's row describes 19534558 bytes; DANDI holds 19795174.
    CellPlan("mouse", 623434306, 623434287, 617297314, "VISp2/3", "aspiny", "P50", "346780",
             released_as=ReleasedFile(19534558, "df87b0896fa11b072aa9d30ccdcd20ee6f0c44f5ea9316e1a750918afaf23831",
                                      "86811e29bfcdb61e15f94d72f0b0a9dd"), input_resistance_mohm=200.0,
             reconstruction="full", sample_id="SM-GE62S_S111_E1-50", t_type="Sst Tac1 Htr1d", transcriptome=True),
    # No manifest row (nor SWC or transcriptome files); DANDI has sub-617297348/sub-617297348_ses-627867536_icephys.nwb.
    CellPlan("mouse", 627867607, 627867536, 617297348, "VISp6a", "aspiny", "P53", "346784", in_manifest=False,
             input_resistance_mohm=300.0, sample_id="SM-GE63V_S103_E1-50", t_type="Sst Myh8 Etv1"),
)


DEMO_RECORDINGS = (("000630", 1001422850),)
"""Sessions of the dandisets beyond the 2020 release whose files the demo's replica serves (synthetic bytes at the
real path, with the listing's metadata of the recording): a human L1 cell of 000630."""


@dataclass
class World:
    """The running stand-in: its server, DANDI replica, cells and written files."""

    server: LocalServer
    replica: DandiReplica
    cells: list[Cell]
    written: dict[int, WrittenCell] = field(default_factory=dict)
    assets: dict[int, ReplicaAsset] = field(default_factory=dict)
    """Each cell's asset in the published version of its dandiset."""
    listed_real_assets: bool = False
    """Whether the replica lists every real asset of both dandisets."""
    archives: ServedArchives | None = None
    """The BIL and NeMO stand-ins: the cells' SWC files and transcriptomes."""
    recordings: dict[int, WrittenCell] = field(default_factory=dict)
    """Synthetic files served for real sessions of the dandisets beyond 2020 (``DEMO_RECORDINGS``), by session."""

    def environment(self) -> dict[str, str]:
        """Environment variables that point the shipped catalogs at this world.

        Its tables are made up, not the release's: they are taken unpinned
        (``PATCHSEQ_INTAKE_UNPINNED_TABLES``), as one's own edited tables are.
        """
        archives = self.archives.environment() if self.archives is not None else {}
        return {
            config.TABLES_ENV: f"{self.server.url}/tables",
            config.UNPINNED_TABLES_ENV: "1",
            config.DANDI_API_ENV: self.replica.api_url,
            **archives,
        }

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


@contextmanager
def demo_world() -> Iterator[tuple[World, dict[str, str | None]]]:
    """The demo's replica (``DEMO_CELLS`` and ``DEMO_RECORDINGS``, every real asset of every dandiset whose listing
    the catalog ships listed) served from a temporary folder, and the
    settings that point a process at it (``demo_settings``), for a ``with`` block.

    The folder (its NWB files and the cache the settings name) is removed, and the server stopped, at the
    block's end. Changes no environment variable.
    """
    with tempfile.TemporaryDirectory(prefix="patchseq-demo-") as scratch:
        world = build_world(Path(scratch) / "files", listings=shipped_listings())
        list_every_dandiset(world.replica)
        for dandiset, session in DEMO_RECORDINGS:
            world.recordings[session] = publish_recording(world.replica, Path(scratch) / "files", dandiset, session)
        try:
            yield world, demo_settings(world, Path(scratch) / "cache")
        finally:
            world.stop()


def demo_settings(world: World, cache: Path) -> dict[str, str | None]:
    """The environment variables that point a process at ``world`` with ``cache``; None: to be unset.

    A local root or ``PATCHSEQ_INTAKE_OFFLINE`` would turn the replica away; ``PATCHSEQ_INTAKE_INDEX_STORE``
    is empty (no store: the demo's indexes, of synthetic files, never reach a lab's real store) and
    ``PATCHSEQ_INTAKE_FIRST_CONTACT`` unset (its default, ``auto``), so that the caller's shell settings do not
    leak into the demo; ``PATCHSEQ_INTAKE_TIMEOUT`` is left as the caller has it.
    """
    return {**world.environment(), config.CACHE_ENV: str(cache), config.INDEX_STORE_ENV: "",
            config.OFFLINE_ENV: None, config.LOCAL_ROOT_ENV: None, config.FIRST_CONTACT_ENV: None}


@contextmanager
def demo_replica() -> Iterator[World]:
    """Serve the demo's replica and point this process's environment at it for a ``with`` block.

    >>> from patchseq_intake.testing.world import demo_replica
    >>> with demo_replica():                                    # doctest: +SKIP
    ...     cat = patchseq_intake.open_catalog()
    ...     cat.human.ephys(specimen_id=541549258).sweep(42)

    Inside the block the catalogs read the replica's tables and DANDI (its cells: ``DEMO_CELLS``), with
    a throw-away cache; processes started there (Dask's workers) inherit it. The variables it sets or
    unsets (``demo_settings``) are given back their values at the block's end, and the replica's
    temporary folder removed.
    """
    with demo_world() as (world, settings), _environment(settings):
        yield world


@contextmanager
def _environment(settings: Mapping[str, str | None]) -> Iterator[None]:
    """``os.environ`` with ``settings`` set (None: unset) for the block; each one's value restored after."""
    saved = {name: os.environ.get(name) for name in settings}
    try:
        for name, value in settings.items():
            _set(name, value)
        yield
    finally:
        for name, value in saved.items():
            _set(name, value)


def _set(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def build_world(
    directory: Path,
    plans: tuple[CellPlan, ...] = DEMO_CELLS,
    sweeps: list[SweepSpec] | None = None,
    listings: Path | None = None,
) -> World:
    """Write the world's files under ``directory`` and start serving them (see ``serve_world``)."""
    return serve_world(write_world_files(directory, plans, sweeps), listings)


def write_world_files(
    directory: Path,
    plans: tuple[CellPlan, ...] = DEMO_CELLS,
    sweeps: list[SweepSpec] | None = None,
) -> dict[CellPlan, WrittenCell]:
    """Write an NWB file for each planned cell."""
    directory.mkdir(parents=True, exist_ok=True)
    return {plan: _write_nwb(directory, plan, sweeps) for plan in plans}


def serve_world(files: dict[CellPlan, WrittenCell], listings: Path | None = None) -> World:
    """Start a server with the release tables and a DANDI replica of ``files``.

    With ``listings``, a folder holding ``<dandiset>.csv`` for both dandisets,
    the replica lists their real assets too (see the module docstring).
    """
    server = LocalServer().start()
    world = World(server, DandiReplica(server), cells=[], listed_real_assets=listings is not None)
    if listings is not None:
        _list_real_assets(world.replica, listings)
    world.archives = serve_archives(server, [
        ArchiveCell(plan.archive, plan.specimen_id, plan.sample_id or "", plan.reconstruction, plan.transcriptome)
        for plan in files
    ])
    for plan, written in files.items():
        world.assets[plan.specimen_id] = _publish(world.replica, plan, written)
        world.written[plan.specimen_id] = written
        world.cells.append(
            Cell(plan.archive, plan.specimen_id, plan.session_id, plan.structure, plan.dendrite_type,
                 plan.age, plan.donor_id, nwb=_manifest_row(plan, written), reconstruction_type=plan.reconstruction,
                 sample_id=plan.sample_id, t_type=plan.t_type,
                 files=tuple(world.archives.cell_rows.get(plan.specimen_id, ())))
        )
    for name, content in release_tables(world.cells, release_rows=world.archives.release_rows).items():
        server.serve_file(f"/tables/{name}", content)
    return world


def dandi_path(plan: CellPlan) -> str:
    """Where the plan's NWB file lives in its dandiset."""
    return f"sub-{plan.subject_id}/{nwb_file_name(plan.subject_id, plan.session_id)}"


def _write_nwb(directory: Path, plan: CellPlan, sweeps: list[SweepSpec] | None) -> WrittenCell:
    return write_mies_nwb(
        directory / nwb_file_name(plan.subject_id, plan.session_id),
        specimen_id=plan.specimen_id,
        session_id=plan.session_id,
        subject_id=plan.subject_id,
        sweeps=sweeps if sweeps is not None else default_sweeps(),
        cell=CellSpec(input_resistance_mohm=plan.input_resistance_mohm),
        seed=plan.specimen_id % 1000,
    )


def _list_real_assets(replica: DandiReplica, listings: Path) -> None:
    for archive in ("human", "mouse"):
        dandiset, version = shipped_dandiset(archive)
        for asset in _real_listing(listings / f"{dandiset}.csv").values():
            for listed_in in (version, DRAFT):
                replica.add_listed_asset(dandiset, listed_in, asset)


@lru_cache(maxsize=4)
def _real_listing(path: Path) -> dict[str, Asset]:
    return read_listing(path)


def list_every_dandiset(replica: DandiReplica) -> None:
    """List in ``replica`` every asset, and its recording, of each dandiset beyond the 2020 release whose listing
    the catalog ships, at the version pinned (their blobs are not served)."""
    for dandiset in registry().values():
        pinned = dandiset.pinned()
        if dandiset.release_2020 or pinned is None:
            continue
        assets, recordings = read_listing_with_recordings(pinned.path)
        for asset in assets.values():
            replica.add_listed_asset(dandiset.dandiset, dandiset.version, asset, asset_id=asset.asset_id,
                                     recording=recordings.get(asset.path))


def publish_recording(
    replica: DandiReplica, directory: Path, dandiset: str, session: int, sweeps: list[SweepSpec] | None = None
) -> WrittenCell:
    """Write a synthetic MIES file for ``session`` of ``dandiset`` and serve it at the session's real path, with
    the listing's recording, in the version pinned (replacing the listed asset's bytes)."""
    registered = registry()[dandiset]
    assets, recordings = read_listing_with_recordings(registered.pinned().path)
    path = next(p for p, r in recordings.items() if r.session == session)
    recording = recordings[path]
    written = write_mies_nwb(
        directory / Path(path).name, specimen_id=session, session_id=session, subject_id=recording.subject_id,
        sweeps=default_sweeps(), seed=session % 1000,
    )
    replica.add_asset(dandiset, registered.version, path, written.path, asset_id=assets[path].asset_id,
                      recording=recording)
    return written


def _publish(replica: DandiReplica, plan: CellPlan, written: WrittenCell) -> ReplicaAsset:
    """Add the file to the draft and the published version; return the published asset.

    Where the version lists the real asset at that path, the asset keeps its id.
    """
    dandiset, version = shipped_dandiset(plan.archive)
    path = dandi_path(plan)
    for listed_in in (DRAFT, version):
        real = replica.assets(dandiset, listed_in).get(path)
        replica.add_asset(dandiset, listed_in, path, written.path, asset_id=real.asset_id if real else None)
    return replica.assets(dandiset, version)[path]


def _manifest_row(plan: CellPlan, written: WrittenCell) -> NwbFile | None:
    """The manifest's row of the cell's file: its own digests, another file's, or none."""
    if not plan.in_manifest:
        return None
    released = plan.released_as or ReleasedFile(written.size, written.sha256, _md5(written.path))
    return NwbFile(plan.subject_id, released.size, released.sha256, released.md5)


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()

