"""JobController: Dask drivers submitted as pyspark jobs, run on the shared cluster."""

from __future__ import annotations

import time
from types import SimpleNamespace

import psutil
import pytest
from google.api_core.exceptions import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from google.cloud import dataproc_v1

from .conftest import SHARED, WHERE, submit, wait_for_job, write_script

State = dataproc_v1.JobStatus.State

SUM = """
from distributed import Client

with Client() as client:  # DASK_SCHEDULER_ADDRESS, as on a Dataproc master
    print("total", client.submit(sum, range(10)).result())
"""


def driver_output(storage, job: dataproc_v1.Job) -> str:
    """Read a job's driver output through the storage API, as the provider does."""
    bucket, _, prefix = job.driver_output_resource_uri.removeprefix("gs://").partition("/")
    blobs = sorted(storage.list_blobs(bucket, prefix=prefix + "."), key=lambda blob: blob.name)
    return "".join(blob.download_as_bytes().decode() for blob in blobs)


@pytest.fixture(scope="module")
def finished(jobs, shared_cluster, tmp_path_factory):
    """A job that summed numbers on the cluster's workers, run to its end."""
    submitted = submit(jobs, write_script(tmp_path_factory.mktemp("sum"), SUM), labels={"kind": "sum"})
    return SimpleNamespace(submitted=submitted, job=wait_for_job(jobs, submitted.reference.job_id))


@pytest.fixture
def sleeping(jobs, shared_cluster, tmp_path):
    """A RUNNING job that sleeps; its driver writes its pid to ``pid``. Cancelled afterwards."""
    pid_file = tmp_path / "pid"
    script = write_script(
        tmp_path, f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(600)\n"
    )
    job = submit(jobs, script)
    deadline = time.monotonic() + 60
    while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    yield SimpleNamespace(job_id=job.reference.job_id, pid=int(pid_file.read_text()))
    if not jobs.get_job(**WHERE, job_id=job.reference.job_id).done:
        jobs.cancel_job(**WHERE, job_id=job.reference.job_id)
        wait_for_job(jobs, job.reference.job_id)


def test_submitted_job_is_pending_with_its_placement_filled_in(finished, shared_cluster):
    submitted = finished.submitted

    assert submitted.status.state == State.PENDING
    assert submitted.placement.cluster_uuid == shared_cluster.cluster_uuid
    assert submitted.job_uuid
    assert submitted.reference.project_id == WHERE["project_id"]


def test_job_ends_done(finished):
    assert finished.job.status.state == State.DONE
    assert finished.job.done


def test_status_history_goes_through_setup_and_running(finished):
    states = [status.state for status in finished.job.status_history]

    assert states == [State.PENDING, State.SETUP_DONE, State.RUNNING]


def test_driver_output_uri_follows_dataprocs_layout(finished, shared_cluster):
    bucket = shared_cluster.config.config_bucket
    prefix = f"gs://{bucket}/google-cloud-dataproc-metainfo/{shared_cluster.cluster_uuid}/jobs/{finished.job.reference.job_id}/"

    assert finished.job.driver_output_resource_uri == prefix + "driveroutput"
    assert finished.job.driver_control_files_uri == prefix


def test_driver_output_is_readable_through_storage(finished, storage):
    assert "total 45" in driver_output(storage, finished.job)


def test_failed_job_is_error_with_the_last_stderr_line(jobs, shared_cluster, storage, tmp_path):
    script = write_script(tmp_path, "print('working')\nraise SystemExit('the input is empty')\n")

    job = wait_for_job(jobs, submit(jobs, script).reference.job_id)

    assert job.status.state == State.ERROR
    assert job.status.details == (
        "Job failed with message [the input is empty]. Additional details can be found at:\n"
        + job.driver_output_resource_uri
    )
    assert driver_output(storage, job) == "working\nthe input is empty\n"


def test_missing_main_file_is_error(jobs, shared_cluster, tmp_path):
    job = wait_for_job(jobs, submit(jobs, tmp_path / "missing.py").reference.job_id)

    assert job.status.state == State.ERROR
    assert "missing.py" in job.status.details


def test_gcs_arguments_are_rewritten_to_local_paths(jobs, shared_cluster, storage, tmp_path):
    storage.bucket("itest-data").blob("in/words.txt").upload_from_string("three little words")
    script = write_script(
        tmp_path,
        """
        import sys
        source = sys.argv[1].split("=", 1)[1]
        with open(source) as words, open(sys.argv[2], "w") as out:
            out.write(str(len(words.read().split())))
        """,
    )

    job = submit(jobs, script, args=["--input=gs://itest-data/in/words.txt", "gs://itest-data/out/count.txt"])

    assert wait_for_job(jobs, job.reference.job_id).status.state == State.DONE
    assert storage.bucket("itest-data").blob("out/count.txt").download_as_bytes() == b"3"


def test_main_file_in_a_bucket_runs(jobs, shared_cluster, storage):
    storage.bucket("itest-data").blob("jobs/hello.py").upload_from_string("print('hello from gcs')\n")

    job = submit(jobs, "gs://itest-data/jobs/hello.py")

    assert wait_for_job(jobs, job.reference.job_id).status.state == State.DONE


