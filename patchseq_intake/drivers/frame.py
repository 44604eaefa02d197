"""A source whose table is computed once, from listings and tables, and read whole (``nwb_files``, ``sessions``)."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from intake.source.base import DataSource, Schema

from .parameters import PlainParameters

if TYPE_CHECKING:
    import pandas as pd


class FrameSource(PlainParameters, DataSource):
    """A table of one partition: ``_frame()`` (the selected rows and columns) computed on first use, then kept.

    ``read()`` gives a copy as a pandas DataFrame, ``to_dask()`` a Dask
    DataFrame of one partition, ``discover()`` its dtypes and shape.
    """

    container = "dataframe"
    partition_access = True

    def _frame(self) -> pd.DataFrame:
        """The table: the selected rows and columns."""
        raise NotImplementedError

    @cached_property
    def _selected(self) -> pd.DataFrame:
        return self._frame()

    def _get_schema(self) -> Schema:
        frame = self._selected
        dtypes = {name: str(dtype) for name, dtype in frame.dtypes.items()}
        return Schema(dtype=dtypes, shape=frame.shape, npartitions=1, extra_metadata={})

    def read(self) -> pd.DataFrame:
        """The selected rows and columns, as a pandas DataFrame."""
        self._load_metadata()
        return self._selected.copy()

    def _get_partition(self, i: int) -> pd.DataFrame:
        return self.read()

    def to_dask(self):
        """The table as a Dask DataFrame of one partition."""
        import dask.dataframe as dd

        return dd.from_pandas(self.read(), npartitions=1)

    def _close(self) -> None:
        self.__dict__.pop("_selected", None)
