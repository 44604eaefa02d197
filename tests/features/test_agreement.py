"""The package's features of a cell are IPFX's own, on every layout the release's files come in.

For each writer and layout (those ``tests/nwb/test_ipfx_agreement.py``
shows the package reads as IPFX does, the human files' older stimulus
codes, and a file written by pynwb), the driver's row of a cell, in
download and in stream mode, equals what IPFX computes on its own from the
same file (``ipfx_reference``: IPFX's reader, its sweep choice, its
``extract_features``), feature by feature; and its per-sweep and per-spike
tables equal IPFX's ``preprocess_*_sweeps`` tables.

The named differences: IPFX's reader refuses a file holding an I=0 sweep (no
stimulus series), and a file whose ``generated_by`` names MIES but which has
no lab notebook (pynwb's, as ``testing.nwb`` writes it); the package gives
those files' features, and they are IPFX's own on the same recording without
the I=0 sweep, or without the ``generated_by`` that sends IPFX to its MIES reader.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from patchseq_intake.testing.mies import MiesLayout

from .compare import assert_same_table, feature_differences
from .conftest import PLANS, SMALL, SMALL_PROTOCOL, Recipe, protocol
from .ipfx_reference import KINDS

PARAMETERS = {"amp_interval": 30, "max_above_rheo": 150}
"""The supra-threshold long squares are rheobase + 30 pA (and, in the default protocol, + 90 and + 150): each gets
its amplitude features (IPFX's default 20 pA windows give rheobase's only)."""
LAYOUTS = {
    541549258: Recipe(protocol(legacy_codes=True, n_subthreshold=3, n_short_square=2)),  # human: C1LSCOARSE, C1SSCOARSE
    569835804: Recipe(SMALL_PROTOCOL, layout=None, says_mies=False),  # written by pynwb, not naming MIES
    601506507: Recipe(),  # 2020 MIES
    601790961: Recipe(SMALL_PROTOCOL, MiesLayout(newer_mies=True, rolled_back_sweep=5)),
    601803754: Recipe(SMALL_PROTOCOL, MiesLayout(missing_notebook_keys=("Set Sweep Count", "Scale Factor"),
                                                 numeric_keys=128)),
    601808698: Recipe(SMALL_PROTOCOL, MiesLayout(holding=False, bridge_balance=False)),
    623434306: Recipe(SMALL_PROTOCOL, MiesLayout(ttl=True, sweep_numbers_in_first_layer_only=True)),
}
"""The default protocol on the release's layout, three supra-threshold steps with the human codes, the smaller
protocol on the other variants."""
IZERO_CELL = 627867607


STREAMED = (541549258, 569835804, 601790961)
"""Stream mode on one of each writer and code family (it reads the same sweeps: ``tests/drivers/test_ephys.py``)."""


@pytest.fixture(params=["download", "stream"])
def access(request) -> str:
    if request.param == "stream":
        request.getfixturevalue("streamed")  # even these small files are streamed
    return request.param


def test_every_feature_of_every_layout_is_ipfxs_own(cat, serve_cells, ipfx_itself, access, cache_dir):
    cells = list(LAYOUTS) if access == "download" else list(STREAMED)
    world = serve_cells({cell: LAYOUTS[cell] for cell in cells})
    rows = []
    for archive in ("human", "mouse"):
        chosen = [cell for cell in cells if PLANS[cell].archive == archive]
        table = cat[archive].features(specimen_id=chosen, access=access, scheduler="sync", **PARAMETERS).read()
        assert list(table["cell_specimen_id"]) == chosen
        rows += [row for _, row in table.iterrows()]
    columns = [c for c in rows[0].index if c not in ("cell_specimen_id", "error")]
    for row in rows:
        cell = int(row["cell_specimen_id"])
        theirs = ipfx_itself(world.written[cell].path)
        assert theirs.refused is None and isinstance(theirs.together(**PARAMETERS), dict), theirs.refused
        assert pd.isna(row["error"]), row["error"]
        assert feature_differences(row, theirs.together(**PARAMETERS), columns) == [], cell
        assert not pd.isna(row["ap_1_width_1_long_square"]) and not pd.isna(row["ap_1_width_short_square"])
    blobs = world.replica.requests("blob")
    if access == "stream":  # ranges of the MIES files; pynwb's (contiguous, little but sweeps) whole
        assert sum(entry.body_bytes for entry in blobs) < sum(world.written[cell].size for cell in cells)
        assert [entry.range for entry in blobs].count(None) == 1
    else:  # IPFX read the very bytes the package downloaded
        assert sorted(entry.body_bytes for entry in blobs) == sorted(world.written[cell].size for cell in cells)
        for cell in cells:
            written = world.written[cell]
            assert (cache_dir / "nwb" / f"{written.sha256}.nwb").read_bytes() == written.path.read_bytes()


def test_each_stimulus_types_features_are_ipfxs_extract_features_of_that_type_alone(cat, serve_cells, ipfx_itself):
    """The package runs ``extract_features`` per type: the same values as IPFX's one call over all types."""
    world = serve_cells({601506507: LAYOUTS[601506507]})
    row = cat.mouse.features(specimen_id=601506507, **PARAMETERS).read().iloc[0]
    theirs = ipfx_itself(world.written[601506507].path)
    merged = {name: value for kind in KINDS for name, value in theirs.alone(kind, **PARAMETERS).items()}
    assert merged.keys() == theirs.together(**PARAMETERS).keys()
    assert feature_differences(row, merged, list(merged)) == []


