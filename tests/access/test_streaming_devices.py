"""Stream mode and download mode give the same sweep table and sweeps of a file of two devices on one headstage."""

from __future__ import annotations

import numpy as np
import pytest

from patchseq_intake.access import cell_reader
from patchseq_intake.access.cell_index import STREAMED, load_index
from patchseq_intake.access.cell_reader import CellReader
from patchseq_intake.access.modes import Access
from patchseq_intake.access.opening import cached_path
from patchseq_intake.nwb.devices import DeviceChoiceError
from patchseq_intake.testing.mies_devices import write_mies_devices
from patchseq_intake.testing.physiology import CellSpec, WrittenCell, default_sweeps
from patchseq_intake.testing.world import DEMO_CELLS, serve_world
from patchseq_intake.transport import download

FIRST, SECOND = "ITC18USB_Dev_0", "Dev1"


@pytest.fixture
def two_devices_world(tmp_path, monkeypatch):
    """A replica serving one human cell whose file holds two devices' sweeps."""
    plan = next(plan for plan in DEMO_CELLS if plan.archive == "human")
    sweeps = default_sweeps(scale=0.1, sampling_rate=10e3)
    devices = write_mies_devices(tmp_path / "two.nwb", {FIRST: sweeps[:4], SECOND: sweeps[:3]})
    written = WrittenCell.of_file(devices.path, specimen_id=plan.specimen_id, session_id=plan.session_id,
                                  subject_id=plan.subject_id, cell=CellSpec(), sweeps=devices.cells[FIRST].sweeps)
    world = serve_world({plan: written})
    for name, value in world.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(download, "DEFAULT_RETRY", download.RetryPolicy(attempts=3, backoff_s=0.01))
    monkeypatch.setattr(cell_reader, "SMALL_FILE_BYTES", 0)  # stream even this small file
    yield plan
    world.stop()


def test_stream_mode_gives_download_modes_table_and_sweeps_of_two_devices(cat, two_devices_world):
    cell = cat.human.ephys(specimen_id=two_devices_world.specimen_id).cells[0]
    streamed = CellReader(cell, Access("stream"))
    table = streamed.sweep_table()
    assert load_index(cell.checksum.value, cell.size).provenance == STREAMED  # built from ranges, cached
    assert list(zip(table["device"], table["sweep_number"])) == [(FIRST, n) for n in (0, 1, 2, 4)] + [
        (SECOND, n) for n in (0, 1, 2)]  # the devices in the order they recorded
    with pytest.raises(DeviceChoiceError, match=rf"recorded by 2 devices, {SECOND} and {FIRST}"):
        streamed.sweeps([1])
    from_ranges = streamed.sweeps([1, 2], device=SECOND) + streamed.sweeps([4])
    assert not cached_path(cell).exists()  # the sweeps came as ranges, decoded through the index
    every = streamed.every_sweep(device=FIRST)
    downloaded = CellReader(cell, Access("download"))
    assert downloaded.sweep_table().equals(table) and downloaded.sweep_table(device=SECOND).equals(
        table[table["device"] == SECOND].reset_index(drop=True))
    expected = downloaded.sweeps([1, 2], device=SECOND) + downloaded.sweeps([4], device=FIRST)
    for mine, theirs in zip(from_ranges + every, expected + downloaded.every_sweep(device=FIRST)):
        assert (mine.sweep_number, mine.device) == (theirs.sweep_number, theirs.device)
        assert np.array_equal(mine.v, theirs.v) and np.array_equal(mine.i, theirs.i)
    assert len(every) == 4
    assert [s.device for s in from_ranges] == [SECOND, SECOND, FIRST] and {s.device for s in every} == {FIRST}
