"""The features entry's long work shows progress where someone watches, and is quiet otherwise."""

from __future__ import annotations

import patchseq_intake
from patchseq_intake.transport import progress

MOUSE = [601506507, 601790961, 601808698]


def test_computing_cells_counts_them_on_a_bar_when_watched(ipfx_world, cache_dir, monkeypatch, capsys):
    monkeypatch.setattr(progress, "interactive", lambda: True)
    table = patchseq_intake.open_catalog().mouse.features(specimen_id=MOUSE, scheduler="threads").read()
    assert list(table["cell_specimen_id"]) == MOUSE and table["error"].isna().all()
    err = capsys.readouterr().err
    assert "IPFX features" in err and "3/3" in err and "cell" in err


def test_nothing_is_said_when_nobody_watches_nor_for_cached_cells(ipfx_world, cache_dir, capsys):
    source = patchseq_intake.open_catalog().mouse.features(specimen_id=MOUSE, scheduler="threads")
    first = source.read()
    assert capsys.readouterr().err == ""
    again = patchseq_intake.open_catalog().mouse.features(specimen_id=MOUSE, scheduler="threads").read()
    assert again.equals(first) and capsys.readouterr().err == ""
