"""The Dataproc hook's calls about clusters: read, list by labels, create, start, delete, and wait for them.

A mixin of :class:`~airflow_dask_provider.hooks.dataproc.DaskDataprocHook`, which gives it its
clients (``get_cluster_client``), its bounded polling (``poll``) and its log.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING

from airflow_dask_provider import defaults
from airflow_dask_provider.checks import cluster_state_of, cluster_verdict
from airflow_dask_provider.exceptions import ClusterReplacedError
from airflow_dask_provider.hooks.bounded import teardown
from airflow_dask_provider.hooks.resources import (
    ClusterInfo,
    LabelledCluster,
    WorkerGroups,
    cluster_info,
    cluster_usage,
    labelled_cluster,
    worker_groups,
)
from airflow_dask_provider.states import CLUSTER_SETTLED_STATES, DELETED, RUNNING, STARTING

if TYPE_CHECKING:
    from google.cloud.dataproc_v1 import Cluster, ClusterConfig

    from airflow_dask_provider.cost import ClusterUsage


def label_filter(labels: Mapping[str, str]) -> str:
    """Return the ListClusters filter of the clusters that carry every one of ``labels``.

    The values must already be label values (only ``a-z 0-9 _ -``), so they need no quoting.
    """
    return " AND ".join(f"labels.{key} = {value}" for key, value in labels.items())


class ClusterCalls:
    """Read, list, create, start, delete and await Dataproc clusters; plain data in and out."""

    def _get_cluster(self, project_id: str, region: str, cluster_name: str) -> Cluster | None:
        """Return the ``Cluster`` message, or None when it does not exist: the one read of a cluster."""
        from google.api_core.exceptions import NotFound

        client = self.get_cluster_client(region)
        try:
            return client.get_cluster(project_id=project_id, region=region, cluster_name=cluster_name)
        except NotFound:
            return None

    def get_cluster_info(self, *, project_id: str, region: str, cluster_name: str) -> ClusterInfo | None:
        """Return the cluster, or None when it does not exist."""
        cluster = self._get_cluster(project_id, region, cluster_name)
        return None if cluster is None else cluster_info(cluster, project_id=project_id, region=region)

    def get_cluster_usage(self, *, project_id: str, region: str, cluster_name: str) -> ClusterUsage | None:
        """Return the cluster's nodes and creation time (what its cost is made of), or None when it does not exist."""
        cluster = self._get_cluster(project_id, region, cluster_name)
        return None if cluster is None else cluster_usage(cluster)

    def get_worker_groups(self, *, project_id: str, region: str, cluster_name: str) -> WorkerGroups | None:
        """Return the cluster's state and worker nodes, or None when it does not exist."""
        cluster = self._get_cluster(project_id, region, cluster_name)
        return None if cluster is None else worker_groups(cluster)

    def list_clusters(self, *, project_id: str, region: str, filter: str) -> list[LabelledCluster]:
        """Return the clusters of a project and region that match a ListClusters ``filter``, in Dataproc's order.

        Dataproc applies the filter (see :func:`label_filter`); clusters in every state are returned.
        """
        pages = self.get_cluster_client(region).list_clusters(
            request={"project_id": project_id, "region": region, "filter": filter}
        )
        return [labelled_cluster(cluster, project_id=project_id, region=region) for cluster in pages]

    def list_provider_clusters(
        self, *, project_id: str, region: str, labels: Mapping[str, str] | None = None
    ) -> list[LabelledCluster]:
        """Return the clusters of a project and region that carry the provider's ``created-by`` label.

        :param labels: more labels the clusters must carry, such as ``{"owner": "alice"}`` (label values,
            which need no quoting).
        """
        key, value = defaults.CREATED_BY_LABEL
        return self.list_clusters(
            project_id=project_id, region=region, filter=label_filter({**(labels or {}), key: value})
        )

    def create_dask_cluster(
        self,
        *,
        project_id: str,
        region: str,
        cluster_name: str,
        cluster_config: ClusterConfig,
        labels: Mapping[str, str],
        request_id: str,
    ) -> bool:
        """Ask Dataproc to create a cluster; return False when one of that name already exists.

        ``request_id`` makes a repeated call (a retry after a lost answer) return the first operation
        instead of failing, so transient errors are retried (as for every call of the hook).
        """
        from google.api_core.exceptions import AlreadyExists
        from google.cloud import dataproc_v1

        client = self.get_cluster_client(region)
        cluster = dataproc_v1.Cluster(
            project_id=project_id, cluster_name=cluster_name, config=cluster_config, labels=dict(labels)
        )
        try:
            client.create_cluster(
                request={"project_id": project_id, "region": region, "cluster": cluster, "request_id": request_id}
            )
        except AlreadyExists:
            return False
        return True

    def start_dask_cluster(
        self, *, project_id: str, region: str, cluster_name: str, cluster_uuid: str, request_id: str
    ) -> bool:
        """Ask Dataproc to start a STOPPED cluster; return False when it does not exist.

        Dataproc answers at once (the cluster is STARTING); wait for RUNNING with :meth:`wait_for_cluster`.
        A cluster that someone else has started meanwhile (STARTING or RUNNING) counts as started, and
        ``request_id`` makes a repeated call return the first operation.

        :param cluster_uuid: start only the cluster of this uuid (the one the caller looked at).
        :raises ClusterReplacedError: ``cluster_uuid`` is not the uuid of the cluster of that name.
        :raises google.api_core.exceptions.FailedPrecondition: the cluster is in a state that cannot start
            (Dataproc's message names it).
        """
        from google.api_core.exceptions import FailedPrecondition, NotFound

        client = self.get_cluster_client(region)
        request = {
            "project_id": project_id,
            "region": region,
            "cluster_name": cluster_name,
            "cluster_uuid": cluster_uuid,
            "request_id": request_id,
        }
        try:
            client.start_cluster(request=request)
        except NotFound:
            return False
        except FailedPrecondition as err:
            info = self.get_cluster_info(project_id=project_id, region=region, cluster_name=cluster_name)
            if info is None:
                return False
            if info.cluster_uuid != cluster_uuid:
                raise ClusterReplacedError(cluster_name, cluster_uuid) from err
            if info.state in (STARTING, RUNNING):
                return True
            raise
        return True

    def delete_dask_cluster(
        self, *, project_id: str, region: str, cluster_name: str, cluster_uuid: str | None = None
    ) -> bool:
        """Ask Dataproc to delete a cluster, and its Dask TLS credential; return False when it does not exist.

        The credential goes once Dataproc has accepted the deletion: the nodes read it only when they
        start, and a cluster being deleted starts none. A teardown: an endpoint that does not answer is
        retried a little longer than other calls.

        :param cluster_uuid: delete only the cluster of this uuid.
        :raises ClusterReplacedError: ``cluster_uuid`` is not the uuid of the cluster of that name.
        """
        with teardown():
            return self._delete_cluster_and_credential(project_id, region, cluster_name, cluster_uuid)

    def _delete_cluster_and_credential(
        self, project_id: str, region: str, cluster_name: str, cluster_uuid: str | None
    ) -> bool:
        info = self.get_cluster_info(project_id=project_id, region=region, cluster_name=cluster_name)
        if info is None or not self._delete_cluster(project_id, region, cluster_name, cluster_uuid):
            return False
        if info.tls_credential_uri and (not cluster_uuid or cluster_uuid == info.cluster_uuid):
            try:
                self.delete_dask_credential(uri=info.tls_credential_uri)
            except Exception as err:  # the reaper sweeps what is left; never fail a deletion for it
                self.log.warning("Could not delete the Dask credential %s: %s", info.tls_credential_uri, err)
        return True

    def _delete_cluster(self, project_id: str, region: str, cluster_name: str, cluster_uuid: str | None) -> bool:
        from google.api_core.exceptions import FailedPrecondition, NotFound

        client = self.get_cluster_client(region)
        try:
            client.delete_cluster(
                request={
                    "project_id": project_id,
                    "region": region,
                    "cluster_name": cluster_name,
                    "cluster_uuid": cluster_uuid or "",
                }
            )
        except NotFound:
            return False
        except FailedPrecondition as err:
            if cluster_uuid:  # Dataproc's answer to a uuid that is not the cluster's
                raise ClusterReplacedError(cluster_name, cluster_uuid) from err
            raise
        return True

    def wait_for_cluster(
        self, *, project_id: str, region: str, cluster_name: str, timeout: float
    ) -> ClusterInfo | None:
        """Wait until Dataproc stops changing the cluster; return it, or None once it is gone."""
        return self._poll_cluster(project_id, region, cluster_name, timeout, "to settle", CLUSTER_SETTLED_STATES)

    def wait_for_cluster_deleted(self, *, project_id: str, region: str, cluster_name: str, timeout: float) -> None:
        """Wait until the cluster no longer exists (a teardown, like :meth:`delete_dask_cluster`)."""
        with teardown():
            self._poll_cluster(project_id, region, cluster_name, timeout, "to be deleted", (DELETED,))

    def _poll_cluster(
        self,
        project_id: str,
        region: str,
        cluster_name: str,
        timeout: float,
        goal: str,
        target_states: Collection[str],
    ) -> ClusterInfo | None:
        """Poll the cluster until it is in one of ``target_states``, as the cluster sensor and trigger judge it."""
        return self.poll(
            lambda: self.get_cluster_info(project_id=project_id, region=region, cluster_name=cluster_name),
            until=lambda info: cluster_verdict(info, cluster_name=cluster_name, target_states=target_states).done,
            timeout=timeout,
            what=f"cluster {cluster_name} {goal}",
            state_of=cluster_state_of,
        )
