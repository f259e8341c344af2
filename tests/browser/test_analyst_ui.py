"""An analyst in a real browser: the trigger form of ``dask_analyst_job``, the Dask dashboard, a quota refusal.

Against the local stack (PostgreSQL, the emulator, Airflow 3's API server, scheduler, DAG processor and
triggerer, all on 127.0.0.1). Screenshots of the form, the dashboard, the finished run and the refusal
go to ``test-artifacts/browser/``.
"""

from __future__ import annotations

import re
import urllib.parse

import pytest

DAG_ID = "dask_analyst_job"


@pytest.fixture
def dag_page(page, local_stack):
    """The DAG's page, once the DAG processor has parsed the DAG."""
    local_stack.wait_for(f"{DAG_ID} to be parsed", lambda: _dag_exists(local_stack), timeout=180, interval=3)
    page.goto(f"{local_stack.url}/dags/{DAG_ID}")
    return page


def _dag_exists(stack) -> bool:
    try:
        return stack.api(f"/dags/{DAG_ID}")["dag_id"] == DAG_ID
    except OSError:
        return False


def open_form(page):
    page.get_by_role("button", name="Trigger").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Run Parameters").wait_for()
    return dialog


def field(dialog, name: str):
    """The form's input of a param (Airflow names them ``element_<param>``)."""
    return dialog.locator(f'input[name="element_{name}"]')


def fill(dialog, **values) -> None:
    for name, value in values.items():
        field(dialog, name).fill(str(value))
        field(dialog, name).blur()


def submit(page, dialog) -> str:
    """Press Trigger and return the new run's id."""
    with page.expect_response(
        lambda r: r.url.endswith(f"/dags/{DAG_ID}/dagRuns") and r.request.method == "POST"
    ) as sent:
        dialog.get_by_test_id("trigger-dag-submit").click()
    assert sent.value.status == 200, sent.value.text()
    return sent.value.json()["dag_run_id"]


def task_url(stack, run_id: str, task_id: str, tab: str = "") -> str:
    return f"{stack.url}/dags/{DAG_ID}/runs/{urllib.parse.quote(run_id)}/tasks/{task_id}{tab}"


def run_state(stack, run_id: str) -> str:
    return stack.api(f"/dags/{DAG_ID}/dagRuns/{urllib.parse.quote(run_id, safe='')}")["state"]


def test_an_analyst_runs_a_job_from_the_form_and_watches_its_dashboard(dag_page, local_stack, artifacts):
    page, stack = dag_page, local_stack
    dialog = open_form(page)
    dialog.get_by_role("combobox").click()
    page.get_by_role("option", name="Word count: count the words of text files").click()
    fill(dialog, output_uri="gs://analyst-results/word-counts", num_workers=2, preemptible_share=0)
    page.screenshot(path=artifacts / "1-trigger-form.png")
    dialog.get_by_role("button", name="Sample data").click()
    fill(dialog, sample_rows=400_000)

    run_id = submit(page, dialog)

    # While the job runs: its task's Dask Dashboard link opens the cluster's live dashboard.
    stack.wait_for_task(DAG_ID, run_id, "run_job", ("running", "deferred"), timeout=300)
    page.goto(task_url(stack, run_id, "run_job", "/details"))
    link = page.get_by_role("link", name="Dask Dashboard")
    href = link.get_attribute("href")
    with page.context.expect_page() as opened:
        link.click()
    dashboard = opened.value
    dashboard.wait_for_load_state("load")
    status = dashboard.evaluate("performance.getEntriesByType('navigation')[0].responseStatus")
    dashboard.locator("canvas").first.wait_for(timeout=60_000)  # Bokeh draws: the dashboard is live
    dashboard.screenshot(path=artifacts / "2-dask-dashboard.png")
    assert (dashboard.url, status) == (href, 200)
    assert href.endswith("/gateway/default/dask/status")
    assert "Dask" in dashboard.title()
    assert stack.task_states(DAG_ID, run_id)["run_job"] in ("running", "deferred")  # still running: it was live
    dashboard.close()

    stack.wait_for(
        "the run to end",
        lambda: run_state(stack, run_id) in ("success", "failed"),
        timeout=600,
        interval=3,
        explain=lambda: stack.explain(DAG_ID, run_id),
    )
    page.goto(f"{stack.url}/dags/{DAG_ID}/runs/{urllib.parse.quote(run_id)}")
    page.get_by_text("Success").first.wait_for()
    page.screenshot(path=artifacts / "3-finished-run.png")
    assert run_state(stack, run_id) == "success", stack.explain(DAG_ID, run_id)
    assert set(stack.task_states(DAG_ID, run_id).values()) == {"success"}
    created = stack.api(
        f"/dags/{DAG_ID}/dagRuns/{urllib.parse.quote(run_id, safe='')}/taskInstances/create_cluster/xcomEntries/return_value"
    )["value"]
    assert created["labels"]["owner"] == "admin"  # the user who pressed Trigger
    assert stack.emulator_clusters() == []


def test_a_request_over_the_quota_is_refused_and_the_task_log_says_why(dag_page, local_stack, artifacts):
    page, stack = dag_page, local_stack
    dialog = open_form(page)
    fill(dialog, num_workers=8, preemptible_share=0.5)  # 4 preemptible workers; the quota is 3

    run_id = submit(page, dialog)

    stack.wait_for(
        "the run to fail",
        lambda: run_state(stack, run_id) == "failed",
        timeout=300,
        interval=2,
        explain=lambda: stack.explain(DAG_ID, run_id),
    )
    page.goto(task_url(stack, run_id, "validate_request"))
    refusal = page.get_by_text(
        re.compile(r"Quota exceeded for user admin: At most 3 secondary \(preemptible\) workers")
    )
    refusal.first.wait_for(timeout=60_000)
    page.screenshot(path=artifacts / "4-quota-refusal-log.png")
    states = stack.task_states(DAG_ID, run_id)
    assert states["validate_request"] == "failed"
    assert states["create_cluster"] == "upstream_failed"
    assert stack.emulator_clusters() == []
