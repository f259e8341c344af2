"""Run DAGs with the real Airflow CLI against a local Dataproc emulator (demo and end-to-end tests).

Every Airflow command runs in a subprocess with its own ``AIRFLOW_HOME``, so nothing here touches a
user's Airflow set-up.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Mapping
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

_DASHBOARD_LINE = re.compile(r"Dask dashboard: (\S+)")
#: A log line's timestamp: Airflow 3 prints ``2026-01-02T03:04:05.123456Z [info ] ...``,
#: Airflow 2 ``[2026-01-02T03:04:05.123+0000] {file.py:1} INFO - ...``.
#: Airflow 2's ``airflow dags test`` line before each task it runs.
_DAG_TEST_START = re.compile(r"\[DAG TEST\] starting task_id=(\S+)")
#: The task a log line ends by naming.
_TASK_ID_AT_END = re.compile(r"task_id=(\S+)\s*$")
_LOG_LINE = re.compile(
    r"^\[?(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d))\]?\s+"
    r"(?:\[\w+\s*\]|\{[^}]*\}\s+\w+\s+-)\s(.*)$"
)
#: What Airflow 3's console adds after a message: the logger's name and key=value pairs.
_LOG_TAIL = re.compile(r"\s+\[[\w.]+\](?:\s+\w+=\S+)*$")


def airflow_environment(
    *,
    airflow_home: Path,
    dags_folder: Path,
    emulator_host: str | None,
    storage_url: str | None,
    project_id: str = "local-project",
    region: str = "europe-west1",
) -> dict[str, str]:
    """Return the environment for Airflow commands; with ``emulator_host`` they use that emulator."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATAPROC_EMULATOR_HOST", "STORAGE_EMULATOR_HOST") and not key.startswith("AIRFLOW__")
    }
    env.update(
        {
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "GCP_PROJECT_ID": project_id,
            "GCP_REGION": region,
        }
    )
    if emulator_host:
        env["DATAPROC_EMULATOR_HOST"] = emulator_host
        env["STORAGE_EMULATOR_HOST"] = storage_url or ""
    return env


