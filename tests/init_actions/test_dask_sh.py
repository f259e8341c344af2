"""dask.sh run with bash on fake master and worker nodes, for both runtimes."""

from __future__ import annotations

import re
import shlex
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from tests.init_actions.conftest import SCRIPTS

REPO = Path(__file__).resolve().parents[2]
WORKER_UNIT = "/etc/systemd/system/dask-worker.service"
SCHEDULER_UNIT = "/etc/systemd/system/dask-scheduler.service"
CONFIG = "/etc/dask/config.yaml"
TOPOLOGY = "/etc/knox/conf/topologies/default.xml"
KNOX_SERVICES = "/usr/lib/knox/data/services"


def exec_start(unit_text: str) -> list[str]:
    line = next(line for line in unit_text.splitlines() if line.startswith("ExecStart="))
    return shlex.split(line.removeprefix("ExecStart="))


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def pip_installs(node) -> list[list[str]]:
    return [argv for argv in node.call_args("venv-python") if argv[:3] == ["-m", "pip", "install"]]


# --- standalone runtime -------------------------------------------------------------------------


def test_worker_runs_a_worker_unit_sized_to_the_node(make_node):
    node = make_node("Worker")
    node.run()

    argv = exec_start(node.read(WORKER_UNIT))
    assert argv[:3] == ["/opt/dask/venv/bin/dask", "worker", "tls://dask-etl-m:8786"]
    assert option(argv, "--nthreads") == "3"
    assert option(argv, "--memory-limit") == "14336MiB"  # 16 GiB less a 2 GiB reserve
    assert option(argv, "--local-directory") == "/mnt/1/dask"
    assert option(argv, "--name") == "dask-etl-w-0"
    # A worker exits with status 0 when its scheduler stops: it must come back all the same.
    assert "Restart=always" in node.read(WORKER_UNIT).splitlines()
    assert not node.exists(SCHEDULER_UNIT)
    assert node.calls("systemctl") == [
        "daemon-reload",
        "enable dask-worker.service",
        "restart dask-worker.service",
    ]


def test_master_runs_the_scheduler_and_no_worker(make_node):
    node = make_node("Master")
    node.run()

    unit = node.read(SCHEDULER_UNIT)
    argv = exec_start(unit)
    assert argv[:2] == ["/opt/dask/venv/bin/dask", "scheduler"]
    assert option(argv, "--port") == "8786"
    assert option(argv, "--dashboard-address") == "10.128.0.7:8787"
    assert option(argv, "--dashboard-prefix") == "/gateway/default/dask"
    assert "Restart=on-failure" in unit.splitlines()
    assert not node.exists(WORKER_UNIT)
    assert "enable dask-scheduler.service" in node.calls("systemctl")


@pytest.mark.parametrize(
    "metadata",
    [{"dataproc-worker-count": "0"}, {"dask-worker-on-master": "true"}],
    ids=["single-node", "dask-worker-on-master"],
)
def test_master_also_runs_a_worker_when_single_node_or_asked(make_node, metadata):
    node = make_node("Master", metadata=metadata)
    node.run()

    worker = node.read(WORKER_UNIT)
    assert exec_start(worker)[2] == "tls://dask-etl-m:8786"
    assert "After=network-online.target dask-scheduler.service" in worker.splitlines()
    assert node.exists(SCHEDULER_UNIT)


def test_other_masters_of_a_ha_cluster_run_no_scheduler(make_node):
    node = make_node("Master", hostname="dask-etl-m-1", metadata={"dataproc-master": "dask-etl-m-0"})
    node.run()

    assert not node.exists(SCHEDULER_UNIT)
    assert not node.exists(WORKER_UNIT)


@pytest.mark.parametrize(
    ("vcpus", "memory_gib", "threads", "limit"),
    [(4, 16, "3", "14336MiB"), (1, 4, "1", "2048MiB"), (16, 64, "15", "63488MiB")],
)
def test_worker_threads_and_memory_follow_the_machine(make_node, vcpus, memory_gib, threads, limit):
    node = make_node("Worker", vcpus=vcpus, memory_gib=memory_gib)
    node.run()

    argv = exec_start(node.read(WORKER_UNIT))
    assert (option(argv, "--nthreads"), option(argv, "--memory-limit")) == (threads, limit)


def test_worker_resources_can_be_set_through_metadata(make_node):
    node = make_node(
        "Worker",
        metadata={
            "dask-reserved-cpus": "2",
            "dask-memory-reserve-mib": "4096",
            "dask-worker-dashboard-port": "9000",
            "dask-scheduler-port": "9786",
        },
    )
    node.run()

    argv = exec_start(node.read(WORKER_UNIT))
    assert option(argv, "--nthreads") == "2"
    assert option(argv, "--memory-limit") == "12288MiB"
    assert option(argv, "--dashboard-address") == "10.128.0.7:9000"
    assert argv[2] == "tls://dask-etl-m:9786"


