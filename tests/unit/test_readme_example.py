"""The README's example is the marked part of an example DAG that the tests run, not a copy that can drift."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
DAG = REPO / "dags" / "dask_ephemeral_etl.py"
MARKER = "readme_example"
#: A marker comment of the guides' literalincludes, nested in the README's part: not code.
MARKER_LINE = re.compile(r"^\s*# \[(START|END) \w+\]\s*$")


def normalised(code: str) -> str:
    """Return code without marker lines, its common indentation and trailing blanks."""
    lines = [line.rstrip() for line in code.splitlines() if not MARKER_LINE.match(line)]
    return textwrap.dedent("\n".join(lines)).strip("\n")


def marked_part(source: str, name: str) -> str:
    starts = re.findall(rf"^\s*# \[START {name}\]$", source, re.MULTILINE)
    ends = re.findall(rf"^\s*# \[END {name}\]$", source, re.MULTILINE)
    assert (len(starts), len(ends)) == (1, 1), f"{name}: {len(starts)} START and {len(ends)} END markers"
    return source.split(starts[0], 1)[1].split(ends[0], 1)[0]


def readme_python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", README.read_text(), re.DOTALL | re.MULTILINE)


def test_the_readme_shows_one_python_example():
    assert len(readme_python_blocks()) == 1


def test_the_readme_example_is_the_marked_part_of_the_example_dag():
    (block,) = readme_python_blocks()

    assert normalised(block) == normalised(marked_part(DAG.read_text(), MARKER))


def test_the_readme_names_the_dag_its_example_comes_from():
    assert "(dags/dask_ephemeral_etl.py)" in README.read_text()


def test_normalising_ignores_indentation_and_marker_lines_only():
    dag_side = "    # [START howto_x]\n    a = f(\n        1,\n    )\n    # [END howto_x]\n"

    assert normalised(dag_side) == "a = f(\n    1,\n)"
    assert normalised(dag_side) != normalised("a = f(\n    2,\n)")
