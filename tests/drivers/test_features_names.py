"""The feature names the package restates (so that cached tables need no import of IPFX) are IPFX's own."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

from patchseq_intake.features.extraction import LONG_SQUARE, SPIKE_FEATURES, SWEEP_FEATURES, FeatureParameters, feature_columns

collection = pytest.importorskip("ipfx.bin.run_feature_collection")


def test_the_spike_features_are_run_feature_collections_lists():
    for function in (collection.first_spike_ramp, collection.first_spike_ssq, collection.first_spike_lsq,
                     collection.mean_spike_lsq):
        assert tuple(inspect.signature(function).parameters["feature_list"].default) == SPIKE_FEATURES


def test_the_long_square_and_sweep_features_are_those_extract_features_names():
    source = inspect.getsource(collection.extract_features)
    assert all(f'"{name}":' in source for name in LONG_SQUARE)
    assert "sweep_feature_list = [\n" + "".join(f'                "{name}",\n' for name in SWEEP_FEATURES) in source


def test_the_columns_follow_the_amplitude_windows():
    columns = feature_columns(FeatureParameters(amp_interval=40, max_above_rheo=100))
    assert [c for c in columns if c.startswith("stimulus_amplitude")] == [
        f"stimulus_amplitude_{k}_long_square" for k in (0, 1, 2)
    ]
    assert len(columns) == len(set(columns)) == 7 + 7 + 1 + 7 + 3 * (7 + 7 + 6 + 1) + 2


def test_a_table_of_cached_results_imports_no_ipfx(ipfx_world, cache_dir):
    """The warm path: a new process reading cached features neither imports IPFX nor sends a request."""
    import patchseq_intake

    cells = [601506507, 601790961]
    first = patchseq_intake.open_catalog().mouse.features(specimen_id=cells, scheduler="sync").read()
    before = len(ipfx_world.server.log)
    code = (
        "import sys, patchseq_intake\n"
        f"t = patchseq_intake.open_catalog().mouse.features(specimen_id={cells}).read()\n"
        "print(sorted(m for m in sys.modules if m == 'ipfx' or m.startswith('ipfx.')), t['rheobase_i'].tolist())"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"[] {first['rheobase_i'].tolist()}"
    assert len(ipfx_world.server.log) == before
