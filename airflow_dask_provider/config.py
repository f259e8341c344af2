"""The ``[dask_dataproc]`` section of Airflow's configuration: what an administrator decides.

Every option is registered in :func:`airflow_dask_provider.get_provider_info` (``config``), so
``airflow config list --section dask_dataproc --show-values`` shows it with its default (Airflow 3
hides every section's values without ``--show-values``; Airflow 2 has no such flag and shows them),
and it is set like any Airflow option::

    [dask_dataproc]
    max_idle_delete_ttl = 4h
    max_auto_delete_ttl = 1d

or ``AIRFLOW__DASK_DATAPROC__MAX_IDLE_DELETE_TTL=4h``. Durations take seconds or text such as
``"90m"``, ``"2h"``, ``"1d"``; lists are comma-separated. An empty value means "not set".

The values are read when they are used (when a cluster spec is built, when the reaper runs), never
cached, so a changed setting applies to the next task. An option's default is the value of
:mod:`~airflow_dask_provider.defaults` the provider applies, so the two cannot drift.

This module imports :mod:`~airflow_dask_provider.validation`, :mod:`~airflow_dask_provider.defaults` and
:mod:`~airflow_dask_provider.exceptions` only: the cluster spec and the operators read it, it reads none of them.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from airflow_dask_provider import defaults
from airflow_dask_provider.exceptions import ClusterSpecError, ConfigurationError
from airflow_dask_provider.validation import format_duration, parse_duration, ttl_seconds, validate_service_account

T = TypeVar("T")

#: The section's name.
SECTION = "dask_dataproc"


@dataclasses.dataclass(frozen=True)
class Option:
    """One option of the section, as ``get_provider_info()["config"]`` registers it."""

    description: str
    default: str
    example: str


#: Every option of ``[dask_dataproc]``. ``get_provider_info()`` repeats them literally (it must
#: import nothing); a unit test checks that the two agree.
OPTIONS: dict[str, Option] = {
    "default_idle_delete_ttl": Option(
        "Idle-delete TTL of a cluster whose task gives none: Dataproc deletes the cluster after this long "
        "without a running job (lowered to max_idle_delete_ttl). Every cluster the provider creates has one.",
        format_duration(defaults.IDLE_DELETE_TTL_SECONDS),
        "1h",
    ),
    "max_idle_delete_ttl": Option(
        "Largest idle-delete TTL a task may ask for; a larger one fails before any API call. "
        "Empty: Dataproc's own maximum, 14 days.",
        "",
        "4h",
    ),
    "default_auto_delete_ttl": Option(
        "Maximum age of a cluster whose task gives none (auto_delete_ttl): Dataproc deletes the cluster "
        "this long after its creation, busy or not, so a cluster whose job never ends is deleted even when "
        "Airflow is gone (lowered to max_auto_delete_ttl). Empty: none, unless max_auto_delete_ttl is set.",
        format_duration(defaults.AUTO_DELETE_TTL_SECONDS),
        "12h",
    ),
    "default_job_timeout": Option(
        "How long the submit operator waits for a job whose task gives no timeout; the job is "
        "cancelled when the time is up. Empty: no limit but the task's execution_timeout.",
        format_duration(defaults.JOB_TIMEOUT_SECONDS),
        "2h",
    ),
    "max_auto_delete_ttl": Option(
        "Largest maximum age (auto_delete_ttl) a task may ask for. When set, every cluster gets one: the "
        "task's, else default_auto_delete_ttl, else this value; a task that asks for none fails.",
        "",
        "1d",
    ),
    "default_expiry": Option(
        "The orphan reaper may delete a cluster this long after its creation (the cluster's expiry "
        "label) when the cluster has no auto_delete_ttl; with one, the expiry is its end of life.",
        format_duration(defaults.DEFAULT_EXPIRY_SECONDS),
        "12h",
    ),
    "reaper_projects": Option(
        "Comma-separated projects the dask_orphan_reaper DAG looks in. Empty: the connection's project.",
        "",
        "analytics-prod,analytics-dev",
    ),
    "reaper_regions": Option(
        "Comma-separated Dataproc regions the dask_orphan_reaper DAG looks in.",
        "",
        "europe-west1,us-central1",
    ),
    "price_table": Option(
        "Prices for the cost line of the delete operator: a path to a JSON file, or a JSON object, merged "
        "over the built-in table (see airflow_dask_provider.cost). Empty: the built-in list prices.",
        "",
        "/home/airflow/gcs/data/dataproc_prices.json",
    ),
    "max_clusters_per_user": Option(
        "Live Dask clusters one user (who triggered the run, else the DAG owner) may hold at once in "
        "a project and region; a create over it fails before any API call. Empty: no limit.",
        str(defaults.MAX_CLUSTERS_PER_USER),
        "5",
    ),
    "max_secondary_workers_per_user": Option(
        "Secondary (preemptible) workers one user may hold at once, over all their live clusters in a"
        " project and region. Empty: no limit.",
        str(defaults.MAX_SECONDARY_WORKERS_PER_USER),
        "6",
    ),
    "default_service_account": Option(
        "Service account of the nodes of a cluster whose task names none (service_account). Empty: such "
        "a create fails before any API call, unless allow_default_service_account is True.",
        "",
        "dask-nodes@my-project.iam.gserviceaccount.com",
    ),
    "allow_default_service_account": Option(
        "Let a cluster with no service_account and no default_service_account run as the Compute Engine "
        "default service account (often a project editor, with the cloud-platform scope). Off by default.",
        "False",
        "True",
    ),
    "staging_bucket": Option(
        "Bucket the create operator stages the provider's initialization actions in when the cluster "
        "spec names no config_bucket. Empty: the region's Dataproc staging bucket, else one the "
        "provider creates.",
        "",
        "my-team-dataproc-staging",
    ),
    "api_unreachable_timeout": Option(
        "How long a task keeps retrying a Dataproc or Cloud Storage endpoint that does not answer (each "
        "retry is logged) before it fails naming the endpoint and the last error; a teardown (deleting a "
        "cluster, cancelling a job) keeps trying a quarter longer. Seconds or text such as 2m.",
        str(defaults.API_UNREACHABLE_TIMEOUT_SECONDS),
        "2m",
    ),
    "no_worker_timeout": Option(
        "A running Dask job whose cluster has had no Dask worker this long (all crashed, preempted or "
        "killed) is cancelled and its task fails, for a submit task that gives no no_worker_timeout. "
        "0 turns the check off; empty: 5m.",
        format_duration(defaults.NO_WORKER_TIMEOUT_SECONDS),
        "10m",
    ),
}


def get(option: str) -> str:
    """Return an option's value as text (its default when unset), stripped."""
    from airflow.providers.common.compat.sdk import conf

    default = OPTIONS[option].default
    value = conf.get(SECTION, option, fallback=default)
    return (default if value is None else str(value)).strip()


