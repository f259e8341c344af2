"""DaskDataprocAutoscaleOperator: parse-time checks, which job it watches, and when its loop ends."""

from __future__ import annotations

import sys
import warnings

import pytest

from airflow_dask_provider.exceptions import ClusterSpecError, JobError
from airflow_dask_provider.hooks.dask_scheduler import SchedulerLoad
from airflow_dask_provider.hooks.resources import WorkerGroups
from airflow_dask_provider.operators.job import DaskDataprocSubmitJobOperator
from airflow_dask_provider.operators.scaling import DaskDataprocAutoscaleOperator
from tests.recording_log import RecordingLog

from .conftest import job

PRIMARY = ("c-w-0", "c-w-1")


def autoscale(**kwargs) -> DaskDataprocAutoscaleOperator:
    values = {"cluster_name": "c", "job_id": "j", "max_secondary_workers": 4, "poke_interval": 0, **kwargs}
    return DaskDataprocAutoscaleOperator(task_id="autoscale", project_id="p", region="r", **values)


def groups(secondary=(), state="RUNNING") -> WorkerGroups:
    return WorkerGroups("c", state, "tcp://c-m:8786", PRIMARY, tuple(secondary), len(secondary))


@pytest.fixture
def scaling(hook, mocker):
    """The operator's hook, mocked: a running cluster whose scheduler wants 6 workers."""
    fake = hook
    fake.get_worker_groups.return_value = groups()
    workers = tuple({"address": f"tcp://x:{i}", "name": n, "host": "x"} for i, n in enumerate(PRIMARY))
    fake.dask_scheduler.get_load.return_value = SchedulerLoad(
        adaptive_target=6, queued=30, processing=2, workers=workers
    )
    mocker.patch("airflow_dask_provider.operators.scaling.time.sleep")
    return fake


def test_bounds_are_checked_when_the_dag_is_parsed():
    with pytest.raises(ClusterSpecError, match="Invalid min_secondary_workers=5"):
        autoscale(min_secondary_workers=5, max_secondary_workers=4)


@pytest.mark.parametrize(
    ("old", "new", "value", "held"),
    [
        ("cooldown_seconds", "cooldown_period", 5, 5),
        ("scale_down_delay_seconds", "scale_down_delay", "4", "4"),
        ("check_interval", "poke_interval", 1, 1.0),
    ],
)
def test_an_old_parameter_name_still_works_and_warns_naming_the_new_one(old, new, value, held):
    values = {"cluster_name": "c", "job_id": "j", "max_secondary_workers": 4, old: value}

    with pytest.warns(DeprecationWarning, match=f"{old} is deprecated: use {new}"):
        task = DaskDataprocAutoscaleOperator(task_id="autoscale", project_id="p", region="r", **values)

    assert getattr(task, new) == held
    assert not hasattr(task, old)


def test_an_old_and_a_new_parameter_name_together_are_refused():
    with (
        warnings.catch_warnings(),
        pytest.raises(ClusterSpecError, match="Invalid cooldown_seconds=5.*cooldown_period"),
    ):
        warnings.simplefilter("ignore", DeprecationWarning)
        autoscale(cooldown_seconds=5, cooldown_period="1m")


def test_times_accept_seconds_timedelta_or_text_as_the_autoscaling_policy_does():
    from datetime import timedelta

    task = autoscale(
        poke_interval="3s",
        graceful_decommission_timeout="2m",
        job_start_timeout=timedelta(minutes=5),
        cooldown_period="1m",
        scale_down_delay=timedelta(seconds=20),
    )

    assert (task.poke_interval, task.graceful_decommission_timeout, task.job_start_timeout) == (3.0, 120.0, 300.0)
    assert (task.build_config().cooldown_period, task.build_config().scale_down_delay) == (60.0, 20.0)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"graceful_decommission_timeout": "2d"}, "graceful_decommission_timeout"),
        ({"poke_interval": "soon"}, "poke_interval"),
    ],
)
def test_a_bad_time_names_its_field_when_the_dag_is_parsed(changes, field):
    with pytest.raises(ClusterSpecError, match=f"Invalid {field}="):
        autoscale(**changes)


def test_exactly_one_of_job_id_and_job_task_id():
    with pytest.raises(ClusterSpecError, match="job_id"):
        autoscale(job_task_id="run")


def test_templated_bounds_are_checked_before_any_call(hook, scaling, context):
    task = autoscale(max_secondary_workers="{{ params.most }}")
    task.max_secondary_workers = "-1"  # as rendered

    with pytest.raises(ClusterSpecError, match="Invalid max_secondary_workers='-1'"):
        task.execute(context)
    assert hook.mock_calls == []
    assert scaling.mock_calls == []


