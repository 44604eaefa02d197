"""A cell's sweep table and sweeps as an IPFX data set, so that IPFX's own extractors read the package's sweeps.

``package_sweeps(table, load, label)`` gives ``PackageSweeps``, IPFX's
``EphysDataInterface`` (what an ``ipfx.dataset.ephys_data_set.EphysDataSet``
reads) implemented on:

- ``table``: the cell's sweep table (``nwb.sweep_table.SWEEP_DTYPES``'
  columns), whose first nine are IPFX's own sweep-table columns, as IPFX's
  reader gives them for the same file (``tests/nwb/test_ipfx_agreement.py``);
- ``load(numbers)``: the package's ``Sweep`` of each number, as IPFX gives
  them (``t`` s from 0, ``v`` mV, ``i`` pA, trimmed as IPFX trims).

IPFX then builds each ``ipfx.sweep.Sweep`` itself (``EphysDataSet.sweep``),
from the same arrays its own reader gives for the downloaded file. Sweeps are
loaded when IPFX first asks for them, or ahead of time in one call
(``PackageSweeps.preload``: in stream mode, one wave of range requests for
exactly those sweeps).

This module imports IPFX: import it after ``ipfx_library.ipfx()``, which
says what to install where IPFX is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from ipfx.dataset.ephys_data_interface import EphysDataInterface
from ipfx.stimulus import StimulusOntology

from ..errors import NwbFormatError
from ..nwb.sweep import CURRENT_CLAMP, Sweep

IPFX_COLUMNS = (
    "sweep_number", "stimulus_units", "bridge_balance_mohm", "leak_pa", "stimulus_scale_factor",
    "stimulus_code", "stimulus_code_ext", "clamp_mode", "stimulus_name",
)
"""IPFX's sweep-table columns (``EphysDataInterface.get_sweep_metadata``): the first of the package's."""

LoadSweeps = Callable[[Sequence[int]], Sequence[Sweep]]
"""The package's sweeps of these numbers, in that order."""


def package_sweeps(table: pd.DataFrame, load: LoadSweeps, label: str) -> PackageSweeps:
    """IPFX's data interface on one cell's sweep ``table`` and sweeps (``load``), with IPFX's default ontology.

    ``NwbFormatError`` naming ``label`` where one sweep number has two rows
    (two devices recorded it: the ``device`` parameter chooses one).
    """
    return PackageSweeps(table, load, label, StimulusOntology.default())


class PackageSweeps(EphysDataInterface):
    """IPFX's data interface on the package's sweep table and sweeps (see the module's docstring)."""

    def __init__(self, table: pd.DataFrame, load: LoadSweeps, label: str, ontology: StimulusOntology):
        super().__init__(ontology, validate_stim=False)
        repeated = sorted({int(n) for n in table["sweep_number"][table["sweep_number"].duplicated()]})
        if repeated:
            raise NwbFormatError(
                f"{label}: sweeps {repeated} were recorded by several devices ({sorted(set(table['device'].dropna()))}): "
                "IPFX reads one sweep per number; choose one device (device=... in Python, --device on the command line)"
            )
        rows = table.loc[:, list(IPFX_COLUMNS)].astype(object).where(table.loc[:, list(IPFX_COLUMNS)].notna(), None)
        self._rows: dict[int, dict[str, Any]] = {int(row["sweep_number"]): row for row in rows.to_dict("records")}
        self._load = load
        self._label = label
        self._sweeps: dict[int, Sweep] = {}

    def preload(self, numbers: Sequence[int]) -> None:
        """Load these sweeps now, in one call of ``load``, so that IPFX's later reads need none."""
        wanted = [int(n) for n in dict.fromkeys(numbers) if int(n) not in self._sweeps]
        if wanted:
            self._sweeps.update(zip(wanted, self._load(wanted), strict=True))

    @property
    def sweep_numbers(self) -> list[int]:
        return list(self._rows)

    def get_sweep_data(self, sweep_number: int) -> dict[str, Any]:
        """The sweep's command and response as IPFX's readers give them: mV and pA, the sampling rate in Hz."""
        self.preload([sweep_number])
        sweep = self._sweeps[int(sweep_number)]
        current_clamp = sweep.clamp_mode == CURRENT_CLAMP
        return {
            "stimulus": sweep.i if current_clamp else sweep.v,
            "response": sweep.v if current_clamp else sweep.i,
            "stimulus_unit": self._rows[int(sweep_number)]["stimulus_units"],
            "sampling_rate": sweep.sampling_rate,
        }

    def get_sweep_metadata(self, sweep_number: int) -> dict[str, Any]:
        return dict(self._rows[int(sweep_number)])

    def get_sweep_attrs(self, sweep_number: int) -> dict[str, Any]:
        row = self._rows[int(sweep_number)]
        return {"sweep_number": int(sweep_number), "clamp_mode": row["clamp_mode"]}

    def get_stimulus_code(self, sweep_number: int) -> str:
        return self._rows[int(sweep_number)]["stimulus_code"]

    def get_full_recording_date(self) -> datetime:
        raise NotImplementedError(f"{self._label}: the recording date is not part of a sweep table")

    def get_stimulus_unit(self, sweep_number: int) -> str:
        return self._rows[int(sweep_number)]["stimulus_units"]

    def get_clamp_mode(self, sweep_number: int) -> str:
        return self._rows[int(sweep_number)]["clamp_mode"]
