"""Recordings of the dandisets beyond 2020 in a DANDI replica: one synthetic file at made-up human L1 sessions'
paths of 000630 and at a collaborator's path of 000228 (no session id), each with DANDI's metadata of it.

``serve_recordings`` adds them to a ``DandiReplica``; the tests of the catalog, the command and the browser on a
dandiset share it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path

from ..dandi.assets import Asset
from ..dandi.recordings import Recording
from .dandi import DandiReplica

L1, L1_VERSION = "000630", "0.230915.2257"
"""The human L1 paper set and its published version."""
SUBJECT = "839897123"
"""A made-up donor of the L1 recordings."""
COLLABORATOR = "sub-H18-28-013/sub-H18-28-013_obj-189zl3t_icephys.nwb"
"""A path of 000228 (draft): a collaborator's recording, whose DANDI metadata names no session."""


def l1_path(session: int) -> str:
    """The path of ``session``'s file in 000630: ``sub-<SUBJECT>/sub-<SUBJECT>_ses-<session>_icephys.nwb``."""
    return f"sub-{SUBJECT}/sub-{SUBJECT}_ses-{session}_icephys.nwb"


def serve_recordings(
    replica: DandiReplica, content: Path, sessions: Sequence[int], unserved: Sequence[int] = ()
) -> None:
    """Serve ``content`` (an NWB file) as each of ``sessions`` of 000630 (a female donor of 22 years) and as
    ``COLLABORATOR`` of 000228; list ``unserved`` sessions of 000630 with no bytes behind them (their blob: 404)."""
    for session in sessions:
        replica.add_asset(L1, L1_VERSION, l1_path(session), content,
                          recording=Recording(SUBJECT, str(session), "Homo sapiens - Human", "Female", "P8035.0D"))
    for session in unserved:
        listed = Asset(l1_path(session), None, str(uuid.uuid5(uuid.NAMESPACE_URL, l1_path(session))), 10, "0" * 64)
        replica.add_listed_asset(L1, L1_VERSION, listed, recording=Recording(SUBJECT, str(session)))
    replica.add_asset("000228", "draft", COLLABORATOR, content,
                      recording=Recording("H18.28.013", "PLACEHOLDER", "Homo sapiens - Human", "Male", "P41.0Y"))
