"""The operator guides include their code from DAGs the tests run, and name every public class.

Each ``literalinclude`` of ``docs/**/*.md`` names an existing DAG file and START and END markers that
occur in it exactly once, in that order; every operator, sensor, hook and trigger of the provider's
modules (``get_provider_info()``) has a heading in ``docs/operators/*.md`` whose section includes an
example. The Sphinx build catches the same mistakes; this test is the quick one.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.provider_classes import classes_of, registered_modules

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
#: Where the included code may come from: DAG folders whose every file the e2e tests run.
DAG_FOLDERS = (REPO / "dags", REPO / "tests" / "e2e" / "dags")
INCLUDE = re.compile(r"^```\{literalinclude\} (\S+)\n((?::[\w-]+:.*\n)*)", re.MULTILINE)
OPTION = re.compile(r"^:([\w-]+):\s*(.*)$", re.MULTILINE)
HEADING = re.compile(r"^(#+) (.*)$", re.MULTILINE)
SUFFIXES = ("Operator", "Sensor", "Hook", "Trigger")


def includes() -> list[tuple[Path, str, dict[str, str]]]:
    """Return every literalinclude of the docs as (page, target, options)."""
    found = []
    for page in sorted(DOCS.glob("**/*.md")):
        for target, options in INCLUDE.findall(page.read_text()):
            values = {key: value.strip().strip("\"'") for key, value in OPTION.findall(options)}
            found.append((page, target, values))
    return found


def public_classes() -> list[str]:
    """Return the operator, sensor, hook and trigger classes of the modules the provider registers."""
    return sorted(
        {
            name
            for module_name in registered_modules()
            for name, _ in classes_of(module_name)
            if name.endswith(SUFFIXES) and "Base" not in name
        }
    )


def sections() -> dict[str, str]:
    """Return each heading's text in docs/operators/*.md with its section (up to the next heading of its level)."""
    found = {}
    for page in sorted((DOCS / "operators").glob("*.md")):
        text = page.read_text()
        headings = list(HEADING.finditer(text))
        for index, heading in enumerate(headings):
            level = len(heading.group(1))
            end = next((h.start() for h in headings[index + 1 :] if len(h.group(1)) <= level), len(text))
            found[heading.group(2).strip().strip("`")] = text[heading.end() : end]
    return found


def test_the_guides_have_includes():
    assert len(includes()) >= 15


@pytest.mark.parametrize(
    ("page", "target", "options"),
    includes(),
    ids=lambda value: str(value.relative_to(REPO)) if isinstance(value, Path) else None,
)
def test_each_include_names_a_dag_and_markers_that_occur_once_in_it(page, target, options):
    source = (page.parent / target).resolve()
    assert source.is_file(), f"{page.name}: {target} does not exist"
    assert source.parent in DAG_FOLDERS, f"{page.name}: {target} is not in a DAG folder the tests run"
    start, end = options.get("start-after"), options.get("end-before")
    assert start and end, f"{page.name}: include of {target} without :start-after: and :end-before:"
    assert re.fullmatch(r"\[START (\w+)\]", start) and end == start.replace("[START", "[END"), (start, end)

    text = source.read_text()
    assert text.count(start) == 1, f"{start} occurs {text.count(start)} times in {target}"
    assert text.count(end) == 1, f"{end} occurs {text.count(end)} times in {target}"
    assert text.index(start) < text.index(end)
    assert text.split(start, 1)[1].split(end, 1)[0].strip(), f"{start} of {target} marks nothing"


def test_the_provider_has_the_classes_the_guides_expect():
    assert {
        "DaskDataprocCreateClusterOperator",
        "DaskDataprocAutoscaleOperator",
        "DaskDataprocIdleSensor",
        "DaskDataprocHook",
        "DaskSchedulerHook",
        "DaskDataprocIdleTrigger",
    } <= set(public_classes())


@pytest.mark.parametrize("name", public_classes())
def test_every_public_class_has_a_guide_section_with_an_example(name):
    found = sections()

    assert name in found, f"no heading {name} in docs/operators/*.md"
    assert "```{literalinclude}" in found[name], f"the section {name} includes no example"
