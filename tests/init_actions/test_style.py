"""House style of the initialization actions: ShellCheck clean, shared helpers kept identical."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_dask_provider import bundled
from airflow_dask_provider.bundled import init_action_path
from tests.init_actions.conftest import SCRIPTS

REPO = Path(__file__).resolve().parents[2]
ALL_SCRIPTS = sorted((REPO / "init_actions").rglob("*.sh"))
#: Shell scripts of the repository's own tooling, held to the same ShellCheck standard.
TOOL_SCRIPTS = sorted((REPO / "scripts").glob("*.sh"))
SHARED_HELPERS = ("log", "die", "get_metadata_attribute", "retry", "write_file", "require_match")


def function_source(script: Path, name: str) -> str:
    """Return the text of the top-level bash function NAME, with the comment block above it."""
    pattern = rf"(?:^#[^\n]*\n)*^{re.escape(name)}\(\) \{{\n(?:[^\n]*\n)*?\}}\n"
    match = re.search(pattern, script.read_text(), re.M)
    assert match, f"{script.name} has no function {name}"
    return match.group(0)


def test_shellcheck_reports_nothing():
    shellcheck = Path(sys.executable).parent / "shellcheck"
    result = subprocess.run(
        [str(shellcheck), "--shell=bash", "--external-sources", *map(str, ALL_SCRIPTS + TOOL_SCRIPTS)],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize("helper", SHARED_HELPERS)
def test_shared_helpers_are_identical_in_every_script(helper):
    copies = {script.name: function_source(script, helper) for script in SCRIPTS.values()}

    assert len(set(copies.values())) == 1, f"{helper} drifted between {sorted(copies)}"


@pytest.mark.parametrize("script", ALL_SCRIPTS, ids=lambda p: p.name)
def test_scripts_are_strict_guarded_and_never_trace(script):
    text = script.read_text()

    assert "\nset -Eeuo pipefail\n" in text
    assert text.rstrip().endswith('if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then\n  main "$@"\nfi')
    assert not re.search(r"^\s*set [-+][a-zA-Z]*x", text, re.M)
    assert "eval " not in text
    assert len(re.findall(r"^get_metadata_attribute\(\)", text, re.M)) == 1


def test_bundled_scripts_are_found_by_name():
    assert init_action_path("dask.sh") == REPO / "init_actions" / "dask.sh"
    assert init_action_path("nfs-mount.sh").is_file()


def test_bundled_scripts_are_found_in_a_wheel_layout(tmp_path, monkeypatch):
    installed = tmp_path / "site-packages" / "airflow_dask_provider" / "init_actions"
    installed.mkdir(parents=True)
    (installed / "dask.sh").write_text("#!/usr/bin/env bash\n")
    monkeypatch.setattr(bundled, "_INIT_ACTION_LOCATIONS", (installed, tmp_path / "site-packages" / "init_actions"))

    assert init_action_path("dask.sh") == installed / "dask.sh"


@pytest.mark.parametrize("name", ["missing.sh", "../setup.cfg", ""])
def test_unknown_script_names_raise(name):
    with pytest.raises(FileNotFoundError):
        init_action_path(name)
