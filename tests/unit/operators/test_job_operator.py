from __future__ import annotations

from pathlib import Path

import pytest

from airflow_dask_provider import driver
from airflow_dask_provider.checks import failure_cause
from airflow_dask_provider.exceptions import ClusterError, ClusterSpecError, JobError
from airflow_dask_provider.operators import DaskDataprocSubmitJobOperator

from .conftest import cluster, job


def submit(**kwargs) -> DaskDataprocSubmitJobOperator:
    values = {"task_id": "run", "cluster_name": "c", "project_id": "p", "region": "r", "main": "gs://b/main.py"}
    return DaskDataprocSubmitJobOperator(**{**values, **kwargs})


def test_main_must_be_a_python_script():
    with pytest.raises(ClusterSpecError, match="main='gs://b/main.jar'"):
        submit(main="gs://b/main.jar")


@pytest.mark.parametrize("value", [-1, "soon", True])
def test_no_worker_timeout_must_be_a_duration_of_zero_or_more(value):
    with pytest.raises(ClusterSpecError, match="no_worker_timeout"):
        submit(no_worker_timeout=value)


@pytest.mark.parametrize(
    ("value", "setting", "seconds"),
    [
        (None, None, 300.0),
        (None, "90s", 90.0),
        (None, "0", 0.0),
        (None, "", 300.0),
        ("2m", "90s", 120.0),
        (7.5, "", 7.5),
    ],
)
def test_no_worker_timeout_defaults_to_the_configuration(monkeypatch, value, setting, seconds):
    if setting is not None:
        monkeypatch.setenv("AIRFLOW__DASK_DATAPROC__NO_WORKER_TIMEOUT", setting)

    assert submit(no_worker_timeout=value)._no_worker_seconds() == seconds


def test_a_bundled_job_on_a_yarn_runtime_cluster_is_refused_before_submitting(hook, context):
    from airflow_dask_provider.bundled import job_script

    hook.get_cluster_info.return_value = cluster(dask_runtime="yarn")
    main = job_script("word_count.py")

    with pytest.raises(ClusterSpecError) as refused:
        submit(main=main).execute(context)

    assert str(refused.value).startswith(f"Invalid main={main!r}: the bundled jobs need dask 2024.8 or newer, ")
    assert "cluster 'c' runs the yarn runtime" in str(refused.value)
    assert str(refused.value).endswith("run them on a cluster with dask_runtime='standalone'.")
    hook.submit_dask_job.assert_not_called()
    hook.stage_file.assert_not_called()


@pytest.mark.parametrize(
    ("runtime", "main"), [("yarn", "gs://b/own_job.py"), ("standalone", "word_count.py"), ("yarn", "own_job.py")]
)
def test_other_scripts_and_runtimes_are_submitted(hook, context, tmp_path, runtime, main):
    from airflow_dask_provider.bundled import job_script

    if main == "word_count.py":
        main = job_script(main)
    elif not main.startswith("gs://"):
        (tmp_path / main).write_text("print('hi')\n")  # beside the DAG file, which the context puts in tmp_path
    hook.get_cluster_info.return_value = cluster(dask_runtime=runtime)
    hook.submit_dask_job.return_value = job("PENDING", submitted_now=True)
    hook.wait_for_dask_job.return_value = job("DONE")

    submit(main=main, check_versions=False).execute(context)

    hook.submit_dask_job.assert_called_once()


def test_job_id_is_deterministic_for_a_task_instance(context):
    first = DaskDataprocSubmitJobOperator.derived_job_id(context)
    context["ti"].try_number = 3

    assert DaskDataprocSubmitJobOperator.derived_job_id(context) == first
    assert first.startswith("run-")


def test_retry_attaches_to_a_running_job(hook, context):
    hook.get_cluster_info.return_value = cluster()
    hook.submit_dask_job.return_value = job("RUNNING")
    hook.wait_for_dask_job.return_value = job("DONE")

    submit().execute(context)

    hook.submit_dask_job.assert_called_once()


def test_retry_after_a_failed_job_submits_a_new_one(hook, context):
    hook.get_cluster_info.return_value = cluster()
    hook.submit_dask_job.side_effect = [job("ERROR"), job("PENDING", "j-2", submitted_now=True)]
    hook.wait_for_dask_job.return_value = job("DONE", "j-2")

    submit().execute(context)

    ids = [call.kwargs["job_id"] for call in hook.submit_dask_job.call_args_list]
    assert ids[1] == ids[0] + "-2"


def test_failed_job_error_names_job_state_and_driver_tail(hook, context):
    hook.get_cluster_info.return_value = cluster()
    hook.submit_dask_job.return_value = job("PENDING", submitted_now=True)
    hook.wait_for_dask_job.return_value = job("ERROR")
    hook.driver_output_tail.return_value = "Traceback...\nValueError: bad row"

    with pytest.raises(JobError) as caught:
        submit().execute(context)

    assert "Dask job j ended in state ERROR" in str(caught.value)
    assert "ValueError: bad row" in str(caught.value)


