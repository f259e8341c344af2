"""What every operator of the provider shares: where it works and how it reaches Google Cloud."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator

if TYPE_CHECKING:
    from airflow_dask_provider.hooks.dataproc import DaskDataprocHook


def is_literal(value: Any) -> bool:
    """Return whether ``value`` is known at DAG parse time: no Jinja template, no XCom reference."""
    if value is None or isinstance(value, (bool, int, float, timedelta)):
        return True
    if isinstance(value, str):
        return "{{" not in value and "{%" not in value
    if isinstance(value, Mapping):
        return all(is_literal(k) and is_literal(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(is_literal(v) for v in value)
    return False


class DaskDataprocBaseOperator(BaseOperator):
    """Hold the location and credentials every operator of the provider needs.

    :param project_id: Google Cloud project (templated); the connection's project when omitted.
    :param region: Dataproc region, such as ``europe-west1`` (templated).
    :param gcp_conn_id: Google Cloud connection; ``google_cloud_default`` by default.
    :param impersonation_chain: service account to impersonate, or a chain of them (templated).
    """

    template_fields: Sequence[str] = ("project_id", "region", "impersonation_chain")

    def __init__(
        self,
        *,
        region: str,
        project_id: str | None = None,
        gcp_conn_id: str = "google_cloud_default",
        impersonation_chain: str | Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.project_id = project_id
        self.region = region
        self.gcp_conn_id = gcp_conn_id
        self.impersonation_chain = impersonation_chain

    @cached_property
    def hook(self) -> DaskDataprocHook:
        """Return the hook; built on first use, never at DAG parse time."""
        from airflow_dask_provider.hooks.dataproc import DaskDataprocHook

        return DaskDataprocHook(gcp_conn_id=self.gcp_conn_id, impersonation_chain=self.impersonation_chain)

    @property
    def resolved_project_id(self) -> str:
        """Return the project to work in: the operator's, else the connection's."""
        return self.project_id or self.hook.project_id
