"""A real browser against the local stack of ``scripts/local_airflow.py`` (Airflow 3 only).

Chromium is Debian's (``/usr/bin/chromium``, or ``$CHROMIUM``) driven by Playwright; Playwright never
downloads a browser here. A missing browser fails the tests: ``.ci/run`` installs it
(``apt-get install chromium``). Screenshots go to ``test-artifacts/browser/``.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
#: What this machine's Chromium needs to start headless, offline and as root.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class Stack:
    """The running local stack: the UI's address, a REST API client, the emulator."""

    def __init__(self, state_dir: Path, start_output: str = "") -> None:
        self.state_dir = state_dir
        state = json.loads((state_dir / "state.json").read_text())
        self.url: str = state["url"]
        self.values: dict[str, Any] = state["values"]
        self.pids: dict[str, int] = state["pids"]
        #: What ``local_airflow.py start`` printed.
        self.start_output = start_output
        #: The admin's password, which the stack's first start made (scripts/local_airflow.py's secrets).
        self.passwords_file = state_dir / "secrets" / "simple_auth_manager_passwords.json"
        self.admin_password: str = json.loads(self.passwords_file.read_text())["admin"]
        self._token: str | None = None

    def api(self, path: str, *, method: str = "GET", body: Any = None) -> Any:
        """Call Airflow's REST API as the admin user."""
        if self._token is None:
            self._token = self.token("admin", self.admin_password)
        return self._request(f"/api/v2{path}", method, body, token=self._token)

    def token(self, username: str, password: str) -> str:
        """Log in through the REST API; return the access token."""
        return self._request("/auth/token", "POST", {"username": username, "password": password})["access_token"]

    def _request(self, path: str, method: str, body: Any, token: str | None = None) -> Any:
        request = urllib.request.Request(
            self.url + path, method=method, data=json.dumps(body).encode() if body else None
        )
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        quoted = urllib.request.quote(run_id, safe="")
        listed = self.api(f"/dags/{dag_id}/dagRuns/{quoted}/taskInstances")["task_instances"]
        return {ti["task_id"]: ti["state"] for ti in listed}

    def wait_for(self, what: str, condition, timeout: float = 300.0, interval: float = 1.0, explain=None) -> Any:
        """Poll ``condition()`` until it returns something true; fail with ``what`` after ``timeout``.

        ``explain()``, when given, adds what the stack was doing to the failure message.
        """
        deadline = time.monotonic() + timeout
        while True:
            result = condition()
            if result:
                return result
            if time.monotonic() > deadline:
                pytest.fail(f"Timed out after {timeout:g} s waiting for {what}" + (f"\n{explain()}" if explain else ""))
            time.sleep(interval)

    def wait_for_task(self, dag_id: str, run_id: str, task_id: str, states: tuple[str, ...], timeout: float) -> str:
        """Wait until the task is in one of ``states``; fail at once, with the run's logs, if it cannot get there.

        It cannot once the task has ended in another state (it may have run too fast to be seen) or the
        run has ended.
        """
        ended = {"success", "failed", "upstream_failed", "skipped", "removed"}

        def reached() -> str | None:
            task_states = self.task_states(dag_id, run_id)
            state = task_states.get(task_id)
            if state in states:
                return state
            if (state in ended) or set(task_states.values()) <= ended:
                pytest.fail(f"{task_id} ended {state} before it was seen {'/'.join(states)}\n{explain()}")
            return None

        explain = functools.partial(self.explain, dag_id, run_id)
        return self.wait_for(f"{task_id} to be {'/'.join(states)}", reached, timeout, interval=0.5, explain=explain)

    def explain(self, dag_id: str, run_id: str, lines: int = 15) -> str:
        """The run's task states, the end of each unfinished or failed task's logs and of the services' logs."""
        task_states = self.task_states(dag_id, run_id)
        parts = [f"task states: {task_states}"]
        for task_id, state in task_states.items():
            if state == "success":
                continue
            for log in self.task_logs(dag_id, run_id, task_id):
                parts.append(f"--- {task_id}/{log.name} ({state}):\n{_tail(log, lines)}")
        for service in ("airflow-scheduler", "airflow-triggerer", "dataproc-emulator"):
            parts.append(f"--- {service}.log:\n{_tail(self.state_dir / 'logs' / f'{service}.log', lines)}")
        return "\n".join(parts)

    def task_logs(self, dag_id: str, run_id: str, task_id: str) -> list[Path]:
        """The task's log files (each attempt's, and its triggers')."""
        folder = (
            self.state_dir / "airflow-home" / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        )
        return sorted(folder.glob("*.log*"))

    def emulator_clusters(self, project_id: str = "local-project", region: str = "europe-west1") -> list[str]:
        import grpc
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import dataproc_v1

        target = f"127.0.0.1:{self.values['emulator_port']}"
        transport = dataproc_v1.ClusterControllerClient.get_transport_class("grpc")(
            channel=grpc.insecure_channel(target), credentials=AnonymousCredentials()
        )
        client = dataproc_v1.ClusterControllerClient(transport=transport)
        return [c.cluster_name for c in client.list_clusters(project_id=project_id, region=region)]


def local_airflow(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "scripts" / "local_airflow.py"), *args], capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="package")
def local_stack(tmp_path_factory):
    """PostgreSQL, the emulator and Airflow 3's services on 127.0.0.1, stopped and removed afterwards."""
    state_dir = tmp_path_factory.mktemp("local-airflow")
    started = local_airflow("start", "--state-dir", str(state_dir))
    if started.returncode:
        local_airflow("stop", "--state-dir", str(state_dir), "--purge")
        pytest.fail(f"The local stack did not start:\n{started.stdout}\n{started.stderr}")
    stack = Stack(state_dir, started.stdout)
    emulator_pid = stack.pids["dataproc-emulator"]
    try:
        yield stack
    finally:
        stopped = local_airflow("stop", "--state-dir", str(state_dir))
        keep_logs(state_dir, ARTIFACTS / "stack-logs")
        local_airflow("stop", "--state-dir", str(state_dir), "--purge")
        from dask_dataproc_emulator.testing import dask_processes

        left = [name for name, pid in stack.pids.items() if _alive(pid)]
        assert stopped.returncode == 0, stopped.stderr
        assert left == [], f"services left running: {left}"
        assert dask_processes(parent=emulator_pid, wait=10) == []


def keep_logs(state_dir: Path, target: Path) -> None:
    """Copy the services' logs and the task logs next to the screenshots, for a failure's post-mortem."""
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(state_dir / "logs", target / "services", dirs_exist_ok=True)
    for tasks in (state_dir / "airflow-home" / "logs").glob("dag_id=*"):
        shutil.copytree(tasks, target / "tasks" / tasks.name, dirs_exist_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][0] != "Z"


@pytest.fixture(scope="package")
def browser():
    """Headless Chromium from Debian; never a downloaded one.

    Package-scoped on purpose: while Playwright's sync API is open it marks its event loop as running in
    this thread, and every later ``asyncio.run()`` (the trigger tests) would fail.
    """
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            f"No Chromium at {CHROMIUM}: install Debian's (apt-get install chromium; .ci/run does) or set $CHROMIUM"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()
    assert asyncio._get_running_loop() is None, "Playwright left its event loop marked as running"


@pytest.fixture
def page(browser, local_stack):
    """A page logged into the stack's UI as the admin user."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(local_stack.url + "/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(local_stack.admin_password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)
    yield page
    context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def _tail(path: Path, lines: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as error:
        return f"({error})"