def get_duration(option: str) -> int | None:
    """Return a duration option in seconds, or None when it is empty.

    :raises ConfigurationError: naming the option, its value and what is allowed.
    """
    text = get(option)
    return _checked(option, text, parse_duration) if text else None


def get_service_account(option: str) -> str:
    """Return an option that names a service account by its email ('' when it is empty).

    :raises ConfigurationError: naming the option, its value and what is allowed.
    """
    text = get(option)
    return _checked(option, text, lambda field, value: validate_service_account(value, field)) if text else ""


def _checked(option: str, text: str, check: Callable[[str, str], T]) -> T:
    """Return ``check(field, text)`` for an option; a refusal is the administrator's to fix, not the task's."""
    try:
        return check(f"[{SECTION}] {option}", text)
    except ClusterSpecError as err:
        raise ConfigurationError(err.field, err.value, err.allowed) from err


def get_bool(option: str) -> bool:
    """Return a true/false option (``True``, ``true``, ``1``, ``yes`` are true)."""
    return get(option).lower() in ("true", "1", "yes", "on")


def get_list(option: str) -> list[str]:
    """Return a comma-separated option as a list, without empty items."""
    return [item.strip() for item in get(option).split(",") if item.strip()]


@dataclasses.dataclass(frozen=True)
class TtlPolicy:
    """The administrator's defaults and ceilings for a cluster's TTLs, in seconds (None: not set)."""

    default_idle_delete_ttl: int | None = defaults.IDLE_DELETE_TTL_SECONDS
    max_idle_delete_ttl: int | None = None
    default_auto_delete_ttl: int | None = defaults.AUTO_DELETE_TTL_SECONDS
    max_auto_delete_ttl: int | None = None
    default_expiry: int = defaults.DEFAULT_EXPIRY_SECONDS

    @classmethod
    def from_config(cls) -> TtlPolicy:
        """Read the policy from ``[dask_dataproc]``."""
        return cls(
            default_idle_delete_ttl=get_duration("default_idle_delete_ttl"),
            max_idle_delete_ttl=get_duration("max_idle_delete_ttl"),
            default_auto_delete_ttl=get_duration("default_auto_delete_ttl"),
            max_auto_delete_ttl=get_duration("max_auto_delete_ttl"),
            default_expiry=get_duration("default_expiry") or defaults.DEFAULT_EXPIRY_SECONDS,
        )

    def resolve_idle_delete_ttl(self, value: Any) -> int:
        """Return a cluster's idle-delete TTL in seconds: ``value``, else the default lowered to the ceiling.

        :param value: the task's TTL, or :data:`~airflow_dask_provider.defaults.CONFIGURED` for the default.
        :raises ClusterSpecError: for None (every cluster has one), or a TTL out of Dataproc's range or
            above ``max_idle_delete_ttl``.
        """
        if isinstance(value, str) and value == defaults.CONFIGURED:
            value = _at_most(self.default_idle_delete_ttl, self.max_idle_delete_ttl)
        if value is None:
            most = format_duration(self.max_idle_delete_ttl or defaults.MAX_TTL_SECONDS)
            raise ClusterSpecError(
                "idle_delete_ttl",
                None,
                f"required: every cluster the provider creates has one, from 10 minutes to {most}",
            )
        return _ceiling("idle_delete_ttl", value, ttl_seconds("idle_delete_ttl", value), self.max_idle_delete_ttl)

    def resolve_auto_delete_ttl(self, value: Any) -> int | None:
        """Return a cluster's maximum age in seconds: ``value``, else the default, else the ceiling (None: none).

        :param value: the task's TTL, None for none, or :data:`~airflow_dask_provider.defaults.CONFIGURED`.
        :raises ClusterSpecError: for None while ``max_auto_delete_ttl`` is set, or a TTL out of Dataproc's
            range or above that ceiling.
        """
        if isinstance(value, str) and value == defaults.CONFIGURED:
            value = _at_most(self.default_auto_delete_ttl, self.max_auto_delete_ttl) or self.max_auto_delete_ttl
        if value is None:
            if self.max_auto_delete_ttl is not None:
                most = format_duration(self.max_auto_delete_ttl)
                raise ClusterSpecError(
                    "auto_delete_ttl",
                    None,
                    f"required: [{SECTION}] max_auto_delete_ttl is {most}; give one from 10 minutes to {most}",
                )
            return None
        return _ceiling("auto_delete_ttl", value, ttl_seconds("auto_delete_ttl", value), self.max_auto_delete_ttl)


