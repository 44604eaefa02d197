"""From session ids or filters to the NWB files of one dandiset beyond the 2020 release (see ``sessions``).

A dandiset's recordings are its NWB assets, each known by its session
(``ephys_session_id``; a file without one by its path). Selecting them reads
the version's asset index (shipped, cached or listed; see ``assets``) and no
NWB file. A session the dandiset does not hold is looked for in the other
dandisets whose listings the catalog ships, so that the error says where it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import NoMatchingCellsError, UnknownSessionError, brief
from .dandisets import AllenDandiset, registry
from .nwb_files import CellFile
from .sessions import copies_of, sessions_table, shipped_copies

if TYPE_CHECKING:
    import pandas as pd

    from .assets import DandisetVersion


def dandiset_sessions(dandiset: AllenDandiset, dandi: DandisetVersion) -> pd.DataFrame:
    """The sessions table (``sessions.COLUMNS``) of one dandiset at a version: a row per NWB file of its own,
    identical files of one session merged; ``dandisets``, ``copies_differ`` and ``other_copies`` tell of the
    session's copies in the other dandisets whose listings the catalog ships."""
    return sessions_table(copies_of(dandiset, dandi.index()) + shipped_copies([dandiset]), own=[dandiset])


def select_recordings(
    dandiset: AllenDandiset, dandi: DandisetVersion, session_ids: Sequence[int], filters: Sequence[Sequence[Any]]
) -> list[CellFile]:
    """The NWB files of the chosen recordings of ``dandiset`` at ``dandi``'s version: by session id, by
    filters on its sessions table, or both (AND); with neither, every one.

    ``UnknownSessionError`` for a session the version does not hold (naming
    the dandisets that do, if any); ``NoMatchingCellsError`` for filters that
    keep none; ``InvalidQueryError`` for a filter the table cannot take.
    """
    import pandas as pd

    from ..tables.filters import query_frame

    index = dandi.index()
    table = dandiset_sessions(dandiset, dandi)
    title = f"the sessions table of {dandiset} at version {dandi.version}"
    chosen = query_frame(table, filters, (), title) if filters else table
    if session_ids:
        held = set(table["ephys_session_id"].dropna().astype("int64").tolist())
        missing = [session for session in session_ids if session not in held]
        if missing:
            raise UnknownSessionError(_missing_message(dandiset, dandi, missing, len(held)))
        wanted = set(session_ids)
        chosen = chosen[chosen["ephys_session_id"].isin(wanted).fillna(False).astype(bool)]
    if chosen.empty:
        asked = " and ".join(part for part in (
            f"session_id {brief(list(session_ids))}" if session_ids else "",
            f"filters {brief(list(filters))}" if filters else "",
        ) if part)
        raise NoMatchingCellsError(f"no recording of {dandiset} at version {dandi.version} matches {asked}")
    files = []
    for row in chosen.itertuples(index=False):
        asset = index.assets[row.dandi_path]
        session = None if pd.isna(row.ephys_session_id) else int(row.ephys_session_id)
        files.append(CellFile(None, session, dandiset.dandiset, asset, index.urls(asset), None))
    return files


def holders_of(session: int) -> list[AllenDandiset]:
    """The dandisets whose shipped listing holds ``session`` (no request: the API-listed ones are not searched), in
    the registry's order; the listings read as ``sessions.shipped_copies`` reads them (once a process)."""
    holding = {copy.dandiset for copy in shipped_copies([]) if copy.session == session}
    return [dandiset for dandiset in registry().values() if dandiset in holding]


def _selecting(dandiset: AllenDandiset, session: int) -> str:
    """The ``ephys`` parameter that selects ``session`` in ``dandiset``: the 2020 archives select cells by filters."""
    if dandiset.release_2020:
        return f"filters=[['ephys_session_id', '==', {session}]]"
    return f"session_id={session}"


def _missing_message(dandiset: AllenDandiset, dandi: DandisetVersion, missing: list[int], held: int) -> str:
    first = missing[0]
    elsewhere = holders_of(first)
    if elsewhere:
        where = "; it is in " + ", ".join(f"{d.dandiset} (cat.{d.name}.ephys({_selecting(d, first)}))" for d in elsewhere)
    else:
        unsearched = [d.dandiset for d in registry().values() if d.pinned() is None]
        where = (f"; no dandiset the catalog ships a listing of holds it ({len(registry()) - len(unsearched)} "
                 f"searched; {', '.join(unsearched)} are listed by the DANDI API only and were not)")
    return (f"{dandiset} at version {dandi.version} holds no session {brief(missing)} "
            f"(session_id names an ephys_session_id; it holds {held}: see its sessions table){where}")

