"""Every emulated cluster's Dask speaks TLS with a credential of its own, and refuses strangers."""

from __future__ import annotations

import asyncio
import stat

import pytest
from distributed.core import rpc
from distributed.security import Security
from google.cloud import dataproc_v1

from .conftest import (
    PROJECT,
    REGION,
    SINGLE_NODE,
    WHERE,
    create_cluster,
    dask_client,
    delete_cluster,
    scheduler_address,
)

OWN = "tls-own-credential"
BUCKET = "tls-credentials"


def identity(address: str, security: Security | None = None) -> dict:
    """Call ``identity`` on any Dask server (scheduler or worker) and return its answer."""
    connection_args = security.get_connection_args("client") if security else {}

    async def call() -> dict:
        async with rpc(address, timeout=5, connection_args=connection_args) as remote:
            return await remote.identity()

    return asyncio.run(asyncio.wait_for(call(), 15))


def refused(address: str, security: Security | None = None) -> bool:
    try:
        identity(address, security)
    except (OSError, TypeError):  # refused by the TLS handshake or closed; no TLS context for tls:// at all
        return True
    return False


@pytest.fixture(scope="module")
def credential_pem() -> str:
    temporary = Security.temporary()
    return temporary.tls_ca_file + temporary.tls_client_key


@pytest.fixture(scope="module")
def own(clusters, storage, credential_pem) -> dataproc_v1.Cluster:
    """A cluster whose credential is an object in a bucket, as the provider's create operator leaves it."""
    storage.create_bucket(BUCKET)
    storage.bucket(BUCKET).blob("creds/dask-tls.pem").upload_from_string(credential_pem)
    metadata = {"dask-tls-uri": f"gs://{BUCKET}/creds/dask-tls.pem"}
    yield create_cluster(clusters, OWN, {**SINGLE_NODE, "gce_cluster_config": {"metadata": metadata}})
    delete_cluster(clusters, OWN)


def worker_address(running, cluster) -> str:
    with dask_client(running, cluster) as client:
        return next(iter(client.scheduler_info()["workers"]))


def test_the_scheduler_and_workers_listen_on_tls(running, shared_cluster):
    with dask_client(running, shared_cluster) as client:
        workers = list(client.scheduler_info()["workers"])

    assert scheduler_address(shared_cluster).startswith("tls://127.0.0.1:")
    assert len(workers) == 2 and all(address.startswith("tls://127.0.0.1:") for address in workers)


def test_a_plain_client_is_refused_over_tcp_and_tls(shared_cluster):
    address = scheduler_address(shared_cluster)

    assert refused(address.replace("tls://", "tcp://"))
    assert refused(address)


def test_a_client_holding_another_clusters_credential_is_refused(running, shared_cluster, own):
    other = running.cluster_security(PROJECT, REGION, OWN)

    assert identity(scheduler_address(own), other)["type"] == "Scheduler"
    assert refused(scheduler_address(shared_cluster), other)
    assert refused(scheduler_address(shared_cluster), Security.temporary())


def test_a_workers_port_refuses_a_client_without_the_credential(running, shared_cluster):
    address = worker_address(running, shared_cluster)
    security = running.cluster_security(PROJECT, REGION, shared_cluster.cluster_name)

    assert identity(address, security)["type"] == "Worker"
    assert refused(address)
    assert refused(address.replace("tls://", "tcp://"))
    assert refused(address, Security.temporary())


def test_the_credential_named_by_the_metadata_is_the_one_used(running, own, credential_pem):
    from airflow_dask_provider.tls import security

    assert running.cluster_credential(PROJECT, REGION, OWN).read_text() == credential_pem
    assert identity(scheduler_address(own), security(credential_pem))["type"] == "Scheduler"


def test_the_credential_file_is_readable_by_its_owner_only(running, own):
    path = running.cluster_credential(PROJECT, REGION, OWN)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_a_missing_credential_object_puts_the_cluster_in_error_naming_the_key(clusters):
    metadata = {"dask-tls-uri": f"gs://{BUCKET}/no-such/dask-tls.pem"}
    operation = clusters.create_cluster(
        **WHERE,
        cluster={
            "cluster_name": "tls-missing",
            "config": {**SINGLE_NODE, "gce_cluster_config": {"metadata": metadata}},
        },
    )
    try:
        with pytest.raises(Exception, match="dask-tls-uri"):
            operation.result(timeout=120)
        cluster = clusters.get_cluster(**WHERE, cluster_name="tls-missing")
        assert cluster.status.state.name == "ERROR"
        assert "dask-tls-uri" in cluster.status.detail
    finally:
        delete_cluster(clusters, "tls-missing")


def test_a_cluster_that_opts_out_runs_plain_tcp(running, clusters):
    config = {**SINGLE_NODE, "gce_cluster_config": {"metadata": {"dask-allow-plaintext": "true"}}}
    cluster = create_cluster(clusters, "tls-opted-out", config)
    try:
        assert scheduler_address(cluster).startswith("tcp://")
        assert identity(scheduler_address(cluster))["type"] == "Scheduler"
        assert not running.cluster_credential(PROJECT, REGION, "tls-opted-out").exists()
    finally:
        delete_cluster(clusters, "tls-opted-out")


def test_a_credential_uri_that_is_not_gcs_is_invalid_argument(clusters):
    from google.api_core.exceptions import InvalidArgument

    config = {**SINGLE_NODE, "gce_cluster_config": {"metadata": {"dask-tls-uri": "/etc/passwd"}}}
    with pytest.raises(InvalidArgument, match="dask-tls-uri"):
        clusters.create_cluster(**WHERE, cluster={"cluster_name": "tls-bad-uri", "config": config})


def test_a_malformed_service_account_is_invalid_argument(clusters):
    from google.api_core.exceptions import InvalidArgument

    config = {**SINGLE_NODE, "gce_cluster_config": {"service_account": "not an email"}}
    with pytest.raises(InvalidArgument, match="service_account"):
        clusters.create_cluster(**WHERE, cluster={"cluster_name": "bad-account", "config": config})