def _ceiling(field: str, value: Any, seconds: int, ceiling: int | None) -> int:
    """Return ``seconds`` if no ceiling is set or it is not above it."""
    if ceiling is not None and seconds > ceiling:
        allowed = f"must be at most {format_duration(ceiling)} ([{SECTION}] max_{field} in Airflow's config)"
        raise ClusterSpecError(field, value, allowed)
    return seconds


def _at_most(default: int | None, ceiling: int | None) -> int | None:
    """Return a configured default, lowered to the configured ceiling."""
    if default is None or ceiling is None:
        return default
    return min(default, ceiling)


def price_table_override() -> dict[str, Any]:
    """Return the ``price_table`` option as a dict: inline JSON, or the JSON file it names ({} if unset).

    :raises ConfigurationError: naming the option, its value and what is allowed.
    """
    text = get("price_table")
    if not text:
        return {}
    try:
        table = json.loads(text if text.startswith("{") else Path(text).read_text())
    except (OSError, ValueError) as err:
        raise ConfigurationError(
            f"[{SECTION}] price_table", text, f"must be a JSON object or a JSON file's path ({err})"
        ) from err
    if not isinstance(table, dict):
        raise ConfigurationError(f"[{SECTION}] price_table", text, "must hold a JSON object")
    return table
