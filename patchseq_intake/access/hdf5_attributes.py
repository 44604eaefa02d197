"""Where an HDF5 attribute's variable-length values lie: the global heap collections its message points to.

An attribute of variable-length type (h5py's ``str`` attributes, as the
2020 MIES wrote ``neurodata_type``, ``stimulus_description``, its wave
notes) keeps in its header only, per element, a reference into a global
heap collection (``GCOL``) elsewhere in the file: reading the value is one
more round trip after the header. ``heap_addresses`` reads those references
from an attribute message's bytes, so that the walk (``hdf5_layout``,
``hdf5_v2``) fetches the collections in the wave after the header, with no
h5py call. ``collection_task`` reads one collection whole (its size is in
its first bytes).

Formats from the HDF5 file format specification (version 3): the attribute
message versions 1 to 3, the datatype message's class and size, the
dataspace message versions 1 and 2, the global heap collection. Only a
speed-up: on anything else (a shared or committed datatype, sizes not
believed) it finds nothing, and h5py reads the value on demand.
"""

from __future__ import annotations

import struct

from .walk_rounds import Exact, ReadAt, Task

_VARIABLE_LENGTH = 9
_ELEMENT = 16  # a variable-length element: its length (4), the collection's address (8), the object's index (4)
_MAX_ELEMENTS = 4096
_MAX_COLLECTION = 1 << 20
_UNDEFINED = 0xFFFFFFFFFFFFFFFF


def heap_addresses(message: bytes) -> set[int]:
    """The global heap collections a variable-length attribute's values lie in (none for any other attribute)."""
    if len(message) < 8 or message[0] not in (1, 2, 3):
        return set()
    version, flags = message[0], message[1]
    if flags & 0x03:
        return set()  # a shared datatype or dataspace: described elsewhere
    names, types, spaces = struct.unpack_from("<HHH", message, 2)
    padded = (lambda size: (size + 7) & ~7) if version == 1 else (lambda size: size)
    at = 8 + (1 if version == 3 else 0)
    kind_at = at + padded(names)
    space_at = kind_at + padded(types)
    data_at = space_at + padded(spaces)
    if data_at > len(message) or message[kind_at] & 0x0F != _VARIABLE_LENGTH:
        return set()
    count = _elements(message[space_at : space_at + spaces])
    found = set()
    for element in range(min(count, _MAX_ELEMENTS)):
        offset = data_at + element * _ELEMENT + 4
        if offset + 8 > len(message):
            break
        (address,) = struct.unpack_from("<Q", message, offset)
        if address not in (0, _UNDEFINED):
            found.add(address)
    return found


def message_length(message: bytes) -> int | None:
    """The bytes of an attribute message of version 3 (dense storage packs them one after another); None if not one."""
    if len(message) < 9 or message[0] != 3 or message[1] & 0x03:
        return None
    names, types, spaces = struct.unpack_from("<HHH", message, 2)
    kind_at = 9 + names
    if kind_at + 8 > len(message):
        return None
    (size,) = struct.unpack_from("<I", message, kind_at + 4)
    count = _elements(message[kind_at + types : kind_at + types + spaces])
    return kind_at + types + spaces + count * size


def _elements(space: bytes) -> int:
    """The number of elements a dataspace message describes (a scalar: 1; a null space: 0)."""
    if len(space) < 4 or space[0] not in (1, 2):
        return 0
    rank = space[1]
    if space[0] == 2 and space[3] == 2:
        return 0  # null
    at = 8 if space[0] == 1 else 4
    count = 1
    for dimension in range(rank):
        if at + 8 * (dimension + 1) > len(space):
            return 0
        count *= struct.unpack_from("<Q", space, at + 8 * dimension)[0]
    return count


def collection_task(read_at: ReadAt, address: int) -> Task:
    """A task reading a global heap collection whole."""

    def task() -> None:
        head = read_at(address, 16)
        if head[:4] == b"GCOL":
            read_at(address, min(struct.unpack_from("<Q", head, 8)[0], _MAX_COLLECTION))

    return Exact(task)
