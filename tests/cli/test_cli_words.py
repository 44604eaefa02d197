"""The command's errors in its own words: flags (``--filter COLUMN OP VALUE``, ``--columns``, ``--root``), not
Python's parameters and lists; Python keeps its own words."""

from __future__ import annotations

import pytest

import patchseq_intake
from patchseq_intake.errors import AccessError, InvalidQueryError
from patchseq_intake.testing.world import DEMO_CELLS, dandi_path
from tests.cli.test_cli import fails, run

HUMAN_CELL = 569835804  # its manifest row describes its file: no warning
COLUMNS = "valid columns: project, cell_specimen_id"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["cells", "human", "--filter", "age_days", "==", "abc"],
         "--filter age_days == abc: age_days holds numbers (e.g. 28.5), not 'abc'"),
        (["cells", "human", "--filter", "cell_specimen_id", "not in", "1,abc"],
         "--filter cell_specimen_id 'not in' 1,abc: cell_specimen_id holds whole numbers, not 'abc'"),
        (["cells", "human", "--filter", "cell_specimen_id", "==", "99999999999999999999"],
         "--filter cell_specimen_id == 99999999999999999999: 99999999999999999999 is out of range for "
         "cell_specimen_id (-9223372036854775808 to 9223372036854775807)"),
        (["cells", "human", "--filter", "structure", "==", "MTG", "--filter", "structur", "==", "x"],
         f"--filter structur == x: unknown column 'structur'; {COLUMNS}"),
        (["cells", "human", "--filter", "structure", "~", "x"],
         "--filter structure '~' x: unknown operator '~'; valid operators: ==, !=, <, <=, >, >=, in, not in"),
        (["cells", "human", "--columns", "structure", "foo"], f"--columns: unknown column(s) foo; {COLUMNS}"),
        (["cells", "human", "--filter", "structure", "in", "x,y", "--filter", "age_days", ">", "1"],
         "no human cell matches --filter structure in x,y --filter age_days '>' 1"),
        (["fetch", "human", "--filter", "structure", "==", "V1"], "no human cell matches --filter structure == V1"),
        (["cells", "human", "--filter", "structure", "in", "a,b,c,d,e,f,g"],  # more values than a message shows
         "no human cell matches --filter structure in a,b,c,d,e,f,g"),
        (["files", "human", "--filter", "dandi_path", "in", "a,b,c,d,e,f,g"],
         "no human NWB file matches --filter dandi_path in a,b,c,d,e,f,g"),
        (["fetch", "human", str(HUMAN_CELL), "--filter", "structure", "==", "V1"],
         "no human cell matches --filter structure == V1"),
        (["fetch", "human", str(HUMAN_CELL), "--filter", "structure", "==", "V1", "--filter", "age_days", "<", "1"],
         "no human cell matches --filter structure == V1 --filter age_days '<' 1"),
    ],
)
def test_a_bad_filter_or_column_is_named_as_typed(capsys, world, argv, message):
    said = fails(capsys, *argv)
    assert said == f"patchseq-intake: {message}" or (message.endswith(COLUMNS) and said.startswith(
        f"patchseq-intake: {message}, cell_specimen_name,") and said.endswith(", age_days"))


def test_a_local_copy_through_a_link_out_of_the_root_is_named_without_python_s_parameters(capsys, world, tmp_path):
    plan = next(plan for plan in DEMO_CELLS if plan.specimen_id == HUMAN_CELL)
    root = tmp_path / "dandi"
    (root / dandi_path(plan)).parent.mkdir(parents=True)
    (root / dandi_path(plan)).symlink_to(world.written[HUMAN_CELL].path)
    status, out, message = run(capsys, "sweeps", "human", str(HUMAN_CELL), "--root", str(root))
    assert (status, out) == (1, "")
    assert message.startswith(f"patchseq-intake: the path '{dandi_path(plan)}' of cell {HUMAN_CELL} leads to "
                              f"{world.written[HUMAN_CELL].path}, outside the root {root}")
    assert "access=" not in message and "root=" not in message
    with pytest.raises(AccessError, match="^access='local': the path"):  # Python keeps its words
        patchseq_intake.open_catalog().human.ephys(specimen_id=HUMAN_CELL, access="local", root=str(root)).read()


def test_python_keeps_its_words_for_a_bad_filter(world):
    with pytest.raises(InvalidQueryError, match=r"^filter on 'age_days' for the human metadata table: 'abc' is not a "
                                                r"valid double value$") as error:
        patchseq_intake.open_catalog().human.metadata(filters=[["age_days", "==", "abc"]]).read()
    assert (error.value.parameter, error.value.given) == ("filters", ["age_days", "==", "abc"])
