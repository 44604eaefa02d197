"""Check user filters and column selections against a table's columns.

A filter is ``[column, op, value]``, the form pandas and pyarrow take; a list
of them is combined with AND. Values are converted to the column's type, so
``["cell_specimen_id", "==", "541549258"]`` (as typed on a command line)
finds the integer id, and ``"false"`` a boolean. Tables cached as parquet are
filtered as they are read (``release.TableQuery``); a table built in memory,
with the same rules, by ``query_frame``.

What a whole number is, for a filter on an integer column and for the
drivers' integer parameters (``as_whole_number``): an int, a float with no
fraction (``42.0``, as a float column gives), their numpy kinds, or text of
ASCII digits with an optional sign (``"42"``, as typed on a command line);
not a bool, ``1.5``, NaN, infinity or other digits (``"１２"``). A value
outside the column's integer type is refused as out of range. User values
are named in messages through ``brief``, which shows a few items of a long
list and a bounded part of a long text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    import pandas as pd

from ..errors import InvalidQueryError, brief

OPERATORS = ("==", "!=", "<", "<=", ">", ">=", "in", "not in")
SET_OPERATORS = ("in", "not in")

Filter = tuple[str, str, Any]
_WHOLE_NUMBER_TEXT = re.compile(r"[+-]?[0-9]+")  # ASCII digits only: str.isdigit takes other scripts' digits too


def as_whole_number(value: Any) -> int | None:
    """``value`` as an int if it is a whole number (see the module docstring), else None."""
    value = _python_scalar(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None  # NaN and infinity are not integers
    if isinstance(value, str) and _WHOLE_NUMBER_TEXT.fullmatch(value.strip()):
        try:
            return int(value)
        except ValueError:  # more digits than Python converts
            return None
    return None


def _python_scalar(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (``np.bool_`` a bool); anything else as it is."""
    return value.item() if getattr(value, "ndim", None) == 0 and hasattr(value, "item") else value


EXAMPLE = '[["structure", "==", "MTG"], ["dendrite_type", "==", "spiny"]]'


def check_filter_shape(filters: Any, table: str) -> None:
    """``InvalidQueryError`` unless ``filters`` is None or a list of ``[column, op, value]`` (their columns,
    operators and values are checked against the table by ``check_filters``). Needs no table: the catalog
    checks the form before any table is fetched."""
    if filters is None:
        return
    if isinstance(filters, str) or not isinstance(filters, Sequence):
        raise InvalidQueryError(
            f"filters for {table} must be a list of [column, op, value] filters, e.g. {EXAMPLE}, not {brief(filters)}"
        )
    if len(filters) == 3 and all(isinstance(part, str) for part in filters[:2]) and filters[1] in OPERATORS:
        raise InvalidQueryError(
            f"filters for {table} is a list of filters, each [column, op, value]: for one filter, give a list of "
            f"one, [{brief(list(filters))}], not {brief(filters)}"
        )
    for item in filters:
        if isinstance(item, str) or not isinstance(item, Sequence) or len(item) != 3:
            raise InvalidQueryError(
                f"bad filter {brief(item)} for {table}: each filter is [column, op, value], e.g. {EXAMPLE}"
            )


def check_filters(
    filters: Sequence[Sequence[Any]] | None, schema: Mapping[str, pa.DataType], table: str
) -> list[Filter]:
    """Validate ``filters`` against ``schema`` (column -> arrow type); return them as tuples."""
    check_filter_shape(filters, table)
    checked = []
    for item in filters or []:
        try:
            checked.append(_checked_filter(item, schema, table))
        except InvalidQueryError as exc:
            exc.parameter, exc.given = "filters", item
            raise
    return checked


