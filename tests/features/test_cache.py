"""Features are computed once: cached per file checksum, IPFX version and parameters, and never taken on trust.

A second read, by a new source or a new process, makes no request and gives
equal rows; a result cached under another IPFX version or other parameters
is never returned; a damaged or misplaced result file is refused with a
``CacheIntegrityWarning`` and computed again; a cache that cannot be written
still gives the features (said once).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pandas as pd
import pytest

from patchseq_intake.access.cell_features import CELL, result_path
from patchseq_intake.errors import CacheIntegrityWarning
from patchseq_intake.features import extraction, ipfx_library
from patchseq_intake.features.extraction import CellFeatures
from patchseq_intake.testing.damage import flip_byte

from .conftest import SMALL

CELLS = [601506507, 601790961]
CELL_ID = CELLS[0]


@pytest.fixture
def world(serve_cells):
    return serve_cells({cell: SMALL for cell in CELLS})


@pytest.fixture
def computations(monkeypatch) -> list[object]:
    """Each cell's sweeps (``PackageSweeps``) IPFX computes per-cell features of from here on, in this process."""
    done: list[object] = []
    real = extraction.cell_features

    def counted(data, parameters):
        done.append(data)
        return real(data, parameters)

    monkeypatch.setattr(extraction, "cell_features", counted)
    return done


def _features(cat, cells: list[int] = CELLS[:1], **parameters):
    return cat.mouse.features(specimen_id=cells, scheduler="sync", **parameters)


def _path(source, index: int = 0) -> Path:
    """Where the cache keeps the per-cell features of the source's ``index``-th cell."""
    path = result_path(source.cells[index], source.access, CELL, source.parameters, 0, None)
    assert path is not None
    return path


def test_a_second_read_by_a_new_source_makes_no_request_and_gives_the_same_rows(cat, world, computations):
    first = _features(cat).read()
    spikes = _features(cat).spike_features()
    assert len(computations) == 1 and first["error"].isna().all() and len(spikes) > 5
    world.server.log.clear()
    pd.testing.assert_frame_equal(_features(cat).read(), first)
    pd.testing.assert_frame_equal(_features(cat).spike_features(), spikes)
    assert world.server.log == [] and len(computations) == 1


def test_a_result_computed_streaming_serves_download_mode_with_no_request(cat, world, computations, streamed):
    streamed_rows = cat.mouse.features(specimen_id=CELL_ID, access="stream").read()
    world.server.log.clear()
    pd.testing.assert_frame_equal(cat.mouse.features(specimen_id=CELL_ID, access="download").read(), streamed_rows)
    assert world.server.log == [] and len(computations) == 1  # the same bytes: the file is not even downloaded


def test_cached_and_computed_rows_come_in_the_selections_order(cat, world, computations):
    one = _features(cat, [CELLS[1]]).read()
    both = _features(cat, CELLS).read()
    assert len(computations) == 2  # the second cell once, the first once
    assert list(both["cell_specimen_id"]) == CELLS
    pd.testing.assert_frame_equal(both.iloc[[1]].reset_index(drop=True), one)


def test_a_second_read_in_a_new_process_makes_no_request_and_gives_the_same_rows(cat, world, tmp_path):
    first = _features(cat).read()
    world.server.log.clear()
    out = tmp_path / "again.pkl"
    script = f"""
        import patchseq_intake
        cat = patchseq_intake.open_catalog()
        cat.mouse.features(specimen_id={CELL_ID}, scheduler="sync").read().to_pickle({str(out)!r})
    """
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    pd.testing.assert_frame_equal(pd.read_pickle(out), first)
    assert world.server.log == []


def _forged(monkeypatch, cat, **parameters) -> None:
    """Cache, for these parameters, a result IPFX never gave (rheobase -1 pA)."""
    with monkeypatch.context() as patched:
        patched.setattr(extraction, "cell_features", lambda data, p: CellFeatures({"rheobase_i": -1.0}, {}))
        assert list(_features(cat, **parameters).read()["rheobase_i"]) == [-1.0]


