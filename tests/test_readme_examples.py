"""The Python examples of the README and of docs/ name real cells, and the cells a selection's example reads are in that selection."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pandas as pd
import pytest

PROJECT = Path(__file__).resolve().parents[1]
DOCUMENTS = [PROJECT / "README.md", *sorted((PROJECT / "docs").glob("*.md"))]
REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "ipfx-data-release"
METADATA = {"human": "20200625_patchseq_metadata_human.csv", "mouse": "20200625_patchseq_metadata_mouse.csv"}
SELECTION = r"^(\w+) = cat\.(\w+)\.ephys\(filters=(\[.*\])\)"
"""``many = cat.mouse.ephys(filters=[...])``: the selection's name, its archive and its filters."""
OPS = {"==": lambda c, v: c == v, "!=": lambda c, v: c != v, "in": lambda c, v: c.isin(v)}


@pytest.fixture(scope="module")
def metadata() -> dict[str, pd.DataFrame]:
    if not REFERENCE.is_dir():
        pytest.skip(f"the release tables are not at {REFERENCE}")
    return {archive: pd.read_csv(REFERENCE / name) for archive, name in METADATA.items()}


def _python_blocks() -> list[str]:
    return [block for path in DOCUMENTS for block in re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)]


def test_every_cell_id_in_the_python_examples_is_a_real_cell(metadata):
    known = set(metadata["human"]["cell_specimen_id"]) | set(metadata["mouse"]["cell_specimen_id"])
    ids = {int(found) for block in _python_blocks() for found in re.findall(r"specimen_id=(\d+)", block)}
    assert ids, "the README's examples name no cell"
    assert ids <= known, sorted(ids - known)


def test_a_cell_read_from_a_selection_is_in_that_selection(metadata):
    """``many = cat.<archive>.ephys(filters=...)`` then ``many.sweep(n, specimen_id=X)``: X matches the filters."""
    checked = 0
    for block in _python_blocks():
        selections = {
            name: (archive, ast.literal_eval(filters))
            for name, archive, filters in re.findall(SELECTION, block, flags=re.M)
        }
        for name, cell in re.findall(r"^(\w+)\.\w+\(.*specimen_id=(\d+)", block, flags=re.M):
            if name not in selections:
                continue
            archive, filters = selections[name]
            table = metadata[archive]
            chosen = pd.Series(True, index=table.index)
            for column, op, value in filters:
                chosen &= OPS[op](table[column], value)
            assert int(cell) in set(table.loc[chosen, "cell_specimen_id"]), (name, cell, filters)
            checked += 1
    assert checked, "no example reads a cell of a selection"


def _anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_relative_link_names_a_file_and_heading_that_exist():
    checked = 0
    for document in DOCUMENTS:
        for target in re.findall(r"\]\(([^)\s]+)\)", document.read_text()):
            if re.match(r"[a-z]+://", target):
                continue
            path, _, anchor = target.partition("#")
            linked = (document.parent / path).resolve() if path else document
            assert linked.exists(), f"{document.name}: {target}"
            if anchor:
                headings = re.findall(r"^#+ (.*)$", linked.read_text(), flags=re.M)
                assert anchor in {_anchor(h) for h in headings}, f"{document.name}: {target}"
            checked += 1
    assert checked > 10


def test_every_session_in_the_python_examples_is_one_of_the_dandiset_named():
    """``<name> = cat.<dandiset>`` (or ``cat["<id>"]``) then ``<name>.ephys(session_id=X)``: X is in its listing."""
    from patchseq_intake.dandi.assets import read_listing_with_recordings
    from patchseq_intake.dandi.dandisets import find

    checked = 0
    for block in _python_blocks():
        names = dict(re.findall(r"^(\w+) = cat\.(\w+)\b", block, flags=re.M))
        for name, session in re.findall(r"\b(\w+)\.ephys\(session_id=(\d+)\)", block):
            dandiset = find(names.get(name, name))
            assets, recordings = read_listing_with_recordings(dandiset.pinned().path)
            sessions = {recording.session for recording in recordings.values()}
            assert int(session) in sessions, f"session {session} is not in {dandiset}"
            checked += 1
    assert checked >= 2, "the examples name no session of a dandiset"
