"""Reading the scheduler's idle signal and progress over HTTP beside its dashboard."""

from __future__ import annotations

import pytest

from airflow_dask_provider.hooks.dask_scheduler import DaskSchedulerHook, check_idle_url, metrics_url

DASHBOARD = "https://gw.example/gateway/default/dask/status"
METRICS = """
# TYPE dask_scheduler_tasks gauge
dask_scheduler_tasks{state="memory"} 4.0
dask_scheduler_tasks{state="processing"} 2.0
dask_scheduler_tasks{state="queued"} 3.0
"""


class Response:
    def __init__(self, status_code=200, json=None, text=""):
        self.status_code, self._json, self.text = status_code, json, text

    def json(self):
        return self._json

    def raise_for_status(self):
        if self.status_code >= 400:
            raise RuntimeError(self.status_code)


@pytest.fixture
def answers(mocker):
    """URL -> response of the fake HTTP GET."""
    pages: dict[str, Response] = {}
    mocker.patch.object(DaskSchedulerHook, "_get", side_effect=lambda url, timeout: pages[url])
    return pages


def test_the_route_sits_beside_the_dashboard():
    assert check_idle_url(DASHBOARD) == "https://gw.example/gateway/default/dask/api/v1/check_idle"
    assert check_idle_url("http://127.0.0.1:1/gateway/default/dask/") == (
        "http://127.0.0.1:1/gateway/default/dask/api/v1/check_idle"
    )


def test_an_idle_scheduler_says_since_when(answers, mocker):
    answers[check_idle_url(DASHBOARD)] = Response(json={"idle_since": 1700000000.5})

    found = DaskSchedulerHook(mocker.MagicMock()).get_idleness(dashboard_url=DASHBOARD)

    assert (found.busy, found.idle_since, found.source) == (False, 1700000000.5, "check_idle")


def test_a_busy_scheduler_has_no_idle_since(answers, mocker):
    answers[check_idle_url(DASHBOARD)] = Response(json={"idle_since": None})

    assert DaskSchedulerHook(mocker.MagicMock()).get_idleness(dashboard_url=DASHBOARD).busy is True


def test_without_the_api_route_the_prometheus_page_tells_busy_from_idle(answers, mocker):
    answers[check_idle_url(DASHBOARD)] = Response(status_code=404)
    answers["https://gw.example/gateway/default/dask/metrics"] = Response(text=METRICS)

    found = DaskSchedulerHook(mocker.MagicMock()).get_idleness(dashboard_url=DASHBOARD)

    assert (found.busy, found.idle_since, found.source, found.pending_tasks) == (True, None, "metrics", 5)


def test_an_active_dataproc_job_makes_an_idle_scheduler_busy(answers, mocker):
    answers[check_idle_url(DASHBOARD)] = Response(json={"idle_since": 1700000000.0})
    hook = mocker.MagicMock()
    hook.count_active_jobs.return_value = 1

    found = DaskSchedulerHook(hook).get_cluster_idleness(
        project_id="p", region="r", cluster_name="c", dashboard_url=DASHBOARD
    )

    assert (found.busy, found.idle_since, found.active_jobs) == (True, None, 1)
    hook.count_active_jobs.assert_called_once_with(project_id="p", region="r", cluster_name="c")


def test_jobs_are_not_asked_for_when_they_do_not_count(answers, mocker):
    answers[check_idle_url(DASHBOARD)] = Response(json={"idle_since": 1700000000.0})
    hook = mocker.MagicMock()

    found = DaskSchedulerHook(hook).get_cluster_idleness(
        project_id="p", region="r", cluster_name="c", dashboard_url=DASHBOARD, consider_jobs=False
    )

    assert found.busy is False
    hook.count_active_jobs.assert_not_called()


def test_the_progress_is_read_from_the_prometheus_page_beside_the_dashboard(answers, mocker):
    answers[metrics_url(DASHBOARD)] = Response(text=METRICS)

    progress = DaskSchedulerHook(mocker.MagicMock()).get_progress(dashboard_url=DASHBOARD)

    assert (progress.done, progress.total, progress.processing) == (4, 9, 2)


@pytest.mark.parametrize("emulator", [True, False])
def test_pages_are_read_plainly_on_the_emulator_and_with_credentials_on_google_cloud(mocker, emulator):
    hook = mocker.MagicMock(emulator_host="127.0.0.1:1" if emulator else None)
    plain = mocker.patch("requests.get")
    authorized = mocker.patch("google.auth.transport.requests.AuthorizedSession")

    DaskSchedulerHook(hook)._get("http://x/metrics", 5.0)

    assert plain.called is emulator
    assert authorized.called is not emulator
    if not emulator:
        authorized.assert_called_once_with(hook.get_credentials.return_value)


def test_the_dataproc_hook_reaches_the_scheduler_with_itself(monkeypatch):
    from airflow_dask_provider.hooks.dataproc import DaskDataprocHook

    monkeypatch.setenv("DATAPROC_EMULATOR_HOST", "127.0.0.1:8790")
    hook = DaskDataprocHook()

    assert hook.dask_scheduler.dataproc is hook
    assert hook.dask_scheduler is hook.dask_scheduler