def test_a_result_of_another_ipfx_version_is_never_returned(cat, world, monkeypatch, computations):
    with monkeypatch.context() as older:
        older.setattr(ipfx_library, "ipfx_version", lambda: "2.0.0")
        _forged(monkeypatch, cat)
    table = _features(cat).read()
    assert len(computations) == 1 and list(table["rheobase_i"]) == [180.0]
    with monkeypatch.context() as older:  # both are kept, each under its own version
        older.setattr(ipfx_library, "ipfx_version", lambda: "2.0.0")
        assert list(_features(cat).read()["rheobase_i"]) == [-1.0]
    assert len(computations) == 1


@pytest.mark.parametrize("other", [{"amp_interval": 30}, {"max_above_rheo": 60}])
def test_a_result_of_other_parameters_is_never_returned(cat, world, monkeypatch, computations, other):
    _forged(monkeypatch, cat, **other)
    table = _features(cat).read()
    assert len(computations) == 1 and list(table["rheobase_i"]) == [180.0]
    assert list(_features(cat, **other).read()["rheobase_i"]) == [-1.0]


def _flip_a_digit(path: Path) -> None:
    text = path.read_bytes()
    at = text.index(b'"rheobase_i":') + len(b'"rheobase_i":')
    assert text[at:at + 5] == b"180.0"
    flip_byte(path, at, mask=0x02)  # "180.0" -> "380.0": still JSON, no longer its digest's


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


DAMAGES = {"a digit changed": (_flip_a_digit, "fails its own digest"), "cut short": (_truncate, "is not JSON as saved")}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_result_is_refused_with_a_warning_and_computed_again(cat, world, computations, damage):
    first = _features(cat).read()
    source = _features(cat)
    path = _path(source)
    harm, why = DAMAGES[damage]
    harm(path)
    said = rf"{re.escape(str(path))}: this cached feature result cannot be trusted \({why}"
    with pytest.warns(CacheIntegrityWarning, match=said) as record:
        again = source.read()
    assert len([w for w in record if issubclass(w.category, CacheIntegrityWarning)]) == 1
    pd.testing.assert_frame_equal(again, first)
    assert len(computations) == 2 and path.exists()
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheIntegrityWarning)
        pd.testing.assert_frame_equal(_features(cat).read(), first)  # the new result is sound
    assert len(computations) == 2


@pytest.mark.parametrize("whose", ["another cell's", "other parameters'"])
def test_a_sound_result_under_another_results_name_is_refused(cat, world, computations, whose):
    source = _features(cat, CELLS) if whose == "another cell's" else _features(cat)
    first = source.read()
    if whose == "another cell's":
        stranger = _path(source, 1)
    else:
        _features(cat, amp_interval=30).read()
        stranger = _path(_features(cat, amp_interval=30), 0)
    assert len(computations) == 2
    victim = _path(source, 0)
    shutil.copyfile(stranger, victim)  # its seal is sound: it is another result's
    with pytest.warns(CacheIntegrityWarning, match="holds the result of another file, IPFX version or parameters"):
        again = source.read()
    pd.testing.assert_frame_equal(again, first)
    assert len(computations) == 3


def test_a_read_only_cache_still_gives_the_features_and_says_once_that_it_keeps_none(cat, world, cache_dir, tmp_path):
    from tests.transport.test_read_only_cache import _read_only  # a cache made read-only for real

    cat.mouse.ephys(specimen_id=CELLS).fetch()  # the files, verified, and the tables: all a read needs
    out = tmp_path / "read-only.pkl"
    script = f"""
        import warnings
        import patchseq_intake
        cat = patchseq_intake.open_catalog()
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            table = cat.mouse.features(specimen_id={CELLS}, scheduler="sync").read()
        table.to_pickle({str(out)!r})
        print("\\n".join(str(w.message) for w in said if "features are not kept" in str(w.message)))
    """
    done = _read_only(cache_dir, script)
    assert done.returncode == 0, done.stderr[-2000:]
    said = done.stdout.strip().splitlines()
    assert len(said) == 1 and "features are not kept, as the cache cannot be written" in said[0]
    assert str(cache_dir) in said[0]
    table = pd.read_pickle(out)
    assert table["error"].isna().all() and list(table["rheobase_i"]) == [180.0, 180.0]
    assert not (cache_dir / "features").exists() or not any((cache_dir / "features").rglob("*.json"))
    pd.testing.assert_frame_equal(table, _features(cat, CELLS).read())
