"""Per-user quotas: how many live Dask clusters and secondary workers one user may hold at once.

The limits are Airflow configuration, set like any option::

    [dask_dataproc]
    max_clusters_per_user = 3
    max_secondary_workers_per_user = 3

or ``AIRFLOW__DASK_DATAPROC__MAX_CLUSTERS_PER_USER=5``. Both default to 3 (the design documents);
an empty value means no limit. They are read when a request is checked, never cached.

**The user** is who triggered the DAG run, where Airflow records it: ``dag_run.triggering_user_name``
on Airflow 3; on Airflow 2, whose DAG runs hold no user, the audit log entry of the trigger (UI, REST
API or CLI). A run nobody triggered (scheduled, or ``airflow dags test``) belongs to the DAG's owner
(the task's ``owner``). The user is written to the cluster's ``owner`` label, sanitised to Dataproc's
label rules (``Alice.Smith@corp.com`` becomes ``alice-smith-corp-com``).

**The use** is read from Dataproc: the clusters labelled ``created-by=airflow-dask-provider`` and
``owner=USER`` in the request's project and region, except those being deleted or in ERROR. A request
over a limit raises :class:`~airflow_dask_provider.exceptions.QuotaExceededError` (an
``AirflowFailException``: the task fails at once, without retries) naming the limit, the current use
and the clusters that count.

The check happens before the cluster is created, so two requests of one user at the same instant
can both pass: the quota bounds ordinary use, it is no lock.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_dask_provider import config, defaults
from airflow_dask_provider.exceptions import ClusterSpecError, QuotaExceededError
from airflow_dask_provider.labels import label_value
from airflow_dask_provider.states import CLUSTER_NOT_COUNTED_STATES

if TYPE_CHECKING:
    from airflow_dask_provider.hooks.dataproc import DaskDataprocHook
    from airflow_dask_provider.hooks.resources import LabelledCluster

#: The configuration section and options of the limits, with their defaults.
SECTION = config.SECTION
MAX_CLUSTERS_OPTION = "max_clusters_per_user"
MAX_SECONDARY_WORKERS_OPTION = "max_secondary_workers_per_user"
#: Cluster states that no longer count against a quota.
NOT_COUNTED_STATES = CLUSTER_NOT_COUNTED_STATES
#: Airflow 2's audit log events of a DAG run's trigger: the UI's form, the REST API, the CLI.
TRIGGER_EVENTS = ("trigger", "api.post_dag_run", "ui.post_dag_run", "cli_trigger")
#: How long before its DAG run the audit log entry of a trigger may be written.
TRIGGER_LOG_WINDOW = timedelta(seconds=defaults.TRIGGER_LOG_WINDOW_SECONDS)
#: User names Airflow records when nobody is known.
_NOBODY = frozenset({"", "anonymous"})


@dataclasses.dataclass(frozen=True)
class QuotaLimits:
    """The limits per user; None means no limit."""

    max_clusters: int | None = defaults.MAX_CLUSTERS_PER_USER
    max_secondary_workers: int | None = defaults.MAX_SECONDARY_WORKERS_PER_USER

    @classmethod
    def from_config(cls) -> QuotaLimits:
        """Read the limits from ``[dask_dataproc]``, with the defaults when unset."""
        return cls(
            max_clusters=_limit(MAX_CLUSTERS_OPTION),
            max_secondary_workers=_limit(MAX_SECONDARY_WORKERS_OPTION),
        )


def _limit(option: str) -> int | None:
    text = config.get(option)
    if not text:
        return None
    try:
        limit = int(text)
        if limit < 0:
            raise ValueError
    except ValueError:
        raise ClusterSpecError(
            f"[{SECTION}] {option}", text, "must be a whole number from 0 up, or empty for no limit"
        ) from None
    return limit


def owner_label(user: str) -> str:
    """Return ``user`` as the value of the ``owner`` label.

    Dataproc's rules (lowercase ``a-z 0-9 _ -``, at most 63 characters) are applied as everywhere in
    the provider; a name with none of those characters becomes ``user-`` and ten hex digits of its
    hash, so it still has a quota of its own. Applying it twice changes nothing.
    """
    value = label_value(user)
    if value:
        return value
    return "user-" + hashlib.sha256(str(user).encode()).hexdigest()[:10]


def requesting_user(context: Any, *, fallback: str | None = None) -> str:
    """Return who asked for the task's DAG run: its triggering user, else the DAG's owner.

    :param context: the task's context.
    :param fallback: the owner to use when nobody triggered the run; the task's ``owner`` (the DAG's
        ``default_args`` owner, Airflow's ``airflow`` by default) when omitted.
    """
    user = _triggering_user(context.get("dag_run"))
    if user:
        return user
    task = context.get("task")
    return fallback or getattr(task, "owner", None) or "airflow"


def _triggering_user(dag_run: Any) -> str | None:
    if dag_run is None:
        return None
    if hasattr(dag_run, "triggering_user_name"):  # Airflow 3 records it on the run
        user = (dag_run.triggering_user_name or "").strip()
        return None if user in _NOBODY else user
    run_type = getattr(dag_run, "run_type", None)
    if getattr(run_type, "value", run_type) != "manual":
        return None
    return _audit_log_user(dag_run)


def _audit_log_user(dag_run: Any) -> str | None:
    """Return the user of the audit log entry that triggered an Airflow 2 DAG run, if there is one."""
    from airflow.models.log import Log
    from airflow.utils.session import create_session

    when = dag_run.queued_at or dag_run.start_date
    if when is None:
        return None
    with create_session() as session:
        rows = (
            session.query(Log.owner, Log.run_id, Log.dttm)
            .filter(
                Log.dag_id == dag_run.dag_id,
                Log.event.in_(TRIGGER_EVENTS),
                Log.dttm >= when - TRIGGER_LOG_WINDOW,
                Log.dttm <= when + timedelta(seconds=5),
            )
            .all()
        )
    return pick_trigger_entry(rows, run_id=dag_run.run_id)


def pick_trigger_entry(entries: Iterable[Sequence[Any]], *, run_id: str) -> str | None:
    """Return the user of the audit log entry of a run's trigger, from ``(owner, run_id, dttm)`` rows.

    An entry that names the run wins; otherwise the newest one that names no run (the UI's trigger form
    is logged before its run exists). Entries of anonymous users are ignored.
    """
    named = [entry for entry in entries if (entry[0] or "").strip() not in _NOBODY]
    for owner, entry_run_id, _ in named:
        if entry_run_id == run_id:
            return owner.strip()
    unnamed = sorted((entry for entry in named if not entry[1]), key=lambda entry: entry[2], reverse=True)
    return unnamed[0][0].strip() if unnamed else None


def enforce(
    limits: QuotaLimits,
    *,
    user: str,
    clusters: Sequence[LabelledCluster],
    secondary_workers: int,
    cluster_name: str | None = None,
) -> None:
    """Raise :class:`QuotaExceededError` if one more cluster for ``user`` would exceed a limit.

    :param clusters: the user's clusters, in every state; those in :data:`NOT_COUNTED_STATES` and the
        requested cluster itself (which would be reused, not added) do not count.
    :param secondary_workers: secondary workers the requested cluster asks for; a cluster without any
        passes the secondary worker quota even when the user is over it (after the limit was lowered).
    :param cluster_name: the requested cluster's name.
    """
    counted = [c for c in clusters if c.state not in NOT_COUNTED_STATES and c.cluster_name != cluster_name]
    owner = owner_label(user)
    violations = []
    if limits.max_clusters is not None and len(counted) + 1 > limits.max_clusters:
        listed = ", ".join(f"{c.cluster_name} ({c.state})" for c in counted)
        held = f"{owner} has {len(counted)}: {listed}" if counted else f"{owner} has none"
        violations.append(
            f"At most {limits.max_clusters} live Dask clusters per user ([{SECTION}] {MAX_CLUSTERS_OPTION}); "
            f"{held}; this request needs 1 more."
        )
    in_use = sum(c.secondary_workers for c in counted)
    limit = limits.max_secondary_workers
    if limit is not None and secondary_workers > 0 and in_use + secondary_workers > limit:
        listed = ", ".join(f"{c.cluster_name} ({c.secondary_workers})" for c in counted if c.secondary_workers)
        held = f"{owner} uses {in_use}, on {listed}" if in_use else f"{owner} uses none"
        violations.append(
            f"At most {limit} secondary (preemptible) workers per user "
            f"([{SECTION}] {MAX_SECONDARY_WORKERS_OPTION}); {held}; this request asks for "
            f"{secondary_workers}, {in_use + secondary_workers} in all."
        )
    if violations:
        violations.append("Delete a cluster, ask for fewer workers, or ask an administrator to raise the limit.")
        raise QuotaExceededError(owner, violations)


def check_quota(
    hook: DaskDataprocHook,
    *,
    project_id: str,
    region: str,
    user: str,
    secondary_workers: int,
    cluster_name: str | None = None,
    limits: QuotaLimits | None = None,
) -> None:
    """Refuse a new cluster for ``user`` that would take them over a quota; return if it fits.

    Reads the user's clusters from Dataproc (the provider's clusters labelled ``owner=USER``, see
    :meth:`~airflow_dask_provider.hooks.clusters.ClusterCalls.list_provider_clusters`) and the limits
    from the configuration, then applies :func:`enforce`.

    :param hook: the hook to list clusters with.
    :param project_id: project of the requested cluster; quotas count per project and region.
    :param region: region of the requested cluster.
    :param user: the user, as a name or already as an ``owner`` label value.
    :param secondary_workers: secondary workers the requested cluster asks for.
    :param cluster_name: the requested cluster; a live cluster of that name counts as reused, not added.
    :param limits: the limits; :meth:`QuotaLimits.from_config` when omitted.
    :raises QuotaExceededError: the request would exceed a limit.
    """
    owner = owner_label(user)
    limits = limits if limits is not None else QuotaLimits.from_config()
    if limits.max_clusters is None and limits.max_secondary_workers is None:
        return
    clusters = hook.list_provider_clusters(project_id=project_id, region=region, labels={defaults.OWNER_LABEL: owner})
    enforce(limits, user=owner, clusters=clusters, secondary_workers=secondary_workers, cluster_name=cluster_name)
