"""The hook through which every Dataproc and Cloud Storage call of the provider goes."""

from __future__ import annotations

import hashlib
import os
import posixpath
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.providers.common.compat.sdk import AirflowNotFoundException
from airflow.providers.google.cloud.hooks.dataproc import DataprocHook

from airflow_dask_provider import defaults
from airflow_dask_provider.hooks.bounded import BoundedCalls, BoundedClient, teardown
from airflow_dask_provider.exceptions import ConfigurationError, ConnectionNotFoundError, WaitTimeoutError
from airflow_dask_provider.hooks.resources import (
    ClusterInfo,
    DaskProgress,
    JobInfo,
    cluster_info,
    dask_progress,
    job_info,
    metrics_url,
)
from airflow_dask_provider.states import CLUSTER_TRANSIENT_STATES

if TYPE_CHECKING:
    from google.cloud import storage
    from google.cloud.dataproc_v1 import (
        AutoscalingPolicyServiceClient,
        ClusterConfig,
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


def split_gcs_uri(uri: str) -> tuple[str, str]:
    """Split ``gs://bucket/object`` into bucket and object name."""
    if not uri.startswith("gs://") or "/" not in uri[5:]:
        raise ValueError(f"Not a gs:// object URI: {uri!r}")
    bucket, _, name = uri[5:].partition("/")
    return bucket, name


def credentials_folder(*, project_id: str, region: str) -> str:
    """Return the folder, inside a config bucket, of the credentials of a project and region's clusters."""
    return posixpath.join(defaults.CREDENTIALS_PREFIX, project_id, region)


class DaskDataprocHook(DataprocHook):
    """Talk to Dataproc and Cloud Storage for Dask clusters and jobs.

    Credentials come from the Google Cloud connection (``google_cloud_default`` by default) exactly as
    in the Google provider's ``DataprocHook``, including ``impersonation_chain``. When the environment
    variable ``DATAPROC_EMULATOR_HOST`` (``host:port``) is set, or the connection's extra has
    ``emulator_host``, every client talks plain gRPC to that emulator with anonymous credentials, and
    Cloud Storage goes to ``STORAGE_EMULATOR_HOST`` (or the extra ``storage_emulator_host``, or the
    emulator's port plus one). Nothing outside this class knows which of the two it talks to.

    Every public method takes keyword arguments and returns plain data. Every request has a deadline,
    and an endpoint that does not answer is retried, each attempt logged, for at most ``[dask_dataproc]
    api_unreachable_timeout`` (see :mod:`airflow_dask_provider.hooks.bounded`).

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
                    client_options=self.get_client_options(
                        api_endpoint_override=self._get_api_endpoint(region=region)
                    ),
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

        return storage.Client(
            credentials=self.get_credentials(), client_info=CLIENT_INFO, project=self.project_id
        )

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

    # -- clusters -------------------------------------------------------------------------------

    def get_cluster_info(self, *, project_id: str, region: str, cluster_name: str) -> ClusterInfo | None:
        """Return the cluster, or None when it does not exist."""
        from google.api_core.exceptions import NotFound

        client = self.get_cluster_client(region)
        try:
            cluster = client.get_cluster(project_id=project_id, region=region, cluster_name=cluster_name)
        except NotFound:
            return None
        return cluster_info(cluster, project_id=project_id, region=region)

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

    def delete_dask_cluster(
        self, *, project_id: str, region: str, cluster_name: str, cluster_uuid: str | None = None
    ) -> bool:
        """Ask Dataproc to delete a cluster, and its Dask TLS credential; return False when it does not exist.

        The credential goes once Dataproc has accepted the deletion: the nodes read it only when they
        start, and a cluster being deleted starts none. A teardown: an endpoint that does not answer is
        retried a little longer than other calls.
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
        from google.api_core.exceptions import NotFound

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
        return True

    def wait_for_cluster(
        self, *, project_id: str, region: str, cluster_name: str, timeout: float
    ) -> ClusterInfo | None:
        """Wait until Dataproc stops changing the cluster; return it, or None once it is gone."""
        return self._poll_cluster(
            project_id, region, cluster_name, timeout, "to settle",
            until=lambda info: info is None or info.state not in CLUSTER_TRANSIENT_STATES,
        )  # fmt: skip

    def wait_for_cluster_deleted(
        self, *, project_id: str, region: str, cluster_name: str, timeout: float
    ) -> None:
        """Wait until the cluster no longer exists (a teardown, like :meth:`delete_dask_cluster`)."""
        with teardown():
            self._poll_cluster(
                project_id, region, cluster_name, timeout, "to be deleted", until=lambda info: info is None
            )

    def _poll_cluster(
        self,
        project_id: str,
        region: str,
        cluster_name: str,
        timeout: float,
        goal: str,
        *,
        until: Callable[[ClusterInfo | None], bool],
    ) -> ClusterInfo | None:
        return self.poll(
            lambda: self.get_cluster_info(project_id=project_id, region=region, cluster_name=cluster_name),
            until=until,
            timeout=timeout,
            what=f"cluster {cluster_name} {goal}",
            state_of=lambda info: info.state if info else "DELETED",
        )

    # -- jobs -----------------------------------------------------------------------------------

    def submit_dask_job(
        self,
        *,
        project_id: str,
        region: str,
        cluster_name: str,
        job_id: str,
        main_python_file_uri: str,
        args: Sequence[str] = (),
        python_file_uris: Sequence[str] = (),
        file_uris: Sequence[str] = (),
        properties: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> JobInfo:
        """Submit a Dask driver script as a pyspark job whose main file is a plain Python script.

        Dataproc has no Dask job type; a pyspark job runs the script on the master node, where the
        scheduler runs, and gets tracking, cancelling and driver output. When ``job_id`` is taken,
        the existing job is returned with ``submitted_now=False``.
        """
        from google.api_core.exceptions import AlreadyExists

        client = self.get_job_client(region)
        job = {
            "reference": {"project_id": project_id, "job_id": job_id},
            "placement": {"cluster_name": cluster_name},
            "labels": dict(labels or {}),
            "pyspark_job": {
                "main_python_file_uri": main_python_file_uri,
                "args": list(args),
                "python_file_uris": list(python_file_uris),
                "file_uris": list(file_uris),
                "properties": dict(properties or {}),
            },
        }
        try:
            submitted = client.submit_job(request={"project_id": project_id, "region": region, "job": job})
        except AlreadyExists:
            existing = self.get_job_info(project_id=project_id, region=region, job_id=job_id)
            if existing is None:
                raise
            return existing
        return job_info(submitted, project_id=project_id, region=region, submitted_now=True)

    def get_job_info(self, *, project_id: str, region: str, job_id: str) -> JobInfo | None:
        """Return the job, or None when it does not exist."""
        from google.api_core.exceptions import NotFound

        try:
            job = self.get_job_client(region).get_job(project_id=project_id, region=region, job_id=job_id)
        except NotFound:
            return None
        return job_info(job, project_id=project_id, region=region)

    def list_active_jobs(self, *, project_id: str, region: str, cluster_name: str) -> list[JobInfo]:
        """Return the jobs that are pending or running on the cluster, with their labels."""
        from google.cloud.dataproc_v1 import ListJobsRequest

        jobs = self.get_job_client(region).list_jobs(
            request={
                "project_id": project_id,
                "region": region,
                "cluster_name": cluster_name,
                "job_state_matcher": ListJobsRequest.JobStateMatcher.ACTIVE,
            }
        )
        return [job_info(job, project_id=project_id, region=region) for job in jobs]

    def cancel_dask_job(self, *, project_id: str, region: str, job_id: str) -> JobInfo | None:
        """Ask Dataproc to cancel a job (a teardown); return its state, or None when it does not exist."""
        from google.api_core.exceptions import FailedPrecondition, NotFound

        try:
            with teardown():
                job = self.get_job_client(region).cancel_job(project_id=project_id, region=region, job_id=job_id)
        except NotFound:
            return None
        except FailedPrecondition:
            with teardown():
                return self.get_job_info(project_id=project_id, region=region, job_id=job_id)
        return job_info(job, project_id=project_id, region=region)

    def wait_for_dask_job(
        self,
        *,
        project_id: str,
        region: str,
        job_id: str,
        timeout: float,
        on_poll: Callable[[JobInfo], None] | None = None,
    ) -> JobInfo:
        """Wait until the job has ended and return it; ``on_poll`` sees every state read."""

        def fetch() -> JobInfo:
            info = self.get_job_info(project_id=project_id, region=region, job_id=job_id)
            if info is None:
                raise LookupError(f"Job {job_id} disappeared while it was awaited")
            return info

        return self.poll(
            fetch,
            until=lambda info: info.done,
            timeout=timeout,
            what=f"Dask job {job_id}",
            state_of=lambda info: info.state,
            on_poll=on_poll,
            maximum=defaults.JOB_POLL_MAXIMUM_SECONDS,
        )

    # -- storage --------------------------------------------------------------------------------

    def read_driver_output(self, *, driver_output_uri: str, offset: int = 0) -> tuple[str, int]:
        """Return the driver output written since ``offset`` and the new offset.

        Dataproc writes the output in numbered chunks beside ``driver_output_uri``
        (``driveroutput.000000000``, ...); they are read as one stream.
        """
        if not driver_output_uri:
            return "", offset
        bucket_name, prefix = split_gcs_uri(driver_output_uri)
        listed = self.storage_call(
            "list_blobs",
            lambda retry, timeout: list(
                self.storage_client.list_blobs(bucket_name, prefix=prefix + ".", retry=retry, timeout=timeout)
            ),
            informative=True,
        )
        chunks = sorted(listed, key=lambda blob: blob.name)
        data = bytearray()
        position = 0
        for blob in chunks:
            size = blob.size or 0
            if position + size > offset:
                start = max(offset - position, 0) or None
                data += self.storage_call(
                    "download_as_bytes",
                    lambda retry, timeout, blob=blob, start=start: blob.download_as_bytes(
                        start=start, retry=retry, timeout=timeout
                    ),
                    informative=True,
                )
            position += size
        return data.decode("utf-8", errors="replace"), offset + len(data)

    def driver_output_tail(self, *, driver_output_uri: str, lines: int = defaults.DRIVER_TAIL_LINES) -> str:
        """Return the last ``lines`` lines of a job's driver output ('' when there is none)."""
        try:
            text, _ = self.read_driver_output(driver_output_uri=driver_output_uri)
        except Exception as err:  # the tail only decorates an error; never hide the job's own failure
            self.log.warning("Could not read driver output at %s: %s", driver_output_uri, err)
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stage_file(self, *, local_path: str | os.PathLike[str], bucket: str) -> str:
        """Upload a local file under a content-hashed path, unless already there, and return its URI."""
        path = Path(local_path)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        name = posixpath.join(defaults.STAGING_PREFIX, digest, path.name)
        blob = self.storage_client.bucket(bucket).blob(name)
        if not self.storage_call("exists", lambda retry, timeout: blob.exists(retry=retry, timeout=timeout)):
            self.log.info("Staging %s to gs://%s/%s", path, bucket, name)
            self.storage_call(  # the name is the content's hash: uploading twice is harmless
                "upload_from_filename",
                lambda retry, timeout: blob.upload_from_filename(str(path), retry=retry, timeout=timeout),
            )
        return f"gs://{bucket}/{name}"

    # -- the clusters' Dask credentials (airflow_dask_provider.tls) ------------------------------

    def stage_dask_credential(self, *, bucket: str, project_id: str, region: str, cluster_name: str) -> str:
        """Make a new Dask TLS credential for a cluster, keep it in ``bucket`` and return its gs:// URI.

        The object is ``CREDENTIALS_PREFIX/PROJECT/REGION/CLUSTER/RANDOM/dask-tls.pem``: the random part
        means a credential is never reused or overwritten by a second create of the same name, and the
        reaper sweeps a project and region's credentials by prefix. Its text is never logged.
        """
        import secrets

        from airflow_dask_provider.tls import new_credential

        folder = credentials_folder(project_id=project_id, region=region)
        name = posixpath.join(folder, cluster_name, secrets.token_hex(8), "dask-tls.pem")
        blob = self.storage_client.bucket(bucket).blob(name)
        credential = new_credential()
        self.storage_call(  # if_generation_match=0: a retry after a lost answer fails, never overwrites
            "upload_from_string",
            lambda retry, timeout: blob.upload_from_string(
                credential, content_type="application/x-pem-file", if_generation_match=0, retry=retry, timeout=timeout
            ),
        )
        uri = f"gs://{bucket}/{name}"
        self.log.info("Cluster %s's Dask TLS credential is kept at %s", cluster_name, uri)
        return uri

    def list_dask_credentials(self, *, bucket: str, project_id: str, region: str) -> list[tuple[str, float]]:
        """Return the URI and the upload time (seconds since the epoch) of every credential the provider
        keeps in ``bucket`` for the project and region's clusters; [] when the bucket does not exist."""
        from google.api_core.exceptions import NotFound

        prefix = credentials_folder(project_id=project_id, region=region) + "/"
        try:
            blobs = self.storage_call(
                "list_blobs",
                lambda retry, timeout: list(
                    self.storage_client.list_blobs(bucket, prefix=prefix, retry=retry, timeout=timeout)
                ),
            )
        except NotFound:
            return []
        return [(f"gs://{bucket}/{blob.name}", blob.updated.timestamp() if blob.updated else 0.0) for blob in blobs]

    def read_dask_credential(self, *, uri: str) -> str:
        """Return the PEM text of the credential at ``uri``."""
        bucket, name = split_gcs_uri(uri)
        blob = self.storage_client.bucket(bucket).blob(name)
        return self.storage_call(
            "download_as_bytes", lambda retry, timeout: blob.download_as_bytes(retry=retry, timeout=timeout)
        ).decode()

    def delete_dask_credential(self, *, uri: str) -> bool:
        """Delete a credential the provider made (under its prefix); return False when none was there.

        A credential of the user's own (any other object) is left alone.
        """
        from google.api_core.exceptions import NotFound

        bucket, name = split_gcs_uri(uri)
        if not name.startswith(defaults.CREDENTIALS_PREFIX + "/"):
            self.log.info("Leaving the Dask credential %s: the provider did not make it", uri)
            return False
        blob = self.storage_client.bucket(bucket).blob(name)
        try:
            with teardown():
                self.storage_call("delete", lambda retry, timeout: blob.delete(retry=retry, timeout=timeout))
        except NotFound:
            return False
        self.log.info("Deleted the Dask TLS credential %s", uri)
        return True

    def get_dask_security(self, *, tls_credential_uri: str | None) -> Any:
        """Return the ``distributed.Security`` that a client of the cluster needs, or None without TLS."""
        if not tls_credential_uri:
            return None
        from airflow_dask_provider.tls import security

        return security(self.read_dask_credential(uri=tls_credential_uri))

    # -- the Dask scheduler, through Component Gateway --------------------------------------------

    def get_dask_progress(self, *, dashboard_url: str, timeout: float = 10.0) -> DaskProgress:
        """Return the scheduler's progress, read from its Prometheus page beside the dashboard.

        On Google Cloud the page is reached through Component Gateway with the hook's credentials
        (an OAuth bearer token), the same way a browser reaches the dashboard; the scheduler's port
        itself is never contacted, so private-IP clusters work from Composer. On the emulator the
        dashboard is the scheduler's own, on loopback.
        """
        url = metrics_url(dashboard_url)
        if self.emulator_host:
            import requests

            response = requests.get(url, timeout=timeout)
        else:
            from google.auth.transport.requests import AuthorizedSession

            response = AuthorizedSession(self.get_credentials()).get(url, timeout=timeout)
        response.raise_for_status()
        return dask_progress(response.text)
