"""Pieces every example DAG (and a user's DAG) uses to name per-run clusters and ask where to run.

Importing this loads only the standard library and Airflow's ``Param``: it is on the DAG-parse path.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any


def short_hash(text: str) -> str:
    """Return ten hex digits of ``text``'s hash: a cluster name suffix unique to a run."""
    return hashlib.sha256(str(text).encode()).hexdigest()[:10]


#: Jinja filters for ``DAG(user_defined_filters=...)``: ``"dask-etl-{{ run_id | short_hash }}"``.
FILTERS = {"short_hash": short_hash}


def location_params() -> dict[str, Any]:
    """Return the ``project_id`` and ``region`` Params, defaulting to ``GCP_PROJECT_ID`` and ``GCP_REGION``."""
    from airflow.providers.common.compat.sdk import Param

    return {
        "project_id": Param(os.environ.get("GCP_PROJECT_ID", "local-project"), type="string", title="Project"),
        "region": Param(os.environ.get("GCP_REGION", "europe-west1"), type="string", title="Region"),
    }


def node_service_account() -> str:
    """Return the service account the example DAGs' cluster nodes run as.

    ``GCP_NODE_SERVICE_ACCOUNT``, else ``dask-nodes@`` the project of ``GCP_PROJECT_ID``: a
    service account made for the nodes, with the least-privilege roles of the security guide, never the
    Compute Engine default account. A DAG constant rather than a trigger-form Param: whoever triggers
    a run must not choose what identity its cluster gets.
    """
    project = os.environ.get("GCP_PROJECT_ID", "local-project")
    return os.environ.get("GCP_NODE_SERVICE_ACCOUNT", f"dask-nodes@{project}.iam.gserviceaccount.com")
