"""The emulator serves workflow templates: the Google provider's workflow operators run against it unchanged."""

from __future__ import annotations

import textwrap

from tests.devtools import dags_test

from .conftest import REPO, environment

#: A workflow step: sums on the cluster's Dask workers, then writes what the steps before it wrote
#: (argv[3:], which must exist already) followed by "NAME:TOTAL" to argv[2].
STEP = """
import sys
from pathlib import Path
from distributed import Client

name, out, *earlier = sys.argv[1:]
with Client() as client:  # DASK_SCHEDULER_ADDRESS, as on a Dataproc master
    total = client.submit(sum, range(101)).result()
Path(out).write_text(" ".join([*(Path(path).read_text() for path in earlier), f"{name}:{total}"]))
"""


def test_google_workflow_template_operators_run_on_the_emulator(airflow_home, emulator):
    step = emulator.local_path("gs://wf-ops/jobs/step.py")
    step.parent.mkdir(parents=True, exist_ok=True)
    step.write_text(textwrap.dedent(STEP))
    env = {
        **environment(airflow_home, emulator, REPO / "tests" / "e2e" / "dags"),
        "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT": '{"conn_type": "google_cloud_platform", "extra": {"project": "local-project"}}',
    }

    run = dags_test("google_workflow_templates_on_emulator", env=env)

    assert run.states == {
        "create_template": "success",
        "instantiate": "success",
        "instantiate_deferred": "success",
        "instantiate_inline": "success",
    }, run.output[-5000:]
    assert run.deferred_tasks() == {"instantiate_deferred"}  # it waited in its trigger, polling the operation
    for out in ("instantiated", "deferred", "inline"):  # each run wrote where its parameters said
        assert emulator.local_path(f"gs://wf-ops/out/{out}/report.txt").read_text() == "count:5050 report:5050", out
    assert not emulator.local_path("gs://wf-ops/out/template").exists()  # the parameters replaced the defaults
    assert emulator.cluster_client().list_clusters(project_id="local-project", region="europe-west1").clusters == []
