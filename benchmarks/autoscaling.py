"""Dask-aware scaling against a cluster fixed at the maximum size, on the Dataproc emulator.

The same bursty workload (``jobs/bursty.py``: bursts of sleeping tasks, which stand in for I/O or
remote work so that more workers help even on a 2-core machine, separated by quiet periods) runs
twice on one emulator:

- ``fixed``: 2 primary and ``--max-secondary`` secondary workers from start to end;
- ``scaled``: 2 primary workers, and the Dask-aware scaler growing and shrinking the secondary group
  between 0 and ``--max-secondary`` (checks every ``--interval`` seconds).

Both are measured over the job's life, from submission to DONE, as Dataproc would bill them: a node
counts from the moment it is asked for until it is gone. Worker-seconds and completion time are
printed for both; the timelines are drawn into ``--png`` (default ``docs/autoscaling_timeline.png``).
The last line reads ``RESULT worker_seconds_ratio=N completion_ratio=N`` (scaled over fixed).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROJECT, REGION = "bench", "europe-west1"
WHERE = {"project_id": PROJECT, "region": REGION}
PRIMARY = 2


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phases", type=int, default=2)
    parser.add_argument("--tasks-per-phase", type=int, default=96)
    parser.add_argument("--task-seconds", type=float, default=0.5)
    parser.add_argument("--quiet-seconds", type=float, default=35.0)
    parser.add_argument("--max-secondary", type=int, default=4)
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between scaler checks")
    parser.add_argument("--png", type=Path, default=REPO / "docs" / "autoscaling_timeline.png")
    parser.add_argument("--csv-dir", type=Path, help="where to keep both timelines as CSV (default: not kept)")
    return parser.parse_args()


def run_job(emulator, cluster: str, args: argparse.Namespace) -> tuple[float, float, dict]:
    """Submit the bursty job, wait for it; return its start and end (monotonic) and its summary."""
    import json

    jobs = emulator.job_client()
    job_args = [
        f"--min-workers={PRIMARY}",
        f"--phases={args.phases}",
        f"--tasks-per-phase={args.tasks_per_phase}",
        f"--task-seconds={args.task_seconds}",
        f"--quiet-seconds={args.quiet_seconds}",
    ]
    start = time.monotonic()
    job = jobs.submit_job(
        **WHERE,
        job={
            "placement": {"cluster_name": cluster},
            "pyspark_job": {"main_python_file_uri": str(REPO / "jobs" / "bursty.py"), "args": job_args},
        },
    )
    while not job.done:
        time.sleep(0.25)
        job = jobs.get_job(**WHERE, job_id=job.reference.job_id)
    end = time.monotonic()
    output = emulator.local_path(job.driver_output_resource_uri + ".000000000").read_text()
    if job.status.state.name != "DONE":
        raise RuntimeError(f"The job on {cluster} ended {job.status.state.name}:\n{output[-3000:]}")
    summary = json.loads(next(line for line in output.splitlines() if line.startswith('{"job"')))
    return start, end, summary


def measure(emulator, name: str, secondary: int, minimum: int, args: argparse.Namespace):
    """Run the job on a new cluster with the scaler running beside it; return the measures and the timeline."""
    from airflow_dask_provider.hooks.dataproc import DaskDataprocHook
    from airflow_dask_provider.scaling.rule import ScalingConfig
    from airflow_dask_provider.scaling.scaler import DaskSecondaryScaler

    clusters = emulator.cluster_client()
    config = {"worker_config": {"num_instances": PRIMARY}, "secondary_worker_config": {"num_instances": secondary}}
    clusters.create_cluster(**WHERE, cluster={"cluster_name": name, "config": config}).result(timeout=300)
    scaling = DaskDataprocHook()
    # With minimum == maximum the scaler only observes: the fixed cluster's timeline, no resize.
    scaler = DaskSecondaryScaler(
        scaling_hook=scaling,
        **WHERE,
        cluster_name=name,
        graceful_decommission_timeout=60,
        target_duration=1.0,
        config=ScalingConfig(
            min_secondary_workers=minimum,
            max_secondary_workers=args.max_secondary,
            wait_count=2,
            cooldown_period=2,
            scale_down_delay=1,
        ),
    )
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            scaler.step()
            stop.wait(args.interval)

    thread = threading.Thread(target=loop, name=f"scaler-{name}")
    try:
        thread.start()
        start, end, summary = run_job(emulator, name, args)
    finally:
        stop.set()
        thread.join()
        scaling.dask_scheduler.close()
        clusters.delete_cluster(**WHERE, cluster_name=name).result(timeout=300)
    offset = scaler.timeline.start
    worker_seconds = scaler.timeline.worker_seconds(start=start - offset, end=end - offset)
    return {"seconds": end - start, "worker_seconds": worker_seconds, "summary": summary}, scaler.timeline


def main() -> int:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from airflow_dask_provider.scaling.timeline import plot
    from dask_dataproc_emulator.testing import dask_processes, run_emulator

    with tempfile.TemporaryDirectory(prefix="bench-autoscaling-") as data_dir, run_emulator(data_dir) as emulator:
        os.environ["DATAPROC_EMULATOR_HOST"] = emulator.grpc_target
        os.environ["STORAGE_EMULATOR_HOST"] = emulator.storage_url
        print(
            f"Workload: {args.phases} bursts of {args.tasks_per_phase} tasks x {args.task_seconds} s, "
            f"{args.quiet_seconds} s quiet after each; {PRIMARY} primary + 0..{args.max_secondary} secondary workers"
        )
        fixed, fixed_timeline = measure(emulator, "bench-fixed", args.max_secondary, args.max_secondary, args)
        scaled, scaled_timeline = measure(emulator, "bench-scaled", 0, 0, args)
        leftovers = dask_processes(parent=emulator.pid)
    if leftovers:
        print(f"Dask processes left behind: {leftovers}", file=sys.stderr)
        return 1
    if fixed["summary"]["result"] != scaled["summary"]["result"] or not scaled["summary"]["correct"]:
        print("The scaled run's result differs from the fixed run's", file=sys.stderr)
        return 1
    for label, run in (("fixed at maximum", fixed), ("Dask-aware scaler", scaled)):
        print(
            f"{label:>18}: {run['worker_seconds']:7.1f} worker-seconds, {run['seconds']:6.1f} s to complete, "
            f"{run['summary']['workers_used']} workers used"
        )
    if args.csv_dir:
        fixed_timeline.write_csv(args.csv_dir / "fixed.csv")
        scaled_timeline.write_csv(args.csv_dir / "scaled.csv")
    plot(
        [
            (
                (
                    f"Fixed at {PRIMARY}+{args.max_secondary} workers: {fixed['worker_seconds']:.0f} worker-s, "
                    f"{fixed['seconds']:.0f} s"
                ),
                fixed_timeline.rows,
            ),
            (
                (
                    f"Dask-aware scaler, {PRIMARY}+0..{args.max_secondary}: {scaled['worker_seconds']:.0f} worker-s, "
                    f"{scaled['seconds']:.0f} s"
                ),
                scaled_timeline.rows,
            ),
        ],
        args.png,
    )
    print(f"Timeline: {args.png}")
    worker_ratio = scaled["worker_seconds"] / fixed["worker_seconds"]
    completion_ratio = scaled["seconds"] / fixed["seconds"]
    print(f"RESULT worker_seconds_ratio={worker_ratio:.2f} completion_ratio={completion_ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
