"""``patchseq-intake index``: the selected cells' file indexes built ahead of time into a store, against the replica."""

from __future__ import annotations

import shutil

import pytest

from patchseq_intake import config
from patchseq_intake.access import index_store
from patchseq_intake.access.cell_index import judge, store_name
from tests.cli.test_cli import HUMAN_CELLS, misused, run


@pytest.fixture(autouse=True)
def no_store_from_the_shell(monkeypatch, streamed):
    """No store from the caller's shell, the store's once-said warnings new, and the tests' small files walked."""
    monkeypatch.delenv(config.INDEX_STORE_ENV, raising=False)
    for name in ("_unreadable", "_unwritable", "_said"):
        monkeypatch.setattr(index_store, name, set())


def _lines(out: str) -> dict[int, tuple[str, str]]:
    rows = [line.split("\t") for line in out.splitlines()]
    assert all(len(row) == 3 for row in rows), out
    return {int(cell): (checksum, outcome) for cell, checksum, outcome in rows}


def _checksums(cat) -> dict[int, str]:
    return {cell.specimen_id: cell.checksum.value for cell in cat.human.ephys(specimen_id=HUMAN_CELLS).cells}


def test_it_builds_each_index_into_the_store_then_finds_them_present(capsys, world, cat, tmp_path, monkeypatch):
    store = tmp_path / "store"
    from patchseq_intake.transport import progress

    counted, bar = [], progress.count_bar
    monkeypatch.setattr(progress, "count_bar", lambda total, label, unit: counted.append((total, unit)) or bar(
        total, label, unit))  # the command imports it when it runs
    status, out, err = run(capsys, "index", "human", *map(str, HUMAN_CELLS), "--store", str(store), "--workers", "2")
    assert status == 0, err
    checksums = _checksums(cat)
    assert _lines(out) == {cell: (checksums[cell], "built") for cell in HUMAN_CELLS}
    assert counted == [(2, "cell")]
    for cell, checksum in checksums.items():
        stored = (store / store_name(checksum)).read_bytes()
        assert judge(stored, checksum, None)[1] is None
    world.server.log.clear()
    status, out, _ = run(capsys, "index", "human", *map(str, HUMAN_CELLS), "--store", f"file://{store}")
    assert status == 0 and _lines(out) == {cell: (checksums[cell], "present") for cell in HUMAN_CELLS}
    assert world.replica.requests("blob", "download", "asset") == []  # nothing walked again


def test_a_run_cut_short_is_finished_by_running_it_again(capsys, world, cat, tmp_path, monkeypatch):
    from patchseq_intake.access.cell_reader import CellReader

    store = tmp_path / "store"
    monkeypatch.setenv(config.INDEX_STORE_ENV, str(store))  # the variable names the store
    build = CellReader.index

    def cut_at_the_second(reader):
        if reader.cell.specimen_id == HUMAN_CELLS[1]:
            raise KeyboardInterrupt  # Ctrl-C while the second cell is walked
        return build(reader)

    monkeypatch.setattr(CellReader, "index", cut_at_the_second)
    status, out, _ = run(capsys, "index", "human", *map(str, HUMAN_CELLS), "--workers", "1")
    assert status == 130 and _lines(out) == {HUMAN_CELLS[0]: (_checksums(cat)[HUMAN_CELLS[0]], "built")}
    assert [p.name for p in store.iterdir()] == [store_name(_checksums(cat)[HUMAN_CELLS[0]])]  # nothing half-written
    monkeypatch.setattr(CellReader, "index", build)
    shutil.rmtree(config.cache_dir() / config.INDEX_DIR)  # a new machine, even: only the store remembers
    status, out, _ = run(capsys, "index", "human")  # every human cell
    outcomes = {cell: outcome for cell, (_, outcome) in _lines(out).items()}
    assert status == 0 and outcomes[HUMAN_CELLS[0]] == "present" and outcomes[HUMAN_CELLS[1]] == "built"
    assert len(list(store.iterdir())) == len(outcomes)


def test_an_index_this_cache_holds_is_copied_and_a_damaged_one_in_the_store_replaced(capsys, world, cat, tmp_path):
    store = tmp_path / "store"
    cat.human.ephys(specimen_id=HUMAN_CELLS[0], access="stream").read()  # its index, in this cache only
    checksum = _checksums(cat)[HUMAN_CELLS[0]]
    store.mkdir()
    (store / store_name(checksum)).write_bytes(b"{}")
    status, out, _ = run(capsys, "index", "human", str(HUMAN_CELLS[0]), "--store", str(store))
    outcome = _lines(out)[HUMAN_CELLS[0]][1]
    assert status == 0 and outcome.startswith("cached (replaced the store's, it fails its own digest")
    assert judge((store / store_name(checksum)).read_bytes(), checksum, None)[1] is None


