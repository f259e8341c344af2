from __future__ import annotations

import pytest
from google.api_core.exceptions import AlreadyExists, FailedPrecondition, NotFound
from google.auth.credentials import AnonymousCredentials
from google.cloud import dataproc_v1

from airflow_dask_provider.cluster_spec import DaskClusterSpec
from airflow_dask_provider.exceptions import ConfigurationError, WaitTimeoutError
from airflow_dask_provider.hooks.dataproc import DaskDataprocHook
from airflow_dask_provider.hooks.resources import dashboard_url, scheduler_address

WHERE = {"project_id": "p", "region": "europe-west1"}


@pytest.fixture
def emulated(monkeypatch):
    monkeypatch.setenv("DATAPROC_EMULATOR_HOST", "127.0.0.1:8790")
    return DaskDataprocHook()


@pytest.fixture
def clients(mocker):
    """Replace every Dataproc client of the hook with a mock, to check the requests it shapes."""
    mocker.patch.dict("os.environ", {"DATAPROC_EMULATOR_HOST": "127.0.0.1:1"})
    hook = DaskDataprocHook()
    cluster_client, job_client = mocker.MagicMock(), mocker.MagicMock()
    mocker.patch.object(hook, "get_cluster_client", return_value=cluster_client)
    mocker.patch.object(hook, "get_job_client", return_value=job_client)
    return hook, cluster_client, job_client


def running_cluster(**metadata) -> dataproc_v1.Cluster:
    return dataproc_v1.Cluster(
        cluster_name="c",
        cluster_uuid="u-1",
        status={"state": "RUNNING"},
        config={
            "config_bucket": "staging",
            "master_config": {"instance_names": ["c-m"]},
            "gce_cluster_config": {"metadata": metadata},
            "endpoint_config": {
                "http_ports": {
                    "YARN ResourceManager": "https://abc-dot-europe-west1.dataproc.googleusercontent.com/yarn/"
                }
            },
        },
    )


def test_emulator_host_comes_from_the_environment(emulated):
    assert emulated.emulator_host == "127.0.0.1:8790"
    assert emulated.storage_emulator_url == "http://127.0.0.1:8791"
    assert isinstance(emulated.get_credentials(), AnonymousCredentials)


def test_storage_emulator_url_from_the_standard_variable(monkeypatch, emulated):
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9000")

    assert emulated.storage_emulator_url == "http://127.0.0.1:9000"


def test_emulator_host_comes_from_the_connection_extra(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_DASK_LOCAL", '{"conn_type": "dask_dataproc", "extra": {"emulator_host": "127.0.0.1:9999"}}'
    )

    hook = DaskDataprocHook(gcp_conn_id="dask_local")

    assert hook.emulator_host == "127.0.0.1:9999"


def test_without_emulator_clients_use_the_regional_endpoint(monkeypatch, mocker):
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", '{"conn_type": "google_cloud_platform"}')
    mocker.patch.object(DaskDataprocHook, "get_credentials", return_value=AnonymousCredentials())
    hook = DaskDataprocHook()

    client = hook.get_cluster_client("europe-west1")

    assert hook.emulator_host is None
    assert client.api_endpoint == "europe-west1-dataproc.googleapis.com:443"


def test_emulator_clients_speak_plain_grpc_to_the_emulator(emulated):
    client = emulated.get_job_client("europe-west1")

    assert client.transport.kind == "grpc"
    assert client.transport._host.startswith("dataproc.googleapis.com")  # default host, custom channel
    assert emulated.get_job_client("europe-west1") is client


def test_a_missing_connection_is_fine_with_the_emulator(emulated):
    assert DaskDataprocHook(gcp_conn_id="does_not_exist").emulator_host == "127.0.0.1:8790"


def test_with_the_emulator_and_no_project_the_error_says_where_to_name_one(emulated, monkeypatch, mocker):
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    default_credentials = mocker.patch("google.auth.default")

    with pytest.raises(ConfigurationError) as raised:
        emulated.project_id  # noqa: B018

    assert raised.value.field == "project_id"
    assert "project_ids or [dask_dataproc] reaper_projects" in str(raised.value)
    assert "the connection (extra 'project')" in str(raised.value)
    default_credentials.assert_not_called()


