"""A version-2 HDF5 header's indexes, read from its bytes: chunk indexes' B-trees and dense storage's fractal heaps.

h5py lists a chunked dataset's chunks (``DatasetID.chunk_iter``) reading
its chunk index's nodes one after another: over HTTP, a round trip per
node. In files of version-2 object headers (``OHDR``, libver ``latest``:
newer MIES), a dataset chunked along more than one unlimited dimension (the
lab notebook's values) keeps its chunk index in a version-2 B-tree
(``BTHD``, internal nodes ``BTIN``, leaves ``BTLF``). ``chunk_index_task``
finds it from the dataset's layout message and reads it as ``walk_rounds``
tasks, a task per node, so that each level of the tree is one wave.
A group whose links, or an object whose attributes, are too many to lie in
its header keeps them densely (a link or attribute info message): in a
fractal heap (``FRHP``: its root direct block ``FHDB``, or an indirect root
``FHIB`` and its direct blocks; the objects' variable-length attributes'
global heap collections after them) with a version-2 B-tree of their names;
``header_task`` reads both, a level per wave, and the headers a group's
links point to.

Formats from the HDF5 file format specification (version 3): the
version-2 object header and its continuation blocks (``OCHK``), the data
layout message versions 4 and 5 (HDF5 2.0 writes 5; its chunked form is 4's), the
version-2 B-tree header and nodes (the sizes
of an internal node's child pointers as ``H5B2__hdr_init`` derives them),
the link info and attribute info messages, and the fractal heap header and
its direct and indirect blocks.
Only a speed-up: on anything else (another index type, a version-1 header,
garbage, sizes not believed) it stops, and h5py reads the rest on demand.
"""

from __future__ import annotations

import struct

from .hdf5_attributes import collection_task, heap_addresses, message_length
from .hdf5_layout import chunk_btree_task
from .walk_rounds import Exact, ReadAt, Task

_LINK_INFO, _LAYOUT, _ATTRIBUTE, _CONTINUATION, _ATTRIBUTE_INFO = 0x02, 0x08, 0x0C, 0x10, 0x15
_CHUNKED, _BTREE2 = 2, 5
_UNDEFINED = 0xFFFFFFFFFFFFFFFF
_PREFIX = 10  # a B-tree node's signature, version, type and checksum
_MAX_NODE = 1 << 16  # a node larger than this is not believed
_MAX_DEPTH = 8


def header_task(read_at: ReadAt, address: int, seen: set[tuple[object, ...]] | None = None) -> Task:
    """A task reading the version-2 header at ``address`` and the indexes it points to, a task per structure.

    Its continuation blocks; its chunk index's nodes (a version-2 B-tree, or
    a version-1 one: ``hdf5_layout.chunk_btree_task``); a group's
    dense links and an object's dense attributes (each a fractal heap and a
    version-2 B-tree of names), and the headers those links point to.
    ``seen``: headers already given to a task (by this walk's other tasks): read once.
    """
    seen = set() if seen is None else seen
    if ("v2", address) in seen:
        return Exact(lambda: None)
    seen.add(("v2", address))

    def task() -> list[Task]:
        start = read_at(address, 6)
        if start[:4] != b"OHDR" or start[4] != 2:
            return []
        flags = start[5]
        offset = 6 + (16 if flags & 0x20 else 0) + (4 if flags & 0x10 else 0)
        width = 1 << (flags & 0x03)
        size = int.from_bytes(read_at(address + offset, width), "little")
        body = read_at(address + offset + width, min(size, _MAX_NODE))
        return _from_messages(read_at, body, flags & 0x04 != 0, seen)

    return Exact(task)


def _from_messages(
    read_at: ReadAt, body: bytes, ordered: bool, seen: set[tuple[object, ...]], depth: int = 0
) -> list[Task]:
    """The tasks a chunk of messages leads to (see ``header_task``)."""
    found: list[Task] = []
    offset, step = 0, 4 + (2 if ordered else 0)
    while offset + step <= len(body):
        kind, length = body[offset], struct.unpack_from("<H", body, offset + 1)[0]
        message = body[offset + step : offset + step + length]
        offset += step + length
        if kind == _CONTINUATION and len(message) >= 16 and depth < _MAX_DEPTH:
            more, size = struct.unpack_from("<QQ", message)
            found.append(_continuation(read_at, more, min(size, _MAX_NODE), ordered, seen, depth + 1))
        elif kind == _ATTRIBUTE:
            found += [collection_task(read_at, address) for address in heap_addresses(message)]
        elif kind == _LAYOUT and message[:2] == bytes([3, _CHUNKED]) and len(message) >= 11:
            found.append(chunk_btree_task(read_at, struct.unpack_from("<Q", message, 3)[0], message[2], seen))
        elif kind == _LAYOUT:
            tree = _btree_address(message)
            if tree is not None:
                found.append(_tree_header(read_at, tree))
        elif kind in (_LINK_INFO, _ATTRIBUTE_INFO) and len(message) >= 2:
            at = 2 + (message[1] & 1) * (8 if kind == _LINK_INFO else 2)
            if len(message) >= at + 16:
                heap, names = struct.unpack_from("<QQ", message, at)
                found += [_heap_header(read_at, heap, links=kind == _LINK_INFO), _tree_header(read_at, names)]
    return found


