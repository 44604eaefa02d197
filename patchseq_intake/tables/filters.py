"""Check user filters and column selections against a table's columns.

A filter is ``[column, op, value]``, the form pandas and pyarrow take; a list
of them is combined with AND. Values are converted to the column's type, so
``["cell_specimen_id", "==", "541549258"]`` (as typed on a command line)
finds the integer id, and ``"false"`` a boolean. Tables cached as parquet are
filtered as they are read (``release.TableQuery``); a table built in memory,
with the same rules, by ``query_frame``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    import pandas as pd

from ..errors import InvalidQueryError

OPERATORS = ("==", "!=", "<", "<=", ">", ">=", "in", "not in")
SET_OPERATORS = ("in", "not in")

Filter = tuple[str, str, Any]


def check_filters(
    filters: Sequence[Sequence[Any]] | None, schema: Mapping[str, pa.DataType], table: str
) -> list[Filter]:
    """Validate ``filters`` against ``schema`` (column -> arrow type); return them as tuples."""
    checked = []
    for item in filters or []:
        if isinstance(item, str) or not isinstance(item, Sequence) or len(item) != 3:
            raise InvalidQueryError(
                f"bad filter {item!r} for {table}: each filter is [column, op, value], "
                'e.g. ["structure", "==", "MTG"]'
            )
        column, op, value = item
        if column not in schema:
            raise InvalidQueryError(
                f"unknown column {column!r} in filter {list(item)!r} for {table}; "
                f"valid columns: {', '.join(schema)}"
            )
        if op not in OPERATORS:
            raise InvalidQueryError(
                f"unknown operator {op!r} in filter {list(item)!r} for {table}; "
                f"valid operators: {', '.join(OPERATORS)}"
            )
        checked.append((column, op, _coerce(value, op, schema[column], column, table)))
    return checked


def check_columns(
    columns: Sequence[str] | None, schema: Mapping[str, pa.DataType], table: str
) -> list[str] | None:
    """Validate a column selection; None or empty means every column."""
    if not columns:
        return None
    if isinstance(columns, str):
        columns = [columns]
    unknown = [name for name in columns if name not in schema]
    if unknown:
        raise InvalidQueryError(
            f"unknown column(s) {unknown} for {table}; valid columns: {', '.join(schema)}"
        )
    return list(columns)


def query_frame(
    frame: pd.DataFrame, filters: Sequence[Sequence[Any]] | None, columns: Sequence[str] | None, table: str
) -> pd.DataFrame:
    """The rows of ``frame`` that ``filters`` keep, and the ``columns`` asked for (all if none).

    The filters are checked as ``check_filters`` does and applied by pyarrow,
    so missing values behave as in the parquet tables. Dtypes are kept.
    """
    import pyarrow.parquet as pq

    data = pa.Table.from_pandas(frame, preserve_index=False)
    types = dict(zip(data.schema.names, data.schema.types))
    checked = check_filters(filters, types, table)
    chosen = check_columns(columns, types, table)
    if checked:
        data = data.filter(pq.filters_to_expression(checked))
    if chosen:
        data = data.select(chosen)
    return data.to_pandas()


def _coerce(value: Any, op: str, dtype: pa.DataType, column: str, table: str) -> Any:
    if op in SET_OPERATORS:
        if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, set, frozenset)):
            raise InvalidQueryError(
                f"filter on {column!r} for {table}: {op!r} takes a list of values, got {value!r}"
            )
        return [_coerce_one(item, dtype, column, table) for item in value]
    return _coerce_one(value, dtype, column, table)


def _coerce_one(value: Any, dtype: pa.DataType, column: str, table: str) -> Any:
    try:
        if pa.types.is_integer(dtype):
            return _as_int(value)
        if pa.types.is_floating(dtype):
            return float(value)
        if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
            return str(value)
        if pa.types.is_boolean(dtype):
            return _as_bool(value)
    except (TypeError, ValueError):
        raise InvalidQueryError(
            f"filter on {column!r} for {table}: {value!r} is not a valid {dtype} value"
            + (" (true or false)" if pa.types.is_boolean(dtype) else "")
        ) from None
    return value


def _as_int(value: Any) -> int:
    if isinstance(value, str):
        return int(value.strip())
    number = float(value)
    if not number.is_integer():
        raise ValueError(value)
    return int(value)


_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _BOOLEANS:
        return _BOOLEANS[value.strip().lower()]
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ValueError(value)