def test_with_the_emulator_the_project_comes_from_the_connection_then_the_environment(emulated, monkeypatch):
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "env-project")
    assert emulated.project_id == "env-project"

    monkeypatch.setenv(
        "AIRFLOW_CONN_DASK_LOCAL",
        '{"conn_type": "dask_dataproc", "extra": {"project": "conn-project", "emulator_host": "127.0.0.1:9"}}',
    )
    assert DaskDataprocHook(gcp_conn_id="dask_local").project_id == "conn-project"


def test_create_sends_the_request_id_and_labels(clients):
    hook, cluster_client, _ = clients
    config = DaskClusterSpec().to_cluster_config(region="europe-west1")

    created = hook.create_dask_cluster(
        **WHERE, cluster_name="c", cluster_config=config, labels={"a": "b"}, request_id="req-1"
    )

    request = cluster_client.create_cluster.call_args.kwargs["request"]
    assert created is True
    assert request["request_id"] == "req-1"
    assert request["cluster"].labels == {"a": "b"}
    assert request["cluster"].config.worker_config.num_instances == 2


def test_create_of_an_existing_cluster_returns_false(clients):
    hook, cluster_client, _ = clients
    cluster_client.create_cluster.side_effect = AlreadyExists("exists")

    assert not hook.create_dask_cluster(
        **WHERE, cluster_name="c", cluster_config=dataproc_v1.ClusterConfig(), labels={}, request_id="r"
    )


def test_delete_of_a_missing_cluster_returns_false(clients):
    hook, cluster_client, _ = clients
    cluster_client.delete_cluster.side_effect = NotFound("gone")

    assert hook.delete_dask_cluster(**WHERE, cluster_name="c") is False


@pytest.mark.parametrize(("metadata", "runtime"), [({}, "standalone"), ({"dask-runtime": "yarn"}, "yarn")])
def test_get_cluster_info_reads_the_dask_runtime_from_the_node_metadata(clients, metadata, runtime):
    hook, cluster_client, _ = clients
    cluster_client.get_cluster.return_value = running_cluster(**metadata)

    assert hook.get_cluster_info(**WHERE, cluster_name="c").dask_runtime == runtime


def test_get_cluster_info_reads_addresses(clients):
    hook, cluster_client, _ = clients
    cluster_client.get_cluster.return_value = running_cluster()

    info = hook.get_cluster_info(**WHERE, cluster_name="c")

    assert info.state == "RUNNING"
    assert info.scheduler_address == "tcp://c-m:8786"
    assert info.dashboard_url == (
        "https://abc-dot-europe-west1.dataproc.googleusercontent.com/gateway/default/dask/status"
    )
    assert info.config_bucket == "staging"


def test_metadata_overrides_the_scheduler_host_and_port():
    cluster = running_cluster(**{"dask-scheduler-host": "127.0.0.1", "dask-scheduler-port": "40000"})

    assert scheduler_address(cluster) == "tcp://127.0.0.1:40000"


def test_no_component_gateway_means_no_dashboard():
    assert dashboard_url({}) is None


def test_submit_shapes_a_pyspark_job_with_a_python_main(clients):
    hook, _, job_client = clients
    job_client.submit_job.return_value = dataproc_v1.Job(reference={"job_id": "j"}, status={"state": "PENDING"})

    info = hook.submit_dask_job(
        **WHERE, cluster_name="c", job_id="j", main_python_file_uri="gs://b/main.py", args=["--x", "1"]
    )

    job = job_client.submit_job.call_args.kwargs["request"]["job"]
    assert job["reference"]["job_id"] == "j"
    assert job["placement"]["cluster_name"] == "c"
    assert job["pyspark_job"]["main_python_file_uri"] == "gs://b/main.py"
    assert job["pyspark_job"]["args"] == ["--x", "1"]
    assert info.submitted_now


def test_submit_with_a_taken_id_returns_the_existing_job(clients):
    hook, _, job_client = clients
    job_client.submit_job.side_effect = AlreadyExists("taken")
    job_client.get_job.return_value = dataproc_v1.Job(reference={"job_id": "j"}, status={"state": "RUNNING"})

    info = hook.submit_dask_job(**WHERE, cluster_name="c", job_id="j", main_python_file_uri="gs://b/m.py")

    assert not info.submitted_now
    assert info.state == "RUNNING"


