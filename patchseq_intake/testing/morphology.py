"""Synthetic reconstructions whose truth is known: SWC files in two layouts and Vaa3D marker files.

``synthetic_neuron(specimen_id, seed=...)`` grows one neuron from a random
generator seeded by the cell's id and ``seed`` (the same arguments give the
same neuron, in every process): a soma (SWC type 1, one sample, parent -1),
3-5 basal dendrites (3), an apical dendrite (4) and an axon (2), each a
branching tree of bifurcations, in micrometres. Its ``SyntheticNeuron`` says
what a reader must find: the samples as written (``points``), the header's
comments, the soma's position, and per neurite type the total length, branch
points, tips and sections as morphology libraries count them (NeuroM and
morphio: a neurite starts at its first sample, so the link from the soma is
no part of its length; a section runs from a neurite's start or a branch
point to the next branch point or tip).

Two kinds of coordinates, as the release's two SWC files of a cell:

- ``transformed``: upright, the soma at x=0, z=0 and y = -``depth_um`` (a
  depth drawn from the seed, 250-900 µm), the apical dendrite towards +y.
  That the pia is at y=0 and y grows towards it follows one of the Allen's
  own transformed files (neuron_morphology's test file ``..._m_pia.swc``); the
  release's convention is not known to us: an assumption;
- ``raw``: the same samples in slice coordinates: rotated (about z, and
  tilted about x) and offset; the topology, lengths and counts are the same
  (lengths up to the files' 4-decimal rounding, which the truth includes).

``swc_bytes`` writes a neuron in one of two ``layout``s: ``"allen"`` (as the
Allen's files are: space-separated, ``%.4f``, three ``#`` header lines, ids
1..n with parents first) and ``"other"`` (tab-separated, CRLF line ends, ids
from 100 in no order, children before their parents, scientific notation,
comments between samples, blank lines), so readers are tested on more than
one layout. ``dendrite_only=True`` leaves the axon out (the release's
dendrite-only reconstructions); the dendrites are the same samples.

``marker_bytes`` writes the neuron's Vaa3D marker file as Vaa3D writes one
(``%5.3f, %5.3f, %5.3f, %d, %d, %s, %s, %d,%d,%d``), in raw coordinates plus
one voxel (``ONE_VOXEL_UM``: the offset Allen's neuron_morphology subtracts):
a soma marker (code 30) and cut dendrites (10) at dendrite tips, an end of
the reconstructed axon (20) at an axon tip.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from ..morphology.markers import MARKER_TYPES, ONE_VOXEL_UM

SOMA, AXON, BASAL, APICAL = 1, 2, 3, 4
NEURITE_TYPES = (AXON, BASAL, APICAL)
KINDS = ("transformed", "raw")
LAYOUTS = ("allen", "other")

_DECIMALS = 4
_MARKER_DECIMALS = 3
_OTHER_FIRST_ID = 100


@dataclass(frozen=True)
class _Arbor:
    """How one neurite grows: its type, start direction (transformed space), step (µm), deepest branching level."""

    type: int
    direction: tuple[float, float, float]
    step_um: float
    max_level: int
    radius_um: float


@dataclass(frozen=True)
class SyntheticNeuron:
    """One synthetic neuron: samples in file order of the ``allen`` layout (index 0 the soma).

    ``types``, ``parents`` (row index of the parent, -1 for the soma),
    ``radius`` (µm), ``transformed`` and ``raw`` (n x 3, µm, rounded as the
    files write them); ``depth_um``: the soma's depth below the pia (y=0).
    """

    specimen_id: int
    seed: int
    dendrite_only: bool
    depth_um: float
    types: np.ndarray
    parents: np.ndarray
    radius: np.ndarray
    transformed: np.ndarray
    raw: np.ndarray

    @property
    def n_points(self) -> int:
        """Samples in the file."""
        return len(self.types)

    def xyz(self, kind: str = "transformed") -> np.ndarray:
        """The samples' coordinates (µm, n x 3) in ``kind``'s space."""
        if kind not in KINDS:
            raise ValueError(f"kind={kind!r}: give one of {', '.join(KINDS)}")
        return self.transformed if kind == "transformed" else self.raw

    def soma(self, kind: str = "transformed") -> tuple[float, float, float]:
        """The soma's x, y, z (µm)."""
        return tuple(float(v) for v in self.xyz(kind)[0])

    @cached_property
    def _children(self) -> np.ndarray:
        return np.bincount(self.parents[1:], minlength=self.n_points)

    def length_um(self, kind: str = "transformed") -> dict[int, float]:
        """Total length per neurite type (µm): the segments between samples of a neurite, not the link to the soma."""
        xyz = self.xyz(kind)
        inner = np.flatnonzero(self.parents > 0)
        lengths = np.linalg.norm(xyz[inner] - xyz[self.parents[inner]], axis=1)
        return {t: float(lengths[self.types[inner] == t].sum()) for t in self.neurite_types}

    @property
    def neurite_types(self) -> tuple[int, ...]:
        """The SWC types of its neurites (no axon when dendrite-only)."""
        return tuple(t for t in NEURITE_TYPES if (self.types == t).any())

    def branch_points(self) -> dict[int, int]:
        """Samples with two or more children, per neurite type."""
        return self._count(self._children >= 2)

    def tips(self) -> dict[int, int]:
        """Samples without a child, per neurite type."""
        return self._count(self._children == 0)

    def sections(self) -> dict[int, int]:
        """Unbranched sections per neurite type: samples whose parent is the soma or a branch point start one."""
        parents = self.parents.clip(min=0)
        starts = (self.parents >= 0) & ((parents == 0) | (self._children[parents] >= 2))
        return self._count(starts)

    def _count(self, mask: np.ndarray) -> dict[int, int]:
        return {t: int((mask & (self.types == t)).sum()) for t in self.neurite_types}

    def tip_rows(self, types: tuple[int, ...]) -> np.ndarray:
        """Row indexes of the tips of neurites of ``types``, in file order."""
        return np.flatnonzero((self._children == 0) & np.isin(self.types, types))

    def _ids_and_order(self, layout: str) -> tuple[np.ndarray, np.ndarray]:
        """Each row's id, and the rows in the order the layout writes them."""
        if layout not in LAYOUTS:
            raise ValueError(f"layout={layout!r}: give one of {', '.join(LAYOUTS)}")
        if layout == "allen":
            return np.arange(1, self.n_points + 1), np.arange(self.n_points)
        rng = np.random.default_rng([self.specimen_id, self.seed, 1])
        return _OTHER_FIRST_ID + rng.permutation(self.n_points), np.arange(self.n_points)[::-1]

    def points(self, kind: str = "transformed", layout: str = "allen") -> pd.DataFrame:
        """The samples as the file of ``kind`` and ``layout`` holds them, in its order: what ``read_swc`` must give."""
        ids, order = self._ids_and_order(layout)
        xyz = self.xyz(kind)[order]
        parent_ids = np.where(self.parents >= 0, ids[self.parents.clip(min=0)], -1)
        return pd.DataFrame({
            "id": ids[order].astype(np.int64),
            "type": self.types[order].astype(np.int64),
            "x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2],
            "radius": self.radius[order],
            "parent": parent_ids[order].astype(np.int64),
        })

    def comments(self, kind: str = "transformed", layout: str = "allen") -> tuple[str, ...]:
        """The header's comment lines, the text after ``#`` as written."""
        what = f"synthetic {kind} reconstruction of specimen {self.specimen_id} (seed {self.seed}), not a real cell"
        if layout == "allen":
            return (" generated by patchseq_intake.testing.morphology", f" {what}", " id,type,x,y,z,r,pid")
        return (f"{what}; other layout", "n\ttype\tx\ty\tz\tradius\tparent")

    def markers(self) -> pd.DataFrame:
        """The marker file's rows as written, with the codes' names: raw coordinates plus one voxel (µm); the soma
        marker at the soma's x, y and z = 0 (the slice's surface, assumed at z = 0), the first two dendrite tips
        (the first commented ``cut``) and the first axon tip in file order."""
        soma = self.raw[0]
        dendrite_tips = self.tip_rows((BASAL, APICAL))[:2]
        axon_tips = self.tip_rows((AXON,))[:1]
        rows = [(soma[0], soma[1], 0.0, 30, "")]
        rows += [(*self.raw[i], 10, "cut" if n == 0 else "") for n, i in enumerate(dendrite_tips)]
        rows += [(*self.raw[i], 20, "") for i in axon_tips]
        table = pd.DataFrame(rows, columns=["x", "y", "z", "name", "comment"])
        for axis, spacing in zip("xyz", ONE_VOXEL_UM):
            table[axis] = (table[axis] + spacing).round(_MARKER_DECIMALS)
        table.insert(3, "radius", 0.0)
        table.insert(4, "shape", np.int64(1))
        table["name"] = table["name"].astype(np.int64)
        table["comment"] = table["comment"].astype("string")
        colors = {10: (255, 0, 0), 20: (0, 0, 255), 30: (0, 255, 0)}
        for n, channel in enumerate(("color_r", "color_g", "color_b")):
            table[channel] = np.array([colors[code][n] for code in table["name"]], dtype=np.int64)
        table["marker_type"] = table["name"].map(MARKER_TYPES).astype("string")
        return table


