"""A cell's planted physiology, found through the features entry (IPFX on the package's sweeps).

``tests/testing/test_planted_features.py`` shows IPFX itself finds the
default cell's values in its file; here a cell of other values (rest,
input resistance, time constant, so another rheobase), with a long-square
ladder that brackets its rheobase by 10 pA, is read through
``cat.mouse.features``: its row and its per-spike table must hold them,
within what IPFX's measurement allows (the tolerances are that test's, each
explained there).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from patchseq_intake.testing.physiology import LONG_SQUARE, CellSpec

from .conftest import RATE, Recipe, protocol

CELL = CellSpec(baseline_mv=-65.0, input_resistance_mohm=200.0, tau_s=0.015)
"""Rheobase (20 mV to threshold over 200 MOhm): 100 pA."""
LADDER = (-110.0, -70.0, -30.0, 10.0, 50.0, 95.0, 105.0, 165.0, 225.0)
"""The long squares (pA): 95 pA settles 1 mV short of threshold, 105 pA fires."""
SPECIMEN = 601506507


def _recipe() -> Recipe:
    sweeps = list(protocol())
    squares = [i for i, spec in enumerate(sweeps) if spec.kind == LONG_SQUARE]
    assert len(squares) == len(LADDER)
    for i, amplitude in zip(squares, LADDER, strict=True):
        sweeps[i] = replace(sweeps[i], amplitude=amplitude)
    return Recipe(tuple(sweeps), cell=CELL)


@pytest.fixture
def planted(cat, serve_cells):
    world = serve_cells({SPECIMEN: _recipe()})
    source = cat.mouse.features(specimen_id=SPECIMEN)
    return world.written[SPECIMEN], source.read().iloc[0], source.spike_features()


def test_rest_input_resistance_tau_and_rheobase_are_the_planted_ones(planted):
    _, row, _ = planted
    assert pd.isna(row["error"])
    assert row["v_baseline"] == pytest.approx(CELL.baseline_mv, abs=1.0)
    assert row["input_resistance"] == pytest.approx(CELL.input_resistance_mohm, rel=0.05)
    assert row["tau"] == pytest.approx(CELL.tau_s, rel=0.10)
    assert row["sag_nearest_minus_100"] == pytest.approx(0.0, abs=0.05)
    assert 95.0 < CELL.rheobase_pa < 105.0 and row["rheobase_i"] == 105.0
    assert row["ap_1_threshold_v_0_long_square"] == pytest.approx(CELL.spike_threshold_mv, abs=1.0)


def test_every_planted_spike_is_in_the_spike_table_where_it_was_planted(planted):
    written, _, spikes = planted
    assert spikes["error"].isna().all()
    firing = [s for s in written.sweeps if s.spike_peak_times]
    assert {s.kind for s in firing} == {"long_square", "short_square", "ramp"}
    for summary in written.sweeps:
        found = spikes.loc[spikes["sweep_number"] == summary.sweep_number, "peak_t"].to_numpy()
        # the highest sample: the planted top or, by noise, one of the 2 samples after it
        np.testing.assert_allclose(found, summary.spike_peak_times, atol=5 / RATE, err_msg=str(summary.sweep_number))
    assert spikes["threshold_v"].to_numpy() == pytest.approx(CELL.spike_threshold_mv, abs=1.0)
