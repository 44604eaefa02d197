"""What DANDI's metadata says of the recording in an asset: its donor (subject), session, species, sex and age.

DANDI keeps these in each asset's metadata: ``wasAttributedTo`` (the
Participant: ``identifier``, ``species.name``, ``sex.name``, ``age.value``,
an ISO-8601 duration such as ``P7300.0D`` or ``P41.0Y``, ``genotype``) and
``wasGeneratedBy`` (the Session: ``identifier``, the Allen Institute's
``ephys_session_id``; ``PLACEHOLDER`` on collaborators' files, which have
none). A listing of a dandiset version gives them with ``metadata=1``; the
shipped listings carry them as the columns ``subject_id``, ``session_id``,
``species``, ``sex``, ``age`` and ``genotype``.

Values are text as DANDI gives them, checked (``TEXT_FORMAT``) so that no
answer puts control characters or pages of text into a table; the derived
values (``session``, ``species_name``, ``age_days``) are what tables show.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any

from ..errors import brief

MAX_TEXT = 200
TEXT_FORMAT = f"text of at most {MAX_TEXT} characters without control characters, or null"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SESSION = re.compile(r"\d{1,18}")
_DURATION = re.compile(r"^P(\d+(?:\.\d+)?)([DWMY])$")
_DAYS = {"D": 1.0, "W": 7.0, "M": 365.25 / 12, "Y": 365.25}

SPECIES = {
    "human": "Homo sapiens",
    "homo sapiens": "Homo sapiens",
    "homo sapiens - human": "Homo sapiens",
    "macaca nemestrina": "Macaca nemestrina",
    "macaca nemestrina - pigtail macaque": "Macaca nemestrina",
    "pigtail macaque": "Macaca nemestrina",
    "macaca mulatta": "Macaca mulatta",
    "macaca mulatta - rhesus monkey": "Macaca mulatta",
    "mouse": "Mus musculus",
    "mus musculus": "Mus musculus",
    "mus musculus - house mouse": "Mus musculus",
}
"""DANDI's spellings of a species (lower case) -> its binomial name, the one spelling tables use."""


def text_problem(value: Any) -> str | None:
    """What a metadata value should be, if ``value`` is not that; None if it is well formed."""
    if value is None or (isinstance(value, str) and len(value) <= MAX_TEXT and not _CONTROL.search(value)):
        return None
    return TEXT_FORMAT


@dataclass(frozen=True)
class Recording:
    """DANDI's metadata of the recording an asset holds (see the module docstring); None: not given."""

    subject_id: str | None = None
    session_id: str | None = None
    species: str | None = None
    sex: str | None = None
    age: str | None = None
    genotype: str | None = None

    def __post_init__(self) -> None:
        """``ValueError`` for a value that is not ``TEXT_FORMAT``; empty text is None."""
        for field in fields(self):
            value = getattr(self, field.name)
            if text_problem(value) is not None:
                raise ValueError(f"{field.name} {brief(value)}: not {TEXT_FORMAT}")
            if value == "":
                object.__setattr__(self, field.name, None)

    @property
    def session(self) -> int | None:
        """The ``ephys_session_id``: the Session identifier where it is a number (not ``PLACEHOLDER``); else None."""
        return int(self.session_id) if self.session_id and _SESSION.fullmatch(self.session_id) else None

    @property
    def species_name(self) -> str | None:
        """The species' binomial name (``SPECIES``); DANDI's own spelling where the package knows no other."""
        if self.species is None:
            return None
        return SPECIES.get(self.species.strip().lower(), self.species)

    @property
    def age_days(self) -> float:
        """The donor's age in days from DANDI's ISO-8601 duration (``P7300.0D``, ``P41.0Y`` x 365.25); NaN if none.

        An age of zero is NaN too: in the Allen listings it is DANDI's placeholder
        for an unknown age (``P0.0D``, on 45 human recordings of 000142, 000209,
        000570 and 000630, 29 of them of sex ``Unknown``), not a newborn donor.
        """
        match = _DURATION.match(self.age or "")
        days = float(match.group(1)) * _DAYS[match.group(2)] if match else float("nan")
        return days if days > 0 else float("nan")


RECORDING_COLUMNS = tuple(field.name for field in fields(Recording))
"""The listing columns that give an asset's ``Recording``."""


def from_row(row: dict[str, str | None]) -> Recording | None:
    """The recording a listing CSV's row describes; None where the listing has none of ``RECORDING_COLUMNS``."""
    values = {name: row.get(name) or None for name in RECORDING_COLUMNS}
    return Recording(**values) if any(values.values()) else None


def from_metadata(metadata: dict[str, Any]) -> dict[str, Any] | None:
    """``Recording``'s arguments from an asset's DANDI metadata, unchecked; None where it names no participant
    or session. Values that are not where DANDI puts them are returned as found, for ``Recording`` to refuse."""
    participants = [item for item in _listed(metadata.get("wasAttributedTo")) if isinstance(item, dict)]
    sessions = [
        item for item in _listed(metadata.get("wasGeneratedBy"))
        if isinstance(item, dict) and str(item.get("schemaKey", "Session")) == "Session"
    ]
    if not participants and not sessions:
        return None
    participant = participants[0] if participants else {}
    return {
        "subject_id": participant.get("identifier"),
        "session_id": sessions[0].get("identifier") if sessions else None,
        "species": _named(participant.get("species")),
        "sex": _named(participant.get("sex")),
        "age": _named(participant.get("age"), "value"),
        "genotype": _named(participant.get("genotype")),
    }


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def _named(value: Any, key: str = "name") -> Any:
    """``value[key]`` where DANDI gives an object (``{"name": "Male"}``); the value itself where it is text."""
    return value.get(key) if isinstance(value, dict) else value
