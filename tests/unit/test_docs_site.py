"""The documentation site builds with warnings as errors, its internal links resolve, and its configuration
reference lists every registered option with its default.

Sphinx and MyST report a link to a missing page or heading, and a ``literalinclude`` whose marker is not
in the file, as warnings, which ``-W`` makes errors: the copies of docs/ below prove that each fails the
build naming the page. What they do not see (a link in raw HTML; one MyST resolves to the page itself
and renders as ``href="#"``, as ``../jobs/`` from a page named jobs.md) the check of the built HTML finds.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from airflow_dask_provider import get_provider_info
from tests.provider_classes import classes_of, registered_modules

REPO = Path(__file__).resolve().parents[2]
#: What ``make docs`` runs, into a folder of the test's own.
SPHINX_BUILD = [sys.executable, "-m", "sphinx", "-E", "-W", "--keep-going", "-q", "-b", "html"]


def build(source: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SPHINX_BUILD, str(source), str(out)], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    result = build(REPO / "docs", out)
    assert result.returncode == 0, result.stderr[-5000:]
    return out


def docs_copy(tmp_path: Path) -> Path:
    """Return a copy of docs/ beside links to the repository's other top-level entries, as in the checkout.

    Its API pages are their titles alone: the entries made from docstrings, which import Airflow and
    the Google provider, take most of a build's time and none of these checks' part.
    """
    for entry in REPO.iterdir():
        if entry.name != "docs" and not entry.name.startswith("."):
            (tmp_path / entry.name).symlink_to(entry)
    docs = tmp_path / "docs"
    shutil.copytree(REPO / "docs", docs, ignore=shutil.ignore_patterns("_build"))
    for page in (docs / "api").glob("*.md"):
        if page.name != "index.md":
            page.write_text(page.read_text().splitlines()[0] + "\n")
    return docs


def append(page: Path, markdown: str) -> None:
    page.write_text(page.read_text() + "\n" + markdown + "\n")


class Anchors(HTMLParser):
    """The ids of a page and the targets of its links, each marked whether it is in the page's text."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[tuple[str, bool]] = []
        self.in_text = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids.add(attributes["id"])
        if tag == "article":  # the theme's frame around what the page itself says
            self.in_text += 1
        if tag == "a" and attributes.get("name"):
            self.ids.add(attributes["name"])
        if tag == "a" and "href" in attributes:
            self.links.append((attributes["href"] or "", self.in_text > 0))

    def handle_endtag(self, tag: str) -> None:
        if tag == "article":
            self.in_text -= 1


def parsed(page: Path) -> Anchors:
    anchors = Anchors()
    anchors.feed(page.read_text())
    return anchors


def broken_links(site: Path) -> list[str]:
    """Return every internal link of the built site whose file or anchor does not exist."""
    site = site.resolve()
    pages = {page: parsed(page) for page in site.rglob("*.html")}
    broken = []
    for page, anchors in pages.items():
        for href, in_text in anchors.links:
            where = f"{page.relative_to(site)}: {href!r}"
            parts = urlsplit(href)
            if parts.scheme or parts.netloc:
                continue
            if not parts.path and not parts.fragment:
                # The theme's href="#" (back to top, this page in the menus) is this page; in the text, a
                # link MyST could not resolve (to a folder, say).
                if in_text:
                    broken.append(f"{where}: a link that leads nowhere")
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                broken.append(f"{where}: no such file")
            elif parts.fragment and target.suffix == ".html":
                if unquote(parts.fragment) not in pages[target].ids:
                    broken.append(f"{where}: no such anchor")
    return broken


def test_the_site_builds_with_warnings_as_errors(site):
    assert (site / "index.html").is_file()
    assert (site / "configuration.html").is_file()
    assert (site / "api" / "index.html").is_file()


def test_every_internal_link_of_the_site_resolves(site):
    assert broken_links(site) == []


def test_a_link_to_a_missing_heading_or_page_fails_the_build_naming_the_page(tmp_path):
    docs = docs_copy(tmp_path)
    append(docs / "connection.md", "See [a gone option](configuration.md#no_such_option) and [a gone page](gone.md).")

    result = build(docs, tmp_path / "out")

    assert result.returncode != 0
    assert re.search(r"connection\.md:\d+: WARNING: local id not found in doc 'configuration'", result.stderr)
    assert re.search(r"connection\.md:\d+: WARNING: .*gone", result.stderr), result.stderr


def test_a_literalinclude_of_a_missing_marker_fails_the_build_naming_the_page(tmp_path):
    docs = docs_copy(tmp_path)
    append(
        docs / "connection.md",
        "```{literalinclude} ../dags/dask_ephemeral_etl.py\n"
        ':start-after: "[START no_such_marker]"\n'
        ':end-before: "[END no_such_marker]"\n'
        "```",
    )

    result = build(docs, tmp_path / "out")

    assert result.returncode != 0
    assert re.search(r"connection\.md:\d+: WARNING: .*pattern not found: \[START no_such_marker\]", result.stderr), (
        result.stderr
    )


def test_the_link_check_finds_a_link_the_build_lets_through(tmp_path):
    docs = docs_copy(tmp_path)
    append(docs / "connection.md", '<a href="configuration.html#no-such-option">An HTML link</a> MyST does not read.')

    result = build(docs, tmp_path / "out")

    assert result.returncode == 0, result.stderr[-5000:]
    assert broken_links(tmp_path / "out") == ["connection.html: 'configuration.html#no-such-option': no such anchor"]


def public_classes() -> list[str]:
    """Return the dotted names of the operators, sensors, triggers and hooks of the modules Airflow
    registers from the provider, of its extra links and of its exceptions."""
    names = list(get_provider_info()["extra-links"])
    for module_name in [*registered_modules(), "airflow_dask_provider.exceptions"]:
        for name, value in classes_of(module_name):
            if name.endswith(("Operator", "Sensor", "Trigger", "Hook")) or issubclass(value, Exception):
                names.append(f"{module_name}.{name}")
    return names


def test_every_public_operator_sensor_trigger_hook_link_and_exception_has_an_api_entry(site):
    entries = set().union(*(parsed(page).ids for page in (site / "api").glob("*.html")))
    names = public_classes()

    assert len(names) >= 30
    assert [name for name in names if name not in entries] == []


OPTIONS = [
    (section, option, spec["default"])
    for section, body in get_provider_info()["config"].items()
    for option, spec in body["options"].items()
]


@pytest.mark.parametrize(("section", "option", "default"), OPTIONS, ids=[option for _, option, _ in OPTIONS])
def test_the_configuration_reference_gives_every_option_its_default_and_variable(site, section, option, default):
    html = (site / "configuration.html").read_text()
    start = html.index(f'id="{option.replace("_", "-")}"')
    entry = html[start : html.find("<section", start + 1)]
    text = re.sub(r"<[^>]+>", "", entry)

    assert f"Default:\n{default or 'empty (not set)'}" in text
    assert f"AIRFLOW__{section.upper()}__{option.upper()}" in text
