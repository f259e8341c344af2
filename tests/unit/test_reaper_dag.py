"""The orphan reaper DAG: hourly, no catch-up, a dry-run switch, and cheap to parse."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "dask_orphan_reaper.py"


def test_the_reaper_runs_hourly_without_catching_up():
    from airflow.models import DagBag

    dag = DagBag(dag_folder=str(DAG_FILE)).dags["dask_orphan_reaper"]
    [task] = dag.tasks

    assert task.task_id == "reap_clusters" and type(task).__name__ == "DaskDataprocReapClustersOperator"
    assert dag.catchup is False
    assert (getattr(dag, "schedule", None) or dag.schedule_interval) == "@hourly"
    assert dag.params["dry_run"] is False
    assert task.dry_run == "{{ params.dry_run }}"


def test_parsing_the_new_dags_and_sensor_loads_no_google_or_dask_module():
    code = (
        "import json, runpy, sys\n"
        f"runpy.run_path({str(DAG_FILE)!r})\n"
        "import airflow_dask_provider.sensors.idle\n"
        "heavy = ('google.cloud.dataproc_v1', 'grpc', 'distributed', 'dask', 'google.protobuf')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('grpc', 'distributed', 'dask')"
        " or m.startswith(heavy))))\n"
    )
    output = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout

    assert json.loads(output.splitlines()[-1]) == []
