"""The hook through which every Dataproc and Cloud Storage call of the provider goes."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.providers.common.compat.sdk import AirflowNotFoundException
from airflow.providers.google.common.hooks.base_google import GoogleBaseHook

from airflow_dask_provider import defaults
from airflow_dask_provider.exceptions import ConfigurationError, ConnectionNotFoundError, WaitTimeoutError
from airflow_dask_provider.hooks.autoscaling import ScalingCalls
from airflow_dask_provider.hooks.bounded import BoundedCalls, BoundedClient
from airflow_dask_provider.hooks.clusters import ClusterCalls
from airflow_dask_provider.hooks.dask_scheduler import DaskSchedulerHook
from airflow_dask_provider.hooks.jobs import JobCalls
from airflow_dask_provider.hooks.storage import StorageCalls

if TYPE_CHECKING:
    from google.cloud import storage
    from google.cloud.dataproc_v1 import (
        AutoscalingPolicyServiceClient,
        ClusterControllerClient,
        JobControllerClient,
    )

#: Environment variable that points every client of the provider at a Dataproc emulator (host:port).
EMULATOR_HOST_ENV = "DATAPROC_EMULATOR_HOST"
#: Environment variable read by Google's storage libraries for a Cloud Storage emulator (http://host:port).
STORAGE_EMULATOR_HOST_ENV = "STORAGE_EMULATOR_HOST"

T = TypeVar("T")


class _NotYet(Exception):
    """Raised inside a wait to ask google-api-core's retry machinery for another poll."""