def _checked_filter(item: Sequence[Any], schema: Mapping[str, pa.DataType], table: str) -> Filter:
    column, op, value = item
    if not isinstance(column, str) or column not in schema:
        problem = f"unknown column {brief(column)}; valid columns: {', '.join(schema)}"
        raise InvalidQueryError(
            f"unknown column {brief(column)} in filter {brief(list(item))} for {table}; "
            f"valid columns: {', '.join(schema)}", problem
        )
    if not isinstance(op, str) or op not in OPERATORS:
        problem = f"unknown operator {brief(op)}; valid operators: {', '.join(OPERATORS)}"
        raise InvalidQueryError(
            f"unknown operator {brief(op)} in filter {brief(list(item))} for {table}; "
            f"valid operators: {', '.join(OPERATORS)}", problem
        )
    return column, op, _coerce(value, op, schema[column], column, table)


def check_columns(
    columns: Sequence[str] | None, schema: Mapping[str, pa.DataType], table: str
) -> list[str] | None:
    """Validate a column selection (a list of names, or one name); None or an empty list means every column."""
    if columns is None:
        return None
    if isinstance(columns, str):
        columns = [columns]
    if not isinstance(columns, Sequence):
        raise InvalidQueryError(f"columns for {table} must be a list of column names, not {brief(columns)}")
    if not columns:
        return None
    unknown = [name for name in columns if not isinstance(name, str) or name not in schema]
    if unknown:
        raise InvalidQueryError(
            f"unknown column(s) {brief(unknown)} for {table}; valid columns: {', '.join(schema)}",
            f"unknown column(s) {', '.join(map(str, unknown))}; valid columns: {', '.join(schema)}",
            "columns", list(columns),
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
                f"filter on {column!r} for {table}: {op!r} takes a list of values, got {brief(value)}",
                f"{op!r} takes a list of values",
            )
        return [_coerce_one(item, dtype, column, table) for item in value]
    return _coerce_one(value, dtype, column, table)


def _coerce_one(value: Any, dtype: pa.DataType, column: str, table: str) -> Any:
    where = f"filter on {column!r} for {table}"
    value = _python_scalar(value)
    if pa.types.is_integer(dtype):
        number = as_whole_number(value)
        if number is None:
            raise InvalidQueryError(f"{where}: {brief(value)} is not a valid {dtype} value (a whole number)",
                                    f"{column} holds whole numbers, not {brief(value)}")
        bits = dtype.bit_width
        low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if pa.types.is_signed_integer(dtype) else (0, 2**bits - 1)
        if not low <= number <= high:
            raise InvalidQueryError(f"{where}: {number} is out of range for {column} ({dtype}: {low} to {high})",
                                    f"{number} is out of range for {column} ({low} to {high})")
        return number
    try:
        if value is None:
            raise ValueError(value)  # missing values match no comparison: a filter for one is a mistake
        if pa.types.is_floating(dtype):
            return _as_float(value)
        if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
            return str(value)
        if pa.types.is_boolean(dtype):
            return _as_bool(value)
    except (TypeError, ValueError):
        raise InvalidQueryError(
            f"{where}: {brief(value)} is not a valid {dtype} value"
            + (" (true or false)" if pa.types.is_boolean(dtype) else ""),
            f"{column} holds {_HOLDS.get(str(dtype), str(dtype) + ' values')}, not {brief(value)}",
        ) from None
    return value


def _as_float(value: Any) -> float:
    """A number, or its text in ASCII (``float`` would take other scripts' digits); not a bool, not NaN."""
    if isinstance(value, bool) or (isinstance(value, str) and not value.isascii()):
        raise ValueError(value)
    number = float(value)
    if math.isnan(number):
        raise ValueError(value)
    return number


_HOLDS = {"double": "numbers (e.g. 28.5)", "float": "numbers (e.g. 28.5)", "bool": "true or false",
          "string": "text", "large_string": "text"}
"""What a column of an arrow type holds, in a user's words."""

_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _BOOLEANS:
        return _BOOLEANS[value.strip().lower()]
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ValueError(value)