def test_config_holds_the_memory_thresholds_and_the_ssd_directory(make_node):
    node = make_node("Worker")
    node.run()

    config = yaml.safe_load(node.read(CONFIG))
    assert config["distributed"]["worker"]["memory"] == {
        "target": 0.85,
        "spill": 0.90,
        "pause": 0.95,
        "terminate": 0.98,
    }
    assert config["temporary-directory"] == "/mnt/1/dask"
    assert config["distributed"]["dashboard"]["link"].endswith("/gateway/default/dask/status")
    assert config["distributed"]["scheduler"]["idle-timeout"] is None
    assert node.exists("/mnt/1/dask")


def test_spill_directory_is_on_the_first_local_ssd(make_node):
    node = make_node("Worker", local_ssds=3)
    node.run()

    assert option(exec_start(node.read(WORKER_UNIT)), "--local-directory") == "/mnt/1/dask"


def test_spill_directory_is_on_the_boot_disk_without_local_ssd(make_node):
    node = make_node("Worker", local_ssds=0)
    node.run()

    assert option(exec_start(node.read(WORKER_UNIT)), "--local-directory") == "/var/lib/dask"
    assert yaml.safe_load(node.read(CONFIG))["temporary-directory"] == "/var/lib/dask"
    assert node.exists("/var/lib/dask")


def test_thresholds_and_idle_timeout_can_be_set_through_metadata(make_node):
    node = make_node(
        "Worker",
        metadata={
            "dask-memory-target": "0.6",
            "dask-memory-spill": "0.7",
            "dask-memory-pause": "0.8",
            "dask-memory-terminate": "false",
            "dask-idle-timeout": "2h",
        },
    )
    node.run()

    config = yaml.safe_load(node.read(CONFIG))
    assert config["distributed"]["worker"]["memory"] == {
        "target": 0.6,
        "spill": 0.7,
        "pause": 0.8,
        "terminate": False,
    }
    assert config["distributed"]["scheduler"]["idle-timeout"] == "2h"


def test_installs_the_tested_dask_into_its_own_environment(make_node):
    node = make_node("Worker")
    node.run()

    assert node.calls("python3") == [f"-m venv {node.root}/opt/dask/venv"]
    [install] = pip_installs(node)
    assert install[:3] == ["-m", "pip", "install"]
    assert "dask[dataframe,diagnostics]==2026.8.0" in install
    assert "distributed==2026.8.0" in install
    assert "prometheus-client" in install  # Prometheus metrics on the dashboard port
    assert 'pandas==3.1.1; python_version == "3.11"' in install
    assert (node.root / "opt/dask/bin/python").readlink() == Path("/opt/dask/venv/bin/python")


def test_requested_versions_and_extra_packages_are_installed(make_node):
    node = make_node(
        "Worker",
        metadata={"dask-version": "2025.1.0", "dask-pip-packages": "xgboost>=2  dask-ml==2024.4.4"},
    )
    node.run()

    [install] = pip_installs(node)
    assert "dask[dataframe,diagnostics]==2025.1.0" in install
    assert "distributed==2025.1.0" in install  # distributed-version follows dask-version
    assert install[-2:] == ["xgboost>=2", "dask-ml==2024.4.4"]
    assert not [arg for arg in install if "python_version" in arg]  # tested pins only fit the tested Dask


def test_pip_constraints_from_a_bucket_are_used(make_node):
    node = make_node("Worker", metadata={"dask-pip-constraints": "gs://bucket/constraints.txt"})
    node.run()

    constraints = f"{node.root}/opt/dask/pip-constraints.txt"
    assert f"storage cp --quiet gs://bucket/constraints.txt {constraints}" in node.calls("gcloud")
    [install] = pip_installs(node)
    assert option(install, "--constraint") == constraints


def test_failed_install_is_retried_with_backoff(make_node):
    node = make_node("Worker")
    node.fail_next("venv-python", 2)
    node.run()

    assert len(pip_installs(node)) == 3
    assert node.calls("sleep") == ["2", "4"]


def test_install_gives_up_after_bounded_attempts(make_node):
    node = make_node("Worker")
    node.fail_next("venv-python", 100)
    result = node.run(check=False)

    assert result.returncode != 0
    assert len(pip_installs(node)) == 5
    assert node.calls("sleep") == ["2", "4", "8", "16"]
    assert not node.exists(WORKER_UNIT)