def test_a_cell_that_fails_is_said_on_its_line_and_the_exit_status_is_1(capsys, world, cat, tmp_path):
    from urllib.parse import urlparse

    blob = urlparse(world.replica.blob_url(world.assets[HUMAN_CELLS[1]])).path
    world.server.files[blob] = bytes(world.written[HUMAN_CELLS[1]].size)  # the same size, other bytes
    world.server.etags[blob] = "ffffffffffffffffffffffffffffffff-1"
    status, out, err = run(capsys, "index", "human", *map(str, HUMAN_CELLS), "--store", str(tmp_path / "store"))
    lines = _lines(out)
    assert status == 1 and lines[HUMAN_CELLS[0]][1] == "built"
    assert lines[HUMAN_CELLS[1]][1].startswith("failed: ChecksumError")
    assert "1 of 2 cells' indexes could not be built or stored" in err and "run the command again" in err


def test_a_store_that_cannot_be_read_is_one_line_before_any_cell(capsys, world, tmp_path):
    (tmp_path / "a file").write_text("not a folder")
    status, out, err = run(capsys, "index", "human", str(HUMAN_CELLS[0]), "--store", str(tmp_path / "a file"))
    assert status == 1 and out == "" and f"the index store {tmp_path / 'a file'} cannot be read" in err


def test_without_a_store_or_a_read_only_one_it_is_a_usage_error(capsys):
    said = misused(capsys, "index", "human")
    assert "--store URL" in said and config.INDEX_STORE_ENV in said
    said = misused(capsys, "index", "human", "--store", "http://127.0.0.1:9/store")
    assert "the index store http://127.0.0.1:9/store is read-only" in said
    assert "argument --workers: '0' is not a whole number from 1 to 64" in misused(
        capsys, "index", "human", "--store", "memory://x", "--workers", "0")


def test_a_store_that_ends_with_the_command_is_a_usage_error(capsys, tmp_path):
    said = misused(capsys, "index", "human", "--store", "memory://x")
    assert "the index store memory://x lives in this command's memory" in said and "--store" in said
    assert "must outlive the command" in said and "file://, s3:// or gs://" in said


def test_a_mistyped_url_is_a_usage_error_and_a_relative_folder_is_the_callers(capsys, world, cat, tmp_path,
                                                                              monkeypatch):
    said = misused(capsys, "index", "human", "--store", "s3//bucket/indexes")
    assert "--store s3//bucket/indexes: s3//bucket/indexes looks like a mistyped URL" in said and "s3://" in said
    monkeypatch.setenv(config.INDEX_STORE_ENV, "gs//bucket")
    said = misused(capsys, "index", "human")
    assert f"{config.INDEX_STORE_ENV}='gs//bucket': gs//bucket looks like a mistyped URL" in said
    monkeypatch.delenv(config.INDEX_STORE_ENV)
    (tmp_path / "lab").mkdir()
    monkeypatch.chdir(tmp_path / "lab")
    status, out, err = run(capsys, "index", "human", str(HUMAN_CELLS[0]), "--store", "store")
    assert status == 0, err
    assert [p.name for p in (tmp_path / "lab" / "store").iterdir()] == [store_name(_checksums(cat)[HUMAN_CELLS[0]])]


def test_after_ctrl_c_the_cells_running_finish_are_printed_and_it_says_how_to_finish(capsys, world, cat, tmp_path,
                                                                                    monkeypatch):
    import threading

    from patchseq_intake.access.cell_reader import CellReader

    store = tmp_path / "store"
    build, running, cut = CellReader.index, threading.Event(), threading.Event()

    def cut_while_the_second_runs(reader):
        if reader.cell.specimen_id == HUMAN_CELLS[0]:
            assert running.wait(30)  # the second cell is being indexed...
            cut.set()
            raise KeyboardInterrupt  # ...when Ctrl-C comes
        running.set()
        assert cut.wait(30)
        return build(reader)  # it finishes after Ctrl-C, and is stored

    monkeypatch.setattr(CellReader, "index", cut_while_the_second_runs)
    status, out, err = run(capsys, "index", "human", *map(str, HUMAN_CELLS), "--store", str(store), "--workers", "2")
    checksum = _checksums(cat)[HUMAN_CELLS[1]]
    assert status == 130 and _lines(out) == {HUMAN_CELLS[1]: (checksum, "built")}
    assert [p.name for p in store.iterdir()] == [store_name(checksum)]
    assert err.splitlines()[-1] == ("patchseq-intake index: interrupted: 1 of 2 cells done (their lines above); "
                                    "running the same command again finishes the rest")