TRACEBACK = """Traceback (most recent call last):
  File "/jobs/etl.py", line 9, in <module>
    client.compute(rows).result()
  File "/jobs/etl.py", line 4, in parse
    raise ValueError("boom")
ValueError: boom
"""


def test_a_failed_jobs_error_starts_with_the_exception_the_driver_named(hook, context):
    hook.get_cluster_info.return_value = cluster()
    hook.submit_dask_job.return_value = job("PENDING", submitted_now=True)
    hook.wait_for_dask_job.return_value = job("ERROR")
    hook.driver_output_tail.return_value = "Reading rows\n" + TRACEBACK + driver.ERROR_MARKER + "ValueError: boom"

    with pytest.raises(JobError) as caught:
        submit().execute(context)

    lines = str(caught.value).splitlines()
    assert lines[0] == "ValueError: boom"
    assert lines[1] == "Dask job j ended in state ERROR"
    assert caught.value.cause == "ValueError: boom"
    assert "Reading rows" in lines and 'raise ValueError("boom")' in str(caught.value)  # the tail follows
    assert driver.ERROR_MARKER not in str(caught.value)


def test_the_driver_line_names_the_cause():
    output = "x\n" + TRACEBACK + "more\n" + driver.ERROR_MARKER + "mylib.errors.BadRow: row 3\n"

    assert failure_cause(output) == "mylib.errors.BadRow: row 3"


def test_without_the_driver_the_last_tracebacks_exception_is_the_cause():
    """check_versions=False: no driver line; the notes after the exception line (a URL) are not taken."""
    chained = TRACEBACK.replace("ValueError: boom", "KeyError: 'amount'") + (
        "\nDuring handling of the above exception, another exception occurred:\n\n"
        + TRACEBACK.replace("ValueError: boom", "ModuleNotFoundError: No module named 'mylib'")
        + "https://docs.dask.org/en/stable/deployment-considerations.html#consistent-software-environments\n"
    )

    assert failure_cause(chained) == "ModuleNotFoundError: No module named 'mylib'"
    assert failure_cause('Traceback (most recent call last):\n  File "x.py"\nSystemExit\n') == "SystemExit"


@pytest.mark.parametrize("output", ["", "killed\n", 'Traceback (most recent call last):\n  File "x.py", line 1\n'])
def test_no_cause_without_an_exception_line(output):
    assert failure_cause(output) == ""


def test_missing_cluster_fails_before_submitting(hook, context):
    hook.get_cluster_info.return_value = None

    with pytest.raises(ClusterError, match="NOT_FOUND"):
        submit().execute(context)
    hook.submit_dask_job.assert_not_called()


def test_local_main_relative_to_the_dag_folder_is_staged(hook, context, tmp_path):
    (tmp_path / "job.py").write_text("print('hi')\n")
    hook.get_cluster_info.return_value = cluster()
    hook.stage_file.side_effect = None
    hook.stage_file.return_value = "gs://staging/x/job.py"
    hook.submit_dask_job.return_value = job("PENDING", submitted_now=True)
    hook.wait_for_dask_job.return_value = job("DONE")

    submit(main="job.py", check_versions=False).execute(context)

    hook.stage_file.assert_called_once_with(local_path=tmp_path / "job.py", bucket="staging")
    assert hook.submit_dask_job.call_args.kwargs["main_python_file_uri"] == "gs://staging/x/job.py"


def test_with_the_version_check_the_provider_driver_runs_the_script(hook, context, tmp_path):
    from airflow_dask_provider import driver

    (tmp_path / "job.py").write_text("print('hi')\n")
    hook.get_cluster_info.return_value = cluster()
    hook.stage_file.side_effect = lambda local_path, bucket: f"gs://{bucket}/h/{local_path.name}"
    hook.submit_dask_job.return_value = job("PENDING", submitted_now=True)
    hook.wait_for_dask_job.return_value = job("DONE")

    submit(main="job.py", args=["--rows", 5], py_files=["gs://lib/util.py"]).execute(context)

    kwargs = hook.submit_dask_job.call_args.kwargs
    assert kwargs["main_python_file_uri"] == f"gs://staging/h/{Path(driver.__file__).name}"
    assert kwargs["args"] == ["--py-file", "util.py", "job.py", "--rows", "5"]
    assert kwargs["python_file_uris"] == ["gs://staging/h/job.py", "gs://lib/util.py"]


def submitted_entry_point(hook, context, **kwargs) -> dict:
    """Run the operator on a mocked hook that stages ``X`` as ``gs://staging/h/X``; return the submitted job."""
    hook.get_cluster_info.return_value = cluster()
    hook.stage_file.side_effect = lambda local_path, bucket: f"gs://{bucket}/h/{Path(local_path).name}"
    hook.submit_dask_job.return_value = job("PENDING", submitted_now=True)
    hook.wait_for_dask_job.return_value = job("DONE")
    submit(**kwargs).execute(context)
    return hook.submit_dask_job.call_args.kwargs


