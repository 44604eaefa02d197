"""A version-2 HDF5 header's chunk index, read from its bytes: every node of a version-2 B-tree at once.

h5py lists a chunked dataset's chunks (``DatasetID.chunk_iter``) reading
its chunk index's nodes one after another: over HTTP, a round trip per
node. In files of version-2 object headers (``OHDR``, libver ``latest``:
newer MIES), a dataset chunked along more than one unlimited dimension (the
lab notebook's values) keeps its chunk index in a version-2 B-tree
(``BTHD``, internal nodes ``BTIN``, leaves ``BTLF``). ``chunk_index_task``
finds it from the dataset's layout message and reads it as ``walk_rounds``
tasks, a task per node, so that each level of the tree is one wave.

Formats from the HDF5 file format specification (version 3): the
version-2 object header and its continuation blocks (``OCHK``), the data
layout message versions 4 and 5 (HDF5 2.0 writes 5; its chunked form is 4's), the
version-2 B-tree header and nodes (the sizes
of an internal node's child pointers as ``H5B2__hdr_init`` derives them).
Only a speed-up: on anything else (another index type, a version-1 header,
garbage, sizes not believed) it stops, and h5py reads the rest on demand.
"""

from __future__ import annotations

import struct

from .hdf5_layout import ReadAt
from .walk_rounds import Task

_LAYOUT, _CONTINUATION = 0x08, 0x10
_CHUNKED, _BTREE2 = 2, 5
_PREFIX = 10  # a B-tree node's signature, version, type and checksum
_MAX_NODE = 1 << 16  # a node larger than this is not believed
_MAX_DEPTH = 8
_HEADER_GUESS = 1024


def chunk_index_task(read_at: ReadAt, address: int) -> Task:
    """A task reading the version-2 header at ``address``; if its chunk index is a version-2 B-tree, its nodes."""

    def task() -> list[Task]:
        start = read_at(address, 6)
        if start[:4] != b"OHDR" or start[4] != 2:
            return []
        flags = start[5]
        offset = 6 + (16 if flags & 0x20 else 0) + (4 if flags & 0x10 else 0)
        width = 1 << (flags & 0x03)
        size = int.from_bytes(read_at(address + offset, width), "little")
        body = read_at(address + offset + width, min(size, _MAX_NODE))
        return _from_messages(read_at, body, ordered=flags & 0x04 != 0)

    return task


def _from_messages(read_at: ReadAt, body: bytes, ordered: bool = False, depth: int = 0) -> list[Task]:
    """The tasks a chunk of messages leads to: its continuation blocks, and a version-2 B-tree chunk index."""
    found: list[Task] = []
    offset, step = 0, 4 + (2 if ordered else 0)
    while offset + step <= len(body):
        kind, length = body[offset], struct.unpack_from("<H", body, offset + 1)[0]
        message = body[offset + step : offset + step + length]
        offset += step + length
        if kind == _CONTINUATION and len(message) >= 16 and depth < _MAX_DEPTH:
            more, size = struct.unpack_from("<QQ", message)
            found.append(_continuation(read_at, more, min(size, _MAX_NODE), ordered, depth + 1))
        elif kind == _LAYOUT:
            tree = _btree_address(message)
            if tree is not None:
                found.append(_tree_header(read_at, tree))
    return found


def _continuation(read_at: ReadAt, address: int, size: int, ordered: bool, depth: int) -> Task:
    def task() -> list[Task]:
        block = read_at(address, size)
        if block[:4] != b"OCHK":
            return []
        return _from_messages(read_at, block[4:-4], ordered, depth)

    return task


def _btree_address(layout: bytes) -> int | None:
    """A version-4 (or 5: HDF5 2.0) chunked layout's version-2 B-tree address; None for any other layout or index."""
    if len(layout) < 5 or layout[0] not in (4, 5) or layout[1] != _CHUNKED:
        return None
    dims, width = layout[3], layout[4]
    at = 5 + dims * width
    if len(layout) < at + 1 + 6 + 8 or layout[at] != _BTREE2:
        return None
    return struct.unpack_from("<Q", layout, at + 7)[0]


def _tree_header(read_at: ReadAt, address: int) -> Task:
    def task() -> list[Task]:
        header = read_at(address, 38)
        if len(header) < 38 or header[:4] != b"BTHD":
            return []
        node_size, record_size, depth = struct.unpack_from("<IHH", header, 6)
        root, records = struct.unpack_from("<QH", header, 16)
        if not 0 < node_size <= _MAX_NODE or record_size == 0 or depth > _MAX_DEPTH:
            return []
        tree = _Tree(node_size, record_size, depth)
        return [tree.node(read_at, root, depth, records)]

    return task


class _Tree:
    """A version-2 B-tree's node sizes, and the byte sizes of its internal nodes' child pointers at each level."""

    def __init__(self, node_size: int, record_size: int, depth: int):
        self.node_size = node_size
        self.record_size = record_size
        leaf = (node_size - _PREFIX) // record_size
        self.count_bytes = _bytes_for(leaf)
        self.total_bytes = [self.count_bytes]  # per level: bytes of a "records below" field
        cumulative = leaf
        self.pointer = [0]
        for level in range(1, depth + 1):
            pointer = 8 + self.count_bytes + (self.total_bytes[level - 1] if level > 1 else 0)
            most = (node_size - _PREFIX - pointer) // (record_size + pointer)
            cumulative = (most + 1) * cumulative + most
            self.pointer.append(pointer)
            self.total_bytes.append(_bytes_for(cumulative))

    def node(self, read_at: ReadAt, address: int, level: int, records: int) -> Task:
        def task() -> list[Task]:
            node = read_at(address, self.node_size)
            if level == 0 or node[:4] != b"BTIN":
                return []
            pointer, children = self.pointer[level], []
            at = 6 + records * self.record_size
            for _ in range(records + 1):
                if at + pointer > len(node):
                    break
                child = struct.unpack_from("<Q", node, at)[0]
                count = int.from_bytes(node[at + 8 : at + 8 + self.count_bytes], "little")
                children.append(self.node(read_at, child, level - 1, count))
                at += pointer
            return children

        return task


def _bytes_for(count: int) -> int:
    """HDF5's ``H5VM_limit_enc_size``: the bytes that hold numbers up to ``count`` (floor(log2) / 8 + 1)."""
    return (max(count, 1).bit_length() - 1) // 8 + 1
