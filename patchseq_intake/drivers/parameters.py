"""User parameters as plain Python, before intake's templates turn them into text.

Intake renders every templated argument with ``str()`` and parses it back, which
works for plain lists and numbers but not for ``np.int64(5)`` (numpy 2 writes it
so) or a pandas Series. Sources built on ``PlainParameters`` convert such values
to plain Python first, so ``cat.mouse.ephys(specimen_id=table.cell_specimen_id)``
works.
"""

from __future__ import annotations

from typing import Any


def plain(value: Any) -> Any:
    """``value`` with numpy scalars and arrays and pandas Series made plain Python, recursively."""
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if hasattr(value, "tolist"):  # numpy scalars and arrays, pandas Series and Index
        return plain(value.tolist())
    return value


class PlainParameters:
    """Mixin for intake sources: parameters given to ``source(...)`` are made plain first."""

    def configure_new(self, **parameters: Any):
        """A new source with these parameters (see intake's ``DataSource.configure_new``)."""
        return super().configure_new(**{name: plain(value) for name, value in parameters.items()})

    __call__ = get = configure_new
