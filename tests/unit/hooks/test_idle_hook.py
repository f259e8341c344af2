"""Reading the scheduler's idle signal over HTTP beside its dashboard."""

from __future__ import annotations

import pytest

from airflow_dask_provider.hooks import idle
from airflow_dask_provider.hooks.idle import check_idle_url, get_cluster_idleness, get_scheduler_idleness

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
    mocker.patch.object(idle, "_get", side_effect=lambda hook, url, timeout: pages[url])
    return pages


def test_the_route_sits_beside_the_dashboard():
    assert check_idle_url(DASHBOARD) == "https://gw.example/gateway/default/dask/api/v1/check_idle"
    assert check_idle_url("http://127.0.0.1:1/gateway/default/dask/") == (
        "http://127.0.0.1:1/gateway/default/dask/api/v1/check_idle"
    )


def test_an_idle_scheduler_says_since_when(answers, mocker):
    answers[check_idle_url(DASHBOARD)] = Response(json={"idle_since": 1700000000.5})

    found = get_scheduler_idleness(mocker.MagicMock(), dashboard_url=DASHBOARD)

    assert (found.busy, found.idle_since, found.source) == (False, 1700000000.5, "check_idle")


def test_a_busy_scheduler_has_no_idle_since(answers, mocker):
    answers[check_idle_url(DASHBOARD)] = Response(json={"idle_since": None})

    assert get_scheduler_idleness(mocker.MagicMock(), dashboard_url=DASHBOARD).busy is True


def test_without_the_api_route_the_prometheus_page_tells_busy_from_idle(answers, mocker):
    answers[check_idle_url(DASHBOARD)] = Response(status_code=404)
    answers["https://gw.example/gateway/default/dask/metrics"] = Response(text=METRICS)

    found = get_scheduler_idleness(mocker.MagicMock(), dashboard_url=DASHBOARD)

    assert (found.busy, found.idle_since, found.source, found.pending_tasks) == (True, None, "metrics", 5)


def test_an_active_dataproc_job_makes_an_idle_scheduler_busy(answers, mocker):
    answers[check_idle_url(DASHBOARD)] = Response(json={"idle_since": 1700000000.0})
    hook = mocker.MagicMock()
    hook.list_active_jobs.return_value = [object()]

    found = get_cluster_idleness(hook, project_id="p", region="r", cluster_name="c", dashboard_url=DASHBOARD)

    assert (found.busy, found.idle_since, found.active_jobs) == (True, None, 1)
    hook.list_active_jobs.assert_called_once_with(project_id="p", region="r", cluster_name="c")


def test_jobs_are_not_asked_for_when_they_do_not_count(answers, mocker):
    answers[check_idle_url(DASHBOARD)] = Response(json={"idle_since": 1700000000.0})
    hook = mocker.MagicMock()

    found = get_cluster_idleness(
        hook, project_id="p", region="r", cluster_name="c", dashboard_url=DASHBOARD, consider_jobs=False
    )

    assert found.busy is False
    hook.list_active_jobs.assert_not_called()
