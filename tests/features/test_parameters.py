"""The features entry's parameters, the ``ephys(...).features()`` way in, and what it says without IPFX."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from patchseq_intake.errors import InvalidQueryError

from .conftest import SMALL

HUMAN_CELL = 541549258

REFUSED = {
    "amp_interval": (0, r"amp_interval must be a whole number of pA from 1 to 1000 \(e\.g\. 20\), not 0"),
    "max_above_rheo": (-1, r"max_above_rheo must be a whole number of pA from 0 to 2000 \(e\.g\. 100\), not -1"),
    "scheduler": ("gpu", r"scheduler (of human\.features )?must be one of processes, threads, sync, not 'gpu'"),
    "num_workers": (0, r"num_workers must be a whole number from 1 to 256, or None for the machine's cores, not 0"),
}


@pytest.mark.parametrize("parameter", list(REFUSED))
@pytest.mark.parametrize("way", ["catalog entry", "ephys selection"])
def test_a_parameter_out_of_its_range_is_refused_naming_it_and_what_it_takes(cat, parameter, way):
    """The catalog's entry checks ``scheduler``'s allowed values itself, naming the entry; the driver the rest."""
    value, message = REFUSED[parameter]
    with pytest.raises(InvalidQueryError, match=message):
        if way == "catalog entry":
            cat.human.features(specimen_id=HUMAN_CELL, **{parameter: value})
        else:
            cat.human.ephys(specimen_id=HUMAN_CELL).features(**{parameter: value})


def test_an_ephys_selections_features_are_those_of_the_same_cells_and_access(cat, serve_cells, streamed):
    world = serve_cells({HUMAN_CELL: SMALL, 569835804: SMALL})
    selection = cat.human.ephys(filters=[["structure", "==", "MTG"]], access="stream")
    source = selection.features(amp_interval=30, scheduler="sync")
    assert [cell.specimen_id for cell in source.cells] == [HUMAN_CELL, 569835804]
    assert source.access == selection.access and source.parameters.amp_interval == 30
    table = source.read()
    assert all(entry.range for entry in world.replica.requests("blob"))  # streamed, as the selection is
    direct = cat.human.features(specimen_id=[HUMAN_CELL, 569835804], access="stream", amp_interval=30)
    pd.testing.assert_frame_equal(table, direct.read())
    pd.testing.assert_frame_equal(direct.read_partition(1), table.iloc[[1]].reset_index(drop=True))
    with pytest.raises(InvalidQueryError, match=r"i must be a partition number from 0 to 1, not 2"):
        direct.read_partition(2)


HIDE_METADATA = """
import importlib.metadata
_version = importlib.metadata.version
def version(name):
    if name == "ipfx":
        raise importlib.metadata.PackageNotFoundError(name)
    return _version(name)
importlib.metadata.version = version
"""
WITHOUT_IPFX = {
    "not installed": HIDE_METADATA,
    "installed but not importable": "",
}
"""IPFX absent, module and metadata (as after ``pip uninstall``); or its metadata there but its import failing
(as where IPFX's own dependencies do not import)."""


@pytest.mark.parametrize("how", ["not installed", "installed but not importable"])
def test_without_ipfx_read_says_in_one_line_what_to_install(serve_cells, tmp_path, how):
    serve_cells({HUMAN_CELL: SMALL})
    out = tmp_path / "said.json"
    script = WITHOUT_IPFX[how] + f"""
import json, sys
sys.modules["ipfx"] = None  # importing it raises ImportError
import patchseq_intake
cat = patchseq_intake.open_catalog()
try:
    cat.human.features(specimen_id={HUMAN_CELL}).read()
except ImportError as exc:
    said = {{"type": type(exc).__name__, "message": str(exc)}}
else:
    said = {{"type": None}}
json.dump(said, open({str(out)!r}, "w"))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    said = json.loads(out.read_text())
    assert said["type"] is not None, "read() succeeded without IPFX"
    assert said["message"].startswith("features are computed by IPFX, which is not installed: "), said["message"]
    assert 'pip install "patchseq-intake[features]"' in said["message"] and "\n" not in said["message"]
