"""Labels the provider puts on clusters and jobs, sanitised to Dataproc's rules."""

from __future__ import annotations

import re
from typing import Any

from airflow_dask_provider import defaults

_INVALID = re.compile(r"[^a-z0-9_-]+")


def label_value(text: Any) -> str:
    """Return ``text`` as a valid label value: lowercase, only a-z 0-9 _ -, at most 63 characters."""
    return _INVALID.sub("-", str(text).lower()).strip("-")[:63]


def provenance_labels(context: Any) -> dict[str, str]:
    """Return the labels that say which provider, DAG and task made a resource."""
    key, value = defaults.CREATED_BY_LABEL
    ti = context["ti"]
    return {
        key: value,
        "airflow-dag-id": label_value(ti.dag_id),
        "airflow-task-id": label_value(ti.task_id),
    }
