"""One table of every Allen Patch-seq recording: a row per session (``ephys_session_id``), across dandisets.

The rows come from the dandisets' asset listings (shipped, or the DANDI
API's; see ``assets``) and DANDI's metadata of each recording
(``recordings``): no NWB file is read. Each NWB asset is a recording; the
recordings of one session are its copies:

- copies with the same bytes (the same SHA-256; the paper sets 000630 and
  000636 hold copies of the quarterly uploads' files) are one row: the copy
  in the newest published version is chosen (a draft's only where no
  published version holds those bytes), ``dandisets`` lists every holder;
- copies with different bytes (35 sessions: mostly 000288 against 000570, a
  re-export) are never merged: each is its own row, ``copies_differ`` is true
  and ``other_copies`` names the others (dandiset, path, size, SHA-256);
- a file without a session id (``PLACEHOLDER``: collaborators' recordings in
  000228 and 000337) is its own row, keyed by its path (``ephys_session_id``
  missing), its copies (the same path elsewhere) handled as above.

``COLUMNS`` gives each column's dtype and meaning.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..tables.schema import session_of
from .assets import DRAFT
from .dandisets import AllenDandiset, registry

if TYPE_CHECKING:
    import pandas as pd

    from .assets import AssetIndex

COLUMNS: dict[str, tuple[str, str]] = {
    "ephys_session_id": ("Int64", "the Allen Institute's electrophysiology session (DANDI's Session identifier, "
                                  "the _ses-<id> of the path); missing for a file without one"),
    "donor": ("string", "the donor (DANDI's subject identifier, the sub-<id> of the path)"),
    "species": ("string", "binomial name: Homo sapiens, Macaca nemestrina or Mus musculus"),
    "sex": ("string", "as DANDI's metadata gives it: Female, Male or Unknown; missing where it gives none"),
    "age_days": ("float64", "the donor's age in days, from DANDI's ISO-8601 age (P<n>D; P<n>Y x 365.25); missing "
                            "for P0.0D, DANDI's placeholder for an unknown age"),
    "dandiset": ("string", "the dandiset whose copy is chosen"),
    "version": ("string", "its version: published, or draft"),
    "dandi_path": ("string", "the chosen copy's path in that dandiset"),
    "asset_id": ("string", "DANDI's id of the chosen asset in that version; missing where the listing lacks it"),
    "size": ("int64", "bytes"),
    "sha256": ("string", "DANDI's SHA-256 of the bytes; missing where DANDI gives none"),
    "dandisets": ("string", "every dandiset holding these bytes of the recording, space-separated"),
    "chosen_because": ("string", "why this copy: the only one, or the newest published version of identical copies"),
    "copies_differ": ("bool", "whether another dandiset holds other bytes for the same session (or path)"),
    "other_copies": ("string", "those other copies: dandiset version path (bytes, SHA-256); missing where none"),
}
"""The sessions table's columns: pandas dtype and meaning."""


@dataclass(frozen=True)
class Copy:
    """One NWB asset of one dandiset version, as one recording of a session (or of a file without one)."""

    dandiset: AllenDandiset
    version: str
    path: str
    asset_id: str | None
    size: int
    sha256: str | None
    bytes_key: str
    session: int | None
    donor: str | None
    species: str
    sex: str | None
    age_days: float

    @property
    def key(self) -> tuple[str, int | str]:
        """What makes copies one recording: the session id, else the path."""
        return ("session", self.session) if self.session is not None else ("path", self.path)

    @property
    def published(self) -> bool:
        return self.version != DRAFT

    def described(self) -> str:
        digest = f"SHA-256 {self.sha256[:12]}..." if self.sha256 else "no SHA-256"
        return f"{self.dandiset.dandiset} {self.version} {self.path} ({self.size} bytes, {digest})"


def copies_of(dandiset: AllenDandiset, index: AssetIndex) -> list[Copy]:
    """Every NWB asset of ``index`` (``dandiset`` at some version) as a ``Copy``, in the listing's order."""
    copies = []
    for path, asset in index.assets.items():
        if not path.endswith(".nwb"):
            continue
        recording = index.recordings.get(path)
        session = (recording.session if recording else None) or session_of(path)
        donor = recording.subject_id if recording and recording.subject_id else _path_donor(path)
        copies.append(Copy(
            dandiset, index.version, path, asset.asset_id, asset.size, asset.sha256,
            asset.sha256 or asset.etag or f"blob {asset.blob}", session, donor,
            (recording.species_name if recording else None) or dandiset.species,
            recording.sex if recording else None,
            recording.age_days if recording else float("nan"),
        ))
    return copies


