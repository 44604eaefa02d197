"""The benchmark's replica of DANDI and the release tables, in a process of its own.

In the client's process, the replica's threads would share the GIL with the
client's; here they do not. The parent talks to it through a pipe: clear the
request log, read it, change the network's latency and bandwidths, serve a
folder (an index store over HTTP), stop.
"""

from __future__ import annotations

import multiprocessing
from dataclasses import dataclass
from pathlib import Path

from patchseq_intake.testing.physiology import WrittenCell
from patchseq_intake.testing.server import Reply
from patchseq_intake.testing.world import CellPlan, serve_world


@dataclass(frozen=True)
class Served:
    """A request as the replica logged it: where, what status, how many body bytes, when (server clock)."""

    path: str
    status: int
    body_bytes: int
    range: str | None
    started: float
    finished: float


class ReplicaProcess:
    """The world of ``files`` served from a child process; ``environment`` points the catalog at it."""

    def __init__(self, files: dict[CellPlan, WrittenCell], listings: Path | None, release_tables: Path | None):
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, files, listings, release_tables), daemon=True)
        self._process.start()
        self.environment, self.blob_urls, self.url = self._pipe.recv()

    def _ask(self, *command: object) -> object:
        self._pipe.send(command)
        return self._pipe.recv()

    def clear(self) -> None:
        self._ask("clear")

    def log(self) -> list[Served]:
        return self._ask("log")

    def network(self, latency_s: float, bandwidth_bytes_per_s: float | None, link_bytes_per_s: float | None) -> None:
        """Each request's added latency, each connection's throughput, all connections' together (None: no limit)."""
        self._ask("network", latency_s, bandwidth_bytes_per_s, link_bytes_per_s)

    def serve_folder(self, prefix: str, folder: Path) -> str:
        """Serve the files of ``folder`` (read at each request; 404 where absent) under ``prefix``: their base URL."""
        self._ask("folder", prefix.rstrip("/") + "/", str(folder))
        return self.url + prefix.rstrip("/")

    def stop(self) -> None:
        self._ask("stop")
        self._process.join(10)


def _serve(pipe, files: dict[CellPlan, WrittenCell], listings: Path | None, release_tables: Path | None) -> None:
    world = serve_world(files, listings)
    server = world.server
    if release_tables is not None:
        for path in release_tables.glob("*.csv"):
            server.serve_file(f"/release/{path.name}", path)
    blob_urls = {cell: world.replica.blob_url(asset) for cell, asset in world.assets.items()}
    pipe.send((world.environment(), blob_urls, server.url))
    while True:
        command, *arguments = pipe.recv()
        if command == "clear":
            server.wait_until_idle()
            server.log.clear()
            pipe.send(None)
        elif command == "log":
            server.wait_until_idle()
            pipe.send([
                Served(e.path, e.status, e.body_bytes, e.range, e.started, e.finished) for e in list(server.log)
            ])
        elif command == "folder":
            prefix, folder = arguments
            server.add_route(prefix, lambda request, prefix=prefix, folder=Path(folder): _from_folder(
                folder, request.path.removeprefix(prefix)))
            pipe.send(None)
        elif command == "network":
            server.faults.latency_s, server.faults.bandwidth_bytes_per_s, server.faults.link_bytes_per_s = arguments
            pipe.send(None)
        else:
            world.stop()
            pipe.send(None)
            return


def _from_folder(folder: Path, name: str) -> Reply:
    """The file ``name`` of ``folder`` (no sub-folders), or 404."""
    path = folder / name
    if "/" in name or not name or not path.is_file():
        return Reply(404, b"not found")
    return Reply(200, path.read_bytes(), {"Content-Type": "application/json"})