def test_master_routes_the_dashboard_through_component_gateway(make_node):
    node = make_node("Master", knox=True)
    node.run()

    topology = ET.fromstring(node.read(TOPOLOGY))
    services = {s.findtext("role"): s.findtext("url") for s in topology.iter("service")}
    assert services["DASK"] == "http://dask-etl-m:8787/gateway/default/dask"
    assert services["DASKWS"] == "ws://dask-etl-m:8787/gateway/default/dask"
    assert services["YARNUIV2"] == "http://localhost:8088"
    for role in ("dask", "daskws"):
        service = ET.fromstring(node.read(f"{KNOX_SERVICES}/{role}/1.0.0/service.xml"))
        assert service.get("role") == role.upper()
        rules = ET.fromstring(node.read(f"{KNOX_SERVICES}/{role}/1.0.0/rewrite.xml"))
        applied = {r.get("apply") for r in service.iter("rewrite")}
        assert applied == {r.get("name") for r in rules.iter("rule")}
    assert not any((node.root / "usr/lib/knox/data/deployments").iterdir())
    assert "try-restart knox.service" in node.calls("systemctl")


def test_workers_and_yarn_masters_leave_knox_alone(make_node):
    for node in (make_node("Worker", knox=True), make_node("Master", knox=True, metadata={"dask-runtime": "yarn"})):
        before = node.read(TOPOLOGY)
        node.run()

        assert node.read(TOPOLOGY) == before
        assert "try-restart knox.service" not in node.calls("systemctl")


# --- yarn runtime -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["Master", "Worker"])
def test_yarn_runtime_gets_a_pinned_python_39_environment_and_yarn_config(make_node, role):
    node = make_node(role, metadata={"dask-runtime": "yarn"})
    node.run()

    env = f"{node.root}/opt/dask/yarn-env"
    [create] = node.calls("conda")
    assert create.startswith(f"create --yes --quiet --prefix {env} ")
    assert "python=3.9" in create.split()
    [install] = pip_installs(node)
    assert option(install, "--constraint") == f"{env}/lock.txt"
    lock = node.read("/opt/dask/yarn-env/lock.txt").split()
    assert {"dask==2022.1.1", "distributed==2022.1.1", "dask-yarn==0.9", "protobuf==3.20.3"} <= set(lock)
    assert "dask-yarn" in install
    assert "pyarrow" in install  # a constraint alone installs nothing
    config = yaml.safe_load(node.read(CONFIG))
    assert config["yarn"] == {
        "environment": "python:///opt/dask/yarn-env/bin/python",
        "worker": {"count": 2, "vcores": 1, "memory": "4GiB"},
    }
    assert config["distributed"]["worker"]["memory"]["terminate"] == 0.98
    assert (node.root / "opt/dask/bin/python").readlink() == Path("/opt/dask/yarn-env/bin/python")
    assert not node.exists(SCHEDULER_UNIT) and not node.exists(WORKER_UNIT)
    assert node.calls("systemctl") == []


def test_yarn_worker_size_can_be_set_through_metadata(make_node):
    metadata = {
        "dask-runtime": "yarn",
        "dask-yarn-worker-count": "5",
        "dask-yarn-worker-vcores": "2",
        "dask-yarn-worker-memory": "6GiB",
    }
    node = make_node("Master", metadata=metadata)
    node.run()

    assert yaml.safe_load(node.read(CONFIG))["yarn"]["worker"] == {"count": 5, "vcores": 2, "memory": "6GiB"}


# --- running twice --------------------------------------------------------------------------------


@pytest.mark.parametrize("runtime", ["standalone", "yarn"])
@pytest.mark.parametrize("role", ["Master", "Worker"])
def test_second_run_changes_no_file_and_restarts_nothing(make_node, role, runtime):
    node = make_node(role, knox=True, metadata={"dask-runtime": runtime, "dask-worker-on-master": "true"})
    node.run()
    first = node.tree()

    node.run()

    assert node.tree() == first
    assert pip_installs(node) == []
    assert node.calls("conda") == [] and node.calls("python3") == []
    assert not [c for c in node.calls("systemctl") if c.split()[0] in ("restart", "try-restart", "daemon-reload")]
    if runtime == "standalone":
        assert f"start dask-{'scheduler' if role == 'Master' else 'worker'}.service" in node.calls("systemctl")


def test_rerun_with_new_metadata_rewrites_and_restarts(make_node):
    node = make_node("Worker")
    node.run()
    node.metadata["dask-memory-spill"] = "0.92"

    node.run()

    assert yaml.safe_load(node.read(CONFIG))["distributed"]["worker"]["memory"]["spill"] == 0.92
    assert "restart dask-worker.service" in node.calls("systemctl")
    assert pip_installs(node) == []


def test_master_that_no_longer_runs_a_worker_removes_it(make_node):
    node = make_node("Master", metadata={"dask-worker-on-master": "true"})
    node.run()
    node.metadata["dask-worker-on-master"] = "false"

    node.run()

    assert not node.exists(WORKER_UNIT)
    assert "disable --now dask-worker.service" in node.calls("systemctl")


# --- errors ---------------------------------------------------------------------------------------


