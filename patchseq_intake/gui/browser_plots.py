"""The cell browser's plots (bokeh figures, no widgets): a sweep, command above response; the summary of cells;
a reconstruction, projected on x and y."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..nwb.sweep import CURRENT_CLAMP, Sweep
from .browser_data import AGE_YEARS, DEPTHS, LABELS, depth_bins
from .cell_modalities import Shape

NEURITE_COLORS = {"soma": "#000000", "axon": "#1f77b4", "basal dendrite": "#d62728", "apical dendrite": "#9467bd",
                  "undefined": "#7f7f7f", "custom": "#2ca02c"}
"""Each SWC type's colour (``morphology.swc.swc_type_name``), as the field draws them: axon blue, dendrites red."""
PLOTTED_POINTS = 20_000
"""A trace is drawn from at most this many points: each bin's lowest and highest sample (spikes stay)."""


def sweep_figure(sweep: Sweep, overlaid: list[Sweep] = ()):
    """Command above response, in IPFX's units against time (s), sharing the time axis; zoomable.

    Current clamp: command ``i`` (pA), response ``v`` (mV); voltage clamp the
    other way round. ``overlaid`` sweeps are drawn faintly behind.
    """
    from bokeh.layouts import column
    from bokeh.plotting import figure

    current_clamp = sweep.clamp_mode == CURRENT_CLAMP
    command_label, response_label = ("Command (pA)", "Response (mV)") if current_clamp else (
        "Command (mV)", "Response (pA)")
    tools = "xpan,xwheel_zoom,box_zoom,reset,save"
    top = figure(height=180, sizing_mode="stretch_width", tools=tools, y_axis_label=command_label,
                 title=f"Sweep {sweep.sweep_number} · {sweep.stimulus_code} · {sweep.stimulus_name}")
    bottom = figure(height=320, sizing_mode="stretch_width", tools=tools, x_range=top.x_range,
                    x_axis_label="Time (s)", y_axis_label=response_label)
    top.title.name, top.yaxis.name, bottom.xaxis.name, bottom.yaxis.name = "title", "command", "time", "response"
    for other in overlaid:
        command, response = _traces(other)
        bottom.line(*_envelope(other.t, response), color="#999999", alpha=0.5, line_width=1)
        top.line(*_envelope(other.t, command), color="#999999", alpha=0.5, line_width=1)
    command, response = _traces(sweep)
    top.line(*_envelope(sweep.t, command), color="#1f77b4", line_width=1.5)
    bottom.line(*_envelope(sweep.t, response), color="#d62728", line_width=1.5)
    return column(top, bottom, sizing_mode="stretch_width")


def summary_figure(cells: pd.DataFrame):
    """The shown cells by structure, stacked by dendrite type, and their soma depths (a histogram); a dandiset's
    recordings (a table without ``structure``): ``recordings_figure``.

    Depth is ``depth_from_pia_um`` (µm from pia) where the cells have it,
    else ``cell_soma_normalized_depth`` (0 at pia, 1 at white matter): the
    release's mouse table has only the latter.
    """
    from bokeh.layouts import row
    from bokeh.models import Range1d
    from bokeh.palettes import Category10
    from bokeh.plotting import figure

    if "structure" not in cells:
        return recordings_figure(cells)

    counts = cells.fillna({"structure": "unknown", "dendrite_type": "unknown"}).pivot_table(
        index="structure", columns="dendrite_type", values="cell_specimen_id", aggfunc="count", fill_value=0)
    counts = counts.loc[counts.sum(axis=1).sort_values(ascending=False).index]
    structures, types = [str(s) for s in counts.index], [str(t) for t in counts.columns]
    bars = figure(x_range=structures or [""], height=260, width=min(max(420, 18 * len(structures)), 700),
                  title="Cells by structure and dendrite type", y_axis_label="cells", tools="")
    if types:
        data = {"structure": structures, **{t: counts[t].to_numpy() for t in counts.columns}}
        colors = Category10[10][: len(types)]
        bars.vbar_stack(types, x="structure", width=0.8, color=colors, source=data, legend_label=types)
        bars.legend.location = "top_right"
    bars.xaxis.major_label_orientation = 1.0
    histogram = figure(height=260, width=420, y_axis_label="cells", tools="")
    for column in DEPTHS:
        depths = cells[column].dropna().to_numpy(dtype=float)
        if len(depths):
            edges, (start, end) = depth_bins(depths, column)
            heights, _ = np.histogram(depths, bins=edges)
            histogram.quad(top=heights, bottom=0, left=edges[:-1], right=edges[1:])
            histogram.x_range = Range1d(start, end)
            histogram.title.text = f"Soma depth ({len(depths)} of {len(cells)} cells)"
            histogram.xaxis.axis_label = LABELS[column]
            break
    else:
        histogram.title.text = "Soma depth: none of these cells has one"
    return row(bars, histogram)


