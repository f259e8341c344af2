"""What every operator of the provider shares: where it works and how it reaches Google Cloud."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from airflow.exceptions import AirflowProviderDeprecationWarning
from airflow.providers.common.compat.sdk import BaseOperator, conf

from airflow_dask_provider.tasks import DataprocLocationMixin


class DaskDataprocBaseOperator(DataprocLocationMixin, BaseOperator):
    """Hold the location and credentials every operator of the provider needs.

    :param project_id: Google Cloud project (templated); the connection's project when omitted.
    :param region: Dataproc region, such as ``europe-west1`` (templated).
    :param gcp_conn_id: Google Cloud connection; ``google_cloud_default`` by default.
    :param impersonation_chain: service account to impersonate, or a chain of them (templated).
    :param deferrable: wait in the triggerer instead of a worker slot; Airflow's
        ``[operators] default_deferrable`` by default.
    """

    template_fields: Sequence[str] = ("project_id", "region", "impersonation_chain")

    def __init__(
        self,
        *,
        region: str,
        project_id: str | None = None,
        gcp_conn_id: str = "google_cloud_default",
        impersonation_chain: str | Sequence[str] | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.project_id = project_id
        self.region = region
        self.gcp_conn_id = gcp_conn_id
        self.impersonation_chain = impersonation_chain
        self.deferrable = deferrable
        self.check_literal_location()


def renamed_parameter(task_id: str, old: str, new: str, value: Any) -> Any:
    """Return ``value``, given to task ``task_id`` under the old name of a parameter, with a deprecation warning.

    The provider has users: a renamed parameter keeps its old name working, and the warning (an
    :class:`~airflow.exceptions.AirflowProviderDeprecationWarning`, a :class:`DeprecationWarning`) names the new one.
    """
    warnings.warn(
        f"Task {task_id!r}: the parameter {old} is deprecated; use {new}, its new name.",
        AirflowProviderDeprecationWarning,
        stacklevel=3,
    )
    return value
