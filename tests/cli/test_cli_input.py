"""The command's bad input: whole numbers, parameters as values, and what ``-o PATH`` may write to.

Devices are made in the test's own directory (``os.mknod``, as root) rather
than touching the machine's ``/dev``; where that is not allowed the device
tests skip.
"""

from __future__ import annotations

import os
import stat
import threading

import pytest

from patchseq_intake.cli import main
from tests.cli.test_cli import HUMAN_CELLS, fails, misused, ok

HUMAN_CELL = 541549258
SECRET = "s3cr3t-t0ken-value"


# --- whole numbers and values ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["１２", "1.5", "abc", "", "1_0", " 4", "-1", "99999999999999999999"])
@pytest.mark.parametrize("flag", ["--sweep", "--headstage", "SPECIMEN_ID"])
def test_a_number_that_is_not_ascii_digits_is_a_usage_error_naming_the_flag(capsys, flag, value):
    argv = ["sweeps", "human", str(HUMAN_CELL), flag, value] if flag.startswith("--") else ["sweeps", "human", value]
    err = misused(capsys, *argv)
    assert f"argument {flag}: {value!r} is not a whole number from 0 to " in err and "Traceback" not in err


def test_a_headstage_past_7_and_a_bad_id_to_fetch_are_usage_errors(capsys):
    assert "argument --headstage: '8' is not a whole number from 0 to 7" in misused(
        capsys, "sweeps", "human", str(HUMAN_CELL), "--headstage", "8")
    err = misused(capsys, "fetch", "human", "1", "５４１")
    assert "argument SPECIMEN_ID: '５４１' is not a whole number" in err


def test_a_filter_value_out_of_its_columns_range_is_one_line(capsys, world):
    message = fails(capsys, "cells", "human", "--filter", "cell_specimen_id", "==", str(2**70))
    assert message.endswith(f"{2**70} is out of range for cell_specimen_id (-9223372036854775808 to "
                            "9223372036854775807)")
    assert fails(capsys, "cells", "human", "--filter", "cell_specimen_id", "in", "1,x").endswith(
        "cell_specimen_id holds whole numbers, not 'x'")


def test_env_in_a_flags_value_is_not_expanded(capsys, monkeypatch):
    monkeypatch.setenv("PATCHSEQ_TEST_SECRET", SECRET)
    for command in (["files", "human"], ["sweeps", "human", str(HUMAN_CELL)]):
        message = fails(capsys, *command, "--dandi-version", "env(PATCHSEQ_TEST_SECRET)")
        assert "unknown dandiset version 'env(PATCHSEQ_TEST_SECRET)'" in message and SECRET not in message


# --- -o PATH ------------------------------------------------------------------------------------------------


def _device(tmp_path, name: str, minor: int) -> str:
    """A character device like /dev/null (minor 3) or /dev/full (7), made in ``tmp_path/out``; skip if not allowed."""
    (tmp_path / "out").mkdir(exist_ok=True)
    path = tmp_path / "out" / name
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, minor))
        os.close(os.open(path, os.O_WRONLY))
    except PermissionError:
        pytest.skip("making and opening a device node needs root and a file system that allows devices")
    return str(path)


def test_writing_to_a_null_device_writes_to_it_and_leaves_it_a_device(capsys, world, tmp_path):
    null = _device(tmp_path, "null", 3)
    assert ok(capsys, "cells", "human", "--format", "csv", "-o", null) == ""
    assert stat.S_ISCHR(os.stat(null).st_mode)


def test_a_full_device_is_one_line_naming_it_and_stays_a_device(capsys, world, tmp_path):
    full = _device(tmp_path, "full", 7)
    message = fails(capsys, "cells", "human", "-o", full)
    assert message == f"patchseq-intake: cannot write {full}: No space left on device"
    assert stat.S_ISCHR(os.stat(full).st_mode)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["full"]  # no temporary file left


def test_a_fifo_is_written_to_not_replaced(capsys, world, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []

    def read() -> None:
        with open(fifo, "rb") as stream:  # waits for the command to open it for writing
            received.append(stream.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        status = main(["cells", "human", "--format", "csv", "--columns", "cell_specimen_id", "-o", str(fifo)])
    finally:
        if reader.is_alive() and stat.S_ISFIFO(os.stat(fifo).st_mode):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # the reader is let go if nothing opened it
        reader.join(timeout=10)
    assert status == 0 and received == [("cell_specimen_id\n" + "".join(f"{c}\n" for c in HUMAN_CELLS)).encode()]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_a_symlink_is_followed_and_stays_a_link(capsys, world, tmp_path):
    target = tmp_path / "cells.csv"
    target.write_text("old")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    ok(capsys, "cells", "human", "--columns", "cell_specimen_id", "-o", str(link))
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text().split() == ["cell_specimen_id", *map(str, HUMAN_CELLS)]
    dangling = tmp_path / "dangling.csv"
    dangling.symlink_to(tmp_path / "new.csv")
    ok(capsys, "cells", "human", "-o", str(dangling))
    assert dangling.is_symlink() and "cell_specimen_id," in (tmp_path / "new.csv").read_text()


def test_a_directory_is_refused_in_one_line(capsys, world, tmp_path):
    assert fails(capsys, "cells", "human", "-o", str(tmp_path)) == (
        f"patchseq-intake: cannot write {tmp_path}: it is a directory; give the path of a file"
    )


def test_a_missing_directory_names_the_path_asked_for(capsys, world, tmp_path):
    target = tmp_path / "no" / "x.csv"
    assert fails(capsys, "cells", "human", "-o", str(target)) == (
        f"patchseq-intake: cannot write {target}: No such file or directory"
    )


@pytest.mark.parametrize("port", ["５００６", "99999", "-1", "80.0"])
def test_a_port_is_ascii_digits_from_0_to_65535_for_both_guis(capsys, port):
    from patchseq_intake.gui.catalog_gui import main as catalog_gui_main

    err = misused(capsys, "gui", "--port", port)
    assert f"argument --port: {port!r} is not a port: give a number from 0 to 65535" in err
    with pytest.raises(SystemExit) as exit_:
        catalog_gui_main(["--port", port])
    assert exit_.value.code == 2 and f"argument --port: {port!r} is not a port" in capsys.readouterr().err