def test_cancel_ends_in_cancelled_and_stops_the_driver(jobs, sleeping):
    returned = jobs.cancel_job(**WHERE, job_id=sleeping.job_id)

    job = wait_for_job(jobs, sleeping.job_id)
    assert returned.status.state == State.CANCEL_PENDING
    assert job.status.state == State.CANCELLED
    assert not psutil.pid_exists(sleeping.pid)


def test_delete_of_a_running_job_is_failed_precondition(jobs, sleeping):
    with pytest.raises(FailedPrecondition, match="active"):
        jobs.delete_job(**WHERE, job_id=sleeping.job_id)


def test_list_jobs_filters_active_ones(jobs, sleeping, finished):
    active = [j.reference.job_id for j in jobs.list_jobs(request={**WHERE, "filter": "status.state = ACTIVE"})]

    assert sleeping.job_id in active
    assert finished.job.reference.job_id not in active


def test_list_jobs_filters_by_cluster_and_label(jobs, finished):
    found = jobs.list_jobs(request={**WHERE, "cluster_name": SHARED, "filter": "labels.kind = sum"})

    assert [j.reference.job_id for j in found] == [finished.job.reference.job_id]


def test_cancel_of_a_finished_job_is_failed_precondition(jobs, finished):
    with pytest.raises(FailedPrecondition, match="DONE"):
        jobs.cancel_job(**WHERE, job_id=finished.job.reference.job_id)


def test_duplicate_job_id_is_already_exists(jobs, finished, tmp_path):
    with pytest.raises(AlreadyExists, match=finished.job.reference.job_id):
        submit(jobs, write_script(tmp_path, "print(1)\n"), reference={"job_id": finished.job.reference.job_id})


def test_spark_job_is_invalid_argument(jobs, shared_cluster):
    job = {"placement": {"cluster_name": SHARED}, "spark_job": {"main_class": "org.example.Main"}}

    with pytest.raises(InvalidArgument, match="pyspark_job"):
        jobs.submit_job(**WHERE, job=job)


def test_submit_to_a_missing_cluster_is_not_found(jobs, tmp_path):
    with pytest.raises(NotFound, match="clusters/nowhere"):
        submit(jobs, write_script(tmp_path, "print(1)\n"), cluster="nowhere")


def test_missing_job_is_not_found(jobs):
    with pytest.raises(NotFound, match="jobs/nope"):
        jobs.get_job(**WHERE, job_id="nope")


def test_update_job_changes_its_labels(jobs, finished):
    job_id = finished.job.reference.job_id

    jobs.update_job(
        request={
            **WHERE,
            "job_id": job_id,
            "job": {"labels": {"kind": "sum", "seen": "yes"}},
            "update_mask": {"paths": ["labels"]},
        }
    )

    assert dict(jobs.get_job(**WHERE, job_id=job_id).labels) == {"kind": "sum", "seen": "yes"}


def test_submit_job_as_operation_ends_with_the_finished_job(jobs, shared_cluster, tmp_path):
    request = {
        **WHERE,
        "job": {
            "placement": {"cluster_name": SHARED},
            "pyspark_job": {"main_python_file_uri": str(write_script(tmp_path, "print(1)\n"))},
        },
    }

    job = jobs.submit_job_as_operation(request=request).result(timeout=120)

    assert job.status.state == State.DONE


def test_deleted_job_is_gone(jobs, shared_cluster, tmp_path):
    job_id = submit(jobs, write_script(tmp_path, "print(1)\n")).reference.job_id
    wait_for_job(jobs, job_id)

    jobs.delete_job(**WHERE, job_id=job_id)

    with pytest.raises(NotFound):
        jobs.get_job(**WHERE, job_id=job_id)


def test_cluster_running_a_job_has_no_idle_start_time(clusters, sleeping):
    lifecycle = clusters.get_cluster(**WHERE, cluster_name=SHARED).config.lifecycle_config

    assert "idle_start_time" not in lifecycle


def test_idle_start_time_is_set_when_the_last_job_ends(clusters, finished):
    lifecycle = clusters.get_cluster(**WHERE, cluster_name=SHARED).config.lifecycle_config

    assert lifecycle.idle_start_time >= finished.job.status.state_start_time


def test_python_files_and_files_are_staged_into_the_working_directory(jobs, shared_cluster, storage, tmp_path):
    storage.bucket("itest-data").blob("lib/helpers.py").upload_from_string(
        "def shout(text):\n    return text.upper()\n"
    )
    storage.bucket("itest-data").blob("conf/word.txt").upload_from_string("quiet")
    script = write_script(tmp_path, "import helpers\nprint(helpers.shout(open('word.txt').read()))\n")

    job = submit(
        jobs,
        script,
        pyspark_job={
            "main_python_file_uri": str(script),
            "python_file_uris": ["gs://itest-data/lib/helpers.py"],
            "file_uris": ["gs://itest-data/conf/word.txt"],
        },
    )

    finished = wait_for_job(jobs, job.reference.job_id)
    assert finished.status.state == State.DONE, finished.status.details
    assert "QUIET" in driver_output(storage, finished)


def test_executor_env_properties_become_environment_variables(jobs, shared_cluster, storage, tmp_path):
    script = write_script(tmp_path, "import os\nprint('greeting', os.environ['GREETING'])\n")
    properties = {"spark.executorEnv.GREETING": "hello"}

    job = submit(jobs, script, pyspark_job={"main_python_file_uri": str(script), "properties": properties})

    assert "greeting hello" in driver_output(storage, wait_for_job(jobs, job.reference.job_id))
