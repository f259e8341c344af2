"""Which bundled initialization actions a new cluster needs, and the name of the provider's own staging bucket.

Pure rules, no network: the hook stages the files (see
:meth:`~airflow_dask_provider.hooks.storage.StorageCalls.stage_init_actions`, which uploads ``dask.sh``
always, unless the spec names its own Dask init action, and ``nfs-mount.sh`` when the metadata names an
NFS server, into the cluster's staging bucket).
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_dask_provider.cluster_spec import DaskClusterSpec

#: The bundled scripts, in the order they run on a node (the share is mounted before Dask starts).
NFS_ACTION = "nfs-mount.sh"
DASK_ACTION = "dask.sh"
#: A URI whose file name is one of these counts as the cluster's own Dask init action.
_DASK_ACTION_NAMES = ("dask.sh",)


def own_bucket_name(project_id: str, region: str) -> str:
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
