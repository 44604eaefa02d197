"""The suite on several workers (pytest-xdist): the tests that must not run beside each other are one work unit."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ONE_AT_A_TIME, ONE_AT_A_TIME_MODULES, pytest_xdist_make_scheduler

PROJECT = Path(__file__).resolve().parents[1]


class _Config:
    """What pytest-xdist's scheduler reads of pytest's config: ``--dist`` and the workers (``-n 2``: two ``popen``)."""

    def __init__(self, dist: str):
        self.dist = dist

    def getoption(self, name: str) -> str:
        assert name == "dist"
        return self.dist

    def getvalue(self, name: str) -> list[str]:
        assert name == "tx"
        return ["2*popen"]


def test_every_module_run_one_at_a_time_exists():
    """A module renamed or moved would leave the group silently (its tests then run beside the others)."""
    assert ONE_AT_A_TIME_MODULES and all((PROJECT / module).is_file() for module in ONE_AT_A_TIME_MODULES)


def test_the_modules_tests_are_one_work_unit_and_every_other_test_its_own():
    pytest.importorskip("xdist")
    scheduler = pytest_xdist_make_scheduler(_Config("loadgroup"), None)
    grouped = [f"{module}::test_{n}[case]" for module in sorted(ONE_AT_A_TIME_MODULES) for n in range(2)]
    assert {scheduler._split_scope(nodeid) for nodeid in grouped} == {ONE_AT_A_TIME}
    other = ["tests/test_config.py::test_a", "tests/test_config.py::test_b", "tests/gui/test_cell_browser.py::test_c"]
    assert [scheduler._split_scope(nodeid) for nodeid in other] == other
    assert scheduler._split_scope("tests/test_config.py::test_a@mine") == "mine"  # an xdist_group, where xdist sees it


def test_other_distributions_are_left_to_pytest_xdist():
    assert pytest_xdist_make_scheduler(_Config("loadfile"), None) is None
