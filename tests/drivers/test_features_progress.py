"""The features entry's long work shows progress where someone watches, is quiet otherwise, and says once when
cells failed."""

from __future__ import annotations

import pandas as pd
import pytest

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


def test_a_local_copy_that_cannot_be_read_is_its_cells_row_not_the_tables_end(ipfx_world, cache_dir, tmp_path,
                                                                               monkeypatch):
    """A local copy is checked by its size only: an HDF5 fault in it (here made to happen) is that cell's error."""
    from patchseq_intake.access import cell_reader
    from patchseq_intake.errors import FeaturesFailedWarning, NwbFormatError
    from patchseq_intake.testing.world import DEMO_CELLS, dandi_path

    root = tmp_path / "dandi"
    copies = {}
    for plan in DEMO_CELLS:
        if plan.specimen_id in MOUSE:
            copies[plan.specimen_id] = target = root / dandi_path(plan)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(ipfx_world.written[plan.specimen_id].path.read_bytes())
    real = cell_reader.read_sweep_table

    def faulty(h5, *args, **kwargs):
        if h5.filename == str(copies[601790961]):
            raise ValueError("Invalid HDF5 object reference")
        return real(h5, *args, **kwargs)

    monkeypatch.setattr(cell_reader, "read_sweep_table", faulty)
    cat = patchseq_intake.open_catalog()
    local = {"access": "local", "root": str(root)}
    with pytest.warns(FeaturesFailedWarning, match=r"1 of the 3 cells: their sweeps could not be read"):
        table = cat.mouse.features(specimen_id=MOUSE, scheduler="sync", **local).read()
    errors = dict(zip(table["cell_specimen_id"], table["error"]))
    assert errors[601790961].startswith("NwbFormatError: cell 601790961")
    assert "cannot be read (ValueError: Invalid HDF5 object reference)" in errors[601790961]
    assert "checked against DANDI's size only" in errors[601790961]
    assert pd.isna(errors[601506507]) and pd.isna(errors[601808698])
    with pytest.raises(NwbFormatError, match="its local copy .* cannot be read"):
        cat.mouse.ephys(specimen_id=601790961, **local).read()


def test_a_script_without_the_main_guard_is_told_what_to_do(ipfx_world, cache_dir, tmp_path):
    """Processes start by importing the script again: without ``if __name__ == "__main__":`` they fail to start."""
    import subprocess
    import sys

    script = tmp_path / "no_guard.py"
    script.write_text(
        "import patchseq_intake\n"
        f"patchseq_intake.open_catalog().mouse.features(specimen_id={MOUSE[:2]}, num_workers=2).read()\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("patchseq_intake.errors.WorkerProcessError: the 2 processes computing the cells stopped")
    assert 'if __name__ == "__main__":' in last and "scheduler='threads' or 'sync'" in last