def recordings_figure(recordings: pd.DataFrame):
    """A dandiset's shown recordings by the donor's sex, and the donors' ages at recording (a histogram: in years
    where the table has ``age_years``, else in days)."""
    from bokeh.layouts import row
    from bokeh.plotting import figure

    counts = recordings["sex"].fillna("unknown").astype(str).value_counts()
    bars = figure(x_range=list(counts.index) or [""], height=260, width=300, title="Recordings by the donor's sex",
                  y_axis_label="recordings", tools="")
    bars.vbar(x=list(counts.index), top=counts.to_numpy(), width=0.8)
    column = AGE_YEARS if AGE_YEARS in recordings else "age_days"
    ages = recordings[column].dropna().to_numpy(dtype=float)
    histogram = figure(height=260, width=420, y_axis_label="recordings", x_axis_label=LABELS[column], tools="",
                       title=f"Donor age ({len(ages)} of {len(recordings)} recordings)")
    if len(ages):
        heights, edges = np.histogram(ages, bins=20)
        histogram.quad(top=heights, bottom=0, left=edges[:-1], right=edges[1:])
    return row(bars, histogram)


def shape_figure(shape: Shape, depth: str):
    """The reconstruction projected on x (horizontal) and y (vertical), in µm at equal scale, as the SWC file gives
    them; each segment coloured by its sample's SWC type (a legend names them), the soma a dot labelled with its y.
    Titled with the reconstruction type, then ``depth`` (the metadata's soma depth, ``cell_modalities.soma_depth``).
    """
    from bokeh.models import Label, Title
    from bokeh.plotting import figure

    from ..morphology.swc import swc_type_name

    points = shape.points
    kind = shape.reconstruction_type or "reconstruction type not given"
    plot = figure(height=520, width=420, match_aspect=True, tools="pan,wheel_zoom,box_zoom,reset,save",
                  title=f"Reconstruction of {shape.specimen_id} ({kind}), transformed SWC",
                  x_axis_label="x (µm)", y_axis_label="y (µm)")
    plot.title.name, plot.xaxis.name, plot.yaxis.name = "reconstruction title", "x", "y"
    where = points.set_index("id")[["x", "y"]]
    child = points[points["parent"] != -1]
    child = child[child["parent"].isin(where.index)]
    start = where.loc[child["parent"]].to_numpy()
    names = child["type"].map(swc_type_name).to_numpy()
    for name in dict.fromkeys(names):  # in the file's order of first appearance
        mine = names == name
        plot.segment(x0=start[mine, 0], y0=start[mine, 1], x1=child["x"].to_numpy()[mine],
                     y1=child["y"].to_numpy()[mine], color=NEURITE_COLORS.get(name, "#2ca02c"), line_width=1.2,
                     legend_label=name, name=name)
    x, y, _ = shape.soma
    plot.scatter([x], [y], size=10, color=NEURITE_COLORS["soma"], legend_label="soma", name="soma")
    plot.add_layout(Label(x=x, y=y, x_offset=8, y_offset=8, text=f"soma y = {y:.0f} µm", text_font_size="11px",
                          name="soma label", background_fill_color="white", background_fill_alpha=0.7))
    plot.add_layout(Title(text=depth, text_font_style="italic", text_font_size="11px", name="soma depth"), "above")
    plot.legend.location = "bottom_right"
    plot.legend.label_text_font_size = "10px"
    return plot


def _traces(sweep: Sweep) -> tuple[np.ndarray, np.ndarray]:
    """(command, response) of the sweep in its clamp mode."""
    return (sweep.i, sweep.v) if sweep.clamp_mode == CURRENT_CLAMP else (sweep.v, sweep.i)


def _envelope(t: np.ndarray, y: np.ndarray, points: int = PLOTTED_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """``(t, y)`` with at most about ``points`` points: each bin's lowest, then highest sample, at the bin's start."""
    if len(y) <= points:
        return t, y
    bins = points // 2
    edges = np.linspace(0, len(y), bins + 1, dtype=int)
    low = np.minimum.reduceat(np.nan_to_num(y, nan=np.inf), edges[:-1])
    high = np.maximum.reduceat(np.nan_to_num(y, nan=-np.inf), edges[:-1])
    starts = t[edges[:-1]]
    times = np.repeat(starts, 2)
    values = np.column_stack([low, high]).ravel()
    values[~np.isfinite(values)] = np.nan
    return times, values
