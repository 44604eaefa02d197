"""One cell's reconstruction: its transformed SWC to a DataFrame, cold and warm, beside today's way.

Usage: python benchmarks/morphology.py [--latency-ms 40] [--bandwidth-mb-s 50]

A local server on 127.0.0.1 stands in for BIL (every answer delayed by the
latency, each connection limited to the bandwidth) and serves release
tables describing two mouse cells whose transformed SWC files have the
release's median size (0.75 MB) and its largest (2.67 MB): synthetic
neurons (``testing.morphology``) with each segment divided until the file
has that size. Cases:

- ``cat.mouse.morphology(specimen_id=...).read()`` cold (tables cached, the
  file not: fetched, verified against the manifest's SHA-256, cached) and
  warm (the cached file checked by its stamp, then parsed);
- ``.to_morphio()`` warm (morphio's object, for morphometrics);
- today's way: download the file (``requests.get``) and parse it with
  ``pandas.read_csv(sep=r"\\s+", comment="#")``, every time (nothing is
  verified or cached).
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import requests

import patchseq_intake
from patchseq_intake import config
from patchseq_intake.testing.archives import BIL, BIL_DEAD, manifest_row
from patchseq_intake.testing.morphology import synthetic_neuron
from patchseq_intake.testing.server import LocalServer
from patchseq_intake.testing.tables import Cell, release_tables

MB = 1e6
CELLS = {"median": (700000001, 745_701), "largest": (700000002, 2_671_926)}
"""Case -> (cell id, the transformed SWC's size in the release's manifest, bytes: median and largest)."""
FOLDER = "biccn/zeng/pseq/morph/200526"
SWC_NAMES = ["id", "type", "x", "y", "z", "radius", "parent"]


def densified_swc(specimen_id: int, target_bytes: int) -> bytes:
    """A synthetic neuron's transformed SWC with each segment divided into equal steps, to about ``target_bytes``."""
    neuron = synthetic_neuron(specimen_id)
    xyz, parents, types, radius = neuron.transformed, neuron.parents, neuron.types, neuron.radius
    line_bytes = 48
    steps = max(1, round(target_bytes / line_bytes / len(xyz)))
    rows, new_id = [], {}
    for i in range(len(xyz)):
        parent = int(parents[i])
        if parent < 0:
            rows.append((types[i], *xyz[i], radius[i], -1))
        else:
            previous = new_id[parent]
            for step in range(1, steps + 1):
                point = xyz[parent] + (xyz[i] - xyz[parent]) * step / steps
                rows.append((types[i], *point, radius[i], previous))
                previous = len(rows)
        new_id[i] = len(rows)
    lines = ["# synthetic, densified for the benchmark", "# id,type,x,y,z,r,pid"]
    lines += [f"{n} {int(t)} {x:.4f} {y:.4f} {z:.4f} {r:.4f} {p}" for n, (t, x, y, z, r, p) in enumerate(rows, 1)]
    return ("\n".join(lines) + "\n").encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=40.0)
    parser.add_argument("--bandwidth-mb-s", type=float, default=50.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="patchseq-morphology-bench-") as scratch, LocalServer() as server:
        swcs = {case: densified_swc(cell, size) for case, (cell, size) in CELLS.items()}
        cells = []
        for case, (cell, _) in CELLS.items():
            name = f"{cell}_transformed.swc"
            server.serve_file(f"{BIL}/{FOLDER}/{name}", swcs[case])
            row = manifest_row("mouse", cell, "morphology", "transformed_swc", name, swcs[case], "BIL",
                               f"{BIL_DEAD}{FOLDER}/{name}")
            cells.append(Cell("mouse", cell, cell + 1, "VISp5", "aspiny", "P56", "400000", reconstruction_type="full",
                              files=(row,)))
        for name, content in release_tables(cells).items():
            server.serve_file(f"/tables/{name}", content)
        os.environ.update({config.TABLES_ENV: f"{server.url}/tables", config.UNPINNED_TABLES_ENV: "1",
                           config.BIL_ENV: f"{server.url}{BIL}", config.CACHE_ENV: str(Path(scratch) / "cache")})
        cat = patchseq_intake.open_catalog()
        cat.mouse.metadata.read(), cat.mouse.manifest.read()  # the tables cached: as after any first use
        server.faults.latency_s, server.faults.bandwidth_bytes_per_s = args.latency_ms / 1e3, args.bandwidth_mb_s * MB
        rows = []
        for case, (cell, _) in CELLS.items():
            rows += _measure(cat, server, case, cell, swcs[case])
    print(f"\npatchseq-intake {patchseq_intake.__version__}: one transformed SWC, {args.latency_ms:g} ms per request, "
          f"{args.bandwidth_mb_s:g} MB/s; Python {sys.version.split()[0]}, pandas {pd.__version__}\n")
    print("| file | case | time s | MB moved | requests | samples |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


def _measure(cat, server: LocalServer, case: str, cell: int, swc: bytes) -> list[tuple[str, ...]]:
    label = f"{case} ({len(swc) / MB:.2f} MB)"
    source = cat.mouse.morphology(specimen_id=cell)
    server.log.clear()
    started = time.perf_counter()
    points = source.read()
    cold = time.perf_counter() - started
    log = server.log
    rows = [(label, "morphology(...).read() cold", f"{cold:.3f}", f"{sum(e.body_bytes for e in log) / MB:.2f}",
             str(len(log)), str(len(points)))]
    server.log.clear()
    warm = _median(lambda: cat.mouse.morphology(specimen_id=cell).read())
    rows.append((label, "morphology(...).read() warm, new source", f"{warm:.3f}", "", str(len(server.log)), ""))
    morphio = _median(lambda: source.to_morphio())
    rows.append((label, ".to_morphio() warm", f"{morphio:.3f}", "", "", ""))
    url = f"{server.url}{BIL}/{FOLDER}/{cell}_transformed.swc"
    server.log.clear()
    today = _median(lambda: pd.read_csv(io.BytesIO(requests.get(url, timeout=30).content), sep=r"\s+", comment="#",
                                        header=None, names=SWC_NAMES))
    rows.append((label, "today: requests.get + pandas.read_csv, each time", f"{today:.3f}",
                 f"{len(swc) / MB:.2f}", "1 each time", ""))
    return rows


def _median(run, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
