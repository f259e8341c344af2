"""Fixtures of the job-script tests: a real local Dask cluster, and the scripts run as plain files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest

JOBS = Path(__file__).resolve().parents[3] / "jobs"
#: Generous: each run imports pandas, pyarrow and distributed afresh.
RUN_TIMEOUT_SECONDS = 180


@dataclass(frozen=True)
class Run:
    """One finished run of a job script."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def summary(self) -> dict[str, Any]:
        """The JSON summary line, the only line the script prints to stdout."""
        (line,) = self.stdout.splitlines()
        return json.loads(line)


@pytest.fixture(scope="session")
def process_env(tmp_path_factory) -> dict[str, str]:
    """Environment variables of the processes these tests start.

    No ``DASK_SCHEDULER_ADDRESS`` from outside. Bytecode goes to a temporary cache, outside the
    tree, even where ``PYTHONDONTWRITEBYTECODE`` is set: otherwise every one of the many processes
    compiles pandas, pyarrow and distributed again, some 4 seconds each.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("DASK_SCHEDULER_ADDRESS", "PYTHONDONTWRITEBYTECODE")}
    return {**env, "PYTHONPYCACHEPREFIX": str(tmp_path_factory.mktemp("pycache"))}


def run_script(name: str, *args: str, cwd: Path, env: dict[str, str]) -> Run:
    """Run ``jobs/<name>`` as a plain file, the way a Dataproc master or the emulator runs it."""
    proc = subprocess.run(
        [sys.executable, str(JOBS / name), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="session")
def run_job(process_env) -> Callable[..., Run]:
    """``run_job(name, *args, cwd=...)``: run a job script as a plain file and return its :class:`Run`."""
    return partial(run_script, env=process_env)


@pytest.fixture(scope="module")
def dask_cluster(process_env) -> Iterator[Any]:
    """A real Dask cluster of two worker processes on 127.0.0.1, for one test module."""
    from distributed import LocalCluster

    with pytest.MonkeyPatch.context() as patch:  # the worker processes start with process_env
        for name in set(os.environ) - set(process_env):
            patch.delenv(name)
        for name, value in process_env.items():
            patch.setenv(name, value)
        cluster = LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            scheduler_port=0,
            dashboard_address=None,
            # No dashboard, but the scheduler's HTTP server (health, metrics) still binds: port 0.
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        )
    with cluster:
        yield cluster
