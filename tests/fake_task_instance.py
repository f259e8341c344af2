"""A stand-in for the task instance in a task's context, for calling operators outside Airflow."""

from __future__ import annotations

from types import SimpleNamespace


def fake_task_instance(task_id: str, run_id: str, dag_id: str = "itest") -> SimpleNamespace:
    """What the operators read from ``context["ti"]``; what they push to XCom lands in its ``pushed``."""
    pushed: dict[str, object] = {}
    return SimpleNamespace(
        dag_id=dag_id,
        task_id=task_id,
        run_id=run_id,
        map_index=-1,
        try_number=1,
        pushed=pushed,
        xcom_push=lambda key, value, **_: pushed.__setitem__(key, value),
    )
