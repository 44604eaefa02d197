"""Where an HDF5 file's metadata lies, read from the bytes of its object headers.

Streaming a file, every HDF5 object header, header continuation, group index
and small dataset is a round trip when h5py asks for it. But each header
names the file addresses of the next pieces: its continuation chunks, its
group's B-tree and name heap, its small datasets' bytes. ``crawl`` follows
those addresses level by level, so that each level can be fetched in one
concurrent batch before h5py needs it.

It reads the structures h5py writes by default (version-1 object headers,
symbol-table groups) in files with 8-byte addresses and no user block
(``readable_layout`` checks); anything else it stops at, sizes it does not
believe it caps, and h5py then reads the rest on demand as usual.

Why a parser of our own: in such files a group's children are listed in a
symbol table (a B-tree and a name heap) whose addresses only the group's
header gives, so a reader that asks h5py for them pays a round trip per
group and per level; no library fetches them ahead (remfile, lindi, fsspec's
caches read on demand; kerchunk and h5coro walk one object at a time; see
``shared/reference/streaming-research.md``). On the release's version-1
layout the crawl makes a cold sweep table several times faster (the
benchmark's rows "headers read on demand"). Files with version-2 headers keep their links in the
header, where h5py's link information gives the next level's addresses:
``prefetch_linked`` does that with h5py's public API alone.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import h5py

    from ..transport.remote_file import RemoteFile

logger = logging.getLogger(__name__)

ReadAt = Callable[[int, int], bytes]
"""``read_at(offset, size)``: bytes of the file."""
Prefetch = Callable[[list[tuple[int, int]]], None]
"""``prefetch([(offset, size), ...])``: fetch these ranges now, together."""

_UNDEFINED = 0xFFFFFFFFFFFFFFFF
_CONTINUATION = 0x0010
_SYMBOL_TABLE = 0x0011
_LAYOUT = 0x0008
_CONTIGUOUS, _CHUNKED = 1, 2
_SMALL_BYTES = 64 * 1024  # small datasets' bytes are fetched with the headers; sweep data is not
_GUESS = 1024  # bytes to fetch where a structure's size is not known yet (a full B-tree node is 544)
_SNOD_GUESS = 8 + 8 * 40  # a full symbol-table node: 2 x 4 entries of 40 bytes (h5py's default K)
_MAX_PIECE = 1024 * 1024  # a header chunk, heap or node larger than this is not believed
_MAX_CHILDREN = 256  # B-tree entries per node


SPIKES_DEPTH = 3
"""Group levels from ``processing`` to the spike times' datasets: the module, its ``Sweep_<n>`` series, their data."""


@dataclass(frozen=True)
class _Piece:
    kind: str  # "header", "chunk" (of header messages), "btree", "snod", "heap" (a group's index), "data",
    # "chunks" (a chunked dataset's chunk index: a B-tree node)
    address: int
    size: int
    depth: int  # group levels below where the crawl started
    limit: int  # group levels to go down from where the crawl started
    chunk_index: bool = False  # follow chunked datasets' layouts to their chunk index
    dims: int = 0  # for "chunks": the layout's dimensionality (the dataset's rank + 1), which sizes the node's keys


def readable_layout(h5: h5py.File) -> bool:
    """True for a file whose structures ``crawl`` can read: 8-byte addresses and sizes, no user block."""
    plist = h5.id.get_create_plist()
    return plist.get_sizes() == (8, 8) and plist.get_userblock() == 0


def crawl(
    read_at: ReadAt,
    prefetch: Prefetch,
    addresses: Iterable[int],
    depth: int = 1,
    with_chunk_index: Iterable[tuple[int, int]] = (),
) -> None:
    """Prefetch the headers at ``addresses`` and what they lead to, ``depth`` group levels down.

    ``with_chunk_index``: more ``(address, depth)`` starts, crawled in the same
    rounds, below which chunked datasets' chunk indexes are fetched too (so
    that listing their chunks costs no round trip: for small datasets such as
    the spike times). ``prefetch`` gets a list of ``(offset, size)`` ranges
    per round; each round is one level of pointers, so the whole crawl takes
    a handful of round trips.
    """
    pending = [_Piece("header", address, _GUESS, 0, depth) for address in addresses]
    pending += [_Piece("header", address, _GUESS, 0, limit, chunk_index=True) for address, limit in with_chunk_index]
    seen: set[tuple[str, int]] = set()
    while pending:
        fresh = {(piece.kind, piece.address): piece for piece in pending}
        pending = [piece for key, piece in fresh.items() if key not in seen]
        if not pending:
            return
        prefetch(sorted({(piece.address, piece.size) for piece in pending}))
        seen.update((piece.kind, piece.address) for piece in pending)
        pending = [new for piece in pending for new in _follow(read_at, piece)]