class DaskDataprocHook(ClusterCalls, JobCalls, StorageCalls, ScalingCalls, GoogleBaseHook):
    """Talk to Dataproc and Cloud Storage for Dask clusters and jobs.

    Credentials come from the Google Cloud connection (``google_cloud_default`` by default) exactly as
    in the Google provider's ``DataprocHook``, including ``impersonation_chain``. When the environment
    variable ``DATAPROC_EMULATOR_HOST`` (``host:port``) is set, or the connection's extra has
    ``emulator_host``, every client talks plain gRPC to that emulator with anonymous credentials, and
    Cloud Storage goes to ``STORAGE_EMULATOR_HOST`` (or the extra ``storage_emulator_host``, or the
    emulator's port plus one). Nothing outside this class knows which of the two it talks to.

    Every public method takes keyword arguments and returns plain data. Every request has a deadline,
    and an endpoint that does not answer is retried, each attempt logged, for at most ``[dask_dataproc]
    api_unreachable_timeout`` (see :mod:`airflow_dask_provider.hooks.bounded`). The calls are grouped by
    concern in mixins: clusters (:mod:`~airflow_dask_provider.hooks.clusters`), jobs
    (:mod:`~airflow_dask_provider.hooks.jobs`), Cloud Storage (:mod:`~airflow_dask_provider.hooks.storage`),
    resizing and autoscaling policies (:mod:`~airflow_dask_provider.hooks.autoscaling`); this module holds
    the connection, the clients and the waits. The cluster's Dask scheduler is reached through
    :attr:`dask_scheduler`.

    It is a ``GoogleBaseHook`` (credentials, impersonation and the connection form are the Google
    provider's), not the Google provider's ``DataprocHook``, whose protobuf-returning methods it does
    not offer.

    :param gcp_conn_id: the Google Cloud connection.
    :param impersonation_chain: service account to impersonate, or a chain of them.
    """

    conn_name_attr = "gcp_conn_id"
    default_conn_name = "google_cloud_default"
    conn_type = "dask_dataproc"
    hook_name = "Dask on Dataproc"

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Add the emulator fields to the Google Cloud connection form."""
        from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import StringField

        return {
            **super().get_connection_form_widgets(),
            "emulator_host": StringField(
                lazy_gettext("Dataproc emulator host:port (local testing only)"), widget=BS3TextFieldWidget()
            ),
            "storage_emulator_host": StringField(
                lazy_gettext("Storage emulator URL (local testing only)"), widget=BS3TextFieldWidget()
            ),
        }

    @classmethod
    def get_connection(cls, conn_id: str) -> Any:
        """Return the connection; with an emulator configured by environment, a missing one is empty.

        :raises ConnectionNotFoundError: no such connection and no emulator; it says how to set up either.
        """
        try:
            return super().get_connection(conn_id)
        except AirflowNotFoundException as err:
            if not os.environ.get(EMULATOR_HOST_ENV):
                raise ConnectionNotFoundError(conn_id, EMULATOR_HOST_ENV) from err
            from airflow.providers.common.compat.sdk import Connection

            return Connection(conn_id=conn_id, conn_type=cls.conn_type)

    # -- clients --------------------------------------------------------------------------------

    @cached_property
    def emulator_host(self) -> str | None:
        """Return the emulator's ``host:port``, or None when talking to Google Cloud."""
        return os.environ.get(EMULATOR_HOST_ENV) or self._get_field("emulator_host", None) or None

    @cached_property
    def storage_emulator_url(self) -> str | None:
        """Return the storage emulator's base URL when an emulator is in use."""
        if not self.emulator_host:
            return None
        url = os.environ.get(STORAGE_EMULATOR_HOST_ENV) or self._get_field("storage_emulator_host", None)
        if not url:
            host, _, port = self.emulator_host.rpartition(":")
            url = f"http://{host}:{int(port) + 1}"
        return url if "://" in url else f"http://{url}"

    @property
    def project_id(self) -> str:
        """Return the connection's project; with the emulator, without asking Google for credentials.

        The emulator has no credentials to take a project from: Google's default credentials would
        fail with ``DefaultCredentialsError``, which does not say what to set.

        :raises ConfigurationError: with the emulator, no project in the connection or the environment.
        """
        if not self.emulator_host:
            return super().project_id
        project = self._get_field("project", None) or os.environ.get("GOOGLE_CLOUD_PROJECT")
        if not project:
            raise ConfigurationError(
                "project_id",
                None,
                "with the Dataproc emulator, name the project in the task (project_id; the reaper's "
                "project_ids or [dask_dataproc] reaper_projects), the connection (extra 'project') or "
                "GOOGLE_CLOUD_PROJECT",
            )
        return project

    def get_credentials(self) -> Any:
        """Return anonymous credentials for the emulator, else the connection's credentials."""
        if self.emulator_host:
            from google.auth.credentials import AnonymousCredentials

            return AnonymousCredentials()
        return super().get_credentials()

    @cached_property
    def _clients(self) -> dict[tuple[str, str | None], Any]:
        return {}

    @cached_property
    def bounded_calls(self) -> BoundedCalls:
        """The deadlines and bounded retries of every API call of this hook."""
        return BoundedCalls(self.log)

    def _get_api_endpoint(self, region: str | None = None) -> str | None:
        """Return the regional Dataproc endpoint (as the Google provider's ``DataprocHook`` does), or None for the global one."""
        if region and region != "global" and self.is_default_universe():
            return f"{region}-dataproc.googleapis.com:443"
        return None

    def dataproc_endpoint(self, region: str | None) -> str:
        """Return where the region's Dataproc calls go: the emulator's ``host:port`` or the API endpoint."""
        return self.emulator_host or self._get_api_endpoint(region=region) or "dataproc.googleapis.com:443"

    @property
    def storage_endpoint(self) -> str:
        """Return where Cloud Storage calls go."""
        return self.storage_emulator_url or "https://storage.googleapis.com"

    def storage_call(self, name: str, invoke: Callable[[Any, float], T], *, informative: bool = False) -> T:
        """Return ``invoke(retry, timeout)``, a Cloud Storage request with the hook's deadline and bounded retry.

        :param name: the call, as the log and the error name it.
        :param invoke: passes ``retry=`` and ``timeout=`` to the storage client's method (and reads a
            listing to its end, so that every page is bounded).
        :param informative: the read only informs the log: one attempt with a short deadline.
        """
        timeout = defaults.INFORMATIVE_CALL_TIMEOUT_SECONDS if informative else defaults.API_CALL_TIMEOUT_SECONDS
        return self.bounded_calls.call(
            invoke, endpoint=self.storage_endpoint, name=name, retry=not informative, request_timeout=timeout
        )

    def _client(self, kind: str, region: str | None) -> Any:
        key = (kind, region)
        if key not in self._clients:
            from google.cloud import dataproc_v1

            client_class = getattr(dataproc_v1, f"{kind}Client")
            if self.emulator_host:
                import grpc

                transport_class = client_class.get_transport_class("grpc")
                channel = grpc.insecure_channel(self.emulator_host)
                client = client_class(transport=transport_class(channel=channel))
            else:
                from airflow.providers.google.common.consts import CLIENT_INFO

                client = client_class(
                    credentials=self.get_credentials(),
                    client_info=CLIENT_INFO,
                    client_options=self.get_client_options(api_endpoint_override=self._get_api_endpoint(region=region)),
                )
            self._clients[key] = BoundedClient(client, self.bounded_calls, self.dataproc_endpoint(region))
        return self._clients[key]

    def get_cluster_client(self, region: str | None = None) -> ClusterControllerClient:
        """Return a cluster client for the region (cached); its API calls are bounded (see the class doc)."""
        return self._client("ClusterController", region)

    def get_job_client(self, region: str | None = None) -> JobControllerClient:
        """Return a job client for the region (cached); its API calls are bounded."""
        return self._client("JobController", region)

    def get_autoscaling_policy_client(self, region: str | None = None) -> AutoscalingPolicyServiceClient:
        """Return an autoscaling policy client for the region (cached); its API calls are bounded."""
        return self._client("AutoscalingPolicyService", region)

    @cached_property
    def storage_client(self) -> storage.Client:
        """Return a Cloud Storage client with the hook's credentials (or the storage emulator's)."""
        from google.cloud import storage

        if self.emulator_host:
            return storage.Client(
                project="emulator",
                credentials=self.get_credentials(),
                client_options={"api_endpoint": self.storage_emulator_url},
            )
        from airflow.providers.google.common.consts import CLIENT_INFO

        return storage.Client(credentials=self.get_credentials(), client_info=CLIENT_INFO, project=self.project_id)

    @cached_property
    def dask_scheduler(self) -> DaskSchedulerHook:
        """The hook of the clusters' Dask schedulers, with this hook's credentials (see :mod:`~airflow_dask_provider.hooks.dask_scheduler`)."""
        return DaskSchedulerHook(self)

    # -- waiting --------------------------------------------------------------------------------

    @staticmethod
    def poll(
        fetch: Callable[[], T],
        *,
        until: Callable[[T], bool],
        timeout: float,
        what: str,
        state_of: Callable[[T], str] = str,
        on_poll: Callable[[T], None] | None = None,
        maximum: float = defaults.POLL_MAXIMUM_SECONDS,
    ) -> T:
        """Call ``fetch`` with growing pauses until ``until`` holds for its result or ``timeout`` passes.

        The pauses grow from ``POLL_INITIAL_SECONDS`` to ``maximum`` with jitter, through
        google-api-core's retry machinery.
        """
        from google.api_core import exceptions, retry

        last: list[T] = []

        def attempt() -> T:
            result = fetch()
            last[:] = [result]
            if on_poll is not None:
                on_poll(result)
            if not until(result):
                raise _NotYet
            return result

        policy = retry.Retry(
            predicate=retry.if_exception_type(_NotYet),
            initial=defaults.POLL_INITIAL_SECONDS,
            maximum=maximum,
            multiplier=defaults.POLL_MULTIPLIER,
            timeout=timeout,
        )
        try:
            return policy(attempt)()
        except exceptions.RetryError as err:
            state = state_of(last[0]) if last else "unknown"
            raise WaitTimeoutError(what, timeout, state) from err