def synthetic_neuron(specimen_id: int, *, seed: int = 0, dendrite_only: bool = False) -> SyntheticNeuron:
    """The neuron ``swc_bytes`` writes for ``specimen_id`` and ``seed``; ``dendrite_only``: without its axon."""
    rng = np.random.default_rng([specimen_id, seed])
    depth = round(float(rng.uniform(250.0, 900.0)), 1)
    soma_radius = round(float(rng.uniform(5.0, 9.0)), _DECIMALS)
    arbors = [_Arbor(APICAL, (0.0, 1.0, 0.0), 6.0, 4, 1.5)]
    for _ in range(int(rng.integers(3, 6))):
        angle = rng.uniform(0.0, 2 * np.pi)
        arbors.append(_Arbor(BASAL, (np.cos(angle), min(np.sin(angle), 0.3), rng.normal(0, 0.3)), 4.0, 3, 1.0))
    arbors.append(_Arbor(AXON, (0.0, -1.0, 0.0), 6.0, 6, 0.3))
    types, parents, radius, xyz = [SOMA], [-1], [soma_radius], [np.array([0.0, -depth, 0.0])]
    for arbor in arbors:
        direction = _unit(np.asarray(arbor.direction))
        _grow(rng, arbor, (types, parents, radius, xyz), 0, xyz[0] + soma_radius * direction, direction, 0)
    keep = np.array([not (dendrite_only and t == AXON) for t in types])
    transformed = np.round(np.array(xyz), _DECIMALS)
    raw = np.round(_to_slice(transformed, rng), _DECIMALS)
    renumber = np.cumsum(keep) - 1
    parents_kept = np.array(parents)[keep]
    return SyntheticNeuron(
        specimen_id=specimen_id, seed=seed, dendrite_only=dendrite_only, depth_um=depth,
        types=np.array(types, dtype=np.int64)[keep],
        parents=np.where(parents_kept >= 0, renumber[parents_kept.clip(min=0)], -1).astype(np.int64),
        radius=np.round(np.array(radius), _DECIMALS)[keep],
        transformed=transformed[keep], raw=raw[keep],
    )


