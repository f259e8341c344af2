"""What every sensor of the provider shares: where it looks, as whom, and how it defers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseSensorOperator, conf

from airflow_dask_provider.tasks import DataprocLocationMixin, deadline, defer_timeout

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


class DaskDataprocBaseSensor(DataprocLocationMixin, BaseSensorOperator):
    """Hold where and as whom every sensor of the provider looks, and its deferrable switch.

    :param project_id: Google Cloud project (templated); the connection's project when omitted.
    :param region: Dataproc region, such as ``europe-west1`` (templated).
    :param gcp_conn_id: Google Cloud connection; ``google_cloud_default`` by default.
    :param impersonation_chain: service account to impersonate, or a chain of them (templated).
    :param deferrable: wait in the triggerer; Airflow's ``[operators] default_deferrable`` by default.
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

    def _defer(self, context: Context, trigger_class: type, **kwargs: Any) -> None:
        """Defer to ``trigger_class`` until the sensor's ``timeout`` (or before its ``execution_timeout``)."""
        until = deadline(context, self, self.timeout)
        trigger = trigger_class(**self.trigger_location(), deadline=until, **kwargs)
        self.defer(trigger=trigger, method_name="execute_complete", timeout=defer_timeout(until))