def _continuation(
    read_at: ReadAt, address: int, size: int, ordered: bool, seen: set[tuple[object, ...]], depth: int
) -> Task:
    def task() -> list[Task]:
        block = read_at(address, size)
        if block[:4] != b"OCHK":
            return []
        return _from_messages(read_at, block[4:-4], ordered, seen, depth)

    return Exact(task)


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

    return Exact(task)


def _heap_header(read_at: ReadAt, address: int, links: bool) -> Task:
    """A fractal heap (a group's links, an object's attributes): its root block, and an indirect root's direct blocks.

    ``links``: the heap's objects are link messages; the headers they point to are read too.
    """

    def task() -> list[Task]:
        header = read_at(address, 146)
        if len(header) < 146 or header[:4] != b"FRHP" or struct.unpack_from("<H", header, 7)[0]:
            return []  # not a heap, or one with filters
        checksummed = header[9] & 0x02 != 0
        width, start, largest, bits, _, root, rows = struct.unpack_from("<HQQHHQH", header, 110)
        if _UNDEFINED in (root,) or not 0 < start <= largest <= _MAX_NODE or not 0 < width <= 64:
            return []
        heap = _Heap(read_at, width, start, largest, (bits + 7) // 8, checksummed, links)
        return [heap.direct(root, start)] if rows == 0 else [heap.indirect(root, rows)]

    return Exact(task)


class _Heap:
    """A fractal heap's geometry: blocks of ``start`` bytes in the first two rows, doubling each row after."""

    def __init__(self, read_at: ReadAt, width: int, start: int, largest: int, offset_bytes: int, checksummed: bool,
                 links: bool):
        self.read_at = read_at
        self.width = width
        self.start = start
        self.largest = largest
        self.offset_bytes = offset_bytes
        self.checksummed = checksummed
        self.links = links

    def indirect(self, address: int, rows: int) -> Task:
        def task() -> list[Task]:
            direct_rows = min(rows, (self.largest // self.start).bit_length() + 1)
            at = 13 + self.offset_bytes
            block = self.read_at(address, at + rows * self.width * 8 + 4)
            if block[:4] != b"FHIB":
                return []
            children = []
            for row in range(direct_rows):
                size = self.start << max(row - 1, 0)
                for column in range(self.width):
                    (child,) = struct.unpack_from("<Q", block, at + 8 * (row * self.width + column))
                    if child != _UNDEFINED:
                        children.append(self.direct(child, size))
            return children  # rows of indirect blocks (heaps of megabytes) are left to h5py

        return Exact(task)

    def direct(self, address: int, size: int) -> Task:
        def task() -> list[Task]:
            block = self.read_at(address, size)
            if block[:4] != b"FHDB":
                return []
            objects = block[13 + self.offset_bytes + (4 if self.checksummed else 0) :]
            if not self.links:
                return [collection_task(self.read_at, heap) for heap in _attribute_heaps(objects)]
            return [_header_start(self.read_at, target) for target in _hard_links(objects)]

        return Exact(task)


def _hard_links(objects: bytes) -> list[int]:
    """The addresses hard links point to, from link messages packed one after another (stops at anything else)."""
    found, at = [], 0
    while at + 2 <= len(objects) and objects[at] == 1:
        flags = objects[at + 1]
        at += 2
        kind = 0
        if flags & 0x08:
            kind = objects[at]
            at += 1
        at += (8 if flags & 0x04 else 0) + (1 if flags & 0x10 else 0)
        width = 1 << (flags & 0x03)
        length = int.from_bytes(objects[at : at + width], "little")
        at += width + length
        if kind == 0:
            found.append(struct.unpack_from("<Q", objects, at)[0]) if at + 8 <= len(objects) else None
            at += 8
        else:
            at += 2 + int.from_bytes(objects[at : at + 2], "little")
    return found


def _attribute_heaps(objects: bytes) -> set[int]:
    """The global heap collections of the variable-length attributes among messages packed one after another."""
    found, at = set(), 0
    while (length := message_length(objects[at:])) is not None and at + length <= len(objects):
        found |= heap_addresses(objects[at : at + length])
        at += length
    return found


def _header_start(read_at: ReadAt, address: int) -> Task:
    """A task reading the start of a header (so that it is fetched in this wave)."""

    def task() -> None:
        read_at(address, 512)

    return Exact(task)


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

        return Exact(task)


def _bytes_for(count: int) -> int:
    """HDF5's ``H5VM_limit_enc_size``: the bytes that hold numbers up to ``count`` (floor(log2) / 8 + 1)."""
    return (max(count, 1).bit_length() - 1) // 8 + 1