def shipped_copies(besides: Collection[AllenDandiset]) -> list[Copy]:
    """Every copy the shipped listings of the dandisets not in ``besides`` hold, at their pinned versions: what a
    table of some dandisets tells of their recordings' copies elsewhere (no request, whatever API is set)."""
    from .assets import shipped_index

    return [
        copy
        for dandiset in registry().values()
        if dandiset not in besides and (pinned := dandiset.pinned()) is not None
        for copy in copies_of(dandiset, shipped_index(dandiset.dandiset, pinned))
    ]


def sessions_table(copies: Iterable[Copy], own: Collection[AllenDandiset] = ()) -> pd.DataFrame:
    """The sessions table (``COLUMNS``) of ``copies``: identical bytes of a recording merged, others kept apart.

    ``own``: the table of these dandisets only, a row per recording they
    hold, their copy chosen (one dandiset's table: its own, ``chosen_because``
    "this dandiset's copy"); the copies of other dandisets among ``copies``
    are only told of, in ``dandisets``, ``copies_differ`` and ``other_copies``.
    """
    import pandas as pd

    recordings: dict[tuple[str, int | str], dict[str, list[Copy]]] = {}
    for copy in copies:
        recordings.setdefault(copy.key, {}).setdefault(copy.bytes_key, []).append(copy)
    rows = []
    for versions in recordings.values():
        for bytes_key, identical in versions.items():
            others = [c for key, group in versions.items() if key != bytes_key for c in group]
            mine = [c for c in identical if c.dandiset in own] if own else list(identical)
            if not mine:
                continue
            chosen = min(mine, key=_preference)
            reason = THIS_DANDISETS if len(own) == 1 else _reason(chosen, mine)
            rows.append(_row(chosen, identical, others, reason))
    return pd.DataFrame({
        name: pd.Series([row[name] for row in rows], dtype=dtype) for name, (dtype, _) in COLUMNS.items()
    })


THIS_DANDISETS = "this dandiset's copy"
"""``chosen_because`` in one dandiset's table."""


def _row(chosen: Copy, identical: Sequence[Copy], others: Sequence[Copy], reason: str | None = None) -> dict[str, object]:
    holders = sorted({c.dandiset.dandiset for c in identical})
    return {
        "ephys_session_id": chosen.session,
        "donor": chosen.donor,
        "species": chosen.species,
        "sex": chosen.sex,
        "age_days": chosen.age_days,
        "dandiset": chosen.dandiset.dandiset,
        "version": chosen.version,
        "dandi_path": chosen.path,
        "asset_id": chosen.asset_id,
        "size": chosen.size,
        "sha256": chosen.sha256,
        "dandisets": " ".join(holders),
        "chosen_because": reason or _reason(chosen, identical),
        "copies_differ": bool(others),
        "other_copies": "; ".join(c.described() for c in others) or None,
    }


def _preference(copy: Copy) -> tuple[bool, tuple[int, ...], str]:
    """Published before draft, the newest published version first (``0.YYMMDD.HHMM``), then the lowest id."""
    newest_first = tuple(-int(part) for part in copy.version.split(".")) if copy.published else ()
    return (not copy.published, newest_first, copy.dandiset.dandiset)


def _reason(chosen: Copy, identical: Sequence[Copy]) -> str:
    holders = {c.dandiset.dandiset for c in identical}
    if len(identical) == 1:
        return "the only copy"
    if len(holders) == 1:
        return f"{len(identical)} identical files in one dandiset: the first path"
    if chosen.published:
        return f"newest published version of {len(identical)} identical copies"
    return f"{len(identical)} identical copies, all in drafts: the lowest dandiset id"


def _path_donor(path: str) -> str | None:
    first = path.split("/", 1)[0]
    return first[len("sub-"):] if first.startswith("sub-") else None
