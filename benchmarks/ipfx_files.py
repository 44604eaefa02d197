"""Today's way to IPFX's features: downloaded NWB files through IPFX's ``run_feature_collection``.

``ipfx/bin/run_feature_collection.py`` (IPFX 2.1) with
``data_source="filesystem"`` gives each cell to its
``data_for_specimen_id``: ``create_ephys_data_set(nwb_file=...)``, then
``categorize_iclamp_sweeps`` for long squares, short squares and ramps
(no sweep QC: ``sweep_qc_option="none"``), then ``extract_features`` with
its defaults (``amp_interval=20``, ``max_above_rheo=100`` pA); with
``run_parallel`` it maps the cells over a ``multiprocessing.Pool``. This
module calls that same function, in this process (``features_of``) or as
a script in a process of its own, the way a user runs IPFX:

    python ipfx_files.py FILES_JSON OUT_JSON [--processes N]

``FILES_JSON`` maps specimen ids to NWB paths; ``OUT_JSON`` receives
``{"features": {specimen id: IPFX's features ({} where it gave none)},
"seconds": ...}``, the seconds after the imports.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
import warnings
from functools import partial
from multiprocessing import Pool
from pathlib import Path
from typing import Any


def features_of(specimen_id: int, path: str) -> dict[str, Any]:
    """IPFX's features of one downloaded file, as ``run_feature_collection`` computes them ({} where it fails)."""
    from ipfx.bin.run_feature_collection import data_for_specimen_id
    from ipfx.stimulus import StimulusOntology

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = data_for_specimen_id(specimen_id, False, "filesystem", StimulusOntology.default(), {specimen_id: path})
    return {name: _plain(value) for name, value in found.items()}


def _plain(value: Any) -> Any:
    """A JSON-ready value: numpy scalars as Python numbers, NaN as None."""
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and value != value else value


def _one(files: dict[int, str], specimen_id: int) -> dict[str, Any]:
    return features_of(specimen_id, files[specimen_id])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", type=Path, help="JSON: specimen id -> NWB path")
    parser.add_argument("out", type=Path, help="JSON written: features per specimen id, and seconds")
    parser.add_argument("--processes", type=int, default=1, help="1: one file at a time; N: a Pool of N")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # run_feature_collection logs each failing cell; the result says it
    files = {int(cell): path for cell, path in json.loads(args.files.read_text()).items()}
    import ipfx.bin.run_feature_collection  # noqa: F401  (imported once, as the script does: the Pool's forks share it)

    started = time.perf_counter()
    work = partial(_one, files)
    if args.processes == 1:
        results = list(map(work, files))
    else:
        with Pool(args.processes) as pool:
            results = pool.map(work, list(files))
    seconds = time.perf_counter() - started
    args.out.write_text(json.dumps({"features": dict(zip(map(str, files), results)), "seconds": seconds}))


if __name__ == "__main__":
    main()
