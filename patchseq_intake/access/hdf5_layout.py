"""Where a version-1 HDF5 file's metadata lies, read from the bytes of its object headers.

Streaming a file, every HDF5 object header, header continuation, group index
and small dataset is a round trip when h5py asks for it. But each header
names the file addresses of the next pieces: its continuation chunks, its
group's B-tree and name heap, its small datasets' bytes. ``index_task``
follows those addresses as ``walk_rounds`` tasks, a task per structure, so
that each level of pointers, for every node of a group at once, is one
wave of concurrent requests before h5py needs it.

It reads the structures h5py writes by default (version-1 object headers,
symbol-table groups, version-1 B-tree chunk indexes) in files with 8-byte
addresses and no user block (``readable_layout`` checks); anything else it
stops at, sizes it does not believe it caps, and h5py then reads the rest
on demand as usual (or ``walk_rounds``' h5py tasks find it).

Why a parser of our own: in such files a group's children are listed in a
symbol table (a B-tree, its symbol-table nodes and a name heap) whose
addresses only the group's header gives, and h5py lists a group reading its
nodes one after another: a round trip per node. No library fetches them
ahead (remfile, lindi, fsspec's caches read on demand; kerchunk and h5coro
walk one object at a time; see ``shared/reference/streaming-research.md``).
Version-2 headers keep a group's links in the header or in a fractal heap
whose blocks h5py's own reads, probed, find a level per wave.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from .hdf5_attributes import heap_addresses
from .walk_rounds import Exact, ReadAt, Task

if TYPE_CHECKING:
    import h5py

_UNDEFINED = 0xFFFFFFFFFFFFFFFF
_CONTINUATION = 0x0010
_SYMBOL_TABLE = 0x0011
_LAYOUT = 0x0008
_ATTRIBUTE = 0x000C
_CONTIGUOUS, _CHUNKED = 1, 2
_SMALL_BYTES = 64 * 1024  # small datasets' bytes are fetched with the headers; sweep data is not
_GUESS = 1024  # bytes to fetch where a structure's size is not known yet (a full B-tree node is 544)
_SNOD_GUESS = 8 + 8 * 40  # a full symbol-table node: 2 x 4 entries of 40 bytes (h5py's default K)
_MAX_PIECE = 1024 * 1024  # a header chunk, heap or node larger than this is not believed
_MAX_CHILDREN = 256  # B-tree entries per node


@dataclass(frozen=True)
class _Piece:
    kind: str  # "header", "chunk" (of header messages), "btree", "snod", "heap" (a group's index), "data",
    # "chunks" (a chunked dataset's chunk index: a B-tree node), "gcol" (a variable-length attribute's values)
    address: int
    size: int
    depth: int  # group levels below where the walk started
    limit: int  # group levels to go down from where the walk started
    chunk_index: bool = False  # follow chunked datasets' layouts to their chunk index
    dims: int = 0  # for "chunks": the layout's dimensionality (the dataset's rank + 1), which sizes the node's keys


def readable_layout(h5: h5py.File) -> bool:
    """True for a file whose structures ``index_task`` can read: 8-byte addresses and sizes, no user block."""
    plist = h5.id.get_create_plist()
    return plist.get_sizes() == (8, 8) and plist.get_userblock() == 0


def index_task(
    read_at: ReadAt,
    address: int,
    depth: int = 1,
    chunk_index: bool = False,
    seen: set[tuple[object, ...]] | None = None,
) -> Task:
    """A ``walk_rounds`` task reading the version-1 header at ``address`` and what it leads to, ``depth`` levels down.

    Each structure read is a task of its own, and the structures it points to
    are the tasks it gives: with ``read_at`` probing (``RemoteFile.probing``),
    every level of pointers is one wave, for all of a group's nodes at once.
    A structure it does not recognise (a version-2 header, garbage) gives nothing.
    ``chunk_index``: chunked datasets' chunk indexes (B-tree nodes) too. ``seen``: structures already given
    to a task (by this walk's other tasks: each is read once).
    """
    return _task(read_at, _Piece("header", address, _GUESS, 0, depth, chunk_index), set() if seen is None else seen)


def chunk_btree_task(read_at: ReadAt, address: int, dims: int, seen: set[tuple[object, ...]]) -> Task:
    """A task reading a version-1 B-tree chunk index (``dims``: the layout's dimensionality), a node per task.

    For a version-3 layout message found in a version-2 header (``hdf5_v2``): HDF5 writes one where
    the file's format allows version-2 headers but not the newer chunk indexes.
    """
    return _task(read_at, _Piece("chunks", address, _GUESS, 0, 0, True, dims), seen)


def _task(read_at: ReadAt, piece: _Piece, seen: set[tuple[object, ...]]) -> Task:
    def task() -> list[Task]:
        read_at(piece.address, piece.size)  # the bytes the structure is believed to span, missed at once
        fresh = [child for child in _follow(read_at, piece) if _key(child) not in seen]
        seen.update(_key(child) for child in fresh)
        return [_task(read_at, child, seen) for child in fresh]

    return Exact(task)


def _key(piece: _Piece) -> tuple[object, ...]:
    """What makes a piece's reading the same as another's: its structure, how deep it leads, and to what."""
    return ("v1", piece.kind, piece.address, piece.limit - piece.depth, piece.chunk_index)


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
    if piece.kind == "gcol":  # a global heap collection: its size is in its first bytes
        head = read_at(piece.address, 16)
        if head[:4] == b"GCOL":
            read_at(piece.address, min(struct.unpack_from("<Q", head, 8)[0], _MAX_PIECE))
        return []
    read_at(piece.address, piece.size)  # "data": its bytes, nothing further
    return []


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
        elif kind == _ATTRIBUTE:
            found += [replace(piece, kind="gcol", address=address, size=16) for address in heap_addresses(body)]
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
