"""Pictures of sweeps: the command above the response, in their units, from the sweep's own arrays."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from patchseq_intake.nwb.sweep import Sweep, plot_sweep

pyplot = pytest.importorskip("matplotlib.pyplot")

RATE = 10_000.0


def _sweep(clamp_mode: str) -> Sweep:
    """A one-second square pulse with a made-up response: the samples do not matter, only where they go."""
    t = np.arange(int(RATE)) / RATE
    pulse = np.where((t > 0.2) & (t < 0.7), 1.0, 0.0)
    v, i = -70.0 + 20.0 * pulse, 150.0 * pulse - 5.0
    return Sweep(42, "X4PS_SupraThresh", "Long Square", clamp_mode, RATE, t, v, i)


@pytest.fixture
def drawn():
    """Plot a sweep, and close its figure afterwards."""
    figures = []

    def draw(sweep: Sweep):
        figures.append(plot_sweep(sweep))
        return figures[-1]

    yield draw
    for figure in figures:
        pyplot.close(figure)


def test_current_clamp_sweep_has_its_command_above_its_response(drawn):
    sweep = _sweep("CurrentClamp")
    top, bottom = drawn(sweep).axes
    assert "pA" in top.get_ylabel() and "mV" in bottom.get_ylabel()
    assert "(s)" in bottom.get_xlabel()
    assert top.get_shared_x_axes().joined(top, bottom)
    title = top.get_title()
    assert "Long Square" in title and "X4PS_SupraThresh" in title and "42" in title
    (command,), (response,) = top.get_lines(), bottom.get_lines()
    np.testing.assert_array_equal(command.get_xdata(), sweep.t)
    np.testing.assert_array_equal(command.get_ydata(), sweep.i)
    np.testing.assert_array_equal(response.get_xdata(), sweep.t)
    np.testing.assert_array_equal(response.get_ydata(), sweep.v)


def test_voltage_clamp_sweep_commands_in_mv_and_responds_in_pa(drawn):
    sweep = _sweep("VoltageClamp")
    top, bottom = drawn(sweep).axes
    assert "mV" in top.get_ylabel() and "pA" in bottom.get_ylabel()
    np.testing.assert_array_equal(top.get_lines()[0].get_ydata(), sweep.v)
    np.testing.assert_array_equal(bottom.get_lines()[0].get_ydata(), sweep.i)


def test_time_axis_spans_the_sweep(drawn):
    sweep = _sweep("CurrentClamp")
    _, bottom = drawn(sweep).axes
    assert bottom.get_xlim() == pytest.approx((sweep.t[0], sweep.t[-1]))


def test_without_matplotlib_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"pip install 'patchseq-intake\[plot\]'"):
        plot_sweep(_sweep("CurrentClamp"))


def test_sweep_plot_method_draws_the_sweep(cat, world):
    pytest.importorskip("matplotlib")
    sweep = cat.human.ephys(specimen_id=541549258).sweep(4)
    figure = sweep.plot()
    command, response = figure.axes
    assert list(response.lines[0].get_ydata()) == list(sweep.v)
    assert "sweep 4" in figure.axes[0].get_title()
    pyplot.close(figure)
