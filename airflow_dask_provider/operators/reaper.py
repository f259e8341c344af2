"""Operator that deletes the provider's clusters that outlived their use: past their expiry, or in ERROR."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_dask_provider import defaults
from airflow_dask_provider.exceptions import ClusterSpecError
from airflow_dask_provider.labels import expiry_value

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_dask_provider.hooks.dataproc import DaskDataprocHook
    from airflow_dask_provider.hooks.resources import LabelledCluster

#: The reaper's verdicts on a cluster.
DELETE, KEEP, SKIP = "delete", "keep", "skip"
_TABLE_COLUMNS = ("project", "region", "cluster", "state", "expiry", "action", "reason")


@dataclasses.dataclass(frozen=True)
class Verdict:
    """What the reaper does with one cluster, and why."""

    action: str
    reason: str


def judge(cluster: LabelledCluster, now: float) -> Verdict:
    """Return the verdict on one of the provider's clusters: delete it if in ERROR or past its expiry, else keep it."""
    if cluster.state == "DELETING":
        return Verdict(SKIP, "already being deleted")
    if cluster.state == "ERROR":
        return Verdict(DELETE, f"in ERROR: {cluster.detail}" if cluster.detail else "in ERROR")
    if cluster.expiry is None:
        return Verdict(KEEP, "no expiry label")
    if cluster.expiry <= now:
        return Verdict(DELETE, f"expired {_ago(now - cluster.expiry)} ago")
    return Verdict(KEEP, f"expires in {_ago(cluster.expiry - now)}")


def orphan_credentials(
    kept: Sequence[tuple[str, float]],
    named: set[str],
    now: float,
    grace: float = defaults.CREDENTIAL_SWEEP_GRACE_SECONDS,
) -> list[str]:
    """Return the credentials (URI, upload time) that no live cluster names and that are older than ``grace``.

    Those are the credentials of clusters that Dataproc deleted by itself (their idle or maximum-age
    TTL): the delete operator and the reaper delete a cluster's credential with the cluster.
    """
    return sorted(uri for uri, uploaded in kept if uri not in named and now - uploaded >= grace)


def _ago(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.1f}d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 60:.0f}m"


