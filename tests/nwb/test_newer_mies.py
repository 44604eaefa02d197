"""Files later MIES versions write (``testing.mies_newer``) read as the release's, and what no MIES writes refused.

The same synthetic cell is written three ways: as the release's files are
(MIES 2.0, 2020), as MIES 2.6 under Igor Pro 9 writes it (2022-2023) and as
MIES 3.0 does (NWB 2.9.0). The later files' sweep table and sweeps must be
the 2020 file's, value for value, and IPFX's own. Each variant no MIES is
known to write (``mies_newer.UNKNOWN``) must be refused with an
``NwbFormatError`` naming the file and what was not known.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from patchseq_intake.errors import NwbFormatError
from patchseq_intake.nwb.mies_series import check_nwb2
from patchseq_intake.nwb.pynwb_file import read_nwb
from patchseq_intake.nwb.sweep_table import read_sweep_table
from patchseq_intake.nwb.sweeps import read_sweep
from patchseq_intake.testing.mies import write_mies_nwb
from patchseq_intake.testing.mies_newer import ERAS, NWB_VERSIONS, UNKNOWN, make_unknown, write_newer_mies_nwb
from patchseq_intake.testing.physiology import varied_sweeps
from tests.nwb.test_ipfx_agreement import IPFX_COLUMNS, _ipfx_reads, _same, ipfx_python  # noqa: F401 (a fixture)

KEPT = (1, 2, 5, 6, 11, 13, 16)
"""Of ``varied_sweeps``: a voltage clamp test at 40 kHz, a current clamp test, long squares (one ending in zeros,
one stopped early), a short square, a ramp (no I=0 sweep: IPFX refuses a file holding one)."""


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """The cell as MIES 2020 wrote it (``"2020"``) and as each later era writes it."""
    folder = tmp_path_factory.mktemp("newer-mies")
    sweeps = [spec for spec in varied_sweeps(scale=0.1, sampling_rate=10_000.0) if spec.sweep_number in KEPT]
    ids = {"specimen_id": 1, "session_id": 2, "subject_id": 3, "sweeps": sweeps}
    written = {"2020": write_mies_nwb(folder / "2020.nwb", **ids).path}
    for era in ERAS:
        written[era] = write_newer_mies_nwb(folder / f"{era}.nwb", era=era, **ids).path
    return written


def _table_and_sweeps(path: Path) -> tuple[pd.DataFrame, dict]:
    with h5py.File(path, "r") as h5:
        table = read_sweep_table(h5)
        return table, {int(n): read_sweep(h5, int(n)) for n in table["sweep_number"]}


@pytest.mark.parametrize("era", ERAS)
def test_the_files_have_the_later_layout(files, era):
    with h5py.File(files[era], "r") as h5:
        version = h5.attrs["nwb_version"]
        assert (type(version), version) == ((np.bytes_, b"2.2.4") if era == "2.6" else (str, NWB_VERSIONS[era]))
        assert h5["general/generated_by"].shape == (8, 2)
        notebook = h5["general/labnotebook/ITC18USB_Dev_0"]
        keys = notebook["numericalKeys"]
        assert keys.shape[0] == 6 and keys.shape[1] == notebook["numericalValues"].shape[1]
        units = dict(zip((k.decode() for k in keys[0]), (u.decode() for u in keys[1])))
        assert units["Bridge Bal Value"] == "MΩ"
        assert notebook["numericalValues"].shape[0] < 1024  # unpadded
        epochs = h5["intervals/epochs"]
        targets = {h5[row["timeseries"]].name for row in epochs["timeseries"][()]}
        assert targets == {name for name in (f"/stimulus/presentation/{n}" for n in h5["stimulus/presentation"])}
        assert "general/results/numericalResultsKeys" in h5
        assert ("filtering" in h5["general/intracellular_ephys"]) == (era == "2.6")
        assert h5.id.get_create_plist().get_version()[0] >= (2 if era == "2.6" else 0)


@pytest.mark.parametrize("era", ERAS)
def test_the_sweep_table_and_sweeps_are_the_2020_files(files, era):
    table, sweeps = _table_and_sweeps(files[era])
    table_2020, sweeps_2020 = _table_and_sweeps(files["2020"])
    pd.testing.assert_frame_equal(table, table_2020)
    assert list(sweeps) == list(KEPT)
    for number, sweep in sweeps.items():
        old = sweeps_2020[number]
        assert (sweep.stimulus_code, sweep.clamp_mode, sweep.sampling_rate) == (
            old.stimulus_code, old.clamp_mode, old.sampling_rate)
        for name in ("t", "v", "i"):
            np.testing.assert_array_equal(getattr(sweep, name), getattr(old, name), err_msg=f"{number} {name}")


@pytest.mark.parametrize("era", ERAS)
def test_pynwb_reads_the_epochs_and_the_sweep_table(files, era):
    with h5py.File(files[era], "r") as h5, read_nwb(h5) as nwb:
        assert len(nwb.epochs) == 2 * len(KEPT)
        assert set(nwb.epochs[:, "tags"][0]) == {"Type=Inserted Testpulse", "ShortName=TP"}
        assert sorted(set(nwb.sweep_table["sweep_number"][:])) == list(KEPT)


@pytest.mark.parametrize("era", ERAS)
def test_ipfx_gives_the_same_sweep_table_and_sweeps(ipfx_python, files, era, tmp_path):
    path = Path(shutil.copy(files[era], tmp_path / "cell.nwb"))
    result, arrays = _ipfx_reads(ipfx_python, path)
    assert "table" in result, result.get("error")
    theirs = pd.DataFrame(result["table"])
    ours, sweeps = _table_and_sweeps(path)
    assert list(ours["sweep_number"]) == list(theirs["sweep_number"])
    for (_, mine), (_, their) in zip(ours.iterrows(), theirs.iterrows()):
        assert all(_same(mine[column], their[column]) for column in IPFX_COLUMNS), (mine, their)
    assert result["sweep_errors"] == {}
    for number, sweep in sweeps.items():
        for name in ("t", "v", "i"):
            np.testing.assert_array_equal(getattr(sweep, name), arrays[f"{number}_{name}"], err_msg=f"{number} {name}")
        assert sweep.sampling_rate == float(arrays[f"{number}_rate"])


@pytest.fixture
def unknown(files, tmp_path, request) -> tuple[Path, str]:
    """A copy of the MIES 2.6 file changed into ``request.param`` (one of ``UNKNOWN``), and what its error names."""
    path = Path(shutil.copy(files["2.6"], tmp_path / "unknown.nwb"))
    return path, make_unknown(path, request.param)


FILE_WIDE = ("nwb_version 3", "notebook without SweepNum", "notebook of two dimensions",
             "notebook without numerical datasets")


@pytest.mark.parametrize("unknown", FILE_WIDE, indirect=True)
def test_a_version_or_notebook_no_mies_writes_is_refused_naming_it(unknown):
    path, named = unknown
    with h5py.File(path, "r") as h5:
        with pytest.raises(NwbFormatError) as refused:
            read_sweep_table(h5)
    message = str(refused.value)
    assert str(path) in message and named in message
    assert "2.2.4" in message or "MIES 2.0 to 3.0" in message or "every MIES notebook" in message  # what is known


@pytest.mark.parametrize("unknown", [one for one in UNKNOWN if one not in FILE_WIDE], indirect=True)
def test_a_unit_no_clamp_has_is_in_the_table_as_stored_and_its_sweep_refused(unknown):
    from patchseq_intake.access.cell_index import build_index

    path, series = unknown
    with h5py.File(path, "r") as h5:
        table = read_sweep_table(h5)
        number = int(h5[series].attrs["sweep_number"])
        with pytest.raises(NwbFormatError) as refused:
            read_sweep(h5, number)
        index = build_index(h5, "0" * 64, path.stat().st_size, "stream", "cell 1")
    unit = "'a.u.'" if "DA" in series else "amperes"
    message = str(refused.value)
    assert f"sweep {number} is a CurrentClamp sweep whose" in message and f"stores its samples in {unit}; " in message
    assert series in message and str(path) in message
    assert ("read only in amperes" if "DA" in series else "read only in volts") in message
    if "DA" in series:  # the table says what IPFX's does: the stimulus unit as stored
        assert table.set_index("sweep_number").loc[number, "stimulus_units"] == "a.u."
    entry = index.sweep(number, 0, "cell 1")  # a streamed cell's index holds the unit: refused when read
    with pytest.raises(NwbFormatError, match=rf"cell 1: sweep {number} .*{series} stores its samples in {unit}; "):
        entry.parts.check("cell 1", entry.names)


def test_every_unknown_variant_is_tested():
    assert set(UNKNOWN) - set(FILE_WIDE) == {"command in a.u.", "response in amperes in current clamp"}


@pytest.mark.parametrize("version, read", [
    (np.bytes_(b"2.2.4"), True), ("2.9.0", True), ("NWB-2.0.2", True), ("2.0b", True),
    ("3.0.0", False), ("", False), ("20.1", False), ("NWB-1.0.5", False),
])
def test_any_nwb_2_version_is_read_and_another_refused_naming_it(version, read, tmp_path):
    with h5py.File(tmp_path / "v.nwb", "w", driver="core", backing_store=False) as h5:
        h5.attrs["nwb_version"] = version
        if read:
            check_nwb2(h5, "v.nwb")
        else:
            with pytest.raises(NwbFormatError, match=rf"v.nwb states nwb_version '{version}', a version whose layout"):
                check_nwb2(h5, "v.nwb")


def test_a_file_stating_no_version_is_judged_by_what_it_holds(tmp_path):
    with h5py.File(tmp_path / "none.h5", "w", driver="core", backing_store=False) as h5:
        check_nwb2(h5, "none.h5")  # no refusal for the version: for what it holds (no acquisition) instead
        with pytest.raises(NwbFormatError, match=r"none.h5 is not an NWB file of recordings: it has no 'acquisition'"):
            read_sweep_table(h5)
