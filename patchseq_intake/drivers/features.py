"""The intake driver for IPFX's features: cells -> their NWB files -> the sweeps IPFX needs -> one row per cell.

``cat.<archive>.features(...)``, or ``ephys(...).features()`` on a
selection: every value is computed by IPFX (the ``features`` extra) from
the package's sweeps, as ``features.extraction`` says (which of IPFX's
steps run, with which parameters), and cached per file (see
``access.cell_features``). ``read()`` reads what is cached and computes the
rest on Dask, a task per cell, with a progress bar; ``to_dask()`` gives the
lazy table.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures.process import BrokenProcessPool
from contextlib import nullcontext
from functools import partial
from typing import TYPE_CHECKING, Any

from intake.source.base import DataSource, Schema

from .. import config
from ..errors import FeaturesFailedWarning, InvalidQueryError, PatchseqError, WorkerProcessError
from ..access.cell_features import CELL, SPIKES, cell_features, cell_spike_tables
from ..dandi.nwb_files import lead_columns, lead_frame, led
from ..features.extraction import CellFeatures, FeatureParameters, SpikeTables
from ..version import __version__
from .cell_selection import CellSelection
from .parameters import partition_number, text, whole_number

if TYPE_CHECKING:
    import pandas as pd

    from ..access.modes import Access
    from ..dandi.nwb_files import CellFile

SCHEDULERS = ("processes", "threads", "sync")
"""How ``read()`` computes the cells not cached, where no ``dask.distributed`` client is active."""


class FeaturesSource(CellSelection, DataSource):
    """IPFX's features of Patch-seq cells: one row per cell (``cell_specimen_id``, the features, ``error``).

    Parameters
    ----------
    The ``ephys`` entry's (archive, tables, ``version``, ``specimen_id``,
    ``filters``, ``access``, ``root``, ``headstage``, ``device``: see
    ``ephys.EphysSource``), and:

    amp_interval, max_above_rheo:
        IPFX's ``extract_features`` amplitude windows (pA, whole numbers):
        supra-threshold long-square features every ``amp_interval`` pA above
        rheobase up to ``max_above_rheo`` pA (default 20 and 100, as
        ``run_feature_collection``).
    scheduler:
        How ``read()`` computes the cells not cached: ``processes`` (the
        default; IPFX's arithmetic holds the GIL), ``threads`` or ``sync``
        (here, one after another). An active ``dask.distributed`` client is
        used instead, whatever this says. One cell is always computed here.
    num_workers:
        Processes or threads for ``read()`` (default: the machine's cores).

    Columns: ``cell_specimen_id`` (int64), IPFX's per-cell features as
    ``ipfx/bin/run_feature_collection.py`` names them (float64, NaN where
    IPFX gave none: ``features.extraction.feature_columns``), and ``error``
    (text, <NA> where nothing failed): which stimulus type IPFX could not
    analyse and why ("short_square: FeatureError: ..."), or why the cell's
    sweeps could not be read. A failing cell has its row; it never stops
    the table.
    """

    container = "dataframe"
    name = "patchseq_features"
    version = __version__
    partition_access = True

    def __init__(
        self,
        *args: Any,
        amp_interval: int | str = 20,
        max_above_rheo: int | str = 100,
        scheduler: str = "processes",
        num_workers: int | str | None = None,
        **kwargs: Any,
    ):
        interval = whole_number(amp_interval, "amp_interval", "a whole number of pA from 1 to 1000 (e.g. 20)", 1, 1000)
        most = whole_number(max_above_rheo, "max_above_rheo", "a whole number of pA from 0 to 2000 (e.g. 100)", 0, 2000)
        self.parameters = FeatureParameters(interval, most)
        self.scheduler = text(scheduler, "scheduler", f"one of {', '.join(SCHEDULERS)}")
        if self.scheduler not in SCHEDULERS:
            raise InvalidQueryError(f"scheduler must be one of {', '.join(SCHEDULERS)}, not {scheduler!r}")
        self.num_workers = None if num_workers is None else whole_number(
            num_workers, "num_workers", "a whole number from 1 to 256, or None for the machine's cores", 1, 256
        )
        super().__init__(*args, **kwargs)

    def _get_schema(self) -> Schema:
        empty = self._empty()
        dtypes = {name: str(dtype) for name, dtype in empty.dtypes.items()}
        return Schema(dtype=dtypes, shape=(len(self.cells), len(dtypes)), npartitions=len(self.cells), extra_metadata={})

    def _get_partition(self, i: int) -> pd.DataFrame:
        return features_row(self.cells[i], self.access, None, self.parameters, self.headstage, self.device)

    def read_partition(self, i: int) -> pd.DataFrame:
        """The features of the ``i``-th selected cell (0 to ``npartitions - 1``): a one-row table."""
        self._load_metadata()
        return self._get_partition(partition_number(i, len(self.cells)))

    def read(self) -> pd.DataFrame:
        """One row per selected cell, in the selection's order: cached rows read, the others computed (see the class).

        Cells with an ``error`` are said in one warning: how many could not be
        read (naming a few; a later read tries them again) and how many IPFX
        could not analyse in part.
        """
        table = self._table(features_row, CELL)
        _say_failures(table)
        return table

    def spike_features(self) -> pd.DataFrame:
        """IPFX's per-spike features of the selected cells' long squares, short squares and ramps.

        One row per spike: ``cell_specimen_id``, ``stimulus`` (``long_square``,
        ``short_square``, ``ramp``), ``sweep_number``, then IPFX's spike features
        as its ``SpikeFeatureExtractor`` names them (``threshold_t`` s from the
        sweep's start, ``threshold_v`` mV, ``peak_t``, ``peak_v``, ``upstroke`` and
        ``downstroke`` mV/ms, ``width`` s, ``fast_trough_v``, ...), and ``error``
        (why a stimulus type or the cell gave none; a row of its own, with no
        spike). Cached and computed as ``read()``.
        """
        return self._table(partial(table_rows, "spikes"), SPIKES)

    def sweep_features(self) -> pd.DataFrame:
        """IPFX's per-sweep features of the same sweeps: one row per analysed sweep.

        ``cell_specimen_id``, ``stimulus``, ``sweep_number``, then IPFX's sweep
        features (``stim_amp`` pA, ``avg_rate`` Hz, ``latency`` s, ``first_isi``,
        ``mean_isi``, ``isi_cv``, ``adapt``, ``v_baseline`` mV, ``sag``, ``tau``
        s, ... where IPFX computes them for that stimulus type), and ``error``
        as in ``spike_features``. Cached and computed as ``read()``.
        """
        return self._table(partial(table_rows, "sweeps"), SPIKES)

    def _table(self, rows_of: Callable[..., pd.DataFrame], what: str) -> pd.DataFrame:
        """``rows_of`` each selected cell, in order: from the cache where it holds the result, the others computed."""
        import pandas as pd

        from ..access.cell_features import cached_result

        self._load_metadata()
        columns = self._columns()
        found = [cached_result(cell, self.access, what, self.parameters, self.headstage, self.device)
                 for cell in self.cells]
        missing = [i for i, result in enumerate(found) if result is None]
        computed = dict(zip(missing, self._compute([self.cells[i] for i in missing], rows_of), strict=True))
        if what == CELL:  # the cached rows built as one table: a frame a row costs ~15 ms for 150 columns
            cached = [(i, cell, found[i]) for i, cell in enumerate(self.cells) if found[i] is not None]
            rows = _rows([(cell, result.features, result.error) for _, cell, result in cached], columns, self.release)
            order = [i for i, _, _ in cached] + list(computed)
            table = pd.concat([rows, *computed.values()], ignore_index=True)
            return table.iloc[sorted(range(len(order)), key=order.__getitem__)].reset_index(drop=True)
        parts = [computed[i] if result is None else rows_of(cell, self.access, None, self.parameters,
                                                            self.headstage, self.device, found=result)
                 for i, (cell, result) in enumerate(zip(self.cells, found, strict=True))]
        return _concat_tables(parts, self.release)

    def to_dask(self):
        """A Dask DataFrame, lazily one cell per partition (a small task: runs on ``dask.distributed`` workers too)."""
        import dask
        import dask.dataframe as dd

        self._load_metadata()
        settings = config.snapshot()
        parts = [
            dask.delayed(features_row, pure=True)(cell, self.access, settings, self.parameters, self.headstage, self.device)
            for cell in self.cells
        ]
        return dd.from_delayed(parts, meta=self._empty(), verify_meta=False)

    def _compute(self, cells: Sequence[CellFile], rows_of: Callable[..., pd.DataFrame]) -> list[pd.DataFrame]:
        """``rows_of`` each of ``cells``: on the active ``dask.distributed`` client, else by ``scheduler``; with progress.

        One cell is computed here, with no pool to start.
        """
        if len(cells) <= 1:
            return [rows_of(cell, self.access, None, self.parameters, self.headstage, self.device) for cell in cells]
        import dask

        from ..transport.progress import count_bar

        settings = config.snapshot()
        tasks = [
            dask.delayed(rows_of, pure=True)(cell, self.access, settings, self.parameters, self.headstage, self.device)
            for cell in cells
        ]
        with count_bar(len(tasks), "IPFX features", "cell") as bar:
            client = _distributed_client()
            if client is not None:
                from distributed import as_completed

                futures = client.compute(tasks)
                for _ in as_completed(futures):
                    bar.update(1)
                return [future.result() for future in futures]
            with _Counted({task.key for task in tasks}, bar):
                workers = self.num_workers or (os.cpu_count() or 1)
                try:
                    return list(dask.compute(*tasks, scheduler=self.scheduler, num_workers=workers))
                except (BrokenProcessPool, RuntimeError) as exc:  # a cell's own errors are its row's, not these
                    if self.scheduler != "processes":
                        raise
                    text = " ".join(str(exc).split())
                    said = f" ({type(exc).__name__}: {text[:120]}{'...' if len(text) > 120 else ''})"
                    raise WorkerProcessError(
                        f"the {workers} processes computing the cells stopped before answering{said}. In a script, "
                        'the code that starts them must run under if __name__ == "__main__": (docs/ephys.md); or '
                        "compute here with scheduler='threads' or 'sync'"
                    ) from exc

    def _columns(self) -> list[str]:
        from ..features.extraction import feature_columns

        return feature_columns(self.parameters)

    def _empty(self) -> pd.DataFrame:
        import pandas as pd

        columns = {name: pd.Series(dtype=dtype) for name, dtype in lead_columns(self.release).items()}
        columns |= {name: pd.Series(dtype="float64") for name in self._columns()}
        columns["error"] = pd.Series(dtype="string")
        return pd.DataFrame(columns)


def features_row(
    cell: CellFile,
    access: Access,
    settings: Mapping[str, str] | None,
    parameters: FeatureParameters,
    headstage: int = 0,
    device: str | None = None,
    found: CellFeatures | None = None,
) -> pd.DataFrame:
    """One cell's row: its cached or computed features (``found``, if already read), or why its sweeps could not
    be read (not cached).

    ``settings`` (a ``config.snapshot()``) replace this process's environment.
    ``IpfxMissingError`` (IPFX not installed) is no cell's: it propagates.
    """
    from ..features.extraction import feature_columns

    columns = feature_columns(parameters)
    result = found or _computed(cell_features, cell, access, settings, parameters, headstage, device)
    if isinstance(result, str):
        return _row(cell, {}, result, columns)
    return _row(cell, result.features, result.error, columns)


def table_rows(
    name: str, cell: CellFile, access: Access, settings: Mapping[str, str] | None, parameters: FeatureParameters,
    headstage: int = 0, device: str | None = None, found: SpikeTables | None = None,
) -> pd.DataFrame:
    """One cell's ``spikes`` or ``sweeps`` table (see ``FeaturesSource.spike_features``, ``sweep_features``)."""
    result = found or _computed(cell_spike_tables, cell, access, settings, parameters, headstage, device)
    return _led_table(cell, result, name)


def _computed(compute: Callable[..., Any], cell: CellFile, access: Access, settings: Mapping[str, str] | None,
              parameters: FeatureParameters, headstage: int, device: str | None) -> Any:
    """``compute(...)`` of the cell with ``settings`` applied; or the text of what stopped its sweeps being read."""
    with config.using(settings) if settings is not None else nullcontext():
        try:
            return compute(cell, access, parameters, headstage, device)
        except (PatchseqError, OSError) as exc:
            return f"{type(exc).__name__}: {exc}"


def _led_table(cell: CellFile, result: SpikeTables | str, name: str) -> pd.DataFrame:
    """The cell's ``name`` table led by the columns naming its file (``cell_specimen_id``; beyond the 2020 release
    ``ephys_session_id`` and ``dandi_path``), with an ``error`` row per failure."""
    import pandas as pd

    errors = {"": result} if isinstance(result, str) else result.errors
    table = led(pd.DataFrame() if isinstance(result, str) else getattr(result, name).copy(), cell)
    failed = led(pd.DataFrame({"stimulus": [kind or pd.NA for kind in errors], "error": list(errors.values())}), cell)
    return pd.concat([table, failed], ignore_index=True) if len(failed) else table


def _concat_tables(parts: Sequence[pd.DataFrame], release: bool) -> pd.DataFrame:
    import pandas as pd

    lead = lead_columns(release)
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({name: [] for name in lead})
    if "error" not in table:
        table["error"] = pd.NA
    table["error"] = table["error"].astype("string")
    return table.astype(lead)


def _row(cell: CellFile, features: Mapping[str, float], error: str | None, columns: Sequence[str]) -> pd.DataFrame:
    return _rows([(cell, features, error)], columns, cell.specimen_id is not None)


def _rows(
    cells: Sequence[tuple[CellFile, Mapping[str, float], str | None]], columns: Sequence[str], release: bool
) -> pd.DataFrame:
    """The table of ``(cell, features, error)``: the columns naming each file, then ``columns`` as float64 (NaN
    where a cell has none), then ``error``."""
    import numpy as np
    import pandas as pd

    values = {name: np.array([f.get(name, np.nan) for _, f, _ in cells], dtype="float64") for name in columns}
    table = pd.DataFrame(values | {"error": pd.array([error for _, _, error in cells], dtype="string")})
    return pd.concat([lead_frame([cell for cell, _, _ in cells], release), table], axis=1)


def _say_failures(table: pd.DataFrame) -> None:
    """One warning naming the cells whose row has an ``error``, if any: unread cells first (the ones to act on)."""
    from ..features.extraction import STIMULI

    failed = table.dropna(subset=["error"])
    if failed.empty:
        return
    by_ipfx = failed["error"].str.startswith(tuple(f"{kind}: " for kind in STIMULI))
    unread, analysed = failed[~by_ipfx], failed[by_ipfx]
    total = len(table)
    parts = []
    if len(unread):
        named = "; ".join(f"{key} ({error})" for key, error in zip(unread.iloc[:3, 0], unread["error"].head(3)))
        more = f" and {len(unread) - 3} more" if len(unread) > 3 else ""
        parts.append(f"{len(unread)} of the {total} cells: their sweeps could not be read, so they have no "
                     f"features (not cached: a later read tries them again): {named}{more}")
    if len(analysed):
        parts.append(f"{len(analysed)} of the {total} cells: IPFX could not analyse a stimulus type (their other "
                     "features are there)")
    warnings.warn("; ".join(parts) + ". The error column says why.", FeaturesFailedWarning, stacklevel=3)


def _distributed_client() -> Any:
    """The active ``dask.distributed`` client, if the user started one; None otherwise."""
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:  # no client
        return None


class _Counted:
    """A Dask callback that advances ``bar`` as each of the tasks ``keys`` finishes (local schedulers)."""

    def __init__(self, keys: set[Any], bar: Any):
        from dask.callbacks import Callback

        def posttask(key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
            if key in keys:
                bar.update(1)

        self._callback = Callback(posttask=posttask)

    def __enter__(self) -> _Counted:
        self._callback.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._callback.__exit__(*exc)