def _as_list(field: str, value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    if isinstance(value, (list, tuple)):
        return [str(item).strip() for item in value if str(item).strip()]
    raise ClusterSpecError(field, value, "must be a list of names or comma-separated text")


def _as_bool(field: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ClusterSpecError(field, value, "must be true or false")


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """Return the reaper's rows as a fixed-width text table."""
    cells = [list(_TABLE_COLUMNS)] + [[str(row[column]) for column in _TABLE_COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(_TABLE_COLUMNS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


class DaskDataprocReapClustersOperator(BaseOperator):
    """Delete the provider's clusters that outlived their use; keep the rest; log a table of what it did.

    It lists the clusters labelled ``created-by=airflow-dask-provider`` in every project and region
    given, and deletes each one that is in ERROR (a cluster in ERROR is never idle-deleted by
    Dataproc, yet its nodes may cost money) or past its ``expiry`` label (written at creation: the
    end of its ``auto_delete_ttl``, else ``[dask_dataproc] default_expiry`` after creation). A
    cluster being deleted is skipped; one without an expiry label is kept. Deletions go by uuid, so a
    new cluster of the same name is safe, and are awaited.

    Returns (and pushes to XCom) one row per cluster: ``project``, ``region``, ``cluster``,
    ``state``, ``expiry``, ``action`` (``delete``, ``keep``, ``skip``; ``would delete`` when
    ``dry_run``) and ``reason``.

    :param project_ids: projects to look in, a list or comma-separated text (templated);
        ``[dask_dataproc] reaper_projects`` when omitted, else the connection's project.
    :param regions: Dataproc regions to look in, likewise (templated); ``[dask_dataproc] reaper_regions``
        when omitted. At least one is needed.
    :param dry_run: only log what would be deleted (templated; ``"true"``/``"false"`` accepted).
    :param timeout: seconds to wait for the deleted clusters to be gone.
    :param gcp_conn_id: Google Cloud connection.
    :param impersonation_chain: service account to impersonate, or a chain of them (templated).
    """

    template_fields: Sequence[str] = ("project_ids", "regions", "dry_run", "impersonation_chain")
    ui_color = "#f4a6a6"

    def __init__(
        self,
        *,
        project_ids: Sequence[str] | str | None = None,
        regions: Sequence[str] | str | None = None,
        dry_run: bool | str = False,
        timeout: float = defaults.REAPER_WAIT_TIMEOUT_SECONDS,
        gcp_conn_id: str = "google_cloud_default",
        impersonation_chain: str | Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.project_ids = project_ids
        self.regions = regions
        self.dry_run = dry_run
        self.timeout = timeout
        self.gcp_conn_id = gcp_conn_id
        self.impersonation_chain = impersonation_chain

    @cached_property
    def hook(self) -> DaskDataprocHook:
        """Return the hook; built on first use, never at DAG parse time."""
        from airflow_dask_provider.hooks.dataproc import DaskDataprocHook

        return DaskDataprocHook(gcp_conn_id=self.gcp_conn_id, impersonation_chain=self.impersonation_chain)

    def _places(self) -> tuple[list[str], list[str]]:
        from airflow_dask_provider import config

        projects = _as_list("project_ids", self.project_ids) or config.get_list("reaper_projects")
        projects = projects or [self.hook.project_id]
        regions = _as_list("regions", self.regions) or config.get_list("reaper_regions")
        if not regions:
            raise ClusterSpecError(
                "regions", self.regions, "name at least one region, or set [dask_dataproc] reaper_regions"
            )
        return projects, regions

    def execute(self, context: Context) -> list[dict[str, Any]]:
        dry_run = _as_bool("dry_run", self.dry_run)
        projects, regions = self._places()
        now = time.time()
        rows: list[dict[str, Any]] = []
        doomed: list[LabelledCluster] = []
        listed: list[LabelledCluster] = []
        for project in projects:
            for region in regions:
                for cluster in self.hook.list_provider_clusters(project_id=project, region=region):
                    listed.append(cluster)
                    verdict = judge(cluster, now)
                    if verdict.action == DELETE:
                        doomed.append(cluster)
                    rows.append(self._row(cluster, verdict, dry_run))
        if not dry_run:
            self._delete(doomed)
        for project in projects:
            for region in regions:
                here = [c for c in listed if (c.project_id, c.region) == (project, region)]
                self._sweep_credentials(project, region, here, now, dry_run)
        self.log.info(
            "Reaper %s %d of %d clusters of this provider in %s / %s:\n%s",
            "would delete" if dry_run else "deleted",
            len(doomed),
            len(rows),
            ",".join(projects),
            ",".join(regions),
            format_table(rows),
        )
        return rows

    def _sweep_credentials(
        self, project: str, region: str, clusters: Sequence[LabelledCluster], now: float, dry_run: bool
    ) -> None:
        """Delete the Dask TLS credentials of the project and region's clusters that are gone.

        Looked for in the live clusters' config buckets and the provider's staging bucket (see
        :meth:`~airflow_dask_provider.hooks.storage.StorageCalls.staging_bucket`); credentials that a live cluster
        (or one deleted just now, whose deletion took its credential along) names are kept. A failure is logged, never raised: the sweep is
        housekeeping, the clusters' deletion is the reaper's job.
        """
        named = {c.tls_credential_uri for c in clusters if c.tls_credential_uri}
        try:
            buckets = {c.config_bucket for c in clusters if c.config_bucket}
            buckets |= set(self.hook.known_staging_buckets(project_id=project, region=region))
            kept = [
                found
                for bucket in sorted(buckets)
                for found in self.hook.list_dask_credentials(bucket=bucket, project_id=project, region=region)
            ]
            orphans = orphan_credentials(kept, named, now, defaults.CREDENTIAL_SWEEP_GRACE_SECONDS)
            for uri in orphans:
                if dry_run:
                    self.log.info("Would delete the Dask credential %s: no live cluster names it", uri)
                else:
                    self.log.warning("Deleting the Dask credential %s: no live cluster names it", uri)
                    self.hook.delete_dask_credential(uri=uri)
        except Exception as err:  # housekeeping: never let it fail the run that deleted clusters
            self.log.warning("Could not sweep the Dask credentials of %s/%s: %s", project, region, err)

    @staticmethod
    def _row(cluster: LabelledCluster, verdict: Verdict, dry_run: bool) -> dict[str, Any]:
        action = f"would {verdict.action}" if dry_run and verdict.action == DELETE else verdict.action
        return {
            "project": cluster.project_id,
            "region": cluster.region,
            "cluster": cluster.cluster_name,
            "state": cluster.state,
            "expiry": expiry_value(cluster.expiry) if cluster.expiry is not None else "-",
            "action": action,
            "reason": verdict.reason,
        }

    def _delete(self, clusters: Sequence[LabelledCluster]) -> None:
        from airflow_dask_provider.exceptions import ClusterReplacedError

        deleting = []
        for cluster in clusters:
            self.log.warning("Deleting cluster %s/%s/%s", cluster.project_id, cluster.region, cluster.cluster_name)
            try:
                self.hook.delete_dask_cluster(
                    project_id=cluster.project_id,
                    region=cluster.region,
                    cluster_name=cluster.cluster_name,
                    cluster_uuid=cluster.cluster_uuid,
                )
            except ClusterReplacedError:  # its uuid changed: a new cluster took the name since the listing
                self.log.info(
                    "Cluster %s was replaced by a new one since it was listed; leaving it", cluster.cluster_name
                )
                continue
            deleting.append(cluster)
        for cluster in deleting:
            self.hook.wait_for_cluster_deleted(
                project_id=cluster.project_id,
                region=cluster.region,
                cluster_name=cluster.cluster_name,
                timeout=self.timeout,
            )
