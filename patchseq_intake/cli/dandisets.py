"""ARCHIVE as the command takes it: the 2020 archives (``human``, ``mouse``) or any Allen Patch-seq dandiset.

ARCHIVE arrives as the root catalog's entry name (``options.archive_name``:
``000023`` -> ``human``, ``636`` -> ``human_interneurons``). The 2020 archives
name their files by cell (``cell_specimen_id``); every other dandiset by
recording (``ephys_session_id``): ``ids_parameter`` passes the command's ids
under the right parameter, and ``only_2020`` refuses (a usage error) what
only the 2020 release has (reconstructions, transcriptomes, release files).
``command_words`` puts the Python calls that messages of the layers below
suggest (``cat.human_l1.ephys(session_id=...)``) in the command's words.
"""

from __future__ import annotations

import re

from ..dandi.dandisets import find
from .options import UsageError

ID_HELP = ("cell_specimen_id of a cell of human or mouse; on any other dandiset, the ephys_session_id of a "
           "recording (its files are named by session)")


def is_2020(archive: str) -> bool:
    """Whether ARCHIVE (an entry name) is one of the 2020 release's archives, whose files are named by cell."""
    return find(archive).release_2020


def ids_parameter(archive: str, ids: list[int] | None) -> dict[str, list[int] | None]:
    """The ids given, as the archive's ephys entry takes them: ``specimen_id`` (2020) or ``session_id``."""
    return {"specimen_id" if is_2020(archive) else "session_id": ids}


def id_word(archive: str) -> str:
    """What an id names in ARCHIVE: ``cell`` (2020) or ``recording``."""
    return "cell" if is_2020(archive) else "recording"


def only_2020(archive: str, what: str, flag: str) -> None:
    """``UsageError`` for ``flag`` (asking for ``what``, e.g. ``reconstructions``) on a dandiset beyond 2020."""
    if not is_2020(archive):
        raise UsageError(f"{flag}: only the 2020 archives (human, mouse) have {what}; {find(archive)} has "
                         "NWB files only (its recordings: patchseq-intake cells " + archive + ")")


_CALL = re.compile(r"cat\.(\w+)\.(?:ephys|features)\(session_id=(\d+)\)")
_RELEASE_CALL = re.compile(r"cat\.(\w+)\.(?:ephys|features)\(filters=\[\['ephys_session_id', '==', (\d+)\]\]\)")
_SESSION_PARAMETER = re.compile(r"session_id names an ephys_session_id; it holds (\d+): see its sessions table")


def command_words(message: str, command: str, archive: str | None) -> str:
    """``message`` with the ephys entry's Python words for recordings in the command's: ``cat.human_l1.ephys(
    session_id=N)`` as ``patchseq-intake COMMAND human_l1 N``; a 2020 archive's ``cat.human.ephys(filters=[[
    'ephys_session_id', '==', N]])`` as the ``cells`` command that finds the session's cell; ``session_id names
    ...`` as the ID's argument."""
    message = _CALL.sub(lambda found: f"patchseq-intake {command} {found[1]} {found[2]}", message)
    message = _RELEASE_CALL.sub(  # a 2020 archive names its files by cell: the cell of that session, found first
        lambda found: f"patchseq-intake cells {found[1]} --filter ephys_session_id == {found[2]} (its cell_specimen_id "
                      f"is the SPECIMEN_ID of patchseq-intake {command} {found[1]})", message)
    table = f"patchseq-intake cells {archive}" if archive else "its sessions table"
    return _SESSION_PARAMETER.sub(lambda found: f"SPECIMEN_ID is a recording's ephys_session_id here; it holds "
                                                f"{found[1]}: {table} lists them", message)
