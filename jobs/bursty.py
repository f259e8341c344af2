"""A bursty Dask workload: phases of many short tasks separated by quiet periods.

The driver of a Dask job (submitted as a pyspark job whose main file is this plain Python script,
or run by the Dataproc emulator). Each phase scatters its seed to the cluster and maps
``--tasks-per-phase`` tasks over it; each task sleeps ``--task-seconds`` (standing in for I/O or
remote work, so that many workers help even on a small machine) and returns a number that depends
only on the seed, the phase and the task's index. The results stay in the cluster's memory, then
the driver waits ``--quiet-seconds`` with nothing to run, so a scaler removes workers while they
hold results. At the end every result is gathered and checked against :func:`expected_values`, and
one JSON line is printed::

    {"job": "bursty", "phases": 2, "tasks": 120, "result": ..., "per_phase": [...], "correct": true,
     "executions": 120, "workers_used": 6, "seconds": 41.2}

``result`` is the sum of every task's value modulo 2**61, the same on any cluster of any size;
``executions`` counts the task runs the workers reported (more than ``tasks`` means results were
lost and recomputed). Exit status: 0 when every result is there and correct, 1 otherwise, 2 for bad
arguments. The script imports neither Airflow nor the provider.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
import time
from collections.abc import Sequence

JOB_NAME = "bursty"
DEFAULT_SCHEDULER_ADDRESS = "tcp://localhost:8786"
SCHEDULER_ADDRESS_ENV = "DASK_SCHEDULER_ADDRESS"
#: Topic of the events each task run sends to the scheduler.
EVENT_TOPIC = "bursty-task"
MODULUS = 2**61

log = logging.getLogger(JOB_NAME)


def task_value(seed: int, phase: int, index: int) -> int:
    """Return the value of one task: a function of its arguments only."""
    digest = hashlib.sha256(f"{seed}/{phase}/{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % MODULUS


def expected_values(seed: int, phases: int, tasks_per_phase: int) -> list[list[int]]:
    """Return every task's value, phase by phase, as the cluster must compute them."""
    return [[task_value(seed, phase, index) for index in range(tasks_per_phase)] for phase in range(phases)]


def run_task(phase_seed: tuple[int, int], index: int, seconds: float) -> int:
    """Work for ``seconds``, report the run to the scheduler, and return the task's value."""
    time.sleep(seconds)
    try:
        from distributed import get_worker

        worker = get_worker()
        worker.log_event(EVENT_TOPIC, {"phase": phase_seed[1], "index": index, "worker": str(worker.name)})
    except ValueError:  # not on a worker (tests call it directly)
        pass
    seed, phase = phase_seed
    return task_value(seed, phase, index)


def run(args: argparse.Namespace) -> dict:
    """Run the phases on the cluster and return the summary."""
    import dask
    from distributed import Client, wait

    # As dask_job.scheduler_address: on a Dataproc node, /etc/dask/config.yaml names the scheduler.
    address = (
        args.scheduler_address
        or os.environ.get(SCHEDULER_ADDRESS_ENV)
        or dask.config.get("scheduler-address", None)
        or DEFAULT_SCHEDULER_ADDRESS
    )
    started = time.monotonic()
    with Client(address, timeout=args.connect_timeout) as client:
        client.wait_for_workers(args.min_workers, timeout=args.connect_timeout)
        phases = []
        for phase in range(args.phases):
            if phase:
                log.info("Quiet for %.1f s", args.quiet_seconds)
                time.sleep(args.quiet_seconds)
            log.info("Phase %d: %d tasks of %.2f s", phase, args.tasks_per_phase, args.task_seconds)
            [phase_seed] = client.scatter([(args.seed, phase)])
            futures = client.map(
                run_task,
                [phase_seed] * args.tasks_per_phase,
                range(args.tasks_per_phase),
                [args.task_seconds] * args.tasks_per_phase,
                key=[f"bursty-{phase}-{index}" for index in range(args.tasks_per_phase)],
                pure=False,
            )
            wait(futures)
            phases.append(futures)
        log.info("Quiet for %.1f s before gathering", args.quiet_seconds)
        time.sleep(args.quiet_seconds)
        values = [client.gather(futures) for futures in phases]
        events = [message for _, message in client.get_events(EVENT_TOPIC)]
    expected = expected_values(args.seed, args.phases, args.tasks_per_phase)
    return {
        "job": JOB_NAME,
        "phases": args.phases,
        "tasks": args.phases * args.tasks_per_phase,
        "result": sum(sum(phase) for phase in values) % MODULUS,
        "per_phase": [sum(phase) % MODULUS for phase in values],
        "correct": values == expected,
        "executions": len(events),
        "workers_used": len({event["worker"] for event in events}),
        "seconds": round(time.monotonic() - started, 1),
    }


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser."""
    parser = argparse.ArgumentParser(prog="bursty.py", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scheduler-address",
        help=f"Dask scheduler address; default ${SCHEDULER_ADDRESS_ENV}, else {DEFAULT_SCHEDULER_ADDRESS}",
    )
    parser.add_argument("--connect-timeout", type=_non_negative_float, default=60.0, help="seconds (default 60)")
    parser.add_argument("--min-workers", type=_positive_int, default=1, help="workers to wait for (default 1)")
    parser.add_argument("--phases", type=_positive_int, default=2, help="bursts of tasks (default 2)")
    parser.add_argument("--tasks-per-phase", type=_positive_int, default=60, help="tasks per burst (default 60)")
    parser.add_argument("--task-seconds", type=_non_negative_float, default=0.4, help="seconds per task (0.4)")
    parser.add_argument("--quiet-seconds", type=_non_negative_float, default=12.0, help="pause after a burst (12)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the task values (default 0)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job; return the process exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        summary = run(args)
    except Exception:
        log.exception("The job failed")
        return 1
    print(json.dumps(summary), flush=True)
    if not summary["correct"]:
        print(f"{JOB_NAME}: error: results differ from the expected values", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
