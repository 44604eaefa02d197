"""A sweep in IPFX's units, and its drawing: the command above, the response below.

Drawing needs matplotlib, the ``plot`` extra: ``pip install 'patchseq-intake[plot]'``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

CURRENT_CLAMP = "CurrentClamp"
VOLTAGE_CLAMP = "VoltageClamp"


@dataclass(frozen=True)
class Sweep:
    """One sweep in IPFX's units: ``t`` (s from 0, float64), ``v`` (mV) and ``i`` (pA).

    ``v`` and ``i`` have the stored samples' type, as IPFX's: float32 in the
    release's files (MIES writes float64 only in its "double precision" mode).
    ``izero``: an I=0 sweep, recorded with no command (``i`` is all zeros).
    ``device``: the device that recorded it (the sweep table's ``device``;
    None where the file does not say).
    ``spike_times``: the spike times the file holds for this sweep (float64
    s): the threshold times IPFX detected when the Allen pipeline analysed
    the sweep, from the file's ``processing/spikes/Sweep_<n>``, as stored:
    from the start of IPFX's "experiment" epoch, 0.5 s before the stimulus,
    not from ``t``'s 0 (see ``spikes``); an empty array where it found none,
    None where the file holds no spike times or the pipeline did not analyse
    this sweep.
    """

    sweep_number: int
    stimulus_code: str
    stimulus_name: str
    clamp_mode: str
    sampling_rate: float
    t: np.ndarray
    v: np.ndarray
    i: np.ndarray
    izero: bool = False
    device: str | None = None
    spike_times: np.ndarray | None = None

    def __repr__(self) -> str:
        kind = f"{self.clamp_mode}, I=0" if self.izero else self.clamp_mode
        by = f", {self.device}" if self.device is not None else ""
        return (
            f"Sweep({self.sweep_number}, {self.stimulus_code!r} ({self.stimulus_name}), "
            f"{kind}, {len(self.t)} samples at {self.sampling_rate:g} Hz{by})"
        )

    def plot(self) -> Figure:
        """Draw the sweep, command above response; needs matplotlib (the ``plot`` extra)."""
        return plot_sweep(self)


COMMAND_COLOR = "tab:blue"
RESPONSE_COLOR = "black"


class Trace(NamedTuple):
    """One of a sweep's two series, and the label of its axis."""

    data: np.ndarray
    label: str


def plot_sweep(sweep: Sweep) -> Figure:
    """Draw ``sweep``: two stacked axes sharing time (s), the command above the response.

    Current clamp: command in pA, membrane potential in mV; voltage clamp:
    command in mV, current in pA. The title names the stimulus, its code and
    the sweep number. Returns the matplotlib Figure.
    """
    pyplot = _pyplot()
    command, response = _traces(sweep)
    figure, (top, bottom) = pyplot.subplots(
        2, 1, sharex=True, figsize=(8, 4.5), height_ratios=(1, 2.5), layout="constrained"
    )
    _draw(top, sweep.t, command, COMMAND_COLOR)
    _draw(bottom, sweep.t, response, RESPONSE_COLOR)
    bottom.set_xlabel("Time (s)")
    top.set_title(f"{sweep.stimulus_name} ({sweep.stimulus_code}), sweep {sweep.sweep_number}")
    return figure


def _traces(sweep: Sweep) -> tuple[Trace, Trace]:
    """The command and the response, as the clamp mode makes them."""
    if sweep.clamp_mode == VOLTAGE_CLAMP:
        return Trace(sweep.v, "Command (mV)"), Trace(sweep.i, "Current (pA)")
    return Trace(sweep.i, "Command (pA)"), Trace(sweep.v, "Membrane potential (mV)")


def _draw(ax: Axes, t: np.ndarray, trace: Trace, color: str) -> None:
    ax.plot(t, trace.data, color=color, linewidth=0.8)
    ax.set_ylabel(trace.label)
    ax.margins(x=0)
    ax.spines[["top", "right"]].set_visible(False)


def _pyplot():
    """matplotlib.pyplot, or an ImportError that says how to install it."""
    try:
        import matplotlib.pyplot as pyplot
    except ImportError:
        raise ImportError(
            "plotting a sweep needs matplotlib: pip install 'patchseq-intake[plot]'"
        ) from None
    return pyplot
