"""What dask.sh writes, loaded by real `dask scheduler` and `dask worker` processes on 127.0.0.1.

The scheduler and the worker run the commands of the generated systemd units with three changes
only: the test environment's `dask` instead of /opt/dask/venv/bin/dask, loopback addresses and free
ports instead of the master's host name and fixed ports, and node paths moved under the fake
node's root. Each process reads the node's generated /etc/dask through DASK_CONFIG.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.init_actions.conftest import BASE_METADATA, FakeNode

GIB = 1024**3
DASK = str(Path(sys.executable).parent / "dask")
NODE_DASK = "/opt/dask/venv/bin/dask"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unit_command(node, unit: str) -> list[str]:
    text = node.read(f"/etc/systemd/system/{unit}")
    line = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    argv = shlex.split(line.removeprefix("ExecStart="))
    assert argv[0] == NODE_DASK
    return [DASK, *argv[1:]]


def replace_option(argv: list[str], name: str, value: str) -> list[str]:
    index = argv.index(name)
    return [*argv[: index + 1], value, *argv[index + 2 :]]


def node_environment(node) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("DASK_")}
    env["DASK_CONFIG"] = str(node.root / "etc/dask")
    # The node's temporary-directory is a node path; keep every file this test makes under its root.
    env["DASK_TEMPORARY_DIRECTORY"] = str(node.root / "tmp")
    return env


@contextmanager
def running(argv: list[str], env: dict[str, str], log: Path):
    """Run a Dask process in its own process group; stop the whole group afterwards."""
    with log.open("w") as out:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            try:
                process.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue


def fake_node(base: Path, role: str, hostname: str) -> FakeNode:
    metadata = {"dataproc-role": role, **BASE_METADATA}
    node = FakeNode(base=base, hostname=hostname, metadata=metadata).build()
    node.run()
    return node


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """A real scheduler and worker started from the units dask.sh wrote for a master and a worker."""
    tmp_path = tmp_path_factory.mktemp("dask-cluster")
    master = fake_node(tmp_path / "master", "Master", "dask-etl-m")
    worker = fake_node(tmp_path / "worker", "Worker", "dask-etl-w-0")  # n2-standard-4: 4 vCPUs, 16 GiB, a local SSD
    for node in (master, worker):
        (node.root / "tmp").mkdir()

    port, dashboard = free_port(), free_port()
    scheduler_argv = unit_command(master, "dask-scheduler.service")
    scheduler_argv = replace_option(scheduler_argv, "--port", str(port))
    scheduler_argv = replace_option(scheduler_argv, "--dashboard-address", f"127.0.0.1:{dashboard}")
    scheduler_argv += ["--host", "127.0.0.1"]

    worker_argv = unit_command(worker, "dask-worker.service")
    node_directory = worker_argv[worker_argv.index("--local-directory") + 1]
    local_directory = worker.root / node_directory.lstrip("/")
    worker_argv[2] = f"tcp://127.0.0.1:{port}"
    worker_argv = replace_option(worker_argv, "--local-directory", str(local_directory))
    worker_argv = replace_option(worker_argv, "--dashboard-address", "127.0.0.1:0")
    worker_argv += ["--host", "127.0.0.1"]

    logs = tmp_path / "logs"
    logs.mkdir()
    with (
        running(scheduler_argv, node_environment(master), logs / "scheduler.log"),
        running(worker_argv, node_environment(worker), logs / "worker.log"),
    ):
        yield {
            "address": f"tcp://127.0.0.1:{port}",
            "dashboard": f"http://127.0.0.1:{dashboard}",
            "local_directory": local_directory,
            "worker_argv": worker_argv,
            "logs": logs,
        }


def test_running_worker_has_the_generated_threads_memory_thresholds_and_spill_directory(dask_cluster):
    from distributed import Client
    from distributed.system import MEMORY_LIMIT

    def worker_facts(dask_worker):
        memory = dask_worker.memory_manager
        return {
            "nthreads": dask_worker.state.nthreads,
            "memory_limit": memory.memory_limit,
            "fractions": (memory.memory_target_fraction, memory.memory_spill_fraction, memory.memory_pause_fraction),
            "local_directory": dask_worker.local_directory,
        }

    def spill_everything(dask_worker):
        for _ in range(len(dask_worker.data.fast)):
            dask_worker.data.evict()

    def nanny_terminate_fraction(dask_worker):
        return dask_worker.memory_manager.memory_terminate_fraction

    def scheduler_dashboard_link(dask_scheduler):
        import dask

        return dask.config.get("distributed.dashboard.link")

    logs, local_directory = dask_cluster["logs"], dask_cluster["local_directory"]
    try:
        with Client(dask_cluster["address"], timeout=60) as client:
            client.wait_for_workers(1, timeout=90)
            [facts] = client.run(worker_facts).values()
            [terminate] = client.run(nanny_terminate_fraction, nanny=True).values()
            link = client.run_on_scheduler(scheduler_dashboard_link)
            data = client.submit(bytes, 1024 * 1024, pure=False)
            data.result()
            client.run(spill_everything)
            spilled = sorted(local_directory.rglob("storage/*"))
    except Exception as err:
        tails = {name: (logs / name).read_text()[-3000:] for name in ("scheduler.log", "worker.log")}
        raise AssertionError(f"the Dask processes did not come up: {tails}") from err

    assert facts["nthreads"] == 3
    # 14 GiB, unless this machine has less memory: distributed caps the limit at what there is.
    assert facts["memory_limit"] == min(14 * GIB, MEMORY_LIMIT)
    assert facts["fractions"] == (0.85, 0.90, 0.95)
    assert terminate == 0.98
    assert Path(facts["local_directory"]).is_relative_to(local_directory)
    assert spilled, "nothing was spilled to the worker's local directory"
    assert str(local_directory).endswith("/mnt/1/dask")
    assert link.endswith("/gateway/default/dask/status")


def test_scheduler_serves_dashboard_and_prometheus_metrics_under_the_gateway_path(dask_cluster):
    from distributed import Client

    with Client(dask_cluster["address"], timeout=60) as client:
        client.wait_for_workers(1, timeout=90)
    base = f"{dask_cluster['dashboard']}/gateway/default/dask"

    with urllib.request.urlopen(f"{base}/metrics", timeout=30) as response:
        metrics = response.read().decode()
    with urllib.request.urlopen(f"{base}/status", timeout=30) as response:
        status = response.status

    assert "dask_scheduler_workers" in metrics
    assert status == 200


def test_scheduler_serves_its_idle_signal_for_the_idle_sensor(dask_cluster):
    import json

    base = f"{dask_cluster['dashboard']}/gateway/default/dask"

    with urllib.request.urlopen(f"{base}/api/v1/check_idle", timeout=30) as response:
        answer = json.loads(response.read().decode())

    assert "idle_since" in answer
