"""How much of a run's wall time holds an Airflow worker slot: deferrable against classic mode.

Runs the example DAG ``dask_ephemeral_etl`` with ``airflow dags test`` on the local emulator (real
Dask processes), once with every operator waiting in its worker slot and once deferred
(``[operators] default_deferrable``), with a job of about 60 seconds. While each run goes, a sampler
reads the task instances' states from the metadata database every 50 ms; a task holds a worker slot
while it is ``running`` (``deferred`` tasks wait in the triggerer). The share is the slot-seconds
over the run's wall time.

    .venv/bin/python benchmarks/slot_time.py [--rows N]

Last line: ``RESULT deferrable_pct=N classic_pct=N``.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import threading
import time
from contextlib import closing
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the checkout's dev tooling lives with its tests

from dask_dataproc_emulator.testing import run_emulator  # noqa: E402
from tests.devtools import airflow_environment, dags_test, migrate_db, xcom_value  # noqa: E402

DAG_ID = "dask_ephemeral_etl"
SAMPLE_SECONDS = 0.05


class SlotSampler(threading.Thread):
    """Integrate the number of running task instances of the DAG over time."""

    def __init__(self, database: Path) -> None:
        super().__init__(daemon=True)
        self.database = database
        self.stop = threading.Event()
        self.slot_seconds = 0.0

    def run(self) -> None:
        last = time.monotonic()
        while not self.stop.is_set():
            time.sleep(SAMPLE_SECONDS)
            running = self._running()
            now = time.monotonic()
            self.slot_seconds += running * (now - last)
            last = now

    def _running(self) -> int:
        try:
            with closing(sqlite3.connect(self.database, timeout=1)) as connection:
                return connection.execute(
                    "SELECT count(*) FROM task_instance WHERE dag_id = ? AND state = 'running'", (DAG_ID,)
                ).fetchone()[0]
        except sqlite3.Error:  # the database is busy being written; count this sample as before
            return 0


def run_duration(database: Path) -> float:
    """Return the wall time of the DAG's newest run, from its start and end dates."""
    with closing(sqlite3.connect(database)) as connection:
        start, end = connection.execute(
            "SELECT start_date, end_date FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (DAG_ID,)
        ).fetchone()
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def job_seconds(emulator, env) -> float:
    job_url = xcom_value(DAG_ID, "csv_to_parquet", "dataproc_job_url", env=env)
    job_id = job_url.split("/jobs/")[1].split("?")[0]
    job = emulator.job_client().get_job(project_id="local-project", region="europe-west1", job_id=job_id)
    started = {item.state.name: item.state_start_time for item in job.status_history}.get("RUNNING")
    return (job.status.state_start_time - started).total_seconds() if started else float("nan")


def measure(emulator, home: Path, *, deferrable: bool, rows: int) -> dict[str, float]:
    env = airflow_environment(
        airflow_home=home,
        dags_folder=REPO / "dags",
        emulator_host=emulator.grpc_target,
        storage_url=emulator.storage_url,
    )
    env["AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE"] = str(deferrable)
    sampler = SlotSampler(home / "airflow.db")
    sampler.start()
    try:
        run = dags_test(DAG_ID, env=env, conf={"sample_rows": rows})
    finally:
        sampler.stop.set()
        sampler.join()
    if not run.succeeded:
        raise SystemExit(f"The run failed ({run.states}):\n{run.output[-4000:]}")
    wall = run_duration(home / "airflow.db")
    return {
        "wall_s": wall,
        "slot_s": sampler.slot_seconds,
        "job_s": job_seconds(emulator, env),
        "pct": 100 * sampler.slot_seconds / wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=24_000_000, help="rows the job converts (about 60 s here)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="slot-time-") as tmp:
        home = Path(tmp) / "airflow"
        env = airflow_environment(airflow_home=home, dags_folder=REPO / "dags", emulator_host=None, storage_url=None)
        migrate_db(env)
        with run_emulator(Path(tmp) / "emulator") as emulator:
            results = {
                mode: measure(emulator, home, deferrable=mode == "deferrable", rows=args.rows)
                for mode in ("classic", "deferrable")
            }
    print(f"{'mode':<11} {'run wall s':>10} {'job s':>7} {'slot held s':>12} {'slot share':>11}")
    for mode, figures in results.items():
        print(
            f"{mode:<11} {figures['wall_s']:>10.1f} {figures['job_s']:>7.1f} {figures['slot_s']:>12.1f}"
            f" {figures['pct']:>10.1f}%"
        )
    print(f"RESULT deferrable_pct={results['deferrable']['pct']:.1f} classic_pct={results['classic']['pct']:.1f}")


if __name__ == "__main__":
    main()
