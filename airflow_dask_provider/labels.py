"""Labels the provider puts on every cluster and job, sanitised to Dataproc's label rules.

Every resource gets ``created-by=airflow-dask-provider``, the DAG, task and run that made it (the
run also as ``airflow-run-key``, a digest that is never cut), the task's owner, and an ``expiry``: when
the resource should be gone (a cluster's end of life, a job's deadline). They drive cluster ownership
(a create adopts only its own run's cluster; a teardown leaves a cluster another run's job is on), the
orphan reaper (``dags/dask_orphan_reaper.py``), billing export and per-user accounting. Dataproc labels: keys start with a lowercase letter, keys and values use only
``a-z 0-9 _ -`` and have at most 63 characters.

The expiry is written as a UTC time in a label-safe form, ``20260102t030405z``
(``%Y%m%dt%H%M%Sz``); :func:`parse_expiry` also reads epoch seconds.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone
from typing import Any

from airflow_dask_provider import defaults

_INVALID = re.compile(r"[^a-z0-9_-]+")
_EXPIRY_FORMAT = "%Y%m%dt%H%M%Sz"


def label_value(text: Any) -> str:
    """Return ``text`` as a valid label value: lowercase, only a-z 0-9 _ -, at most 63 characters."""
    return _INVALID.sub("-", str(text).lower()).strip("-")[:63].rstrip("-")


def expiry_value(when: float) -> str:
    """Return the label value of an expiry at ``when`` (seconds since the epoch)."""
    return datetime.fromtimestamp(when, timezone.utc).strftime(_EXPIRY_FORMAT).lower()


def parse_expiry(value: str | None) -> float | None:
    """Return the expiry a label holds in seconds since the epoch, or None when it holds none."""
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        return datetime.strptime(value, _EXPIRY_FORMAT).replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        return None


def run_key(dag_id: str, run_id: str) -> str:
    """Return the label value that names one DAG run: a digest, as a run id may be longer than a label."""
    return hashlib.sha256(f"{dag_id}\n{run_id}".encode()).hexdigest()[:20]


def context_run_key(context: Any) -> str:
    """Return the :func:`run_key` of the task's own DAG run."""
    ti = context["ti"]
    return run_key(ti.dag_id, ti.run_id)


def describe_run(labels: dict[str, str]) -> str:
    """Return who made a resource, from its provenance labels, as a phrase for a message."""
    if defaults.RUN_KEY_LABEL not in labels:
        return "no Airflow run of this provider (it has no airflow-run-key label)"
    return "run {run} of DAG {dag} (task {task}, owner {owner})".format(
        run=labels.get(defaults.RUN_ID_LABEL, "?"),
        dag=labels.get(defaults.DAG_ID_LABEL, "?"),
        task=labels.get(defaults.TASK_ID_LABEL, "?"),
        owner=labels.get(defaults.OWNER_LABEL, "?"),
    )


def derived_cluster_name(context: Any) -> str:
    """Return the cluster name of a task that gives none: the same for every task of one task group
    in one DAG run (and one map index), different for every other run, so concurrent runs never share.

    ``dask-DAG-GROUP-DIGEST`` (no second ``dask`` when the DAG id starts with it), at most 51 characters
    (Dataproc's limit): the DAG id and task group id made label-safe and cut, then a digest of the DAG id, run id, task group id and map index.
    """
    ti = context["ti"]
    task = context.get("task") or getattr(ti, "task", None)
    group = getattr(getattr(task, "task_group", None), "group_id", None) or ""
    map_index = getattr(ti, "map_index", -1)
    map_index = -1 if map_index is None else map_index
    digest = hashlib.sha256(f"{ti.dag_id}\n{ti.run_id}\n{group}\n{map_index}".encode()).hexdigest()[:10]

    def part(text: str, size: int) -> str:
        return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:size].strip("-")

    dag = part(ti.dag_id, defaults.DERIVED_NAME_DAG_CHARS)
    parts = [dag if dag.startswith("dask") else f"dask-{dag}", part(group, defaults.DERIVED_NAME_GROUP_CHARS)]
    return "-".join([*filter(None, parts), digest])


def provenance_labels(context: Any, *, owner: str | None = None, expiry: float | None = None) -> dict[str, str]:
    """Return the labels that say which provider, DAG, task, run and owner made a resource, and until when.

    :param context: the task's context.
    :param owner: the task's owner; ``airflow`` (Airflow's default owner) when omitted.
    :param expiry: when the resource should be gone, in seconds since the epoch; no label when omitted.
    """
    key, value = defaults.CREATED_BY_LABEL
    ti = context["ti"]
    labels = {
        key: value,
        defaults.DAG_ID_LABEL: label_value(ti.dag_id),
        defaults.TASK_ID_LABEL: label_value(ti.task_id),
        defaults.RUN_ID_LABEL: label_value(ti.run_id),
        defaults.RUN_KEY_LABEL: run_key(ti.dag_id, ti.run_id),
        defaults.OWNER_LABEL: label_value(owner or "airflow"),
    }
    if expiry is not None:
        labels[defaults.EXPIRY_LABEL] = expiry_value(expiry)
    return labels
