"""Labels the provider puts on every cluster and job, sanitised to Dataproc's label rules.

Every resource gets ``created-by=airflow-dask-provider``, the DAG, task and run that made it, the
task's owner, and an ``expiry``: when the resource should be gone (a cluster's end of life, a job's
deadline). They drive the orphan reaper (``dags/dask_orphan_reaper.py``), billing export and per-user
accounting. Dataproc labels: keys start with a lowercase letter, keys and values use only
``a-z 0-9 _ -`` and have at most 63 characters.

The expiry is written as a UTC time in a label-safe form, ``20260102t030405z``
(``%Y%m%dt%H%M%Sz``); :func:`parse_expiry` also reads epoch seconds.
"""

from __future__ import annotations

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
        defaults.OWNER_LABEL: label_value(owner or "airflow"),
    }
    if expiry is not None:
        labels[defaults.EXPIRY_LABEL] = expiry_value(expiry)
    return labels
