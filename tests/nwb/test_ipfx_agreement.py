"""The package against IPFX 2.1.2 itself, on files written as the release's were.

IPFX (which pins pynwb 3.1.2) runs in a subprocess: this interpreter where
the test extra installed it (the ``features`` extra), else that of a virtual
environment of its own, kept in pytest's cache directory. It reads
each test file with ``ipfx.dataset.create.create_ephys_data_set`` and dumps
its sweep table and every sweep's ``t``, ``v``, ``i``. Where that
environment cannot be built (no package index), the tests are skipped.

Where the package differs from IPFX on purpose, a test names the difference:
an I=0 sweep (IPFX finds no stimulus and refuses the whole file), a second
headstage (IPFX finds two responses and refuses), a sweep number only TTL
series carry (IPFX finds no response and refuses), and stimulus codes IPFX's
ontology calls Unknown that FACTS.md names. Two devices recording one
headstage: IPFX refuses the file (two responses per sweep number); each
device's sweeps, read from it with ``device``, agree with IPFX's on a copy
of the file holding that device only (``testing.mies_devices.keep_device``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from patchseq_intake.nwb.sweep_table import read_sweep_table
from patchseq_intake.nwb.sweeps import read_sweep
from patchseq_intake.testing.mies import MiesLayout, write_mies_nwb
from patchseq_intake.testing.physiology import (
    CURRENT_CLAMP,
    IZERO,
    TEST,
    VOLTAGE_CLAMP,
    SweepSpec,
    default_sweeps,
    varied_sweeps,
)

IPFX = "ipfx==2.1.2"
RATE = 10_000.0
IPFX_COLUMNS = [
    "sweep_number", "stimulus_units", "bridge_balance_mohm", "leak_pa", "stimulus_scale_factor",
    "stimulus_code", "stimulus_code_ext", "clamp_mode", "stimulus_name",
]
NAMED_BY_FACTS = {"C2CHIRP180503": "Chirp", "NucVCSteps90": "Test"}
"""Codes IPFX 2.1.2's ontology calls Unknown, and the names FACTS.md gives them (the package's)."""

DUMP = '''
import json, sys, warnings
import numpy as np
warnings.simplefilter("ignore")
from ipfx.dataset.create import create_ephys_data_set

path, out = sys.argv[1], sys.argv[2]
try:
    data = create_ephys_data_set(nwb_file=path)
    table = data.sweep_table
except Exception as error:
    json.dump({"error": f"{type(error).__name__}: {error}"}, open(out + ".json", "w"))
    sys.exit(0)
arrays, errors = {}, {}
for number in table["sweep_number"]:
    try:
        sweep = data.sweep(int(number))
    except Exception as error:
        errors[int(number)] = f"{type(error).__name__}: {error}"
        continue
    for name in ("t", "v", "i"):
        arrays[f"{number}_{name}"] = np.asarray(getattr(sweep, name))
    arrays[f"{number}_rate"] = np.asarray(sweep.sampling_rate)
np.savez(out + ".npz", **arrays)
records = json.loads(table.to_json(orient="records"))
json.dump({"table": records, "sweep_errors": errors}, open(out + ".json", "w"))
'''


@pytest.fixture(scope="session")
def ipfx_python(request, tmp_path_factory) -> Path:
    """A python with IPFX 2.1.2: this one where the test extra installed it (the ``features`` extra), else that
    of a virtual environment built once and kept in pytest's cache."""
    if _has_ipfx(Path(sys.executable)):
        return Path(sys.executable)
    cache = getattr(request.config, "cache", None)
    home = cache.mkdir("ipfx-2.1.2-venv") if cache is not None else tmp_path_factory.mktemp("ipfx-venv")
    python = home / "bin" / "python"
    if not _has_ipfx(python):
        done = subprocess.run([sys.executable, "-m", "venv", "--clear", str(home)], capture_output=True, text=True)
        if done.returncode == 0:
            try:
                done = subprocess.run(
                    [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", IPFX],
                    capture_output=True, text=True, timeout=900,
                )
            except subprocess.TimeoutExpired:
                pytest.skip(f"installing {IPFX} took more than 15 minutes")
        if done.returncode != 0 or not _has_ipfx(python):
            pytest.skip(f"could not build a virtual environment with {IPFX}: {done.stderr.strip()[-300:]}")
    return python


def _has_ipfx(python: Path) -> bool:
    if not python.exists():
        return False
    check = [str(python), "-c", "import ipfx, sys; sys.exit(ipfx.__version__ != '2.1.2')"]
    return subprocess.run(check, capture_output=True).returncode == 0


def _ipfx_reads(python: Path, path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    script = path.with_name("dump_ipfx.py")
    script.write_text(DUMP)
    out = path.with_suffix("")
    subprocess.run([str(python), str(script), str(path), str(out)], check=True, capture_output=True, timeout=600)
    result = json.loads(out.with_suffix(".json").read_text())
    arrays = dict(np.load(out.with_suffix(".npz"))) if "table" in result else {}
    return result, arrays


def _protocol() -> list[SweepSpec]:
    """The varied protocol without its I=0 sweep, and two codes IPFX does not name."""
    sweeps = [spec for spec in varied_sweeps(scale=0.1, sampling_rate=RATE) if spec.kind != IZERO]
    last = sweeps[-1]
    extra = [
        SweepSpec(last.sweep_number + 1, "C2CHIRP180503", CURRENT_CLAMP, TEST, -30.0, 0.1, RATE),
        SweepSpec(last.sweep_number + 2, "NucVCSteps90", VOLTAGE_CLAMP, TEST, 10.0, 0.1, RATE),
    ]
    return sweeps + extra


ONTOLOGY = '''
import json, sys, warnings
warnings.simplefilter("ignore")
from ipfx.stimulus import StimulusOntology
ontology = StimulusOntology.default()
codes = sorted({code for stimulus in ontology.stimuli for tags in stimulus.tags(tag_type="code") for code in tags[1:]})
names = {code: ontology.find_one(code, tag_type="code").tags(tag_type="name")[0][-1] for code in codes}
json.dump(names, sys.stdout)
'''


def test_every_code_of_ipfxs_ontology_has_ipfxs_name(ipfx_python):
    from patchseq_intake.nwb.stimulus import stimulus_name

    done = subprocess.run([str(ipfx_python), "-c", ONTOLOGY], capture_output=True, text=True, check=True)
    theirs = json.loads(done.stdout)
    assert len(theirs) > 150
    differ = {code: (stimulus_name(code), name) for code, name in theirs.items() if stimulus_name(code) != name}
    assert differ == {code: (name, "Unknown") for code, name in NAMED_BY_FACTS.items() if code in theirs}


def _write(directory: Path, layout: MiesLayout, sweeps: list[SweepSpec] | None = None):
    return write_mies_nwb(directory / "cell.nwb", specimen_id=1, session_id=2, subject_id=3,
                          sweeps=sweeps or _protocol(), layout=layout)


def _same(ours: object, theirs: object) -> bool:
    if theirs is None or (isinstance(theirs, float) and np.isnan(theirs)):  # IPFX's None
        return pd.isna(ours)
    if isinstance(theirs, float):
        return ours == pytest.approx(theirs)
    return ours == theirs


LAYOUTS = {
    "2020 MIES": (MiesLayout(), None),
    "newer MIES, a rolled-back sweep": (MiesLayout(newer_mies=True, rolled_back_sweep=5), None),
    "an older notebook": (MiesLayout(missing_notebook_keys=("Set Sweep Count", "Scale Factor"), numeric_keys=128), None),
    "no holding, no bridge balance": (MiesLayout(holding=False, bridge_balance=False), None),
    "TTL lines": (MiesLayout(ttl=True), None),
    "SweepNum in the first layer only": (MiesLayout(sweep_numbers_in_first_layer_only=True), None),
    "human codes": (MiesLayout(), "legacy"),
}


@pytest.mark.parametrize("variant", list(LAYOUTS))
def test_the_sweep_table_and_every_sweep_agree_with_ipfx(ipfx_python, tmp_path, variant):
    layout, codes = LAYOUTS[variant]
    protocol = None
    if codes == "legacy":
        protocol = [s for s in default_sweeps(scale=0.1, sampling_rate=RATE, legacy_codes=True) if s.kind != IZERO]
    written = _write(tmp_path, layout, protocol)
    result, arrays = _ipfx_reads(ipfx_python, written.path)
    assert "table" in result, result.get("error")
    theirs = pd.DataFrame(result["table"])
    with h5py.File(written.path, "r") as h5:
        ours = read_sweep_table(h5)
        sweeps = {number: read_sweep(h5, number) for number in ours["sweep_number"]}
    assert list(ours["sweep_number"]) == list(theirs["sweep_number"])
    differences = []
    for (_, mine), (_, their) in zip(ours.iterrows(), theirs.iterrows()):
        for column in IPFX_COLUMNS:
            if not _same(mine[column], their[column]):
                differences.append((int(mine["sweep_number"]), column, mine[column], their[column]))
    expected = [(int(row.sweep_number), "stimulus_name", NAMED_BY_FACTS[row.stimulus_code], "Unknown")
                for row in ours.itertuples() if row.stimulus_code in NAMED_BY_FACTS]
    assert differences == expected  # only the names FACTS.md gives where IPFX has none
    assert result["sweep_errors"] == {}
    for number, sweep in sweeps.items():
        assert sweep.sampling_rate == float(arrays[f"{number}_rate"])
        np.testing.assert_array_equal(sweep.t, arrays[f"{number}_t"])
        np.testing.assert_array_equal(sweep.v, arrays[f"{number}_v"])  # float32, to the bit
        np.testing.assert_array_equal(sweep.i, arrays[f"{number}_i"])
    if protocol is None:  # the varied protocol: its tails are cut alike
        assert any(len(sweep.t) < written.sweep(number).n_samples for number, sweep in sweeps.items())


def test_ipfx_refuses_a_file_with_an_i_equals_zero_sweep_which_the_package_reads(ipfx_python, tmp_path):
    written = _write(tmp_path, MiesLayout(), varied_sweeps(scale=0.1, sampling_rate=RATE))
    result, _ = _ipfx_reads(ipfx_python, written.path)
    assert "Could not find any stimulus PatchClampSeries for sweep number 17" in result["error"]
    with h5py.File(written.path, "r") as h5:
        table, izero = read_sweep_table(h5), read_sweep(h5, 17)
    assert len(table) == len(written.sweeps) and izero.izero  # the difference: the package keeps the row


def test_ipfx_refuses_a_second_headstage_which_the_package_reads_apart(ipfx_python, tmp_path):
    written = _write(tmp_path, MiesLayout(second_headstage=True))
    result, _ = _ipfx_reads(ipfx_python, written.path)
    assert "Found 2 response PatchClampSeries" in result["error"]
    with h5py.File(written.path, "r") as h5:
        assert len(read_sweep_table(h5, headstage=1)) == len(written.other_headstages[1])


def test_ipfx_refuses_a_sweep_number_only_ttl_carries_which_the_package_leaves_out(ipfx_python, tmp_path):
    written = _write(tmp_path, MiesLayout(ttl=True, ttl_only_sweep=99))
    result, _ = _ipfx_reads(ipfx_python, written.path)
    assert "Could not find any response PatchClampSeries for sweep number 99" in result["error"]
    with h5py.File(written.path, "r") as h5:
        assert 99 not in set(read_sweep_table(h5)["sweep_number"])  # the difference: not a recorded sweep


def _differences(ours: pd.DataFrame, theirs: pd.DataFrame) -> list[tuple]:
    return [
        (int(mine["sweep_number"]), column, mine[column], their[column])
        for (_, mine), (_, their) in zip(ours.iterrows(), theirs.iterrows())
        for column in IPFX_COLUMNS
        if not _same(mine[column], their[column])
    ]


def test_each_devices_sweeps_agree_with_ipfx_on_a_copy_holding_that_device_only(ipfx_python, tmp_path):
    from patchseq_intake.testing.mies_devices import keep_device, write_mies_devices

    protocol = _protocol()
    devices = {"ITC18USB_Dev_0": protocol, "Dev1": protocol[:6]}
    written = write_mies_devices(tmp_path / "two.nwb", devices, layouts={"Dev1": MiesLayout(scale_factors=(2.0, 1.0))})
    refused, _ = _ipfx_reads(ipfx_python, written.path)
    assert "Found 2 response PatchClampSeries" in refused["error"]  # IPFX refuses the file of both devices
    for device in devices:
        alone = keep_device(written.path, tmp_path / f"{device}.nwb", device, written.series[device])
        result, arrays = _ipfx_reads(ipfx_python, alone)
        assert "table" in result, result.get("error")
        theirs = pd.DataFrame(result["table"])
        with h5py.File(written.path, "r") as h5:  # the file of both devices, this one's sweeps
            ours = read_sweep_table(h5, device=device)
            sweeps = {number: read_sweep(h5, number, device=device) for number in ours["sweep_number"]}
        assert list(ours["sweep_number"]) == list(theirs["sweep_number"]) and len(ours) == len(devices[device])
        expected = [(int(row.sweep_number), "stimulus_name", NAMED_BY_FACTS[row.stimulus_code], "Unknown")
                    for row in ours.itertuples() if row.stimulus_code in NAMED_BY_FACTS]
        assert _differences(ours, theirs) == expected
        assert set(ours["stimulus_scale_factor"]) == {2.0 if device == "Dev1" else 0.5}
        for number, sweep in sweeps.items():
            np.testing.assert_array_equal(sweep.t, arrays[f"{number}_t"])
            np.testing.assert_array_equal(sweep.v, arrays[f"{number}_v"])
            np.testing.assert_array_equal(sweep.i, arrays[f"{number}_i"])