def test_unknown_runtime_fails_naming_the_value_and_the_allowed_ones(make_node):
    node = make_node("Worker", metadata={"dask-runtime": "kubernetes"})
    result = node.run(check=False)

    assert result.returncode == 1
    assert "Unsupported dask-runtime 'kubernetes': allowed values are standalone and yarn" in result.stdout
    assert node.calls("venv-python") == [] and node.calls("systemctl") == []


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"dataproc-role": ""}, "Metadata dataproc-role is not set"),
        ({"dataproc-role": "Gateway"}, "Unsupported dataproc-role 'Gateway': expected Master or Worker"),
        ({"dataproc-master": ""}, "Metadata dataproc-master is not set"),
        ({"dask-memory-spill": "0.8"}, "Invalid dask-memory-spill='0.8': must be at least dask-memory-target='0.85'"),
        ({"dask-memory-pause": "1.5"}, "Invalid dask-memory-pause='1.5': must be a fraction above 0 and at most 1"),
        ({"dask-worker-nthreads": "0"}, "Invalid dask-worker-nthreads='0'"),
        ({"dask-scheduler-port": "70000"}, "Invalid dask-scheduler-port='70000': must be a port from 1 to 65535"),
        ({"dask-pip-packages": "--index-url=https://x"}, "Invalid dask-pip-packages: holds an option"),
        ({"dask-pip-constraints": "/tmp/c.txt"}, "Invalid dask-pip-constraints: must be a gs:// or https:// URL"),
        # the security settings (test_dask_sh_security.py)
        ({"dask-allow-plaintext": "yes"}, "Invalid dask-allow-plaintext='yes': must be true or false"),
        ({"dask-tls-uri": "https://x/c.pem"}, "Invalid dask-tls-uri='https://x/c.pem': must be the gs:// URI"),
        ({"dask-tls-uri": "gs://b/c d.pem"}, "Invalid dask-tls-uri='gs://b/c d.pem'"),
        ({"dask-listen-address": "10.0.0.256"}, "Invalid dask-listen-address='10.0.0.256': must be an IPv4 address"),
        ({"dask-listen-address": "dask-etl-w-0"}, "Invalid dask-listen-address='dask-etl-w-0'"),
        ({"dask-local-directory": "/mnt/1/../../etc"}, "Invalid dask-local-directory='/mnt/1/../../etc'"),
    ],
)
def test_bad_metadata_fails_before_changing_anything(make_node, metadata, message):
    node = make_node("Worker", metadata=metadata)
    result = node.run(check=False)

    assert result.returncode == 1
    assert message in result.stdout
    assert not node.exists("/etc/dask") and node.calls("systemctl") == []


def test_yarn_runtime_without_conda_fails_clearly(make_node):
    node = make_node("Worker", metadata={"dask-runtime": "yarn"})
    (node.conda_home / "bin" / "conda").unlink()
    result = node.run(check=False)

    assert result.returncode == 1
    assert "The yarn runtime needs conda at" in result.stdout


# --- house style ----------------------------------------------------------------------------------


def test_metadata_values_never_reach_the_log(make_node):
    secret = "private-pkg@https://token-5b1f@example.invalid/pkg.whl"
    metadata = {"dask-pip-packages": secret, "dask-pip-constraints": "https://t0ken.invalid/c"}
    node = make_node("Worker", metadata=metadata)
    node.fail_next("venv-python", 1)
    result = node.run()

    for value in ("token-5b1f", "t0ken"):
        assert value not in result.stdout + result.stderr


def test_sourcing_the_script_defines_functions_and_runs_nothing(make_node):
    node = make_node("Worker")

    result = subprocess.run(
        ["bash", "-c", f"source {shlex.quote(str(SCRIPTS['dask.sh']))} && declare -F main retry"],
        env=node.environment(),
        capture_output=True,
        text=True,
        check=True,
    )

    assert result.stdout.split() == ["main", "retry"]
    assert node.calls() == []


def test_default_versions_are_the_ones_the_provider_is_tested_with():
    script = SCRIPTS["dask.sh"].read_text()
    constraints = dict(
        line.split("==", 1) for line in (REPO / "constraints/airflow-3.txt").read_text().splitlines() if "==" in line
    )
    tested = re.search(r'^readonly TESTED_DASK_VERSION="(.+)"$', script, re.M).group(1)
    pins_block = re.search(r"^readonly -a TESTED_PINS=\((.*?)^\)", script, re.M | re.S).group(1)
    pins = dict(pin.split("==") for pin in re.findall(r'"([^"]+)"', pins_block))

    assert tested == constraints["dask"] == constraints["distributed"]
    assert pins == {name: constraints[name] for name in pins}
    assert {"prometheus-client", "pandas", "numpy", "cloudpickle", "msgpack", "tornado", "toolz"} <= set(pins)