def test_job_task_id_names_the_job_the_submit_task_submits(context):
    task = autoscale(job_id=None, job_task_id="run")
    submitted = DaskDataprocSubmitJobOperator.derived_job_id(context)  # the context's task is "run"

    assert task.watched_job_id(context) == submitted


def test_scales_until_the_job_ends_then_shrinks_and_writes_the_timeline(hook, scaling, context, tmp_path):
    hook.get_job_info.side_effect = [job("RUNNING"), job("DONE")]
    scaling.get_worker_groups.side_effect = [
        groups(),
        groups(("c-sw-a", "c-sw-b", "c-sw-c", "c-sw-d")),
        groups(("c-sw-a", "c-sw-b", "c-sw-c", "c-sw-d")),
        groups(),
    ]

    result = autoscale(timeline_dir=str(tmp_path)).execute(context)

    assert (result["ended_because"], result["job_state"]) == ("job ended", "DONE")
    assert (result["grows"], result["shrinks"]) == (1, 1)
    assert [c.kwargs["num_instances"] for c in scaling.resize_secondary_workers.call_args_list] == [4, 0]
    assert result["timeline_csv"] == str(tmp_path / "scaling_timeline.csv")
    assert (tmp_path / "scaling_timeline.png").is_file()
    scaling.dask_scheduler.close.assert_called_once()


def test_ends_when_the_cluster_is_gone(hook, scaling, context, tmp_path):
    hook.get_job_info.return_value = job("RUNNING")
    scaling.get_worker_groups.side_effect = [groups(), None]

    result = autoscale(timeline_dir=str(tmp_path)).execute(context)

    assert result["ended_because"] == "cluster gone"


def test_a_job_never_submitted_fails_the_task(hook, scaling, context, tmp_path):
    hook.get_job_info.return_value = None

    with pytest.raises(JobError, match="NOT_FOUND"):
        autoscale(job_start_timeout=0, timeline_dir=str(tmp_path)).execute(context)
    assert (tmp_path / "scaling_timeline.csv").is_file()


def test_passing_hiccups_do_not_end_scaling(hook, scaling, context, tmp_path):
    hook.get_job_info.return_value = job("DONE")
    scaling.dask_scheduler.get_load.side_effect = [
        OSError("scheduler busy"),
        scaling.dask_scheduler.get_load.return_value,
    ]
    scaling.get_worker_groups.side_effect = [groups(), groups(), groups()]

    result = autoscale(timeline_dir=str(tmp_path), scale_down_at_end=False).execute(context)

    assert result["job_state"] == "DONE"


class LevelLog(RecordingLog):
    """Also records ``log.log(level, ...)``, which the scaler uses."""

    def log(self, level: int, message: str, *args: object) -> None:
        self._record(message, *args)


def test_without_matplotlib_the_timeline_is_csv_only_and_the_log_names_the_extra(
    hook, scaling, context, tmp_path, mocker
):
    mocker.patch.dict(sys.modules, {"matplotlib": None})  # "import matplotlib" raises ImportError
    log = LevelLog()
    mocker.patch.object(DaskDataprocAutoscaleOperator, "log", new_callable=mocker.PropertyMock, return_value=log)
    hook.get_job_info.return_value = job("DONE")
    scaling.get_worker_groups.side_effect = [groups(), groups()]

    result = autoscale(timeline_dir=str(tmp_path), scale_down_at_end=False).execute(context)

    assert result["timeline_png"] is None
    assert result["timeline_csv"] == str(tmp_path / "scaling_timeline.csv")
    assert not (tmp_path / "scaling_timeline.png").exists()
    assert any("No timeline picture" in line and "airflow-dask-provider[timeline]" in line for line in log.lines)


def test_importing_the_scaling_operators_loads_no_google_grpc_dask_or_matplotlib_module():
    import json
    import subprocess
    import sys

    code = (
        "import json, sys\n"
        "import airflow_dask_provider.operators.scaling, airflow_dask_provider.operators.autoscaling_policy\n"
        "heavy = ('google.cloud.dataproc_v1', 'grpc', 'distributed', 'dask', 'google.protobuf', 'matplotlib')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(heavy))))\n"
    )
    output = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout

    assert json.loads(output.splitlines()[-1]) == []


def test_the_example_dag_uses_the_current_parameter_names():
    import runpy
    from pathlib import Path

    dag_file = Path(__file__).resolve().parents[3] / "dags" / "dask_autoscaling_demo.py"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DeprecationWarning)
        runpy.run_path(str(dag_file))

    assert [str(w.message) for w in caught if "is deprecated: use" in str(w.message)] == []
