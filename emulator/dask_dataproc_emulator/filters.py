"""The ``filter`` of ListClusters and ListJobs: ``field = value`` terms joined by ``AND``.

Clusters: ``status.state`` (a state name, ``ACTIVE`` or ``INACTIVE``), ``clusterName``, and
``labels.KEY`` (``*`` matches any value). Jobs: ``status.state`` (``ACTIVE``, ``NON_ACTIVE`` or a state
name) and ``labels.KEY``. Keywords and state names are case-insensitive; values may be quoted.
"""

from __future__ import annotations

import re

from google.cloud import dataproc_v1

from dask_dataproc_emulator.errors import InvalidArgumentError
from dask_dataproc_emulator.state import JOB_FINAL_STATES, ClusterState, JobState

Terms = list[tuple[str, str]]

_AND = re.compile(r"\s+AND\s+", re.IGNORECASE)
_TERM = re.compile(r"\s*(?P<field>[A-Za-z_][\w.-]*)\s*[=:]\s*(?P<value>\"[^\"]*\"|'[^']*'|\S+)\s*")

#: Dataproc's groups of cluster states.
CLUSTER_STATE_GROUPS = {
    "ACTIVE": {ClusterState.CREATING, ClusterState.RUNNING, ClusterState.UPDATING},
    "INACTIVE": {ClusterState.DELETING, ClusterState.ERROR, ClusterState.STOPPING, ClusterState.STOPPED},
}
_CLUSTER_FIELDS = {"status.state": "status.state", "clustername": "clusterName", "cluster_name": "clusterName"}
_JOB_FIELDS = {"status.state": "status.state"}


def parse(text: str, *, fields: dict[str, str]) -> Terms:
    """Split a filter into (field, value) terms; ``labels.KEY`` is always allowed."""
    if not text.strip():
        return []
    terms: Terms = []
    for part in _AND.split(text.strip()):
        match = _TERM.fullmatch(part)
        if match is None or re.search(r"\bOR\b", part, re.IGNORECASE):
            raise InvalidArgumentError(f"Invalid filter {text!r}: expected 'field = value' terms joined by AND")
        field, value = match["field"], match["value"].strip("\"'")
        if field.startswith("labels."):
            terms.append((field, value))
        elif field.lower() in fields:
            terms.append((fields[field.lower()], value))
        else:
            allowed = ", ".join(sorted({*fields.values(), "labels.KEY"}))
            raise InvalidArgumentError(f"Invalid filter field {field!r}; allowed: {allowed}")
    return terms


def _labels_match(labels: dict[str, str], field: str, value: str) -> bool:
    key = field[len("labels.") :]
    return key in labels and (value == "*" or labels[key] == value)


def _state_names(value: str, groups: dict[str, set[int]], enum: type) -> set[int]:
    name = value.upper()
    if name in groups:
        return groups[name]
    try:
        return {enum[name]}
    except KeyError:
        raise InvalidArgumentError(f"Invalid status.state {value!r} in filter") from None


def cluster_terms(text: str) -> Terms:
    """Parse a ListClusters filter."""
    terms = parse(text, fields=_CLUSTER_FIELDS)
    for field, value in terms:  # fail on a bad state now, even when no cluster exists
        if field == "status.state":
            _state_names(value, CLUSTER_STATE_GROUPS, ClusterState)
    return terms


def cluster_matches(cluster: dataproc_v1.Cluster, terms: Terms) -> bool:
    """Return whether a cluster passes every term."""
    for field, value in terms:
        if field == "status.state":
            ok = cluster.status.state in _state_names(value, CLUSTER_STATE_GROUPS, ClusterState)
        elif field == "clusterName":
            ok = cluster.cluster_name == value
        else:
            ok = _labels_match(dict(cluster.labels), field, value)
        if not ok:
            return False
    return True


JOB_STATE_GROUPS = {
    "ACTIVE": {state for state in JobState if state and state not in JOB_FINAL_STATES},
    "NON_ACTIVE": set(JOB_FINAL_STATES),
}


def job_terms(text: str) -> Terms:
    """Parse a ListJobs filter."""
    terms = parse(text, fields=_JOB_FIELDS)
    for field, value in terms:
        if field == "status.state":
            _state_names(value, JOB_STATE_GROUPS, JobState)
    return terms


def job_matches(job: dataproc_v1.Job, terms: Terms) -> bool:
    """Return whether a job passes every term."""
    for field, value in terms:
        if field == "status.state":
            ok = job.status.state in _state_names(value, JOB_STATE_GROUPS, JobState)
        else:
            ok = _labels_match(dict(job.labels), field, value)
        if not ok:
            return False
    return True
