"""Listing every Allen Patch-seq session: the catalog's shipped listings against paging DANDI's API per dandiset.

Prints a markdown table (issue 21's target: every session, cold, from the
shipped listings: no request and under 1 s; the two 2025 dandisets the
catalog ships no listing of: one paged listing each). Three ways:

1. ``cat.sessions.read()`` in a fresh process with an empty cache and
   ``PATCHSEQ_INTAKE_OFFLINE=1`` (any request would fail): the seconds of the
   read, and of the imports before it, measured inside that process;
2. today's way: every dandiset's assets paged from the DANDI API with their
   metadata (``metadata=1``), as the dandi client or a script does, 100 and
   1000 a page, from a local replica holding the 15 shipped listings' assets,
   at ``--latency-ms`` per request; then the rows still to be merged by hand;
3. ``cat.sessions(dandisets=["all"])`` with the replica standing for DANDI's
   own API: the 15 shipped listings and one paged listing each of 001359 and
   001455 (here 1522 and 120 made-up assets, as many as the issue counts for
   001455's).

Run: ``python benchmarks/sessions.py [--latency-ms 100]``. Needs nothing
beyond the package; the replica runs on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import patchseq_intake
from patchseq_intake import config
from patchseq_intake.dandi.assets import Asset, _draft_index, read_listing_with_recordings
from patchseq_intake.dandi.dandisets import registry
from patchseq_intake.dandi.recordings import Recording
from patchseq_intake.testing.dandi import DandiReplica
from patchseq_intake.testing.server import LocalServer
from patchseq_intake.transport.download import get_json

COLD = """
import json, time
started = time.perf_counter()
import patchseq_intake
cat = patchseq_intake.open_catalog()
imported = time.perf_counter()
table = cat.sessions.read()
done = time.perf_counter()
print(json.dumps({"imports": imported - started, "read": done - imported, "rows": len(table)}))
"""
MADE_UP = {"001455": 1522, "001359": 120}


def cold_read() -> dict[str, float]:
    """The catalog's way in a fresh process, offline, with an empty cache."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, config.OFFLINE_ENV: "1", config.CACHE_ENV: cache}
        env.pop(config.DANDI_API_ENV, None)
        out = subprocess.run([sys.executable, "-c", COLD], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def serve_listings(replica: DandiReplica) -> int:
    """List every shipped listing's assets (with their recordings) in the replica, at their versions; the count."""
    listed = 0
    for dandiset in registry().values():
        pinned = dandiset.pinned()
        if pinned is None:
            continue
        assets, recordings = read_listing_with_recordings(pinned.path)
        for asset in assets.values():
            replica.add_listed_asset(dandiset.dandiset, dandiset.version, asset, recording=recordings.get(asset.path))
        listed += len(assets)
    for dandiset, count in MADE_UP.items():
        for n in range(count):
            asset = Asset(f"sub-{n}/sub-{n}_ses-{n + 1}_icephys.nwb", None, f"00000000-0000-4000-8000-{n:012d}",
                          1000, f"{int(dandiset) * 10_000 + n:064x}")
            replica.add_listed_asset(dandiset, "draft", asset, recording=Recording(str(n), str(n + 1), "Human"))
    return listed


def page_everything(replica: DandiReplica, page_size: int) -> tuple[float, int, float, int]:
    """Today's way: every dandiset's assets, paged with their metadata: seconds, requests, MB, assets."""
    replica.server.log.clear()
    started = time.perf_counter()
    assets = 0
    for dandiset in registry().values():
        url = (f"{replica.api_url}/dandisets/{dandiset.dandiset}/versions/{dandiset.version}/assets/"
               f"?page_size={page_size}&metadata=1")
        while url:
            page = get_json(url, max_bytes=200_000_000)
            assets += len(page["results"])
            url = page.get("next")
    seconds = time.perf_counter() - started
    log = replica.server.log
    return seconds, len(log), sum(entry.body_bytes for entry in log) / 1e6, assets


def with_the_api(replica: DandiReplica) -> tuple[float, int, int]:
    """``dandisets=["all"]`` with the replica as DANDI's own API: seconds, requests, rows."""
    replica.server.log.clear()
    config.DANDI_API = replica.api_url  # the replica stands for DANDI's own API: shipped listings apply
    _draft_index.cache_clear()
    started = time.perf_counter()
    rows = len(patchseq_intake.open_catalog().sessions(dandisets=["all"]).read())
    return time.perf_counter() - started, len(replica.server.log), rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=100.0, help="delay before each answer (default 100)")
    args = parser.parse_args()
    cold = cold_read()
    with LocalServer() as server:
        replica = DandiReplica(server)
        listed = serve_listings(replica)
        server.faults.latency_s = args.latency_ms / 1000
        today = {size: page_everything(replica, size) for size in (100, 1000)}
        api = with_the_api(replica)
    print(f"\nEvery Allen Patch-seq session: {args.latency_ms:g} ms per request; Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} cores\n")
    print("| way | seconds | requests | MB | rows or assets | note |")
    print("|---|---|---|---|---|---|")
    print(f"| cat.sessions.read(), cold process, offline | {cold['read']:.2f} (+ {cold['imports']:.2f} imports) | 0 "
          f"| 0 | {cold['rows']} sessions | the 15 shipped listings; identical copies merged |")
    for size, (seconds, requests, megabytes, assets) in today.items():
        print(f"| DANDI API, every dandiset paged, {size} a page, metadata=1 | {seconds:.2f} | {requests} | "
              f"{megabytes:.1f} | {assets} assets | {listed} of them the shipped listings'; copies still to merge |")
    seconds, requests, rows = api
    print(f"| cat.sessions(dandisets=['all']) | {seconds:.2f} | {requests} | - | {rows} sessions | shipped "
          f"listings + one paged listing each of 001359 and 001455 (made-up assets) |")


if __name__ == "__main__":
    main()
