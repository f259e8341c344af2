"""jobs/bursty.py, run as a plain file against a real two-worker Dask cluster."""

from __future__ import annotations

import ast

from airflow_dask_provider.jobs import bursty

from .conftest import JOBS

ARGS = ["--phases", "2", "--tasks-per-phase", "8", "--task-seconds", "0.01", "--quiet-seconds", "0.1", "--seed", "3"]


def test_result_is_complete_and_correct(run_job, dask_cluster, tmp_path):
    run = run_job("bursty.py", "--scheduler-address", dask_cluster.scheduler_address, *ARGS, cwd=tmp_path)

    assert run.returncode == 0, run.stderr
    summary = run.summary
    expected = bursty.expected_values(3, 2, 8)
    assert summary["correct"] is True
    assert summary["tasks"] == summary["executions"] == 16
    assert summary["per_phase"] == [sum(phase) % bursty.MODULUS for phase in expected]
    assert summary["result"] == sum(map(sum, expected)) % bursty.MODULUS


def test_values_depend_on_seed_phase_and_index_only():
    assert bursty.task_value(1, 0, 5) == bursty.task_value(1, 0, 5)
    assert len({bursty.task_value(1, p, i) for p in range(3) for i in range(50)}) == 150
    assert bursty.run_task((1, 2), 5, 0) == bursty.task_value(1, 2, 5)


def test_bad_arguments_exit_with_status_2(run_job, tmp_path):
    assert run_job("bursty.py", "--phases", "0", cwd=tmp_path).returncode == 2


def test_imports_neither_airflow_nor_the_provider():
    tree = ast.parse((JOBS / "bursty.py").read_text())
    imported = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    } | {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}

    assert not imported & {"airflow", "airflow_dask_provider"}
