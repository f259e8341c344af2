"""The own-DAG recipe of docs/guides/getting-started.md, followed as written, in a fresh Airflow home.

Each block after a ``<!-- recipe: ... -->`` comment runs as it is, but the installation (this
environment has done it: its ``airflow`` and ``dask-dataproc-emulator`` come first on the ``PATH``).
Only the ports (free ones for 8790 and 8791) and the home folder (a temporary one for ``~``) differ.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from dask_dataproc_emulator.processes import with_death_signal
from dask_dataproc_emulator.testing import dask_processes, unused_ports

from .conftest import REPO

GUIDE = REPO / "docs" / "guides" / "getting-started.md"
#: A recipe block: the comment (its kind, and for a file, where to save it), then the fenced code.
BLOCK = re.compile(r"<!-- recipe: (\w+)(?: (\S+))? -->\n```\w+\n(.*?)\n```\n", re.DOTALL)


def recipe() -> list[tuple[str, str, str]]:
    """Return the recipe's blocks in order, as (kind, path of a file or "", code)."""
    return BLOCK.findall(GUIDE.read_text())


def shell_environment(home: Path) -> dict[str, str]:
    """A shell with no Airflow or emulator settings, the temporary home and this environment's commands."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AIRFLOW") and key not in ("DATAPROC_EMULATOR_HOST", "STORAGE_EMULATOR_HOST")
    }
    env["HOME"] = str(home)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    return env


def wait_for_emulator(data_dir: Path, process: subprocess.Popen, timeout: float = 60) -> int:
    """Return the emulator's pid once it listens (from the ``emulator.json`` it writes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the emulator exited with code {process.returncode}"
        try:
            return json.loads((data_dir / "emulator.json").read_text())["pid"]
        except (OSError, ValueError, KeyError):
            time.sleep(0.2)
    raise AssertionError(f"the emulator did not listen within {timeout:g} s")


class Followed:
    """What following the recipe did."""

    def __init__(self, home: Path, run_block: str, result: subprocess.CompletedProcess[str]) -> None:
        self.home = home
        self.run_block = run_block
        self.result = result
        self.emulator_code: int | None = None
        self.leftovers: list = []


@pytest.fixture(scope="module")
def followed(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    env = shell_environment(home)
    ports = dict(zip(("8790", "8791"), map(str, unused_ports(2)), strict=True))
    blocks = [(kind, path, re.sub(r"879[01]", lambda m: ports[m[0]], code)) for kind, path, code in recipe()]
    [emulator_command] = [code for kind, _, code in blocks if kind == "emulator"]
    script = []  # what the second terminal runs: the Airflow set-up, the two files, the run
    for kind, path, code in blocks:
        if kind in ("airflow", "run"):
            script.append(code)
        elif kind == "file":
            script.append(f"cat > \"{path}\" <<'RECIPE_EOF'\n{code}\nRECIPE_EOF")
    [run_block] = [code for kind, _, code in blocks if kind == "run"]

    with (home / "emulator-terminal.log").open("wb") as log:
        terminal = subprocess.Popen(
            with_death_signal(["/bin/bash", "-c", emulator_command]),
            env=env,
            cwd=home,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    emulator_pid = wait_for_emulator(home / "dask-emulator", terminal)
    try:
        result = subprocess.run(
            ["/bin/bash", "-e", "-c", "\n".join(script)],
            env=env,
            cwd=home,
            capture_output=True,
            text=True,
            timeout=900,
        )
    finally:
        os.killpg(terminal.pid, signal.SIGINT)  # Ctrl-C in the emulator's terminal
        terminal.wait(timeout=120)
    outcome = Followed(home, run_block, result)
    outcome.emulator_code = terminal.returncode
    outcome.leftovers = dask_processes(parent=emulator_pid, wait=10)
    for leftover in outcome.leftovers:
        os.kill(leftover.pid, signal.SIGKILL)
    return outcome


def test_the_recipe_has_every_step_in_order():
    assert [(kind, path) for kind, path, _ in recipe()] == [
        ("install", ""),
        ("emulator", ""),
        ("airflow", ""),
        ("file", "$AIRFLOW_HOME/dags/my_dag.py"),
        ("file", "$AIRFLOW_HOME/dags/my_job.py"),
        ("run", ""),
    ]


def test_every_task_of_the_dag_succeeds(followed):
    with closing(sqlite3.connect(followed.home / "my-airflow" / "airflow.db")) as database:
        states = dict(database.execute("SELECT task_id, state FROM task_instance WHERE dag_id = 'my_dag'"))

    assert followed.result.returncode == 0, followed.result.stdout[-5000:] + followed.result.stderr[-5000:]
    assert states == {"create_cluster": "success", "stats": "success", "delete_cluster": "success"}


def test_the_output_lands_where_the_recipe_says(followed):
    [where] = re.findall(r"^cat ~/(\S+)$", followed.run_block, re.MULTILINE)
    output = followed.home / where

    result = json.loads(output.read_text())

    assert where == "dask-emulator/gcs/my-bucket/my_dag/stats.json"
    assert result["rows"] == 1_000_000
    assert 0.49 < result["mean"] < 0.51
    assert json.dumps(result) in followed.result.stdout  # what the recipe's cat printed


def test_the_job_output_is_in_the_task_log(followed):
    assert "[driver] Connected to " in followed.result.stdout + followed.result.stderr


def test_ctrl_c_stops_the_emulator_and_every_dask_process(followed):
    assert followed.emulator_code == 0
    assert followed.leftovers == []