def _grow(rng: np.random.Generator, arbor: _Arbor, samples: tuple[list, list, list, list], parent: int,
          start: np.ndarray, direction: np.ndarray, level: int) -> None:
    """One section from ``start`` (a neurite's first sample) or from after ``parent``, then two children or a tip."""
    types, parents, radius, xyz = samples
    position = start
    for n in range(int(rng.integers(4, 9))):
        if n or level:
            direction = _unit(direction + rng.normal(0.0, 0.15, 3))
            position = position + arbor.step_um * rng.uniform(0.5, 1.5) * direction
        types.append(arbor.type)
        parents.append(parent)
        radius.append(arbor.radius_um * 0.8**level)
        xyz.append(position)
        parent = len(types) - 1
    if level < arbor.max_level and (level < 2 or rng.random() < 0.7):
        across = _unit(np.cross(direction, rng.normal(0.0, 1.0, 3)))
        for sign in (-1.0, 1.0):
            _grow(rng, arbor, samples, parent, position, _unit(direction + sign * 0.7 * across), level + 1)


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def _to_slice(xyz: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Transformed coordinates into slice coordinates: turned about z, tilted about x, moved into the slice."""
    turn, tilt = rng.uniform(0.0, 2 * np.pi), rng.uniform(-0.2, 0.2)
    about_z = np.array([[np.cos(turn), -np.sin(turn), 0.0], [np.sin(turn), np.cos(turn), 0.0], [0.0, 0.0, 1.0]])
    about_x = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(tilt), -np.sin(tilt)], [0.0, np.sin(tilt), np.cos(tilt)]])
    offset = np.array([rng.uniform(2000.0, 6000.0), rng.uniform(1000.0, 4000.0), rng.uniform(60.0, 120.0)])
    return xyz @ (about_z @ about_x).T + offset


def swc_bytes(specimen_id: int, kind: str = "transformed", *, seed: int = 0, dendrite_only: bool = False,
              layout: str = "allen") -> bytes:
    """The SWC file of ``synthetic_neuron(specimen_id, seed=seed, dendrite_only=dendrite_only)`` in ``kind``'s
    coordinates (``transformed`` or ``raw``) and ``layout`` (``allen`` or ``other``)."""
    neuron = synthetic_neuron(specimen_id, seed=seed, dendrite_only=dendrite_only)
    points = neuron.points(kind, layout)
    header = [f"#{comment}" for comment in neuron.comments(kind, layout)]
    if layout == "allen":
        lines = [f"{p.id} {p.type} {p.x:.4f} {p.y:.4f} {p.z:.4f} {p.radius:.4f} {p.parent}"
                 for p in points.itertuples(index=False)]
        return "\n".join([*header, *lines, ""]).encode()
    lines = [f"{p.id}\t{p.type}\t{p.x:.10e}\t{p.y:.10e}\t{p.z:.10e}\t{p.radius:.10e}\t{p.parent}"
             for p in points.itertuples(index=False)]
    middle = len(lines) // 2
    body = [*lines[:middle], "# a comment between samples", "", *lines[middle:]]
    return "\r\n".join([*header, "", *body, ""]).encode()


def marker_bytes(specimen_id: int, seed: int = 0) -> bytes:
    """The Vaa3D marker file of ``synthetic_neuron(specimen_id, seed=seed)`` (see ``SyntheticNeuron.markers``)."""
    rows = synthetic_neuron(specimen_id, seed=seed).markers()
    lines = ["##x,y,z,radius,shape,name,comment, color_r,color_g,color_b"]
    lines += [f"{m.x:5.3f}, {m.y:5.3f}, {m.z:5.3f}, {int(m.radius)}, {m.shape}, {m.name}, {m.comment}, "
              f"{m.color_r},{m.color_g},{m.color_b}" for m in rows.itertuples(index=False)]
    return "\n".join([*lines, ""]).encode()
