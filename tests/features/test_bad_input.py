"""A cell that cannot be analysed gets its row and says why; the others are computed; only IPFX's verdicts are cached.

No long squares in current clamp; short squares that never fire (IPFX's
``extract_features`` raises, and ``run_feature_collection`` would drop the
whole cell); a file no HDF5 reader opens; a server that keeps failing for
one cell's file. The last two are not the cell's: nothing is cached, and a
later read computes the cell.
"""

from __future__ import annotations

from urllib.parse import urlparse

import pandas as pd
import pytest

from patchseq_intake.access.cell_features import CELL, result_path
from patchseq_intake.errors import FeaturesFailedWarning
from patchseq_intake.testing.physiology import LONG_SQUARE
from patchseq_intake.testing.server import Reply

from .compare import feature_differences
from .conftest import SMALL, Recipe, protocol

GOOD, BAD = 601506507, 601790961
NO_LONG_SQUARES = Recipe(tuple(spec for spec in protocol() if spec.kind != LONG_SQUARE))
SILENT_SHORT_SQUARES = Recipe(protocol(n_short_square=1))  # a single 500 pA, 3 ms step: below the cell's 1197 pA
BROKEN = Recipe(broken=True)


def _read(cat, **kwargs) -> pd.DataFrame:
    table = cat.mouse.features(specimen_id=[BAD, GOOD], scheduler="sync", **kwargs).read()
    assert list(table["cell_specimen_id"]) == [BAD, GOOD]
    good = table.iloc[1]
    assert pd.isna(good["error"]) and good["rheobase_i"] == 180.0 and good["tau"] > 0  # the other cell: computed
    return table.set_index("cell_specimen_id")


def _cached(cat, cell: int) -> bool:
    source = cat.mouse.features(specimen_id=cell)
    path = result_path(source.cells[0], source.access, CELL, source.parameters, 0, None)
    return path is not None and path.exists()


def test_a_cell_without_current_clamp_long_squares_says_so_and_keeps_its_other_features(cat, serve_cells):
    serve_cells({BAD: NO_LONG_SQUARES, GOOD: SMALL})
    row = _read(cat).loc[BAD]
    assert row["error"].startswith("long_square: no current-clamp long square sweeps")
    assert "current-clamp stimulus codes: EXTPBREAKN180424, EXTPSMOKET180424, X6SP_Rheo, X7Ramp" in row["error"]
    assert pd.isna(row["rheobase_i"]) and pd.isna(row["input_resistance"])
    assert not pd.isna(row["ap_1_width_short_square"]) and not pd.isna(row["ap_1_width_ramp"])
    assert _cached(cat, BAD)  # IPFX's verdict on verified bytes: true of them for good


def test_an_ipfx_error_is_named_and_the_other_types_features_are_ipfxs(cat, serve_cells, ipfx_itself):
    world = serve_cells({BAD: SILENT_SHORT_SQUARES, GOOD: SMALL})
    with pytest.warns(FeaturesFailedWarning) as said:
        row = _read(cat).loc[BAD]
    assert [str(w.message) for w in said if w.category is FeaturesFailedWarning] == [
        "1 of the 2 cells: IPFX could not analyse a stimulus type (their other features are there). "
        "The error column says why."
    ]
    theirs = ipfx_itself(world.written[BAD].path)
    message = "FeatureError: No spiking short square sweeps, cannot compute cell features."
    assert theirs.together() == theirs.alone("short_square") == message  # IPFX's one call gives nothing for the cell
    assert row["error"] == f"short_square: {message}"
    kept = {**theirs.alone("long_square"), **theirs.alone("ramp")}
    assert feature_differences(row, kept, list(kept)) == []
    assert pd.isna(row["short_square_current"]) and row["rheobase_i"] == 180.0


def test_a_file_no_hdf5_reader_opens_gives_its_row_an_error_and_is_not_cached(cat, serve_cells):
    serve_cells({BAD: BROKEN, GOOD: SMALL})
    row = _read(cat).loc[BAD]
    assert row["error"].startswith(f"NwbFormatError: cell {BAD} (sub-")
    assert "are not an HDF5 (NWB) file" in row["error"] and row.drop("error").isna().all()
    assert not _cached(cat, BAD)


def test_a_server_failing_one_cells_file_gives_its_row_an_error_not_cached_and_a_later_read_computes_it(
    cat, serve_cells
):
    world = serve_cells({BAD: SMALL, GOOD: SMALL})
    blob = urlparse(world.replica.blob_url(world.assets[BAD])).path
    served = world.server.files.pop(blob)
    world.server.add_route(blob, lambda request: Reply(503, b"Slow Down"))
    row = _read(cat).loc[BAD]
    assert row["error"].startswith("FetchError: could not download sub-") and f"(cell {BAD})" in row["error"]
    assert f"{blob}: gave up after 2 attempts; last problem: HTTP 503" in row["error"]
    assert row.drop("error").isna().all()
    spikes = cat.mouse.features(specimen_id=[BAD, GOOD], scheduler="sync").spike_features()
    failed = spikes[spikes["cell_specimen_id"] == BAD]  # a row of its own saying why, with no spike
    assert len(failed) == 1 and pd.isna(failed["stimulus"].iloc[0])
    assert f"{blob}: gave up after 2 attempts; last problem: HTTP 503" in failed["error"].iloc[0]
    good = spikes[spikes["cell_specimen_id"] == GOOD]
    assert len(good) > 5 and good["error"].isna().all()
    assert not _cached(cat, BAD)
    world.server.files[blob] = served  # the server is well again
    again = _read(cat).loc[BAD]
    assert pd.isna(again["error"]) and again["rheobase_i"] == 180.0 and _cached(cat, BAD)