def airflow(*args: str, env: Mapping[str, str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Run ``airflow ARGS`` with the same interpreter and return what it printed."""
    return subprocess.run(
        [sys.executable, "-m", "airflow", *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def migrate_db(env: Mapping[str, str]) -> None:
    """Create the metadata database of the environment's ``AIRFLOW_HOME``."""
    result = airflow("db", "migrate", env=env)
    if result.returncode:
        raise RuntimeError(f"airflow db migrate failed:\n{result.stdout}\n{result.stderr}")


def dags_test(dag_id: str, *, env: Mapping[str, str], conf: Mapping[str, Any] | None = None) -> DagTestRun:
    """Run one whole DAG run with ``airflow dags test`` and return what happened."""
    args = ["dags", "test", dag_id]
    if conf:
        args += ["-c", json.dumps(conf)]
    result = airflow(*args, env=env)
    return DagTestRun(dag_id=dag_id, output=result.stdout + result.stderr, states=_task_states(dag_id, env))


class DagTestProcess:
    """``airflow dags test`` in the background, for runs that overlap: start it, then :meth:`wait`.

    Each overlapping run needs an ``AIRFLOW_HOME`` of its own (SQLite allows one writer) and its own
    ``logical_date``, which makes its run id.
    """

    def __init__(
        self,
        dag_id: str,
        *,
        env: Mapping[str, str],
        log_path: Path,
        conf: Mapping[str, Any] | None = None,
        logical_date: str | None = None,
    ) -> None:
        self.dag_id = dag_id
        self.env = dict(env)
        self.log_path = Path(log_path)
        args = [sys.executable, "-m", "airflow", "dags", "test", dag_id, *([logical_date] if logical_date else [])]
        if conf:
            args += ["-c", json.dumps(conf)]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                args,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def running(self) -> bool:
        """Whether the run has not ended yet."""
        return self.process.poll() is None

    def output(self) -> str:
        """What the run printed so far."""
        return self.log_path.read_text(errors="replace")

    def wait(self, timeout: float = 900) -> DagTestRun:
        """Wait for the run to end (killing its process group after ``timeout``) and return what happened."""
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        return DagTestRun(dag_id=self.dag_id, output=self.output(), states=_task_states(self.dag_id, self.env))

    def kill(self) -> None:
        """SIGKILL the whole run, its task processes included."""
        import signal

        if self.running():
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def _task_states(dag_id: str, env: Mapping[str, str]) -> dict[str, str]:
    """Return the state of each task of the DAG's newest run.

    Read from the SQLite metadata database: the CLI cannot tell this the same way on Airflow 2 and 3
    (Airflow 2's ``dags test`` does not register the DAG that ``list-runs`` asks for).
    """
    return dict(_newest_run_rows(env, "SELECT task_id, state FROM task_instance", dag_id))


def _newest_run_rows(env: Mapping[str, str], select: str, dag_id: str, *where: str) -> list[tuple[Any, ...]]:
    """Run ``select`` over the rows of the DAG's newest run; ``where`` pairs column names with values.

    The environment always uses the SQLite database in its ``AIRFLOW_HOME``.
    """
    columns, values = where[0::2], where[1::2]
    conditions = "".join(f" AND {column} = ?" for column in columns)
    query = (
        f"{select} WHERE dag_id = ?{conditions} AND run_id = "
        "(SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1)"
    )
    with closing(sqlite3.connect(Path(env["AIRFLOW_HOME"]) / "airflow.db")) as connection:
        return connection.execute(query, (dag_id, *values, dag_id)).fetchall()


class DagTestRun:
    """The outcome of ``airflow dags test``: its output and the final state of every task."""

    def __init__(self, *, dag_id: str, output: str, states: dict[str, str]) -> None:
        self.dag_id = dag_id
        self.output = output
        self.states = states

    @property
    def succeeded(self) -> bool:
        """Whether every task ended in success."""
        return bool(self.states) and all(state == "success" for state in self.states.values())

    @property
    def dashboard_urls(self) -> list[str]:
        """The Dask dashboard URLs the tasks logged."""
        return list(dict.fromkeys(_DASHBOARD_LINE.findall(self.output)))

    def log_records(self) -> list[tuple[datetime, str]]:
        """Every timestamped log line of the run as (when it was logged, message), in order.

        Airflow 2 prints some lines twice (its console and the task handler); they are kept once.
        """
        records: list[tuple[datetime, str]] = []
        seen: set[tuple[datetime, str]] = set()
        for line in self.output.splitlines():
            match = _LOG_LINE.match(line)
            if match:
                message = _LOG_TAIL.sub("", match[2]).rstrip()
                record = (datetime.fromisoformat(match[1].replace("Z", "+00:00")), message)
                if record not in seen:
                    seen.add(record)
                    records.append(record)
        return records

    def deferred_tasks(self) -> set[str]:
        """The tasks that deferred to a trigger, which ``airflow dags test`` then ran in line.

        Airflow 3 logs ``Pausing task as DEFERRED ... task_id=X``; Airflow 2 logs ``[DAG TEST] running
        trigger in line`` after its ``[DAG TEST] starting task_id=X``.
        """
        deferred: set[str] = set()
        current = None
        for line in self.output.splitlines():
            started = _DAG_TEST_START.search(line)
            if started:
                current = started[1]
            elif "[DAG TEST] running trigger in line" in line and current:
                deferred.add(current)
            elif "Pausing task as DEFERRED" in line:
                paused = _TASK_ID_AT_END.search(line)
                if paused:
                    deferred.add(paused[1])
        return deferred

    def job_summaries(self) -> list[dict[str, Any]]:
        """The JSON summary lines that jobs printed, as the submit task logged them."""
        decoder = json.JSONDecoder()
        summaries = []
        for line in self.output.splitlines():
            start = line.find('{"job"')
            if start >= 0:
                try:
                    summary = decoder.raw_decode(line[start:])[0]  # the log may add text after it
                except json.JSONDecodeError:
                    continue
                if summary not in summaries:  # Airflow 2's console repeats every log line
                    summaries.append(summary)
        return summaries


def newest_run_id(dag_id: str, *, env: Mapping[str, str]) -> str | None:
    """Return the run id of the DAG's newest run, or None before its first run."""
    with closing(sqlite3.connect(Path(env["AIRFLOW_HOME"]) / "airflow.db")) as connection:
        row = connection.execute(
            "SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)
        ).fetchone()
    return row[0] if row else None


def xcom_value(dag_id: str, task_id: str, key: str, *, env: Mapping[str, str]) -> Any:
    """Return an XCom value of the DAG's newest run (None if absent)."""
    rows = _newest_run_rows(env, "SELECT value FROM xcom", dag_id, "task_id", task_id, "key", key)
    if not rows:
        return None
    value = rows[0][0]
    return json.loads(value.decode() if isinstance(value, bytes) else value)


_EXTRA_LINK_CODE = """
import json, sys
from sqlalchemy import select
from airflow.models.dagrun import DagRun
from airflow.models.taskinstance import TaskInstance
from airflow.utils.session import create_session


def link(dag_id, task_id, link_name):
    with create_session() as session:
        run_id = session.scalars(
            select(DagRun.run_id).where(DagRun.dag_id == dag_id).order_by(DagRun.id.desc())
        ).first()
        ti = session.scalars(
            select(TaskInstance).where(
                TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id, TaskInstance.task_id == task_id
            )
        ).one()
        try:  # Airflow 3: the API server's way, from the serialized DAG
            from airflow.models.serialized_dag import SerializedDagModel

            dag = SerializedDagModel.get_dag(dag_id, session=session)
        except Exception:
            dag = None
        if dag is None:  # Airflow 2's dags test does not serialize the DAG: parse it, as its webserver can
            from airflow.models.dagbag import DagBag

            dag = DagBag(include_examples=False).get_dag(dag_id)
        return dag.get_task(task_id).get_extra_links(ti, link_name) or None


print("@@answer null", flush=True)  # ready: Airflow is imported (Airflow may log to stdout too)
for line in sys.stdin:  # one request a line: [dag_id, task_id, link_name]; one answer line each
    print("@@answer " + json.dumps(link(*json.loads(line))), flush=True)
"""
#: What starts the reader's answer lines; Airflow 3 logs to standard output as well.
_ANSWER = "@@answer "


class ExtraLinkReader:
    """Read tasks' extra links as the UI does, from one process that has imported Airflow already.

    Importing Airflow takes seconds (more on a loaded machine); a reader started beforehand answers
    within a database query, so a test can read a link while a short job still runs::

        with ExtraLinkReader(env=env) as links:
            url = links.get("dag", "task", "Dask Dashboard")
    """

    def __init__(self, *, env: Mapping[str, str], timeout: float = 120) -> None:
        self.env = dict(env)
        self.timeout = timeout
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> ExtraLinkReader:
        import queue
        import tempfile
        import threading

        # A file, not a pipe: nobody reads the errors while waiting, and a full pipe would block the reader.
        self._errors = tempfile.TemporaryFile(mode="w+")
        self._process = subprocess.Popen(
            [sys.executable, "-c", _EXTRA_LINK_CODE],
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._errors,
            text=True,
        )
        # Answers are read by a thread into a queue: waiting on the pipe itself with select() misses a
        # line that an earlier read already took into the file object's buffer.
        self._answers: queue.Queue[str | None] = queue.Queue()
        self._reading = threading.Thread(target=self._read_answers, daemon=True)
        self._reading.start()
        self._answer()  # the first answer says Airflow is imported
        return self

    def _read_answers(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            if line.startswith(_ANSWER):
                self._answers.put(line[len(_ANSWER) :].strip())
        self._answers.put(None)  # the reader ended

    def __exit__(self, *exc_info: object) -> None:
        assert self._process is not None
        self._process.stdin.close()  # type: ignore[union-attr]
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._reading.join(timeout=10)
        self._process.stdout.close()  # type: ignore[union-attr]
        self._errors.close()

    def get(self, dag_id: str, task_id: str, link_name: str) -> str | None:
        """Return an extra link of a task of the DAG's newest run (None before the task stored one)."""
        assert self._process is not None and self._process.stdin is not None
        self._process.stdin.write(json.dumps([dag_id, task_id, link_name]) + "\n")
        self._process.stdin.flush()
        return json.loads(self._answer())

    def _answer(self) -> str:
        """Return the reader's next answer, or raise with its error output if none comes in time."""
        import queue

        try:
            answer = self._answers.get(timeout=self.timeout)
        except queue.Empty:
            answer = None
        if answer is not None:
            return answer
        assert self._process is not None
        self._process.kill()
        self._process.wait()
        self._errors.seek(0)
        raise RuntimeError(f"Reading an extra link failed:\n{self._errors.read()[-3000:]}")


def extra_link(dag_id: str, task_id: str, link_name: str, *, env: Mapping[str, str]) -> str | None:
    """Return an extra link of a task of the DAG's newest run, computed by Airflow's links machinery.

    This is what the UI shows behind the link's button: the operator's registered link asked for the
    URL of that task instance. Works while the task runs and after it has ended.
    """
    with ExtraLinkReader(env=env) as links:
        return links.get(dag_id, task_id, link_name)
