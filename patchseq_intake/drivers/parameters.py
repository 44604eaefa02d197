"""User parameters as plain Python values, checked before use.

The catalogs hand a user's parameters to the drivers as the values given
(``catalog.ValueEntry``: never rendered as template text). Sources built on
``PlainParameters`` make numpy scalars and arrays and pandas Series plain
Python first, so ``cat.mouse.ephys(specimen_id=table.cell_specimen_id)``
works and the source's arguments stay comparable and serialisable.

The drivers' integer parameters (``specimen_id``, ``headstage``, sweep
numbers) take whole numbers as ``tables.filters.as_whole_number`` defines
them: an int, a numpy integer, a float with no fraction (``42.0``), or text
of ASCII digits; never a bool, ``1.5``, NaN, infinity, other scripts'
digits or an empty text. Anything else is an ``InvalidQueryError`` that
names the parameter and what it takes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ..errors import InvalidQueryError, brief
from ..tables.filters import as_whole_number

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
VERSION = "a dandiset version: a published version id or 'draft'"


def untemplated(**values: Any) -> None:
    """Refuse a parameter that arrived as its catalog template's own text (``"{{ filters }}"``).

    That is how intake renders a None given to an entry of a catalog it
    opened itself (``intake.open_catalog(path)``), not through the package's
    ``ValueEntry``, and a list parameter's as the list of its characters: for
    the root catalog's own tables (``sessions``, the papers'), whose entries
    only the package's openers make ``ValueEntry``s. ``InvalidQueryError``
    naming the parameter and the two ways out.
    """
    for name, value in values.items():
        if isinstance(value, list) and value and all(isinstance(one, str) and len(one) == 1 for one in value):
            value = "".join(value)  # a list parameter's template, split into characters by intake
        if isinstance(value, str) and value.replace(" ", "") == f"{{{{{name}}}}}":
            raise InvalidQueryError(
                f"{name} arrived as the catalog's template text {value!r}: intake.open_catalog(path) renders a "
                f"{name}=None so; leave {name} out, or open the catalog with patchseq_intake.open_catalog()"
            )


def plain(value: Any) -> Any:
    """``value`` with numpy scalars and arrays and pandas Series made plain Python, recursively."""
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if hasattr(value, "tolist"):  # numpy scalars and arrays, pandas Series and Index
        return plain(value.tolist())
    return value


def whole_number(value: Any, parameter: str, valid: str, low: int = INT64_MIN, high: int = INT64_MAX) -> int:
    """``value`` as an int from ``low`` to ``high``; otherwise ``InvalidQueryError``: "``parameter`` must be ``valid``"."""
    number = as_whole_number(plain(value))
    if number is None or not low <= number <= high:
        out_of_range = "" if number is None else f" (out of range: {low} to {high})"
        raise InvalidQueryError(f"{parameter} must be {valid}, not {brief(value)}{out_of_range}")
    return number


def partition_number(value: Any, partitions: int) -> int:
    """``value`` as one of ``partitions`` partitions' numbers (0 to ``partitions - 1``); ``InvalidQueryError`` otherwise."""
    last = partitions - 1
    return whole_number(value, "i", f"a partition number from 0 to {last}", 0, last)


def list_of(value: Any, parameter: str, valid: str) -> list[Any]:
    """``value`` (a list, tuple, set, numpy array or pandas Series) as a plain list; ``InvalidQueryError`` otherwise."""
    value = plain(value)
    if not isinstance(value, list):
        raise InvalidQueryError(f"{parameter} must be {valid}, not {brief(value)}")
    return value


def text(value: Any, parameter: str, valid: str) -> str:
    """``value`` if it is text (a path-like's text too); ``InvalidQueryError`` otherwise."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise InvalidQueryError(f"{parameter} must be {valid}, not {brief(value)}")
    return value


def flag(value: Any, parameter: str) -> bool:
    """``value`` if it is True or False (numpy's too); ``InvalidQueryError`` otherwise."""
    value = plain(value)
    if not isinstance(value, bool):
        raise InvalidQueryError(f"{parameter} must be True or False, not {brief(value)}")
    return value


def device_parameter(value: Any) -> str | None:
    """The ``device`` parameter: a device's name as MIES gives it (``ITC18USB_Dev_0``), or None for any.

    ``InvalidQueryError`` for anything else (an empty text names no device).
    """
    if value is None:
        return None
    name = text(value, "device", "a device's name (text, e.g. 'ITC18USB_Dev_0') or None").strip()
    if not name:
        raise InvalidQueryError("device names no device (it is empty): give a name such as ITC18USB_Dev_0")
    return name


ID_PARAMETERS = {
    "specimen_id": ("cell id", "cell", "cell_specimen_id", 541549258),
    "session_id": ("session id", "session", "ephys_session_id", 1000781418),
}
"""The parameters that name what to read, with their words: (an id, one of them, the column, an example)."""


def specimen_ids(value: int | Sequence[int] | None, parameter: str = "specimen_id") -> list[int]:
    """Distinct ids, in order, from an id or a list (tuple, array, Series) of them; None: none named (all).

    ``parameter``: ``specimen_id`` (cells, ``cell_specimen_id``) or
    ``session_id`` (recordings, ``ephys_session_id``), whose words the
    messages use. ``InvalidQueryError`` for an empty list: it names nothing,
    and would otherwise read as "every cell" (an empty selection computed
    upstream must not fetch a whole archive).
    """
    an_id, one, column, example = ID_PARAMETERS[parameter]
    value = plain(value)
    values = [] if value is None else value if isinstance(value, list) else [value]
    valid = f"a {an_id} or a list of them ({column}: whole numbers, e.g. {example})"
    if value is not None and not values:
        raise InvalidQueryError(
            f"{parameter}=[] names no {one}: give one or more {an_id}s, or leave {parameter} out (None) "
            f"for every {one} the filters select"
        )
    return list(dict.fromkeys(whole_number(item, parameter, valid) for item in values))


class PlainParameters:
    """Mixin for intake sources: parameters given to ``source(...)`` are made plain first."""

    def configure_new(self, **parameters: Any):
        """A new source with these parameters (see intake's ``DataSource.configure_new``)."""
        return super().configure_new(**{name: plain(value) for name, value in parameters.items()})

    __call__ = get = configure_new
