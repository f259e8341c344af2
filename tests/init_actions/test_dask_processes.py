"""What dask.sh writes, run by real `dask scheduler` and `dask worker` processes as the user dask.

The scheduler and the worker run the commands of the generated systemd units, as the units' User=
and with no new privileges, with these changes only: the test environment's `dask` instead of
/opt/dask/venv/bin/dask, free ports instead of the fixed ones, the worker joining tls://127.0.0.1
(the master's host name does not resolve here; both nodes' internal address is 127.0.0.1, so the
units' --host is used as written), and node paths moved under the fake nodes' root. Each process
reads its node's generated /etc/dask (paths moved likewise) through DASK_CONFIG, and the cluster's
credential as dask.sh left it: root:dask, 0640, in a root:dask 0750 directory.

Switching to the dask user needs root, as CI has: without it these tests fail rather than skip.
The system user dask is made, as dask.sh makes it, when the machine has none.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from dask_dataproc_emulator.testing import unused_ports
from tests.init_actions.conftest import BASE_METADATA, FakeNode, make_credential

GIB = 1024**3
DASK = str(Path(sys.executable).parent / "dask")
NODE_DASK = "/opt/dask/venv/bin/dask"
NODE_CREDENTIAL = "/etc/dask/tls/cluster.pem"
TLS_OPTIONS = ("--tls-ca-file", "--tls-cert", "--tls-key")
DASK_USER = "dask"


def unit_setting(node, unit: str, key: str) -> str:
    text = node.read(f"/etc/systemd/system/{unit}")
    return next(line.split("=", 1)[1] for line in text.splitlines() if line.startswith(f"{key}="))


def unit_command(node, unit: str) -> list[str]:
    """The unit's ExecStart, with the test's dask and the credential's path under the node's root."""
    argv = shlex.split(unit_setting(node, unit, "ExecStart"))
    assert argv[0] == NODE_DASK
    argv = [DASK, *argv[1:]]
    for name in TLS_OPTIONS:
        assert option(argv, name) == NODE_CREDENTIAL
        argv = replace_option(argv, name, str(node.root / NODE_CREDENTIAL.lstrip("/")))
    return argv


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def replace_option(argv: list[str], name: str, value: str) -> list[str]:
    index = argv.index(name)
    return [*argv[: index + 1], value, *argv[index + 2 :]]


def flat_config(mapping: dict, prefix: str = "") -> dict:
    """Dask config as dotted keys, for dask.config.set (which replaces whole subtrees otherwise)."""
    flat = {}
    for key, value in mapping.items():
        if isinstance(value, dict):
            flat.update(flat_config(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def node_config(node) -> dict:
    """The node's /etc/dask/config.yaml, with its node paths moved under the node's root."""
    text = node.read("/etc/dask/config.yaml").replace("/etc/dask/", f"{node.root}/etc/dask/")
    return yaml.safe_load(text)


def node_environment(node, local_directory: Path) -> dict[str, str]:
    config_dir = node.base / "dask-config"
    config_dir.mkdir(exist_ok=True)
    (config_dir / "config.yaml").write_text(yaml.safe_dump(node_config(node)))
    env = {key: value for key, value in os.environ.items() if not key.startswith("DASK_")}
    env["DASK_CONFIG"] = str(config_dir)
    # The node's temporary-directory is a node path: the worker's spill directory under the root.
    env["DASK_TEMPORARY_DIRECTORY"] = str(local_directory)
    env["HOME"] = str(node.root / "var/lib/dask")
    return env


def blocked_ancestor(path: Path) -> Path | None:
    """The topmost directory above PATH (or PATH itself) that other users cannot enter, if any."""
    for directory in [*reversed(path.parents), path]:
        if not directory.stat().st_mode & stat.S_IXOTH:
            return directory
    return None


def as_user(user: str, argv: list[str], stage: Path) -> list[str]:
    """ARGV run as USER, with no new privileges (the units' NoNewPrivileges=true).

    The USER must reach this Python and its environment. Where one lives under a directory only
    root may enter (a Python or a checkout under /root, mode 0700), the command runs in a private
    mount namespace in which that directory is an empty tmpfs of mode 0755 holding bind mounts of
    just the Python's and the environment's directories: nothing outside the command sees it, and
    every other path keeps its owner and mode.
    """
    drop = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--no-new-privs", "--", *argv]
    needed: dict[Path, list[Path]] = {}
    for prefix in sorted({Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()}):
        blocked = blocked_ancestor(prefix)
        if blocked is not None:
            needed.setdefault(blocked, []).append(prefix.relative_to(blocked))
    if not needed:
        return drop
    script = ["set -e"]
    for index, (blocked, relatives) in enumerate(needed.items()):
        hidden = stage / str(index)
        hidden.mkdir(parents=True, exist_ok=True)
        b, h = shlex.quote(str(blocked)), shlex.quote(str(hidden))
        script += [f"mount --bind {b} {h}", f"mount -t tmpfs -o mode=0755 tmpfs {b}"]
        for relative in relatives:
            r = shlex.quote(str(relative))
            script += [f"mkdir -p {b}/{r}", f"mount --bind {h}/{r} {b}/{r}"]
    script.append('exec "$@"')
    return ["unshare", "--mount", "--propagation", "private", "bash", "-c", "; ".join(script), "bash", *drop]


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


def process_uids(pid: int) -> list[int]:
    """The real, effective, saved and file-system user ids of process PID."""
    line = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("Uid:"))
    return [int(uid) for uid in line.split()[1:]]


def ensure_dask_user() -> pwd.struct_passwd:
    """The system user dask, made as dask.sh makes it if the machine has none."""
    if os.geteuid() != 0:
        pytest.fail(
            "these tests run the Dask units' commands as their user dask and need root to make it and to "
            "switch to it (CI runs as root): run them as root"
        )
    try:
        return pwd.getpwnam(DASK_USER)
    except KeyError:
        home, shell = "/var/lib/dask", "/usr/sbin/nologin"
        command = ["useradd", "--system", "--user-group", "--home-dir", home, "--no-create-home", "--shell", shell]
        subprocess.run([*command, DASK_USER], check=True)
        return pwd.getpwnam(DASK_USER)


def fake_node(base: Path, role: str, hostname: str) -> FakeNode:
    metadata = {"dataproc-role": role, **BASE_METADATA}
    node = FakeNode(base=base, hostname=hostname, metadata=metadata, internal_ip="127.0.0.1", real_accounts=True)
    node.build().run()
    return node


def secure(credential: Path):
    from distributed import Security

    path = str(credential)
    return Security(tls_ca_file=path, tls_client_cert=path, tls_client_key=path, require_encryption=True)


@pytest.fixture(scope="module")
def dask_cluster():
    """A real scheduler and worker, run as the dask user from the units dask.sh wrote."""
    user = ensure_dask_user()
    previous_umask = os.umask(0o022)
    # Not pytest's tmp_path: its parents are closed to other users, and the dask user must reach the
    # fake roots as it reaches / on a node.
    tmp_path = Path(tempfile.mkdtemp(prefix="dask-init-action-"))
    tmp_path.chmod(0o755)
    try:
        master = fake_node(tmp_path / "master", "Master", "dask-etl-m")
        worker = fake_node(tmp_path / "worker", "Worker", "dask-etl-w-0")  # n2-standard-4: 4 vCPUs, 16 GiB, an SSD

        port, dashboard, worker_dashboard = unused_ports(3)
        scheduler_argv = unit_command(master, "dask-scheduler.service")
        assert option(scheduler_argv, "--host") == "127.0.0.1"  # the node's internal address
        scheduler_argv = replace_option(scheduler_argv, "--port", str(port))
        scheduler_argv = replace_option(scheduler_argv, "--dashboard-address", f"127.0.0.1:{dashboard}")

        worker_argv = unit_command(worker, "dask-worker.service")
        assert option(worker_argv, "--host") == "127.0.0.1"
        node_directory = option(worker_argv, "--local-directory")
        local_directory = worker.root / node_directory.lstrip("/")
        assert worker_argv[2] == "tls://dask-etl-m:8786"
        worker_argv[2] = f"tls://127.0.0.1:{port}"
        worker_argv = replace_option(worker_argv, "--local-directory", str(local_directory))
        worker_argv = replace_option(worker_argv, "--dashboard-address", f"127.0.0.1:{worker_dashboard}")

        units = {"dask-scheduler.service": master, "dask-worker.service": worker}
        assert {unit_setting(node, unit, "User") for unit, node in units.items()} == {DASK_USER}
        stage = tmp_path / "stage"
        scheduler_env = node_environment(master, master.root / "mnt/1/dask")
        worker_env = node_environment(worker, local_directory)
        preflight = subprocess.run(
            as_user(DASK_USER, [sys.executable, "-c", "import distributed"], stage),
            env=scheduler_env,
            capture_output=True,
            text=True,
        )
        assert preflight.returncode == 0, f"the dask user cannot run this Python: {preflight.stderr}"

        logs = tmp_path / "logs"
        logs.mkdir()
        scheduler_command = as_user(DASK_USER, scheduler_argv, stage)
        worker_command = as_user(DASK_USER, worker_argv, stage)
        with (
            running(scheduler_command, scheduler_env, logs / "scheduler.log") as scheduler,
            running(worker_command, worker_env, logs / "worker.log") as worker_process,
        ):
            yield {
                "address": f"tls://127.0.0.1:{port}",
                "port": port,
                "dashboard": f"http://127.0.0.1:{dashboard}",
                "local_directory": local_directory,
                "credential": master.root / NODE_CREDENTIAL.lstrip("/"),
                "master": master,
                "worker": worker,
                "pids": {"scheduler": scheduler.pid, "worker": worker_process.pid},
                "uid": user.pw_uid,
                "gid": user.pw_gid,
                "logs": logs,
            }
    finally:
        os.umask(previous_umask)
        shutil.rmtree(tmp_path, ignore_errors=True)


@pytest.fixture(scope="module")
def client(dask_cluster):
    """A client holding the cluster's credential, once the worker has joined."""
    from distributed import Client

    logs = dask_cluster["logs"]
    try:
        with Client(dask_cluster["address"], security=secure(dask_cluster["credential"]), timeout=60) as client:
            client.wait_for_workers(1, timeout=90)
            yield client
    except Exception as err:
        tails = {name: (logs / name).read_text()[-3000:] for name in ("scheduler.log", "worker.log")}
        raise AssertionError(f"the Dask processes did not come up: {tails}") from err


def worker_address(client) -> str:
    [address] = client.scheduler_info()["workers"]
    return address


def test_scheduler_and_worker_processes_run_as_the_units_user(dask_cluster, client):
    uid = dask_cluster["uid"]

    for pid in dask_cluster["pids"].values():
        assert process_uids(pid) == [uid] * 4
    # The worker itself is the nanny's child process.
    assert set(client.run(os.getuid).values()) == {uid}
    assert client.run_on_scheduler(os.getuid) == uid


def test_credential_is_readable_by_root_and_the_dask_group_only(dask_cluster):
    for node in (dask_cluster["master"], dask_cluster["worker"]):
        credential = (node.root / NODE_CREDENTIAL.lstrip("/")).stat()
        directory = (node.root / "etc/dask/tls").stat()
        owner_and_mode = [(info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) for info in (credential, directory)]
        assert owner_and_mode == [(0, dask_cluster["gid"], 0o640), (0, dask_cluster["gid"], 0o750)]


def test_running_worker_has_the_generated_threads_memory_thresholds_and_spill_directory(dask_cluster, client):
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

    local_directory = dask_cluster["local_directory"]
    [facts] = client.run(worker_facts).values()
    [terminate] = client.run(nanny_terminate_fraction, nanny=True).values()
    link = client.run_on_scheduler(scheduler_dashboard_link)
    data = client.submit(bytes, 1024 * 1024, pure=False)
    data.result()
    client.run(spill_everything)
    spilled = sorted(local_directory.rglob("storage/*"))

    assert facts["nthreads"] == 3
    # 14 GiB, unless this machine has less memory: distributed caps the limit at what there is.
    assert facts["memory_limit"] == min(14 * GIB, MEMORY_LIMIT)
    assert facts["fractions"] == (0.85, 0.90, 0.95)
    assert terminate == 0.98
    assert Path(facts["local_directory"]).is_relative_to(local_directory)
    assert spilled, "nothing was spilled to the worker's local directory"
    assert {path.stat().st_uid for path in spilled} == {dask_cluster["uid"]}
    assert str(local_directory).endswith("/mnt/1/dask")
    assert link.endswith("/gateway/default/dask/status")
    assert worker_address(client).startswith("tls://127.0.0.1:")


def test_plain_client_of_a_job_driver_connects_with_the_node_config(dask_cluster, client):
    import dask
    from distributed import Client

    config = flat_config(node_config(dask_cluster["master"]))
    assert config["scheduler-address"] == "tls://dask-etl-m:8786"
    config["scheduler-address"] = dask_cluster["address"]  # the master's name does not resolve here

    with dask.config.set(config), Client(timeout=30) as driver:
        assert driver.submit(sum, [1, 2, 3]).result(timeout=30) == 6


#: Who reaches a Dask listener without the cluster's credential, and the reason the listener logs
#: when it refuses them.
OUTSIDERS = {
    "plain-tcp": "WRONG_VERSION_NUMBER",
    "tls-without-certificate": "PEER_DID_NOT_RETURN_A_CERTIFICATE",
    "certificate-of-another-cluster": "TLSV1_ALERT_UNKNOWN_CA",
    # The cluster's certificate is no secret: trusting it is not enough to get in.
    "own-certificate-trusting-the-cluster": "CERTIFICATE_VERIFY_FAILED",
}


def outsider(kind: str, address: str, credential: Path, tmp_path: Path) -> tuple[str, dict]:
    """The address and connection arguments with which the outsider KIND reaches ADDRESS."""
    import ssl

    from distributed import Security

    host_port = address.split("://", 1)[1]
    if kind == "plain-tcp":
        return f"tcp://{host_port}", {}
    if kind == "tls-without-certificate":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return f"tls://{host_port}", {"ssl_context": context}
    other = tmp_path / "other-cluster.pem"
    other.write_text(make_credential())
    trusted = other if kind == "certificate-of-another-cluster" else credential
    security = Security(
        tls_ca_file=str(trusted), tls_client_cert=str(other), tls_client_key=str(other), require_encryption=True
    )
    return f"tls://{host_port}", security.get_connection_args("client")


def logged_refusals(log: Path, reason: str) -> int:
    return sum(1 for line in log.read_text().splitlines() if "TLS handshake failed" in line and reason in line)


def wait_for_refusal(log: Path, reason: str, before: int) -> None:
    """Wait until the listener has logged one more refused handshake for REASON."""
    deadline = time.monotonic() + 10
    while logged_refusals(log, reason) <= before:
        assert time.monotonic() < deadline, f"{log.name} logged no refused handshake ({reason})"
        time.sleep(0.1)


@pytest.mark.parametrize("kind", OUTSIDERS)
def test_scheduler_refuses_connections_without_the_cluster_credential(dask_cluster, client, tmp_path, kind):
    from distributed.comm import connect

    address, args = outsider(kind, dask_cluster["address"], dask_cluster["credential"], tmp_path)
    log = dask_cluster["logs"] / "scheduler.log"
    before = logged_refusals(log, OUTSIDERS[kind])

    async def handshake():
        comm = await connect(address, timeout=10, **args)
        await comm.close()

    with pytest.raises(OSError):
        asyncio.run(handshake())
    wait_for_refusal(log, OUTSIDERS[kind], before)
    assert client.submit(sum, [1, 2], pure=False).result(timeout=30) == 3  # members still get in


@pytest.mark.parametrize("kind", OUTSIDERS)
def test_worker_refuses_rpc_without_the_cluster_credential(dask_cluster, client, tmp_path, kind):
    from distributed.core import rpc

    address, args = outsider(kind, worker_address(client), dask_cluster["credential"], tmp_path)
    log = dask_cluster["logs"] / "worker.log"
    before = logged_refusals(log, OUTSIDERS[kind])

    async def identity(target: str, connection_args: dict) -> dict:
        async with rpc(target, connection_args=connection_args, timeout=10) as worker:
            return await worker.identity()

    with pytest.raises(OSError):
        asyncio.run(identity(address, args))
    wait_for_refusal(log, OUTSIDERS[kind], before)
    member = secure(dask_cluster["credential"]).get_connection_args("client")
    assert asyncio.run(identity(worker_address(client), member))["type"] == "Worker"


@pytest.mark.parametrize(
    ("scheme", "security", "refusal"),
    [
        ("tcp", None, OSError),
        # distributed's client will not even try TLS without a credential.
        ("tls", None, TypeError),
        ("tls", "temporary", OSError),
    ],
    ids=["plain-client", "tls-client-without-security", "client-of-another-temporary-security"],
)
def test_clients_without_the_cluster_credential_cannot_connect(dask_cluster, client, scheme, security, refusal):
    from distributed import Client, Security

    address = f"{scheme}://127.0.0.1:{dask_cluster['port']}"
    security = Security.temporary() if security == "temporary" else None

    with pytest.raises(refusal):
        with Client(address, security=security, timeout=10) as outsider_client:
            outsider_client.submit(os.getuid).result(timeout=10)


def test_scheduler_serves_dashboard_and_prometheus_metrics_under_the_gateway_path(dask_cluster, client):
    base = f"{dask_cluster['dashboard']}/gateway/default/dask"

    with urllib.request.urlopen(f"{base}/metrics", timeout=30) as response:
        metrics = response.read().decode()
    with urllib.request.urlopen(f"{base}/status", timeout=30) as response:
        status = response.status

    assert "dask_scheduler_workers" in metrics
    assert status == 200


def test_scheduler_serves_its_idle_signal_for_the_idle_sensor(dask_cluster, client):
    import json

    base = f"{dask_cluster['dashboard']}/gateway/default/dask"

    with urllib.request.urlopen(f"{base}/api/v1/check_idle", timeout=30) as response:
        answer = json.loads(response.read().decode())

    assert "idle_since" in answer
