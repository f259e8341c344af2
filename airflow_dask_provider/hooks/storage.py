"""The Dataproc hook's Cloud Storage calls: driver output, staged files and init actions, the clusters' Dask credentials.

A mixin of :class:`~airflow_dask_provider.hooks.dataproc.DaskDataprocHook`, which gives it its
storage client (``storage_client``), its bounded calls (``storage_call``) and its log.

**Staging.** A user never copies a script: the create operator calls :meth:`StorageCalls.stage_init_actions`,
which uploads each bundled script the cluster uses (see :func:`airflow_dask_provider.staging.bundled_actions`)
into the cluster's staging bucket under a content-hashed path, uploading only what is missing, and
returns the spec with their gs:// URIs. On the emulator the files land under its data dir.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import posixpath
from pathlib import Path
from typing import TYPE_CHECKING

from airflow_dask_provider import defaults
from airflow_dask_provider.exceptions import ConfigurationError, EndpointUnreachableError
from airflow_dask_provider.hooks.bounded import teardown
from airflow_dask_provider.staging import bundled_actions, own_bucket_name

if TYPE_CHECKING:
    from airflow_dask_provider.cluster_spec import DaskClusterSpec


def split_gcs_uri(uri: str) -> tuple[str, str]:
    """Split ``gs://bucket/object`` into bucket and object name."""
    if not uri.startswith("gs://") or "/" not in uri[5:]:
        raise ValueError(f"Not a gs:// object URI: {uri!r}")
    bucket, _, name = uri[5:].partition("/")
    return bucket, name


def credentials_folder(*, project_id: str, region: str) -> str:
    """Return the folder, inside a config bucket, of the credentials of a project and region's clusters."""
    return posixpath.join(defaults.CREDENTIALS_PREFIX, project_id, region)


class StorageCalls:
    """Read and write the provider's Cloud Storage objects; plain data in and out."""

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

    # -- staging buckets and init actions -------------------------------------------------------

    def staging_bucket(self, *, project_id: str, region: str, config_bucket: str | None = None) -> str:
        """Return the bucket to stage into, creating the provider's own when the project has none.

        In order: ``config_bucket`` (the spec's); ``[dask_dataproc] staging_bucket`` in Airflow's config;
        the project's Dataproc staging bucket for the region (``dataproc-staging-REGION-...``, which
        Dataproc creates with the first cluster there); else a bucket named after the project and region,
        created in the region (the connection needs ``storage.buckets.create`` for that last case only).

        :raises ConfigurationError: the provider's own bucket was needed and could not be created.
        """
        if config_bucket:
            return config_bucket
        from airflow_dask_provider import config

        configured = config.get("staging_bucket")
        if configured:
            return configured
        existing = self._region_staging_buckets(project_id=project_id, region=region)
        if existing:
            return existing[0]
        name = own_bucket_name(project_id, region)
        try:
            self.storage_call(
                "create_bucket",
                lambda retry, timeout: self.storage_client.create_bucket(
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

    def known_staging_buckets(self, *, project_id: str, region: str) -> list[str]:
        """Return the buckets :meth:`staging_bucket` may have chosen for a spec without ``config_bucket``.

        ``[dask_dataproc] staging_bucket``, the region's Dataproc staging buckets and the provider's own;
        nothing is created. The reaper looks for left-over credentials in them.
        """
        from google.api_core.exceptions import Forbidden

        from airflow_dask_provider import config

        configured = config.get("staging_bucket")
        names = [configured] if configured else []
        try:
            names += self._region_staging_buckets(project_id=project_id, region=region)
        except Forbidden:  # listing buckets needs storage.buckets.list on the project: look in the others
            pass
        return [*names, own_bucket_name(project_id, region)]

    def _region_staging_buckets(self, *, project_id: str, region: str) -> list[str]:
        """Return the project's Dataproc staging buckets of the region (``dataproc-staging-REGION-...``), sorted."""
        prefix = f"dataproc-staging-{region}-"
        listed = self.storage_call(
            "list_buckets",
            lambda retry, timeout: [
                bucket.name
                for bucket in self.storage_client.list_buckets(
                    prefix=prefix, project=project_id, retry=retry, timeout=timeout
                )
            ],
        )
        return sorted(name for name in listed if name.startswith(prefix))

    def stage_init_actions(self, spec: DaskClusterSpec, *, project_id: str, region: str) -> DaskClusterSpec:
        """Upload the bundled init actions the cluster needs and return the spec that runs them.

        The bundled actions run before the user's own ones; the spec's ``config_bucket`` is set to the
        bucket used, so the cluster's staging files (driver output included) live beside them.
        """
        from airflow_dask_provider.bundled import init_action_path
        from airflow_dask_provider.cluster_spec import InitAction

        names = bundled_actions(spec)
        if not names:
            return spec
        bucket = self.staging_bucket(project_id=project_id, region=region, config_bucket=spec.config_bucket)
        staged = tuple(InitAction(self.stage_file(local_path=init_action_path(name), bucket=bucket)) for name in names)
        return dataclasses.replace(spec, init_actions=(*staged, *spec.init_actions), config_bucket=bucket)

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
