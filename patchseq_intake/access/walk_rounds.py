"""Many independent h5py reads over HTTP in as few round trips as the deepest of them needs.

Read one after another, each h5py call that meets bytes not fetched yet
waits a round trip, and a walk of many objects (every series' header,
attributes, small datasets and chunk index) waits once per object and
level: hundreds of round trips. Here each read is a task run with the
``RemoteFile`` probing (``RemoteFile.probing``): a read of a block not
fetched fails at once and names the block. Every task is tried; the blocks
all the failed ones missed are fetched in one wave; they are tried again.
A task that succeeds may give more tasks (a group's members), tried in the
same round. So the whole walk costs as many waves as its longest chain of
dependent reads, whatever the number of objects.

Only a speed-up: the tasks read through h5py, so what they fetch is what
h5py reads; a task that fails for another reason than a missing block (a
structure h5py refuses) is dropped, and the caller's own reads meet the
same error on demand, as without the walk. HDF5 does not survive a failed
read inside every call: ``h5o.get_info`` crashes the process where one
fails (a block missing); the tasks use only calls whose failures were seen
to leave the file usable on HDF5 2.0.0 (``table_prefetch``: opening objects
by path, listing links, reading attributes, datasets and raw chunks,
``chunk_iter``), checked by reading files of both writers with random
blocks missing. Earlier HDF5 libraries do not: on 1.12.2 to 1.14.6 (the
h5py 3.8 to 3.15 wheels) listing a group whose links are in dense storage
(version-2 headers) frees an invalid pointer when a read fails inside it
(``H5G__link_release_table``: the process aborts), and on 1.12.2 to 1.14.4
objects whose header read failed can no longer be opened on that file. So
the walk runs only where ``hdf5_survives_probing``; elsewhere h5py reads on
demand, a round trip a read, and first contact counts on that
(``first_contact.walk_waves``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..transport.remote_file import RemoteFile

logger = logging.getLogger(__name__)

PROBING_SAFE_FROM = (2, 0, 0)
"""The first HDF5 library version whose reads failing inside the walk's calls were seen to leave the file usable."""


def hdf5_survives_probing() -> bool:
    """Whether the HDF5 library h5py was built with is ``PROBING_SAFE_FROM`` or later (HDF5's version, not h5py's:
    conda's and distributions' h5py use the system's HDF5)."""
    import h5py

    return h5py.version.hdf5_version_tuple >= PROBING_SAFE_FROM

ReadAt = Callable[[int, int], bytes]
"""``read_at(offset, size)``: bytes of the file (``RemoteFile.read_at``; probing: ``BlockMissing`` if not fetched)."""
Task = Callable[[], "Iterable[Task] | None"]
"""A read through h5py; what it returns (if anything) are more tasks, tried at once."""


class Exact:
    """A task that reads exactly the bytes it needs (a chunk whose offset and size are known): no read-ahead.

    The blocks other tasks miss are fetched with the span around them
    (``RemoteFile.READ_AHEAD_BYTES``), where HDF5's next pieces mostly lie.
    """

    def __init__(self, read: Task):
        self.read = read

    def __call__(self) -> Iterable[Task] | None:
        return self.read()

MAX_ROUNDS = 24
"""A walk of more rounds than this stops: what is left is read on demand (the release's walk needs fewer than 10)."""


def in_rounds(remote: RemoteFile, tasks: Iterable[Task], max_rounds: int = MAX_ROUNDS) -> int:
    """Run the ``tasks`` (and the tasks they give) against ``remote``, fetching what they miss a wave at a time.

    Returns the number of waves fetched. Not from inside an h5py call.
    """
    from ..transport.remote_file import BlockMissing

    pending = list(tasks)
    for wave in range(max_rounds):
        missed: set[int] = set()
        exact: set[int] = set()
        waiting: list[Task] = []
        while pending:
            task = pending.pop()
            with remote.probing() as blocks:
                try:
                    more = task()
                except BlockMissing:
                    more = None
                except Exception as exc:  # noqa: BLE001 (h5py's own errors: the caller's reads meet them again)
                    if not blocks:
                        logger.debug("a walk task failed: %s", exc)
                    more = None
            if blocks:
                (exact if isinstance(task, Exact) else missed).update(blocks)
                waiting.append(task)
            elif more:
                pending.extend(more)
        if not missed and not exact:
            return wave
        remote.prefetch_blocks(exact, near=missed)
        pending = waiting
    logger.debug("the walk stopped after %d waves; %d tasks left to read on demand", max_rounds, len(pending))
    return max_rounds
