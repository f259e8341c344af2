"""How much a DAG file built on our operators adds to its parse time.

Three DAG files of the same shape (create a cluster, run a job, delete the cluster) are parsed, each
in a fresh interpreter that has already imported Airflow, as the DAG processor has:

- ``empty``: three ``EmptyOperator`` tasks, the baseline;
- ``ours``: the three operators of this provider;
- ``google``: the Google provider's Dataproc operators.

Each file is parsed ``--rounds`` times, interleaved, and the medians are compared. The figures are
the time each file adds over the baseline, measured in this one run. The last line reads
``RESULT ours_ms=N google_ms=N``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

HEADER = """
from datetime import datetime
from airflow.providers.common.compat.sdk import DAG
"""

DAGS = {
    "empty": """
from airflow.providers.standard.operators.empty import EmptyOperator
with DAG("bench_empty", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
    create = EmptyOperator(task_id="create_cluster")
    run = EmptyOperator(task_id="run_job")
    delete = EmptyOperator(task_id="delete_cluster")
    create >> run >> delete
""",
    "ours": """
from airflow_dask_provider.operators import (
    DaskDataprocCreateClusterOperator, DaskDataprocDeleteClusterOperator, DaskDataprocSubmitJobOperator,
)
where = {"project_id": "p", "region": "europe-west1"}
with DAG("bench_ours", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
    create = DaskDataprocCreateClusterOperator(task_id="create_cluster", cluster_name="c", num_workers=2, **where)
    run = DaskDataprocSubmitJobOperator(task_id="run_job", cluster_name="c", main="gs://b/job.py", **where)
    delete = DaskDataprocDeleteClusterOperator(task_id="delete_cluster", cluster_name="c", **where)
    create >> run >> delete
""",
    "google": """
from airflow.providers.google.cloud.operators.dataproc import (
    DataprocCreateClusterOperator, DataprocDeleteClusterOperator, DataprocSubmitJobOperator,
)
where = {"project_id": "p", "region": "europe-west1"}
with DAG("bench_google", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
    create = DataprocCreateClusterOperator(
        task_id="create_cluster", cluster_name="c",
        cluster_config={"worker_config": {"num_instances": 2}}, **where,
    )
    run = DataprocSubmitJobOperator(
        task_id="run_job",
        job={"placement": {"cluster_name": "c"}, "pyspark_job": {"main_python_file_uri": "gs://b/job.py"}},
        **where,
    )
    delete = DataprocDeleteClusterOperator(task_id="delete_cluster", cluster_name="c", **where)
    create >> run >> delete
""",
}

# Runs in a fresh interpreter: import Airflow as the DAG processor has, then time one parse.
PARSE = """
import importlib.util, json, sys, time
import airflow, airflow.providers.common.compat.sdk
from airflow.providers.common.compat.sdk import DAG
path = sys.argv[1]
start = time.perf_counter()
spec = importlib.util.spec_from_file_location("bench_dag", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
elapsed = time.perf_counter() - start
assert any(isinstance(v, DAG) for v in vars(module).values())
print(json.dumps({"seconds": elapsed}))
"""


def parse_seconds(path: Path) -> float:
    """Return the seconds one fresh interpreter takes to parse the DAG file at ``path``."""
    output = subprocess.run([sys.executable, "-c", PARSE, str(path)], check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7, help="parses of each file (default 7)")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        paths = {}
        for name, body in DAGS.items():
            paths[name] = Path(folder) / f"bench_{name}.py"
            paths[name].write_text(textwrap.dedent(HEADER) + textwrap.dedent(body))
        for path in paths.values():  # warm the file system cache and byte-code caches
            parse_seconds(path)
        samples: dict[str, list[float]] = {name: [] for name in DAGS}
        for _ in range(options.rounds):
            for name, path in paths.items():
                samples[name].append(parse_seconds(path))

    medians = {name: statistics.median(values) for name, values in samples.items()}
    ours_ms = (medians["ours"] - medians["empty"]) * 1000
    google_ms = (medians["google"] - medians["empty"]) * 1000
    print(f"median parse of a 3-task DAG file over {options.rounds} rounds, Airflow already imported:")
    for name, value in medians.items():
        print(f"  {name:7s} {value * 1000:8.1f} ms")
    print(f"added over EmptyOperator: ours {ours_ms:.1f} ms, Google provider {google_ms:.1f} ms")
    print(f"ours adds {ours_ms / google_ms:.3f} of what the Google provider's operators add")
    print(f"RESULT ours_ms={ours_ms:.1f} google_ms={google_ms:.1f}")


if __name__ == "__main__":
    main()
