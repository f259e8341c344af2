"""Every check of a value a DAG author or an administrator gives, in one place.

Each check returns the value as the provider uses it (whole seconds, an int, the labels as strings) or
raises :class:`~airflow_dask_provider.exceptions.ClusterSpecError` naming the field, the value and what
is allowed. They run at DAG parse time for literal values, so this module imports only the standard
library, :mod:`~airflow_dask_provider.defaults` and :mod:`~airflow_dask_provider.exceptions`; the
cluster spec, the configuration, the operators and the scaling policies import it, never the reverse.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from airflow_dask_provider import defaults
from airflow_dask_provider.exceptions import ClusterSpecError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
_DURATION_RULE = "expected seconds, a timedelta or text like '2h', '90m', '3600s'"
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
_SERVICE_ACCOUNT = re.compile(r"^[a-z0-9][a-z0-9._+-]{0,99}@[a-z0-9][a-z0-9.-]*\.[a-z]{2,}$")
_CLUSTER_NAME = re.compile(r"^[a-z](?:[a-z0-9-]{0,49}[a-z0-9])?$")
_JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
#: Dataproc regions (``europe-west1``, ``us-central1``, ``global``); project ids, domain-scoped ones too.
_REGION = re.compile(r"^[a-z][a-z0-9-]*$")
_PROJECT = re.compile(r"^[a-z0-9][a-z0-9.:-]*$")


def parse_duration(field: str, value: Any) -> int:
    """Return ``value`` in whole seconds; accept seconds, a ``timedelta`` or text such as ``"90m"``."""
    if isinstance(value, timedelta):
        return int(value.total_seconds())
    if isinstance(value, bool):
        raise ClusterSpecError(field, value, _DURATION_RULE)
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return int(float(match.group(1)) * _DURATION_UNITS[match.group(2)])
    raise ClusterSpecError(field, value, _DURATION_RULE)


def format_duration(seconds: float) -> str:
    """Return ``seconds`` as the shortest exact text of days, hours, minutes or seconds, e.g. ``"90m"``."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def whole_number(field: str, value: Any, low: int, high: int) -> int:
    """Return ``value`` as an int from ``low`` to ``high``; numeric text counts, so rendered templates pass.

    A bool, a fraction (``2.5``) or anything ``int()`` refuses is not a whole number.
    """
    try:
        if isinstance(value, bool):
            raise ValueError
        number = int(value)
        if not isinstance(value, (int, str)) and number != value:
            raise ValueError
    except (TypeError, ValueError):
        raise ClusterSpecError(field, value, f"must be a whole number from {low} to {high}") from None
    if not low <= number <= high:
        raise ClusterSpecError(field, value, f"must be from {low} to {high}")
    return number


def seconds_in(field: str, value: Any, low: float, high: float) -> float:
    """Return ``value`` as a finite number of seconds from ``low`` to ``high``; numeric text counts."""
    allowed = f"must be seconds from {low:g} to {high:g}"
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
    except (TypeError, ValueError):
        raise ClusterSpecError(field, value, allowed) from None
    if not (math.isfinite(number) and low <= number <= high):
        raise ClusterSpecError(field, value, allowed)
    return number


def primary_workers(field: str, value: Any, *, single_node: bool = True) -> int:
    """Return a count of primary workers: Dataproc needs at least :data:`~defaults.MIN_PRIMARY_WORKERS`
    (two), or none for a single-node cluster where ``single_node`` allows it."""
    low = 0 if single_node else defaults.MIN_PRIMARY_WORKERS
    number = whole_number(field, value, low, defaults.MAX_INSTANCES)
    if 0 < number < defaults.MIN_PRIMARY_WORKERS:
        allowed = f"must be 0 (single node) or from {defaults.MIN_PRIMARY_WORKERS} to {defaults.MAX_INSTANCES}"
        raise ClusterSpecError(field, value, allowed)
    return number


def ttl_seconds(field: str, value: Any) -> int:
    """Return an idle-delete or auto-delete TTL in seconds, within Dataproc's range (10 minutes to 14 days)."""
    seconds = parse_duration(field, value)
    if not defaults.MIN_TTL_SECONDS <= seconds <= defaults.MAX_TTL_SECONDS:
        raise ClusterSpecError(field, value, "must be from 10 minutes to 14 days (Dataproc's range)")
    return seconds