def _follow(read_at: ReadAt, piece: _Piece) -> list[_Piece]:
    if piece.kind == "header":
        prefix = read_at(piece.address, 16)
        if len(prefix) < 16 or prefix[0] != 1:
            return []  # not a version-1 object header
        (first_chunk,) = struct.unpack_from("<I", prefix, 8)
        return _messages(read_at(piece.address + 16, min(first_chunk, _MAX_PIECE)), piece)
    if piece.kind == "chunk":
        return _messages(read_at(piece.address, piece.size), piece)
    if piece.kind == "btree":
        return _btree_children(read_at, piece)
    if piece.kind == "heap":
        return _heap_data(read_at, piece)
    if piece.kind == "snod":
        return _symbol_node_members(read_at, piece)
    if piece.kind == "chunks":
        return _chunk_index_children(read_at, piece)
    return []  # "data": nothing further


def _heap_data(read_at: ReadAt, piece: _Piece) -> list[_Piece]:
    """A group's local heap (its member names): the heap's data segment."""
    heap = read_at(piece.address, 32)
    if len(heap) < 32 or heap[:4] != b"HEAP":
        return []
    size, _, data = struct.unpack_from("<QQQ", heap, 8)
    return [replace(piece, kind="data", address=data, size=min(size, _MAX_PIECE))]


def _messages(chunk: bytes, piece: _Piece) -> list[_Piece]:
    """What one chunk of header messages (of the object ``piece`` led to) points to."""
    found = []
    offset = 0
    while offset + 8 <= len(chunk):
        kind, length = struct.unpack_from("<HH", chunk, offset)
        body = chunk[offset + 8 : offset + 8 + length]
        offset += 8 + length
        if kind == _CONTINUATION and len(body) >= 16:
            more, size = struct.unpack_from("<QQ", body)
            found.append(replace(piece, kind="chunk", address=more, size=min(size, _MAX_PIECE)))
        elif kind == _SYMBOL_TABLE and len(body) >= 16 and piece.depth < piece.limit:
            btree, heap = struct.unpack_from("<QQ", body)
            found += [replace(piece, kind=kind, address=address, size=_GUESS)
                      for kind, address in (("btree", btree), ("heap", heap))]
        elif kind == _LAYOUT and len(body) >= 18 and body[0] == 3 and body[1] == _CONTIGUOUS:
            data, size = struct.unpack_from("<QQ", body, 2)
            if data != _UNDEFINED and size <= _SMALL_BYTES:
                found.append(replace(piece, kind="data", address=data, size=size))
        elif kind == _LAYOUT and piece.chunk_index and len(body) >= 11 and body[0] == 3 and body[1] == _CHUNKED:
            (index,) = struct.unpack_from("<Q", body, 3)
            if index != _UNDEFINED:
                found.append(replace(piece, kind="chunks", address=index, size=_GUESS, dims=body[2]))
    return found


