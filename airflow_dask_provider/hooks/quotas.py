"""Hook call for per-user quotas: the clusters a user holds, read from Dataproc by their labels.

A function that takes a :class:`~airflow_dask_provider.hooks.dataproc.DaskDataprocHook` and returns
plain data, like the hook's own methods (see :mod:`airflow_dask_provider.quotas` for the decision).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from airflow_dask_provider import defaults

if TYPE_CHECKING:
    from airflow_dask_provider.hooks.dataproc import DaskDataprocHook


@dataclasses.dataclass(frozen=True)
class OwnedCluster:
    """A cluster the provider created for a user, as a quota counts it."""

    cluster_name: str
    #: Dataproc's state name: ``CREATING``, ``RUNNING``, ``DELETING``, ...
    state: str
    #: Secondary (preemptible or spot) workers: the larger of the configured and the existing count.
    secondary_workers: int


def owner_filter(owner: str) -> str:
    """Return the ListClusters filter of the provider's clusters labelled with ``owner``.

    ``owner`` must already be a label value (only ``a-z 0-9 _ -``), so it needs no quoting.
    """
    key, value = defaults.CREATED_BY_LABEL
    return f"labels.{defaults.OWNER_LABEL} = {owner} AND labels.{key} = {value}"


def list_owned_clusters(hook: DaskDataprocHook, *, project_id: str, region: str, owner: str) -> list[OwnedCluster]:
    """Return every cluster of the project and region that the provider created for ``owner``.

    Dataproc applies the label filter; clusters in every state are returned, in Dataproc's order.

    :param owner: the ``owner`` label value.
    """
    pages = hook.get_cluster_client(region).list_clusters(
        project_id=project_id, region=region, filter=owner_filter(owner)
    )
    owned = []
    for cluster in pages:
        secondary = cluster.config.secondary_worker_config
        owned.append(
            OwnedCluster(
                cluster_name=cluster.cluster_name,
                state=cluster.status.state.name,
                secondary_workers=max(secondary.num_instances, len(secondary.instance_names)),
            )
        )
    return owned