def one_of(field: str, value: Any, allowed: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``allowed``."""
    if value not in allowed:
        raise ClusterSpecError(field, value, f"must be one of {', '.join(allowed)}")
    return value


def matches(field: str, value: Any, pattern: re.Pattern[str], allowed: str) -> str:
    """Return ``value`` if it is text that ``pattern`` matches; ``allowed`` says in words what does."""
    if not isinstance(value, str) or not pattern.match(value):
        raise ClusterSpecError(field, value, allowed)
    return value


def validate_cluster_name(name: Any) -> str:
    """Return ``name`` after checking Dataproc's cluster name rules."""
    return matches(
        "cluster_name",
        name,
        _CLUSTER_NAME,
        "must start with a lowercase letter, use only a-z, 0-9 and '-', not end with '-', at most 51 characters",
    )


def validate_labels(labels: Mapping[str, Any], field: str = "labels") -> dict[str, str]:
    """Return ``labels`` as strings after checking Dataproc's label rules."""
    if not isinstance(labels, Mapping):
        raise ClusterSpecError(field, labels, "must be a mapping of label keys to values")
    if len(labels) > defaults.MAX_LABELS:
        allowed = f"at most {defaults.MAX_LABELS} labels (Dataproc's limit)"
        raise ClusterSpecError(field, f"{len(labels)} labels", allowed)
    rules = "keys start with a lowercase letter; keys and values use only a-z, 0-9, '_', '-', at most 63 characters"
    checked = {}
    for key, value in labels.items():
        text = "" if value is None else str(value)
        if not isinstance(key, str) or not _LABEL_KEY.match(key):
            raise ClusterSpecError(f"{field} key", key, rules)
        if not _LABEL_VALUE.match(text):
            raise ClusterSpecError(f"{field}[{key}]", value, rules)
        checked[key] = text
    return checked


def validate_service_account(email: Any, field: str = "service_account") -> str:
    """Return ``email`` after checking that it is a service account's email address."""
    allowed = "must be a service account's email, e.g. dask-nodes@PROJECT.iam.gserviceaccount.com"
    return matches(field, email, _SERVICE_ACCOUNT, allowed)


def string_list(field: str, value: Any) -> list[str] | tuple[str, ...]:
    """Return ``value`` if it is a list (or tuple); refuse one string, which would be split into characters."""
    if isinstance(value, (str, bytes)):
        raise ClusterSpecError(
            field, value, f"must be a list of strings, not one string: write {field}=[{str(value)!r}]"
        )
    if not isinstance(value, (list, tuple)):
        raise ClusterSpecError(field, value, "must be a list of strings")
    return value


def validate_job_id(job_id: Any, field: str = "job_id") -> str:
    """Return ``job_id`` after checking Dataproc's job id rules."""
    if not _JOB_ID.match(str(job_id)):
        raise ClusterSpecError(field, job_id, "must be 1 to 100 letters, digits, '_' or '-'")
    return str(job_id)


def check_location(*, region: Any, project_id: Any) -> None:
    """Refuse an empty or malformed ``region``, and an empty ``project_id`` (None: the connection's project).

    :raises ClusterSpecError: naming the field, the value and what is allowed.
    """
    if not isinstance(region, str) or not _REGION.match(region):
        raise ClusterSpecError("region", region, "must name a Dataproc region, such as europe-west1")
    if project_id is not None and (not isinstance(project_id, str) or not _PROJECT.match(project_id)):
        raise ClusterSpecError(
            "project_id", project_id, "must name a Google Cloud project, or be left out for the connection's project"
        )


def duration_seconds(field: str, value: Any, low: float = 0.0, high: float = math.inf) -> float:
    """Return the duration ``value`` in seconds, checked to lie from ``low`` to ``high``.

    Accepts seconds (a fraction is kept), or a ``timedelta`` or text such as ``"30s"``, ``"2m"`` or
    ``"90"`` (in whole seconds, read by :func:`parse_duration`, the
    one reader of durations), so literal and rendered template values read the same.

    :raises ClusterSpecError: naming ``field``, ``value`` and the allowed range.
    """
    number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else parse_duration(field, value)
    if not (math.isfinite(number) and low <= number <= high):
        allowed = f"from {low:g} to {high:g} seconds" if math.isfinite(high) else f"at least {low:g} seconds"
        raise ClusterSpecError(field, value, f"must be {allowed}")
    return float(number)
