"""Each operator against a live emulator: real gRPC, real Dask processes."""

from __future__ import annotations

import textwrap
import urllib.request

import pytest

from airflow_dask_provider.exceptions import ClusterError, JobError, WaitTimeoutError
from airflow_dask_provider.hooks import DaskDataprocHook
from airflow_dask_provider.operators import (
    DaskDataprocCreateClusterOperator,
    DaskDataprocDeleteClusterOperator,
    DaskDataprocSubmitJobOperator,
)
from tests.fake_task_instance import fake_task_instance
from tests.integration.conftest import dask_client

WHERE = {"project_id": "itest", "region": "europe-west1"}
CLUSTER = "itest-operators"


@pytest.fixture(scope="module")
def cluster(emulator):
    """A cluster created by the create operator, deleted by the delete operator at the end."""
    ti = fake_task_instance("create", "module")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATAPROC_EMULATOR_HOST", emulator.grpc_target)
        patch.setenv("STORAGE_EMULATOR_HOST", emulator.storage_url)
        created = DaskDataprocCreateClusterOperator(task_id="create", cluster_name=CLUSTER, **WHERE).execute({"ti": ti})
        yield created
        DaskDataprocDeleteClusterOperator(task_id="delete", cluster_name=CLUSTER, **WHERE).execute({"ti": ti})


def script(tmp_path, body: str) -> str:
    path = tmp_path / "job.py"
    path.write_text(textwrap.dedent(body))
    return str(path)


def submit(main: str, **kwargs) -> DaskDataprocSubmitJobOperator:
    return DaskDataprocSubmitJobOperator(task_id="task", cluster_name=CLUSTER, main=main, **WHERE, **kwargs)


def test_create_returns_a_running_cluster_with_a_live_dashboard(cluster):
    assert cluster["state"] == "RUNNING"
    with urllib.request.urlopen(cluster["dashboard_url"], timeout=30) as response:
        assert response.status == 200


def test_scheduler_address_reaches_the_clusters_dask_workers_with_its_credential(cluster):
    assert cluster["scheduler_address"].startswith("tls://")
    with dask_client(cluster) as client:
        assert len(client.scheduler_info()["workers"]) == 2


def identity(address: str, security=None) -> dict:
    """Call ``identity`` on the Dask server at ``address``, as any client's first message does."""
    import asyncio

    from distributed.core import rpc

    connection_args = security.get_connection_args("client") if security else {}

    async def call() -> dict:
        async with rpc(address, timeout=5, connection_args=connection_args) as remote:
            return await remote.identity()

    return asyncio.run(asyncio.wait_for(call(), 15))


def test_the_cluster_refuses_a_client_without_its_credential(cluster):
    from distributed.security import Security

    own = DaskDataprocHook().dask_scheduler.get_security(tls_credential_uri=cluster["tls_credential_uri"])
    address = cluster["scheduler_address"]

    assert identity(address, own)["type"] == "Scheduler"
    strangers = [(address, None), (address.replace("tls://", "tcp://"), None), (address, Security.temporary())]
    for stranger, security in strangers:
        # Refused by the TLS handshake or closed (OSError), or no TLS context for tls:// at all (TypeError).
        with pytest.raises((OSError, TypeError)):
            identity(stranger, security)


def test_the_credential_is_kept_in_the_config_bucket_and_named_in_the_metadata(cluster):
    uri = cluster["tls_credential_uri"]

    folder = f"airflow-dask-provider/credentials/{WHERE['project_id']}/{WHERE['region']}/{CLUSTER}/"
    assert uri.startswith(f"gs://{cluster['config_bucket']}/{folder}")
    assert "PRIVATE KEY" in DaskDataprocHook().read_dask_credential(uri=uri)


def test_a_retry_of_the_creating_run_reuses_the_running_cluster(cluster):
    retry = {"ti": fake_task_instance("create", "module")}  # the run that created it

    again = DaskDataprocCreateClusterOperator(task_id="create", cluster_name=CLUSTER, **WHERE).execute(retry)

    assert again["cluster_uuid"] == cluster["cluster_uuid"]


def test_another_run_is_refused_the_cluster_unless_it_shares_it(cluster, context):
    with pytest.raises(ClusterError, match=r"it belongs to run module of DAG itest \(task create, owner airflow\)"):
        DaskDataprocCreateClusterOperator(task_id="create", cluster_name=CLUSTER, **WHERE).execute(context)

    shared = DaskDataprocCreateClusterOperator(
        task_id="create", cluster_name=CLUSTER, share_cluster=True, **WHERE
    ).execute(context)

    assert shared["cluster_uuid"] == cluster["cluster_uuid"]


def test_submit_stages_a_local_script_and_runs_it_on_the_cluster(cluster, context, tmp_path):
    main = script(
        tmp_path,
        """
        from distributed import Client
        with Client() as client:
            print("total", client.submit(sum, range(10)).result())
        """,
    )

    result = submit(main).execute(context)

    output, _ = DaskDataprocHook().read_driver_output(driver_output_uri=result["driver_output_uri"])
    assert result["state"] == "DONE"
    assert result["driver_output_uri"].startswith("gs://")
    assert "total 45" in output


def test_retried_task_attaches_to_the_finished_job(cluster, context, tmp_path):
    main = script(tmp_path, "print('once')\n")
    first = submit(main).execute(context)
    context["ti"].try_number = 2

    second = submit(main).execute(context)

    assert second["job_id"] == first["job_id"]


def test_failed_job_error_shows_the_driver_output(cluster, context, tmp_path):
    main = script(tmp_path, "raise SystemExit('the input is empty')\n")

    with pytest.raises(JobError) as caught:
        submit(main).execute(context)

    assert caught.value.state == "ERROR"
    assert "the input is empty" in str(caught.value)


@pytest.mark.parametrize("check_versions", [True, False], ids=["driver", "no-driver"])
def test_a_worker_tasks_exception_is_the_first_line_of_the_error(cluster, context, tmp_path, check_versions):
    """Issue 21: the error starts with the exception the driver saw, raised on a worker; named by the
    provider's driver, or found in the traceback without it."""
    main = script(
        tmp_path,
        """
        from distributed import Client

        def parse(row):
            raise ValueError("boom")

        with Client() as client:
            client.submit(parse, 1).result()
        """,
    )

    with pytest.raises(JobError) as caught:
        submit(main, check_versions=check_versions).execute(context)

    assert str(caught.value).splitlines()[0] == "ValueError: boom", str(caught.value)
    assert caught.value.state == "ERROR"


def test_job_past_its_timeout_is_cancelled(cluster, context, tmp_path):
    main = script(tmp_path, "import time\ntime.sleep(600)\n")
    operator = submit(main, timeout=5)

    with pytest.raises(WaitTimeoutError):
        operator.execute(context)

    job = DaskDataprocHook().wait_for_dask_job(**WHERE, job_id=operator._job.job_id, timeout=60)
    assert job.state == "CANCELLED"


def test_delete_of_a_missing_cluster_is_done(emulator, context):
    result = DaskDataprocDeleteClusterOperator(task_id="d", cluster_name="never-created", **WHERE).execute(context)

    assert result["deleted"] is False


def test_delete_removes_the_clusters_credential(emulator, context):
    created = DaskDataprocCreateClusterOperator(
        task_id="create", cluster_name="itest-credential", num_workers=0, **WHERE
    ).execute(context)
    kept = emulator.local_path(created["tls_credential_uri"])
    assert kept.is_file()

    DaskDataprocDeleteClusterOperator(task_id="delete", cluster_name="itest-credential", **WHERE).execute(context)

    assert not kept.exists()
