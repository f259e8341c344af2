"""Put the provider's bundled initialization actions where a new cluster's nodes can read them.

A user never copies a script: the create operator calls :func:`stage_init_actions`, which uploads
each bundled script the cluster uses (``dask.sh`` always, unless the spec names its own Dask init
action; ``nfs-mount.sh`` when the metadata names an NFS server) into the cluster's staging bucket
under a content-hashed path, uploading only what is missing, and returns the spec with their gs://
URIs. On the emulator the files land under its data dir.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from typing import TYPE_CHECKING

from airflow_dask_provider.cluster_spec import InitAction
from airflow_dask_provider.exceptions import ConfigurationError, EndpointUnreachableError
from airflow_dask_provider.init_action_files import init_action_path

if TYPE_CHECKING:
    from airflow_dask_provider.cluster_spec import DaskClusterSpec
    from airflow_dask_provider.hooks.dataproc import DaskDataprocHook

#: The bundled scripts, in the order they run on a node (the share is mounted before Dask starts).
NFS_ACTION = "nfs-mount.sh"
DASK_ACTION = "dask.sh"
#: A URI whose file name is one of these counts as the cluster's own Dask init action.
_DASK_ACTION_NAMES = ("dask.sh",)


def staging_bucket(hook: DaskDataprocHook, spec: DaskClusterSpec, *, project_id: str, region: str) -> str:
    """Return the bucket to stage into, creating the provider's own when the project has none.

    In order: the spec's ``config_bucket``; ``[dask_dataproc] staging_bucket`` in Airflow's config;
    the project's Dataproc staging bucket for the region (``dataproc-staging-REGION-...``, which
    Dataproc creates with the first cluster there); else a bucket named after the project and region,
    created in the region (the connection needs ``storage.buckets.create`` for that last case only).
    """
    if spec.config_bucket:
        return spec.config_bucket
    from airflow_dask_provider import config

    configured = config.get("staging_bucket")
    if configured:
        return configured
    existing = _region_staging_buckets(hook, project_id=project_id, region=region)
    if existing:
        return existing[0]
    name = _own_bucket_name(project_id, region)
    try:
        hook.storage_call(
            "create_bucket",
            lambda retry, timeout: hook.storage_client.create_bucket(
                name, project=project_id, location=region, retry=retry, timeout=timeout
            ),
        )
    except EndpointUnreachableError:
        raise
    except Exception as err:
        from google.api_core.exceptions import Conflict

        if not isinstance(err, Conflict):  # Conflict: it exists, made by an earlier run
            raise ConfigurationError(
                "config_bucket", None, f"a bucket to stage init actions in; creating {name} failed: {err}"
            ) from err
    return name


def known_staging_buckets(hook: DaskDataprocHook, *, project_id: str, region: str) -> list[str]:
    """Return the buckets :func:`staging_bucket` may have chosen for a spec without ``config_bucket``.

    ``[dask_dataproc] staging_bucket``, the region's Dataproc staging buckets and the provider's own;
    nothing is created. The reaper looks for left-over credentials in them.
    """
    from airflow_dask_provider import config

    from google.api_core.exceptions import Forbidden

    configured = config.get("staging_bucket")
    names = [configured] if configured else []
    try:
        names += _region_staging_buckets(hook, project_id=project_id, region=region)
    except Forbidden:  # listing buckets needs storage.buckets.list on the project: look in the others
        pass
    return [*names, _own_bucket_name(project_id, region)]


def _region_staging_buckets(hook: DaskDataprocHook, *, project_id: str, region: str) -> list[str]:
    """Return the project's Dataproc staging buckets of the region (``dataproc-staging-REGION-...``), sorted."""
    prefix = f"dataproc-staging-{region}-"
    listed = hook.storage_call(
        "list_buckets",
        lambda retry, timeout: [
            bucket.name
            for bucket in hook.storage_client.list_buckets(
                prefix=prefix, project=project_id, retry=retry, timeout=timeout
            )
        ],
    )
    return sorted(name for name in listed if name.startswith(prefix))


def _own_bucket_name(project_id: str, region: str) -> str:
    """Return a valid, project-unique bucket name (3 to 63 characters) for the provider's staging."""
    name = re.sub(r"[^a-z0-9-]", "-", f"{project_id}-dask-staging-{region}".lower())
    if len(name) > 63:
        name = f"{name[:50]}-{hashlib.sha256(name.encode()).hexdigest()[:12]}"
    return name


def bundled_actions(spec: DaskClusterSpec) -> list[str]:
    """Return the names of the bundled scripts the spec's cluster needs, in the order they run."""
    names = []
    if spec.metadata.get("nfs-server"):
        names.append(NFS_ACTION)
    own_dask = any(action.uri.rsplit("/", 1)[-1] in _DASK_ACTION_NAMES for action in spec.init_actions)
    if not own_dask:
        names.append(DASK_ACTION)
    return names


def stage_init_actions(
    hook: DaskDataprocHook, spec: DaskClusterSpec, *, project_id: str, region: str
) -> DaskClusterSpec:
    """Upload the bundled init actions the cluster needs and return the spec that runs them.

    The bundled actions run before the user's own ones; the spec's ``config_bucket`` is set to the
    bucket used, so the cluster's staging files (driver output included) live beside them.
    """
    names = bundled_actions(spec)
    if not names:
        return spec
    bucket = staging_bucket(hook, spec, project_id=project_id, region=region)
    staged = tuple(InitAction(hook.stage_file(local_path=init_action_path(name), bucket=bucket)) for name in names)
    return dataclasses.replace(spec, init_actions=(*staged, *spec.init_actions), config_bucket=bucket)