@pytest.mark.parametrize(
    ("script", "carried"),
    [
        ("word_count.py", ["dask_job.py"]),
        ("generate.py", ["dask_job.py", "csv_to_parquet.py"]),
        ("generate_csv.py", ["dask_job.py", "csv_to_parquet.py", "generate.py"]),
        ("bursty.py", []),
    ],
)
def test_a_bundled_job_carries_the_bundled_scripts_it_imports(hook, context, script, carried):
    from airflow_dask_provider.bundled import job_script

    kwargs = submitted_entry_point(hook, context, main=job_script(script))

    assert kwargs["python_file_uris"] == [f"gs://staging/h/{name}" for name in [script, *carried]]
    assert kwargs["args"] == [*(option for name in carried for option in ("--py-file", name)), script]


def test_a_bundled_import_that_py_files_lists_too_is_shipped_once(hook, context):
    from airflow_dask_provider.bundled import job_script

    kwargs = submitted_entry_point(
        hook, context, main=job_script("generate.py"), py_files=[job_script("dask_job.py"), "gs://lib/util.py"]
    )

    assert kwargs["python_file_uris"] == [
        "gs://staging/h/generate.py",
        "gs://staging/h/csv_to_parquet.py",
        "gs://staging/h/dask_job.py",
        "gs://lib/util.py",
    ]
    assert kwargs["args"] == [
        *("--py-file", "csv_to_parquet.py", "--py-file", "dask_job.py", "--py-file", "util.py"),
        "generate.py",
    ]


def test_without_the_version_check_py_files_still_go_through_the_driver(hook, context):
    from airflow_dask_provider import driver

    kwargs = submitted_entry_point(hook, context, check_versions=False, py_files=["gs://lib/util.py"])

    assert kwargs["main_python_file_uri"] == f"gs://staging/h/{Path(driver.__file__).name}"
    assert kwargs["args"] == ["--py-file", "util.py", "--no-version-check", "main.py"]
    assert kwargs["python_file_uris"] == ["gs://b/main.py", "gs://lib/util.py"]


def test_without_the_version_check_or_py_files_the_script_is_the_main_file(hook, context):
    kwargs = submitted_entry_point(hook, context, check_versions=False, args=["--rows", "5"])

    assert kwargs["main_python_file_uri"] == "gs://b/main.py"
    assert kwargs["args"] == ["--rows", "5"]
    assert kwargs["python_file_uris"] == []


def test_kill_cancels_the_running_job(hook):
    operator = submit()
    operator._job = job("RUNNING")

    operator.on_kill()

    hook.cancel_dask_job.assert_called_once_with(project_id="p", region="r", job_id="j")


def test_job_link_is_stored_once_submitted(hook, context):
    hook.get_cluster_info.return_value = cluster()
    hook.submit_dask_job.return_value = job("PENDING", submitted_now=True)
    hook.wait_for_dask_job.return_value = job("DONE")

    submit().execute(context)

    assert context["ti"].pushed["dataproc_job_url"] == (
        "https://console.cloud.google.com/dataproc/jobs/j?region=r&project=p"
    )
    assert context["ti"].pushed["dask_dashboard_url"].endswith("/gateway/default/dask/status")


def test_a_users_own_relative_jobs_script_is_not_taken_for_a_bundled_one(hook, context, tmp_path, monkeypatch):
    from airflow_dask_provider.bundled import is_job_script, job_script

    # The working directory is a checkout of this project, whose jobs/ holds the bundled scripts: a
    # DAG's relative "jobs/own_job.py" (relative to the DAG's folder) is still the user's own.
    monkeypatch.chdir(Path(job_script("word_count.py")).parent.parent)
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "own_job.py").write_text("print('mine')\n")
    context["dag"].fileloc = str(tmp_path / "dag.py")

    kwargs = submitted_entry_point(hook, context, main="jobs/own_job.py")

    assert not is_job_script("jobs/word_count.py")
    assert kwargs["python_file_uris"] == ["gs://staging/h/own_job.py"]
    assert kwargs["args"] == ["own_job.py"]


def test_timeout_is_the_job_wait_and_the_configured_default_applies_without_it():
    assert submit(timeout=60).effective_timeout == 60.0
    assert submit().effective_timeout == 6 * 3600.0


def test_the_old_name_job_timeout_still_works_with_a_warning_naming_timeout():
    from airflow.exceptions import AirflowProviderDeprecationWarning

    with pytest.warns(AirflowProviderDeprecationWarning, match="job_timeout is deprecated; use timeout"):
        operator = submit(job_timeout=90)

    assert (operator.timeout, operator.job_timeout, operator.effective_timeout) == (90, 90, 90.0)


def test_the_old_name_wins_over_timeout_as_it_did_over_default_args():
    with pytest.warns(DeprecationWarning):
        operator = submit(job_timeout=90, timeout=30)

    assert operator.effective_timeout == 90.0
