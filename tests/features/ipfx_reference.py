"""What IPFX 2.1.2 computes from a downloaded file on its own, as ``ipfx/bin/run_feature_collection.py`` does.

``IpfxOnFile(path)``: IPFX's ``create_ephys_data_set`` on the file and
``script_utils.categorize_iclamp_sweeps`` with its ontology's long-square,
short-square and ramp names; then, each computed when first asked,
``run_feature_collection.extract_features`` on all three types at once
(``together``) or on one alone (``alone``), and IPFX's ``preprocess_*_sweeps``
per type (its per-sweep and per-spike tables). No code of the package runs
here. An error is ``"<exception type>: <message>"`` text where IPFX raised one.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
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


class IpfxOnFile:
    """IPFX's reading of one file, and its results on it (see the module)."""

    def __init__(self, path: Path):
        self.refused: str | None = None
        """The error of ``create_ephys_data_set`` or of its sweep table: IPFX refused the file."""
        self.chosen: dict[str, list[int]] = {}
        with _quiet():
            try:
                self._data_set = create_ephys_data_set(nwb_file=str(path))
                self._data_set.sweep_table  # noqa: B018 (IPFX reads the file's sweeps here, and may refuse them)
            except Exception as exc:
                self.refused = _text(exc)
                return
            ontology = self._data_set.ontology
            self.chosen = {
                kind: [int(n) for n in script_utils.categorize_iclamp_sweeps(self._data_set, getattr(ontology, name))]
                for kind, name in _NAMES.items()
            }

    def together(self, amp_interval: int = 20, max_above_rheo: int = 100) -> dict[str, Any] | str:
        """``extract_features`` of all three types in one call, as ``run_feature_collection`` runs it."""
        return self._features(None, amp_interval, max_above_rheo)

    def alone(self, kind: str, amp_interval: int = 20, max_above_rheo: int = 100) -> dict[str, Any] | str:
        """``extract_features`` given one type's sweeps only."""
        return self._features(kind, amp_interval, max_above_rheo)

    def sweeps(self) -> dict[str, pd.DataFrame]:
        """``preprocess_*_sweeps``' per-sweep table of each type IPFX analyses, led by ``sweep_number``."""
        return self._tables()[0]

    def spikes(self) -> dict[str, pd.DataFrame]:
        """Their per-spike tables, one per type, led by ``sweep_number``."""
        return self._tables()[1]

    @cache  # noqa: B019 (one object per file, kept for the session)
    def _features(self, kind: str | None, amp_interval: int, max_above_rheo: int) -> dict[str, Any] | str:
        assert self.refused is None, self.refused
        numbers = {other: (self.chosen[other] if kind in (None, other) else []) for other in KINDS}
        with _quiet():
            try:
                return extract_features(self._data_set, numbers["ramp"], numbers["short_square"],
                                        numbers["long_square"], amp_interval=amp_interval,
                                        max_above_rheo=max_above_rheo)
            except Exception as exc:
                return _text(exc)

    @cache  # noqa: B019
    def _tables(self) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
        assert self.refused is None, self.refused
        sweeps, spikes = {}, {}
        for kind, step in _STEPS.items():
            if not self.chosen[kind]:
                continue
            with _quiet():
                try:
                    analysed, features = step(self._data_set, self.chosen[kind])[:2]
                except Exception:
                    continue
            found = [sweep.sweep_number for sweep in analysed.sweeps]
            table = features["sweeps"].reset_index(drop=True)
            table.insert(0, "sweep_number", np.asarray(found, dtype="int64"))
            sweeps[kind] = table
            spiked = [one.reset_index(drop=True).assign(sweep_number=number)
                      for number, one in zip(found, features["spikes_set"], strict=True)]
            spikes[kind] = pd.concat(spiked, ignore_index=True) if spiked else pd.DataFrame()
        return sweeps, spikes


@contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _text(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"
