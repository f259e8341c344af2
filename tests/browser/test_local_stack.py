"""The local stack as a user leaves it running: its scheduled DAGs work against the emulator, not Google Cloud."""

from __future__ import annotations

import urllib.parse

REAPER = "dask_orphan_reaper"


def test_the_hourly_reaper_runs_green_against_the_emulator(local_stack):
    stack = local_stack

    def first_scheduled_run() -> dict | None:
        runs = [r for r in stack.api(f"/dags/{REAPER}/dagRuns")["dag_runs"] if r["run_type"] == "scheduled"]
        return runs[0] if runs and runs[0]["state"] in ("success", "failed") else None

    run = stack.wait_for(f"{REAPER}'s first scheduled run to end", first_scheduled_run, timeout=300, interval=3)
    run_id = run["dag_run_id"]
    assert run["state"] == "success", stack.explain(REAPER, run_id)
    rows = stack.api(
        f"/dags/{REAPER}/dagRuns/{urllib.parse.quote(run_id, safe='')}"
        "/taskInstances/reap_clusters/xcomEntries/return_value"
    )["value"]
    text = "".join(path.read_text() for path in stack.task_logs(REAPER, run_id, "reap_clusters"))
    assert f"Reaper deleted 0 of {len(rows)} clusters of this provider in local-project / europe-west1" in text