def test_default_parameters_agree_too(cat, serve_cells, ipfx_itself):
    world = serve_cells({569835804: LAYOUTS[569835804]})
    table = cat.human.features(specimen_id=569835804).read()
    theirs = ipfx_itself(world.written[569835804].path)
    columns = [c for c in table.columns if c not in ("cell_specimen_id", "error")]
    assert feature_differences(table.iloc[0], theirs.together(), columns) == []
    assert "stimulus_amplitude_0_long_square" in columns and "stimulus_amplitude_6_long_square" not in columns


@pytest.mark.parametrize("table", ["spike_features", "sweep_features"])
def test_spike_and_sweep_tables_are_ipfxs_own(cat, serve_cells, ipfx_itself, access, table):
    world = serve_cells({cell: LAYOUTS[cell] for cell in (541549258, 601790961)})
    for archive, cell in (("human", 541549258), ("mouse", 601790961)):
        ours = getattr(cat[archive].features(specimen_id=cell, access=access), table)()
        theirs = ipfx_itself(world.written[cell].path)
        assert set(ours["cell_specimen_id"]) == {cell} and ours["error"].isna().all()
        assert list(ours.columns[:3]) == ["cell_specimen_id", "stimulus", "sweep_number"]
        found = theirs.spikes() if table == "spike_features" else theirs.sweeps()
        assert set(ours["stimulus"]) == set(found) == set(KINDS)
        for kind, their in found.items():
            assert_same_table(ours[ours["stimulus"] == kind], their)


def test_a_file_ipfx_refuses_for_its_i_equals_zero_sweep_still_has_ipfxs_features(cat, serve_cells, ipfx_itself,
                                                                                  written_files):
    with_izero = Recipe(protocol(izero=True, n_subthreshold=3, n_suprathreshold=1, n_short_square=2))
    world = serve_cells({IZERO_CELL: with_izero})
    refused = ipfx_itself(world.written[IZERO_CELL].path)
    assert "Could not find any stimulus PatchClampSeries" in refused.refused  # IPFX's reader gives up on the file
    row = cat.mouse.features(specimen_id=IZERO_CELL, **PARAMETERS).read().iloc[0]
    assert pd.isna(row["error"])
    # The same recording (each sweep's samples are seeded by its number) without the I=0 sweep: IPFX reads it.
    without = written_files(IZERO_CELL, SMALL)
    assert without.sweeps == world.written[IZERO_CELL].sweeps[:-1]
    theirs = ipfx_itself(without.path)
    columns = [c for c in row.index if c not in ("cell_specimen_id", "error")]
    assert feature_differences(row, theirs.together(**PARAMETERS), columns) == []


def test_a_file_naming_mies_without_a_lab_notebook_which_ipfx_refuses_still_has_ipfxs_features(cat, serve_cells,
                                                                                              ipfx_itself):
    world = serve_cells({569835804: replace(LAYOUTS[569835804], says_mies=True)})
    refused = ipfx_itself(world.written[569835804].path)
    assert "'labnotebook' doesn't exist" in refused.refused  # IPFX's MIES reader wants MIES' lab notebook
    row = cat.human.features(specimen_id=569835804).read().iloc[0]
    assert pd.isna(row["error"])
    theirs = ipfx_itself(serve_cells({569835804: LAYOUTS[569835804]}).written[569835804].path)
    columns = [c for c in row.index if c not in ("cell_specimen_id", "error")]
    assert feature_differences(row, theirs.together(), columns) == []