def test_cancel_of_a_finished_job_returns_its_state(clients):
    hook, _, job_client = clients
    job_client.cancel_job.side_effect = FailedPrecondition("done")
    job_client.get_job.return_value = dataproc_v1.Job(reference={"job_id": "j"}, status={"state": "DONE"})

    assert hook.cancel_dask_job(**WHERE, job_id="j").state == "DONE"


def test_wait_polls_until_done(clients, mocker):
    hook, _, job_client = clients
    mocker.patch("time.sleep")
    states = iter(["PENDING", "RUNNING", "RUNNING", "DONE"])
    job_client.get_job.side_effect = lambda **_: dataproc_v1.Job(
        reference={"job_id": "j"}, status={"state": next(states)}
    )
    seen = []

    info = hook.wait_for_dask_job(**WHERE, job_id="j", timeout=60, on_poll=lambda i: seen.append(i.state))

    assert info.state == "DONE"
    assert seen == ["PENDING", "RUNNING", "RUNNING", "DONE"]


def test_wait_gives_up_at_the_deadline_with_the_last_state(mocker):
    mocker.patch("time.sleep")
    clock = iter(range(0, 10_000, 7))
    mocker.patch("time.monotonic", side_effect=lambda: next(clock))

    with pytest.raises(WaitTimeoutError, match="last state RUNNING"):
        DaskDataprocHook.poll(lambda: "RUNNING", until=lambda s: s == "DONE", timeout=30, what="job")


# -- Dask TLS credentials --------------------------------------------------------------------------


@pytest.fixture
def storage(clients, mocker):
    """The hook with a mock storage client; returns (hook, the blob every name resolves to)."""
    hook, _, _ = clients
    client = mocker.MagicMock()
    mocker.patch.object(type(hook), "storage_client", new_callable=mocker.PropertyMock, return_value=client)
    return hook, client.bucket.return_value.blob.return_value


def test_a_credential_is_uploaded_once_under_a_random_name_and_never_logged(storage, caplog, capsys):
    hook, blob = storage
    caplog.set_level("DEBUG")

    uri = hook.stage_dask_credential(bucket="staging", project_id="p", region="r", cluster_name="etl")

    pem = blob.upload_from_string.call_args.args[0]
    assert "PRIVATE KEY" in pem
    assert blob.upload_from_string.call_args.kwargs["if_generation_match"] == 0
    assert uri.startswith("gs://staging/airflow-dask-provider/credentials/p/r/etl/") and uri.endswith("/dask-tls.pem")
    assert uri != hook.stage_dask_credential(bucket="staging", project_id="p", region="r", cluster_name="etl")
    logged = caplog.text + "".join(capsys.readouterr())  # Airflow 3 logs through structlog to stdout
    assert pem.splitlines()[1] not in logged and uri in logged


def test_only_credentials_the_provider_made_are_deleted(storage):
    hook, blob = storage

    assert hook.delete_dask_credential(uri="gs://b/users-own/creds.pem") is False
    blob.delete.assert_not_called()
    assert hook.delete_dask_credential(uri="gs://b/airflow-dask-provider/credentials/c/x/dask-tls.pem") is True
    blob.delete.assert_called_once()


def test_deleting_a_cluster_deletes_its_credential_once_dataproc_accepted(clients, mocker):
    hook, cluster_client, _ = clients
    uri = "gs://b/airflow-dask-provider/credentials/c/x/dask-tls.pem"
    cluster_client.get_cluster.return_value = running_cluster(**{"dask-tls-uri": uri})
    delete = mocker.patch.object(hook, "delete_dask_credential")

    assert hook.delete_dask_cluster(**WHERE, cluster_name="c") is True
    delete.assert_called_once_with(uri=uri)

    delete.reset_mock()
    cluster_client.delete_cluster.side_effect = NotFound("gone meanwhile")
    assert hook.delete_dask_cluster(**WHERE, cluster_name="c") is False
    delete.assert_not_called()


def test_a_cluster_with_a_credential_is_reached_over_tls(clients):
    hook, cluster_client, _ = clients
    uri = "gs://b/airflow-dask-provider/credentials/c/x/dask-tls.pem"
    cluster_client.get_cluster.return_value = running_cluster(**{"dask-tls-uri": uri})

    info = hook.get_cluster_info(**WHERE, cluster_name="c")

    assert (info.scheduler_address, info.tls_credential_uri) == ("tls://c-m:8786", uri)


