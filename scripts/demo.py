"""``make demo``: run the example DAG end to end on a local Dask cluster, then stop everything.

Starts a Dataproc emulator of its own on 127.0.0.1, creates a throw-away Airflow home under ``.demo/``,
runs ``airflow dags test dask_ephemeral_etl`` (create a Dask cluster, convert CSV to Parquet on it,
delete the cluster), prints where the Parquet output and the Dask dashboard were, and stops the
emulator. Exits non-zero if any task failed or its emulator left a Dask process behind.

``.demo/`` is the demo's alone: each run replaces the previous run's folder, and a folder it did not
make (one without its marker file) it leaves as it is and stops. Other emulators on the machine, a
``make emulator`` (data in ``.emulator/``) included, and their clusters are not its concern.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the checkout's dev tooling lives with its tests

from dask_dataproc_emulator.testing import EmulatorProcessError, dask_processes, run_emulator  # noqa: E402
from tests.devtools import airflow_environment, dags_test, migrate_db  # noqa: E402

DAG_ID = "dask_ephemeral_etl"
#: The file that marks a folder as made by the demo, which a later run may then delete.
MARKER = ".made-by-make-demo"


def gcs_uri(path: str, data_dir: Path) -> str:
    """Return the gs:// URI of a file the emulator keeps under its data dir."""
    local = Path(path)
    return f"gs://{local.relative_to(data_dir / 'gcs')}" if local.is_relative_to(data_dir / "gcs") else path


def fresh_workdir(workdir: Path) -> bool:
    """Empty the demo's folder of its previous run; return False if the folder is not the demo's."""
    if workdir.exists() and any(workdir.iterdir()):
        if not (workdir / MARKER).is_file():
            return False
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / MARKER).write_text("Made by scripts/demo.py (make demo), which deletes it at its next run.\n")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workdir", type=Path, default=REPO / ".demo", help="the demo's folder (default: .demo/ in the clone)"
    )
    workdir = parser.parse_args(argv).workdir.resolve()
    if not fresh_workdir(workdir):
        print(
            f"{workdir} was not made by the demo (it has no {MARKER} file), so the demo leaves it alone. "
            "Move or remove it, or give the demo another folder with --workdir.",
            file=sys.stderr,
        )
        return 2
    data_dir = workdir / "emulator"
    print(f"Starting the Dataproc emulator (data in {data_dir}) ...", flush=True)
    run = None
    stop_problem = None
    try:
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
    except EmulatorProcessError as err:
        if run is None:  # it did not start
            raise
        stop_problem = err  # it did not stop cleanly, or left processes (which it killed)
    (workdir / "dags-test.log").write_text(run.output)
    # Only this demo's emulator's processes: other emulators' clusters are none of its business.
    leftover = dask_processes(parent=emulator.pid)

    print(f"\nTask states: {run.states}")
    print(f"Full Airflow output: {workdir / 'dags-test.log'}")
    for url in run.dashboard_urls:
        print(f"Dask dashboard (while the cluster ran): {url}")
    for summary in run.job_summaries():
        print(f"Job summary: {summary}")
        print(f"Parquet output: {gcs_uri(summary['output'], data_dir)}")
        print(f"  on disk: {summary['output']} ({summary['rows']} rows)")
    if stop_problem:
        print(f"The demo's emulator did not stop cleanly: {stop_problem}", file=sys.stderr)
    if leftover:
        print(f"Dask processes of the demo's emulator left running: {leftover}", file=sys.stderr)
    if stop_problem or leftover:
        return 1
    print("Emulator stopped; no Dask process of the demo left running.")
    if not run.succeeded:
        print(f"The DAG run failed; see {workdir / 'dags-test.log'}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
