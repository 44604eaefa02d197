"""morphio and NeuroM read the synthetic files as planted; what they refuse is named; without them, how to install.

Tolerances: morphio keeps points as float32, so lengths agree with the
planted ones (float64, from the files' 4-decimal values) to a relative 1e-5
and positions to 1e-3 µm (float32 at 6000 µm: 0.5 nm).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from patchseq_intake.errors import ReleaseFileFormatError
from patchseq_intake.morphology.libraries import INSTALL, load_morphio, load_neurom
from patchseq_intake.morphology.swc import read_swc
from patchseq_intake.testing.morphology import APICAL, AXON, BASAL, KINDS, LAYOUTS, swc_bytes, synthetic_neuron

morphio = pytest.importorskip("morphio")
neurom = pytest.importorskip("neurom")

CELL = 623434306
NEUROM_TYPES = {AXON: neurom.AXON, BASAL: neurom.BASAL_DENDRITE, APICAL: neurom.APICAL_DENDRITE}


def _written(tmp_path: Path, data: bytes, name: str = "cell.swc") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("dendrite_only", [False, True])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("kind", KINDS)
def test_neurom_measures_the_planted_lengths_and_sections(tmp_path, kind, layout, dendrite_only):
    neuron = synthetic_neuron(CELL, seed=1, dendrite_only=dendrite_only)
    path = _written(tmp_path, swc_bytes(CELL, kind, seed=1, dendrite_only=dendrite_only, layout=layout))
    cell = load_neurom(path)
    lengths, sections = neuron.length_um(kind), neuron.sections()
    assert set(lengths) == ({3, 4} if dendrite_only else {2, 3, 4})
    for code, kind_of in NEUROM_TYPES.items():
        length = neurom.features.get("total_length", cell, neurite_type=kind_of)
        count = neurom.features.get("number_of_sections", cell, neurite_type=kind_of)
        assert length == pytest.approx(lengths.get(code, 0.0), rel=1e-5)
        assert count == sections.get(code, 0)
    assert len(cell.neurites) == int((neuron.parents == 0).sum())
    assert neurom.features.get("number_of_bifurcations", cell) == sum(neuron.branch_points().values())
    assert neurom.features.get("number_of_leaves", cell) == sum(neuron.tips().values())


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("kind", KINDS)
def test_morphio_holds_the_reader_s_points(tmp_path, kind, layout):
    data = swc_bytes(CELL, kind, layout=layout)
    cell = load_morphio(_written(tmp_path, data))
    ours = read_swc(data, "cell.swc").points[["x", "y", "z"]].to_numpy()
    theirs = np.unique(np.vstack([cell.soma.points, cell.points]).astype(np.float64), axis=0)  # branch points twice
    assert cell.soma.type == morphio.SomaType.SOMA_SINGLE_POINT
    assert len(theirs) == len(ours)
    nearest = np.abs(ours[:, None, :] - theirs[None, :, :]).max(axis=2).min(axis=1)
    assert nearest.max() < 1e-3
    assert np.allclose(cell.soma.points[0], synthetic_neuron(CELL).soma(kind), atol=1e-3)


def test_what_morphio_refuses_is_named_with_the_file_and_its_reason(tmp_path):
    path = _written(tmp_path, b"1 1 0 0 0 5 -1\n2 3 5 0 0 1 1\n3 1 100 0 0 5 -1\n4 3 105 0 0 1 3\n")
    for load in (load_morphio, load_neurom):
        with pytest.raises(ReleaseFileFormatError) as raised:
            load(path)
        message = str(raised.value)
        assert message.startswith(f"{path}: morphio cannot read it: Multiple somata found")
        assert "\x1b" not in message and "\n" not in message


def test_an_axon_on_a_dendrite_is_refused_with_the_option_that_reads_it(tmp_path):
    path = _written(tmp_path, b"1 1 0 0 0 5 -1\n2 3 5 0 0 1 1\n3 2 10 0 0 1 2\n4 2 15 0 0 1 3\n")
    with pytest.raises(ReleaseFileFormatError, match="options=morphio.Option.allow_unifurcated_section_change"):
        load_morphio(path)
    cell = load_neurom(path, options=morphio.Option.allow_unifurcated_section_change, process_subtrees=True)
    assert neurom.features.get("total_length", cell, neurite_type=neurom.AXON) == pytest.approx(10.0)


def test_morphio_takes_the_soma_variants_and_custom_types(tmp_path):
    three_point = b"1 1 0 0 0 5 -1\n2 1 0 -5 0 5 1\n3 1 0 5 0 5 1\n4 7 5 0 0 1 1\n5 7 10 0 0 1 4\n"
    cell = load_morphio(_written(tmp_path, three_point))
    assert cell.soma.type == morphio.SomaType.SOMA_NEUROMORPHO_THREE_POINT_CYLINDERS
    assert len(cell.root_sections) == 1 and int(cell.root_sections[0].type) == 7


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.swc: no such file"):
        load_morphio(tmp_path / "absent.swc")


@pytest.mark.parametrize("missing", ["morphio", "neurom"])
def test_without_the_extra_the_error_says_how_to_install_it(tmp_path, monkeypatch, missing):
    path = _written(tmp_path, swc_bytes(CELL))
    monkeypatch.setitem(sys.modules, missing, None)  # import fails as if it were not installed
    load = load_morphio if missing == "morphio" else load_neurom
    with pytest.raises(ImportError) as raised:
        load(path)
    assert str(raised.value) == f"{missing} is not installed: {INSTALL}"
    assert INSTALL.startswith('pip install "patchseq-intake[morphology]"') and 'pip install ".[morphology]"' in INSTALL
