"""``make demo``: run the example DAG end to end on a local Dask cluster, then stop everything.

Starts the Dataproc emulator on 127.0.0.1, creates a throw-away Airflow home under ``.demo/``, runs
``airflow dags test dask_ephemeral_etl`` (create a Dask cluster, convert CSV to Parquet on it, delete
the cluster), prints where the Parquet output and the Dask dashboard were, and stops the emulator.
Exits non-zero if any task failed or a Dask process was left behind.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from airflow_dask_provider.devtools import airflow_environment, dags_test, migrate_db
from airflow_dask_provider.emulator.testing import dask_processes, run_emulator

REPO = Path(__file__).resolve().parent.parent
DAG_ID = "dask_ephemeral_etl"


def gcs_uri(path: str, data_dir: Path) -> str:
    """Return the gs:// URI of a file the emulator keeps under its data dir."""
    local = Path(path)
    return f"gs://{local.relative_to(data_dir / 'gcs')}" if local.is_relative_to(data_dir / "gcs") else path


def main() -> int:
    workdir = REPO / ".demo"
    shutil.rmtree(workdir, ignore_errors=True)
    data_dir = workdir / "emulator"
    print(f"Starting the Dataproc emulator (data in {data_dir}) ...", flush=True)
    with run_emulator(data_dir) as emulator:
        print(f"Emulator: gRPC {emulator.grpc_target}, storage {emulator.storage_url}", flush=True)
        env = airflow_environment(
            airflow_home=workdir / "airflow",
            dags_folder=REPO / "dags",
            emulator_host=emulator.grpc_target,
            storage_url=emulator.storage_url,
        )
        print("Creating the Airflow metadata database ...", flush=True)
        migrate_db(env)
        print(f"Running airflow dags test {DAG_ID} ...", flush=True)
        run = dags_test(DAG_ID, env=env)
    (workdir / "dags-test.log").write_text(run.output)
    leftover = dask_processes()

    print(f"\nTask states: {run.states}")
    print(f"Full Airflow output: {workdir / 'dags-test.log'}")
    for url in run.dashboard_urls:
        print(f"Dask dashboard (while the cluster ran): {url}")
    for summary in run.job_summaries():
        print(f"Job summary: {summary}")
        print(f"Parquet output: {gcs_uri(summary['output'], data_dir)}")
        print(f"  on disk: {summary['output']} ({summary['rows']} rows)")
    if leftover:
        print(f"Dask processes left running: {leftover}", file=sys.stderr)
        return 1
    print("Emulator stopped; no Dask process left running.")
    if not run.succeeded:
        print(f"The DAG run failed; see {workdir / 'dags-test.log'}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