def test_the_active_jobs_of_a_cluster_come_with_their_labels(clients):
    hook, _, job_client = clients
    job_client.list_jobs.return_value = [
        dataproc_v1.Job(reference={"job_id": "j"}, status={"state": "RUNNING"}, labels={"airflow-run-key": "k"})
    ]

    [job] = hook.list_active_jobs(**WHERE, cluster_name="c")

    request = job_client.list_jobs.call_args.kwargs["request"]
    assert request["cluster_name"] == "c" and request["job_state_matcher"].name == "ACTIVE"
    assert (job.job_id, job.state, job.labels) == ("j", "RUNNING", {"airflow-run-key": "k"})


@pytest.fixture
def no_connection(mocker):
    """Airflow knows no connection of any id."""
    from airflow.providers.common.compat.sdk import AirflowNotFoundException
    from airflow.providers.google.common.hooks.base_google import GoogleBaseHook

    missing = AirflowNotFoundException("The conn_id `google_cloud_default` isn't defined")
    mocker.patch.object(GoogleBaseHook, "get_connection", side_effect=missing)


def test_without_connection_and_emulator_the_error_says_how_to_set_up_either(no_connection):
    from airflow.providers.common.compat.sdk import AirflowNotFoundException

    from airflow_dask_provider.exceptions import ConnectionNotFoundError, DaskDataprocError

    with pytest.raises(ConnectionNotFoundError) as caught:
        DaskDataprocHook.get_connection("google_cloud_default")

    message = str(caught.value)
    assert isinstance(caught.value, AirflowNotFoundException) and isinstance(caught.value, DaskDataprocError)
    assert message.startswith("The conn_id 'google_cloud_default' isn't defined and DATAPROC_EMULATOR_HOST is not set.")
    assert "airflow connections add google_cloud_default --conn-type google_cloud_platform" in message
    assert "`make emulator`" in message and "DATAPROC_EMULATOR_HOST=127.0.0.1:8790" in message


def test_with_the_emulator_a_missing_connection_is_an_empty_one(no_connection, monkeypatch):
    monkeypatch.setenv("DATAPROC_EMULATOR_HOST", "127.0.0.1:8790")

    connection = DaskDataprocHook.get_connection("google_cloud_default")

    assert (connection.conn_id, connection.conn_type) == ("google_cloud_default", "dask_dataproc")


def test_the_active_jobs_of_a_cluster_are_counted(clients):
    hook, _, job_client = clients
    job_client.list_jobs.return_value = [dataproc_v1.Job(reference={"job_id": j}) for j in ("a", "b")]

    assert hook.count_active_jobs(**WHERE, cluster_name="c") == 2


def test_the_hook_offers_no_protobuf_returning_method_of_the_google_providers_hook():
    from airflow.providers.google.cloud.hooks.dataproc import DataprocHook
    from airflow.providers.google.common.hooks.base_google import GoogleBaseHook

    assert issubclass(DaskDataprocHook, GoogleBaseHook) and not issubclass(DaskDataprocHook, DataprocHook)
    for name in ("create_cluster", "get_cluster", "delete_cluster", "submit_job", "get_job", "wait_for_operation"):
        assert not hasattr(DaskDataprocHook, name), name


def test_deleting_a_cluster_of_another_uuid_raises_the_providers_error(clients):
    from airflow_dask_provider.exceptions import ClusterError, ClusterReplacedError

    hook, cluster_client, _ = clients
    cluster_client.get_cluster.return_value = running_cluster()
    cluster_client.delete_cluster.side_effect = FailedPrecondition("uuid mismatch")

    with pytest.raises(ClusterReplacedError, match="no longer the cluster of uuid u-old") as raised:
        hook.delete_dask_cluster(**WHERE, cluster_name="c", cluster_uuid="u-old")
    assert isinstance(raised.value, ClusterError) and isinstance(raised.value.__cause__, FailedPrecondition)


def test_without_a_uuid_a_refused_deletion_is_dataprocs_own_error(clients):
    hook, cluster_client, _ = clients
    cluster_client.get_cluster.return_value = running_cluster()
    cluster_client.delete_cluster.side_effect = FailedPrecondition("busy")

    with pytest.raises(FailedPrecondition):
        hook.delete_dask_cluster(**WHERE, cluster_name="c")