def _btree_children(read_at: ReadAt, piece: _Piece) -> list[_Piece]:
    """A group B-tree node's children: more nodes, or symbol-table nodes at the leaves."""
    node = read_at(piece.address, 24)
    if len(node) < 24 or node[:4] != b"TREE" or node[4] != 0:
        return []
    level, used = struct.unpack_from("<BH", node, 5)
    used = min(used, _MAX_CHILDREN)
    # After the 24-byte node header, keys (8 bytes) and child addresses (8 bytes) alternate.
    body = read_at(piece.address + 24, used * 16 + 8)
    children = [struct.unpack_from("<Q", body, 8 + 16 * i)[0] for i in range(min(used, (len(body) - 8) // 16))]
    kind = "btree" if level > 0 else "snod"
    return [replace(piece, kind=kind, address=child, size=_GUESS if level else _SNOD_GUESS) for child in children]


def _chunk_index_children(read_at: ReadAt, piece: _Piece) -> list[_Piece]:
    """A chunk B-tree node's child nodes (none at the leaves, which point to the chunks themselves).

    After the 24-byte node header, keys (a chunk's size and filter mask, 4
    bytes each, then ``dims`` offsets of 8) and child addresses alternate.
    """
    node = read_at(piece.address, 24)
    if len(node) < 24 or node[:4] != b"TREE" or node[4] != 1 or node[5] == 0:
        return []
    used = min(struct.unpack_from("<H", node, 6)[0], _MAX_CHILDREN)
    step = 8 + 8 * piece.dims + 8
    body = read_at(piece.address + 24, used * step)
    return [
        replace(piece, address=struct.unpack_from("<Q", body, step * i + step - 8)[0], size=_GUESS)
        for i in range(min(used, len(body) // step))
    ]


def _symbol_node_members(read_at: ReadAt, piece: _Piece) -> list[_Piece]:
    """The object headers a symbol-table node names: the group's members, one level down."""
    node = read_at(piece.address, 8)
    if len(node) < 8 or node[:4] != b"SNOD":
        return []
    (count,) = struct.unpack_from("<H", node, 6)
    entries = read_at(piece.address + 8, min(count, _MAX_CHILDREN) * 40)
    return [
        replace(piece, kind="header", address=struct.unpack_from("<Q", entries, 40 * i + 8)[0], size=_GUESS,
                depth=piece.depth + 1)
        for i in range(len(entries) // 40)
    ]


def prefetch_series_headers(h5: h5py.File, remote: RemoteFile) -> None:
    """Fetch, in a few concurrent batches, the series headers a sweep table reads, and the spike times' headers.

    Over a network each HDF5 header is a round trip if h5py asks for them one
    by one. In files of version-1 headers and symbol-table groups, ``crawl``
    finds them a level ahead from the bytes, and in the same rounds the spike
    times' headers and chunk indexes below ``processing`` (their data comes
    with the sweep table's columns: see ``table_prefetch``); in others
    (version-2 headers, link messages), h5py's own link information gives
    the next level's header addresses (``prefetch_linked``; the spike times
    are read on demand: walking them ahead saved no round trip on the test
    files). Only a speed-up: on a structure it misreads, h5py reads on demand.
    """
    import h5py

    from ..nwb.mies_series import RESPONSE_GROUP, STIMULUS_GROUP

    parents = [h5[name] for name in (RESPONSE_GROUP, STIMULUS_GROUP) if name in h5]
    if readable_layout(h5) and all(h5py.h5o.get_info(group.id).hdr.version == 1 for group in parents):
        starts = [int(h5py.h5o.get_info(group.id).addr) for group in parents]
        processing = _linked_address(h5, PROCESSING)
        deeper = [(processing, SPIKES_DEPTH)] if processing is not None else []
        try:
            crawl(remote.read_at, remote.prefetch, starts, depth=2, with_chunk_index=deeper)
        except (struct.error, ValueError, OverflowError) as exc:
            logger.debug("prefetching the series headers stopped: %s", exc)
        return
    prefetch_linked(parents, remote.prefetch, depth=2)


PROCESSING = "processing"
"""The root's group that holds the spike times' module (``spikes.SPIKES_MODULE``)."""


def _linked_address(h5: h5py.File, name: str) -> int | None:
    """The address of the object the root's hard link ``name`` points to, from the root's links; None if none."""
    import h5py

    if not h5.id.links.exists(name.encode()):
        return None
    info = h5.id.links.get_info(name.encode())
    return int(info.u) if info.type == h5py.h5l.TYPE_HARD else None


def prefetch_linked(groups: list[h5py.Group], prefetch: Prefetch, depth: int) -> None:
    """Prefetch the headers the groups link to, ``depth`` levels down, a level per batch.

    Through h5py's public API only: a link's information holds the address of
    the object it points to (``links.get_info(name).u``), so the next level is
    known once a group's links are read, before any child is opened.
    """
    import h5py

    level = groups
    for _ in range(depth):
        linked: list[tuple[h5py.Group, str, int]] = []
        for group in level:
            for name in group:
                info = group.id.links.get_info(name.encode())
                if info.type == h5py.h5l.TYPE_HARD:
                    linked.append((group, name, int(info.u)))
        if not linked:
            return
        prefetch(sorted({(address, _GUESS) for _, _, address in linked}))
        level = [group[name] for group, name, _ in linked if group.get(name, getclass=True) is h5py.Group]
