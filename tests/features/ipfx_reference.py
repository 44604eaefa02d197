"""What IPFX 2.1.2 computes from a downloaded file on its own, as ``ipfx/bin/run_feature_collection.py`` does.

``ipfx_results(path)``: IPFX's ``create_ephys_data_set`` on the file,
``script_utils.categorize_iclamp_sweeps`` with its ontology's long-square,
short-square and ramp names, then ``run_feature_collection.extract_features``
on all three types at once and on each alone, and IPFX's
``preprocess_*_sweeps`` per type (its per-sweep and per-spike tables). No
code of the package runs here.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from ipfx import script_utils
from ipfx.bin.run_feature_collection import extract_features
from ipfx.dataset.create import create_ephys_data_set

KINDS = ("ramp", "short_square", "long_square")
_NAMES = {"ramp": "ramp_names", "short_square": "short_square_names", "long_square": "long_square_names"}
_STEPS = {
    "long_square": script_utils.preprocess_long_square_sweeps,
    "short_square": script_utils.preprocess_short_square_sweeps,
    "ramp": script_utils.preprocess_ramp_sweeps,
}


@dataclass
class IpfxResults:
    """IPFX's results on one file; an error as ``"<exception type>: <message>"`` text where IPFX raised one."""

    refused: str | None = None
    """The error of ``create_ephys_data_set`` or of its sweep table: IPFX refused the file; nothing else was computed."""
    chosen: dict[str, list[int]] = field(default_factory=dict)
    together: dict[str, Any] | str = field(default_factory=dict)
    """``extract_features`` of all three types in one call (as ``run_feature_collection``), or its error."""
    by_type: dict[str, dict[str, Any] | str] = field(default_factory=dict)
    """``extract_features`` of each type alone (the types with sweeps), or its error."""
    sweeps: dict[str, pd.DataFrame] = field(default_factory=dict)
    """``preprocess_*_sweeps``' per-sweep table of each type, led by ``sweep_number``."""
    spikes: dict[str, pd.DataFrame] = field(default_factory=dict)
    """Their per-spike tables, concatenated, led by ``sweep_number``."""


def ipfx_results(path: Path, amp_interval: int = 20, max_above_rheo: int = 100) -> IpfxResults:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            data_set = create_ephys_data_set(nwb_file=str(path))
            data_set.sweep_table  # noqa: B018 (IPFX reads the file's sweeps here, and may refuse them)
        except Exception as exc:
            return IpfxResults(refused=_text(exc))
        ontology = data_set.ontology
        chosen = {
            kind: [int(n) for n in script_utils.categorize_iclamp_sweeps(data_set, getattr(ontology, _NAMES[kind]))]
            for kind in KINDS
        }
        parameters = {"amp_interval": amp_interval, "max_above_rheo": max_above_rheo}
        results = IpfxResults(chosen=chosen)
        results.together = _features(data_set, chosen, parameters)
        for kind in KINDS:
            if chosen[kind]:
                alone = {other: (chosen[kind] if other == kind else []) for other in KINDS}
                results.by_type[kind] = _features(data_set, alone, parameters)
                _tables(results, data_set, kind, chosen[kind])
    return results


def _features(data_set: Any, chosen: dict[str, list[int]], parameters: dict[str, int]) -> dict[str, Any] | str:
    try:
        return extract_features(data_set, chosen["ramp"], chosen["short_square"], chosen["long_square"], **parameters)
    except Exception as exc:
        return _text(exc)


def _tables(results: IpfxResults, data_set: Any, kind: str, numbers: list[int]) -> None:
    try:
        analysed, features = _STEPS[kind](data_set, numbers)[:2]
    except Exception:
        return
    found = [sweep.sweep_number for sweep in analysed.sweeps]
    table = features["sweeps"].reset_index(drop=True)
    table.insert(0, "sweep_number", np.asarray(found, dtype="int64"))
    results.sweeps[kind] = table
    spikes = [spiked.reset_index(drop=True).assign(sweep_number=number)
              for number, spiked in zip(found, features["spikes_set"], strict=True)]
    results.spikes[kind] = pd.concat(spikes, ignore_index=True) if spikes else pd.DataFrame()


def _text(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"
