"""What ``tests.devtools.DagTestRun`` reads from ``airflow dags test`` output, on Airflow 2 and 3."""

from __future__ import annotations

from tests.devtools import DagTestRun

AIRFLOW_2 = """\
[2026-12-07T18:42:45.975+0000] {dag.py:4396} INFO - [DAG TEST] starting task_id=instantiate map_index=-1
[2026-12-07T18:42:45.990+0000] {taskinstance.py:361} INFO - Marking task as SUCCESS. dag_id=d, task_id=instantiate
[2026-12-07T18:42:45.975+0000] {dag.py:4396} INFO - [DAG TEST] starting task_id=instantiate_deferred map_index=-1
[2026-12-07T18:42:46.003+0000] {dag.py:4403} INFO - [DAG TEST] running trigger in line
[2026-12-07T18:42:51.055+0000] {dag.py:4407} INFO - [DAG TEST] Trigger completed
"""
AIRFLOW_3 = """\
2026-12-07T17:41:50.047214Z [info     ] Pausing task as DEFERRED. dag_id=d task_id=create_cluster
2026-12-07T17:41:51.047214Z [info     ] Task finished dag_id=d task_id=submit
2026-12-07T17:41:52.047214Z [info     ] Pausing task as DEFERRED. dag_id=d task_id=delete_cluster
"""


def run_of(output: str) -> DagTestRun:
    return DagTestRun(dag_id="d", output=output, states={})


def test_airflow_2s_in_line_trigger_names_the_task_started_before_it():
    assert run_of(AIRFLOW_2).deferred_tasks() == {"instantiate_deferred"}


def test_airflow_3s_deferred_line_names_its_task():
    assert run_of(AIRFLOW_3).deferred_tasks() == {"create_cluster", "delete_cluster"}


def test_a_run_without_triggers_deferred_nothing():
    assert run_of(AIRFLOW_2.split("[2026-12-07T18:42:46.003")[0]).deferred_tasks() == set()
