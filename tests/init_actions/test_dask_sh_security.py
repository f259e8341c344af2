"""dask.sh's standalone runtime closed to strangers: the cluster's TLS credential, the dask user and
the node's internal address, as written to the units, the config and the node's files."""

from __future__ import annotations

import datetime
import shlex

import pytest
import yaml

from tests.init_actions.conftest import TLS_URI, cluster_credential, make_credential

WORKER_UNIT = "/etc/systemd/system/dask-worker.service"
SCHEDULER_UNIT = "/etc/systemd/system/dask-scheduler.service"
CONFIG = "/etc/dask/config.yaml"
TLS_DIRECTORY = "/etc/dask/tls"
CREDENTIAL = "/etc/dask/tls/cluster.pem"
NODE_ADDRESS = "10.128.0.7"
TLS_OPTIONS = ("--tls-ca-file", "--tls-cert", "--tls-key")
PLAINTEXT = {"dask-tls-uri": "", "dask-allow-plaintext": "true"}


def exec_start(unit_text: str) -> list[str]:
    line = next(line for line in unit_text.splitlines() if line.startswith("ExecStart="))
    return shlex.split(line.removeprefix("ExecStart="))


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def service_settings(unit_text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in unit_text.splitlines() if "=" in line and not line.startswith("#"))


def expired_credential() -> str:
    """A self-signed certificate that expired yesterday, and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dask-internal")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=2))
        .not_valid_after(now - datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem, pkcs8 = serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8
    key_text = key.private_bytes(pem, pkcs8, serialization.NoEncryption()).decode()
    return certificate.public_bytes(pem).decode() + key_text


def certificate_part(credential: str) -> str:
    return credential[: credential.index("-----BEGIN PRIVATE KEY-----")]


def key_part(credential: str) -> str:
    return credential[credential.index("-----BEGIN PRIVATE KEY-----") :]


def tls_directory_entries(node) -> list[str]:
    directory = node.root / TLS_DIRECTORY.lstrip("/")
    return sorted(path.name for path in directory.iterdir()) if directory.exists() else []


# --- TLS --------------------------------------------------------------------------------------------


def test_scheduler_listens_with_tls_on_the_node_address(make_node):
    node = make_node("Master")
    node.run()

    argv = exec_start(node.read(SCHEDULER_UNIT))
    assert option(argv, "--protocol") == "tls"
    assert option(argv, "--host") == NODE_ADDRESS
    assert option(argv, "--port") == "8786"
    assert option(argv, "--dashboard-address") == f"{NODE_ADDRESS}:8787"
    assert [option(argv, name) for name in TLS_OPTIONS] == [CREDENTIAL] * 3


def test_worker_joins_over_tls_and_listens_on_the_node_address(make_node):
    node = make_node("Worker")
    node.run()

    argv = exec_start(node.read(WORKER_UNIT))
    assert argv[2] == "tls://dask-etl-m:8786"
    assert option(argv, "--host") == NODE_ADDRESS
    assert option(argv, "--dashboard-address") == f"{NODE_ADDRESS}:8788"
    assert [option(argv, name) for name in TLS_OPTIONS] == [CREDENTIAL] * 3
    assert option(argv, "--local-directory") == "/mnt/1/dask"


def test_config_gives_every_role_and_a_plain_client_the_credential(make_node):
    node = make_node("Worker")
    node.run()

    config = yaml.safe_load(node.read(CONFIG))
    pair = {"cert": CREDENTIAL, "key": CREDENTIAL}
    assert config["scheduler-address"] == "tls://dask-etl-m:8786"
    assert config["distributed"]["comm"] == {
        "require-encryption": True,
        "tls": {"ca-file": CREDENTIAL, "scheduler": pair, "worker": pair, "client": pair},
    }
    assert config["distributed"]["worker"]["memory"]["spill"] == 0.90  # the rest of the mapping stays


def test_credential_is_copied_readable_by_root_and_the_dask_group_only(make_node):
    node = make_node("Worker")
    node.run()

    assert node.read(CREDENTIAL) == cluster_credential()
    assert (node.mode(CREDENTIAL), node.mode(TLS_DIRECTORY)) == (0o640, 0o750)
    [copy] = node.call_args("gcloud")
    assert copy[:4] == ["storage", "cp", "--quiet", TLS_URI]
    # gcloud writes a file of mode 0600 inside the closed directory, which then takes the final name.
    temporary = copy[4].removeprefix(str(node.root))
    assert temporary.startswith(f"{TLS_DIRECTORY}/.cluster.pem.")
    assert f"root:dask {node.root}{TLS_DIRECTORY}" in node.calls("chown")
    assert f"root:dask {node.root}{temporary}" in node.calls("chown")
    assert tls_directory_entries(node) == ["cluster.pem"]


def test_credential_never_reaches_the_output_or_the_calls(make_node):
    node = make_node("Master", metadata={"dask-worker-on-master": "true"})
    node.fail_next("gcloud", 1)
    results = [node.run()]
    calls = node.calls_file.read_text()
    results.append(node.run())
    calls += node.calls_file.read_text()

    secret_lines = [line for line in key_part(cluster_credential()).splitlines() if "-----" not in line]
    seen = calls + "".join(result.stdout + result.stderr for result in results)
    for text in (node.read(SCHEDULER_UNIT), node.read(WORKER_UNIT), node.read(CONFIG), seen):
        assert not [line for line in secret_lines if line in text]
        assert certificate_part(cluster_credential()).splitlines()[1] not in text


def test_changed_credential_replaces_the_copy_and_restarts_the_services(make_node):
    node = make_node("Master", metadata={"dask-worker-on-master": "true"})
    node.run()
    node.tls_credential = make_credential()

    node.run()

    assert node.read(CREDENTIAL) == node.tls_credential
    assert node.mode(CREDENTIAL) == 0o640
    restarts = [call for call in node.calls("systemctl") if call.startswith("restart")]
    assert restarts == ["restart dask-scheduler.service", "restart dask-worker.service"]
    assert tls_directory_entries(node) == ["cluster.pem"]


def test_without_dask_tls_uri_fails_naming_the_key_and_the_opt_out(make_node):
    node = make_node("Worker", metadata={"dask-tls-uri": ""})
    result = node.run(check=False)

    assert result.returncode == 1
    assert "Metadata dask-tls-uri is not set" in result.stdout
    assert "dask-allow-plaintext=true" in result.stdout
    assert not node.exists("/etc/dask") and node.calls("systemctl") == [] and node.calls("useradd") == []


@pytest.mark.parametrize(
    "credential",
    [
        lambda: "not a credential\n",
        lambda: certificate_part(cluster_credential()),
        lambda: certificate_part(cluster_credential()) + key_part(make_credential()),
        expired_credential,
    ],
    ids=["garbage", "certificate-without-key", "key-of-another-certificate", "expired"],
)
def test_bad_credential_fails_and_leaves_no_copy(make_node, credential):
    node = make_node("Worker")
    node.tls_credential = credential()
    result = node.run(check=False)

    assert result.returncode == 1
    assert f"Invalid dask-tls-uri='{TLS_URI}': must hold a PEM certificate that has not expired" in result.stdout
    assert tls_directory_entries(node) == []
    assert not node.exists(WORKER_UNIT) and node.calls("systemctl") == []


def test_credential_copy_is_retried_then_fails_leaving_no_copy(make_node):
    node = make_node("Worker")
    node.fail_next("gcloud", 100)
    result = node.run(check=False)

    assert result.returncode == 1
    assert f"Cannot copy the cluster's TLS credential from dask-tls-uri='{TLS_URI}'" in result.stdout
    assert len(node.calls("gcloud")) == 5
    assert tls_directory_entries(node) == []


def test_plaintext_opt_out_runs_tcp_as_dask_on_the_node_address_and_warns(make_node):
    node = make_node("Master", metadata={**PLAINTEXT, "dask-worker-on-master": "true"})
    result = node.run()

    scheduler, worker = exec_start(node.read(SCHEDULER_UNIT)), exec_start(node.read(WORKER_UNIT))
    assert option(scheduler, "--protocol") == "tcp" and option(scheduler, "--host") == NODE_ADDRESS
    assert worker[2] == "tcp://dask-etl-m:8786" and option(worker, "--host") == NODE_ADDRESS
    assert not [arg for arg in scheduler + worker if arg.startswith("--tls")]
    assert service_settings(node.read(WORKER_UNIT))["User"] == "dask"
    config = yaml.safe_load(node.read(CONFIG))
    assert config["scheduler-address"] == "tcp://dask-etl-m:8786"
    assert "comm" not in config["distributed"]
    assert result.stdout.count("WARNING: NO TLS") == 2  # at the start and at the end of the log
    assert node.calls("gcloud") == [] and not node.exists(TLS_DIRECTORY)


def test_credential_wins_over_the_opt_out(make_node):
    node = make_node("Worker", metadata={"dask-allow-plaintext": "true"})
    result = node.run()

    assert exec_start(node.read(WORKER_UNIT))[2] == "tls://dask-etl-m:8786"
    assert "WARNING" not in result.stdout


# --- the node's address -----------------------------------------------------------------------------


def test_listen_address_can_be_set_through_metadata(make_node):
    node = make_node("Worker", metadata={"dask-listen-address": "10.1.2.3"}, internal_ip=None)
    node.run()

    argv = exec_start(node.read(WORKER_UNIT))
    assert option(argv, "--host") == "10.1.2.3"
    assert option(argv, "--dashboard-address") == "10.1.2.3:8788"
    assert "network-interfaces/0/ip" not in node.calls("get_metadata_value")


def test_node_without_an_internal_address_fails_naming_the_override(make_node):
    node = make_node("Worker", internal_ip=None)
    result = node.run(check=False)

    assert result.returncode == 1
    assert "Cannot read this node's internal address (metadata network-interfaces/0/ip)" in result.stdout
    assert "set dask-listen-address" in result.stdout


def test_bad_internal_address_from_the_metadata_server_fails(make_node):
    node = make_node("Worker", internal_ip="fe80::1")
    result = node.run(check=False)

    assert result.returncode == 1
    assert "Invalid network-interfaces/0/ip='fe80::1': must be an IPv4 address" in result.stdout


# --- the dask user ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "unit"), [("Master", SCHEDULER_UNIT), ("Worker", WORKER_UNIT)])
def test_units_run_as_dask_in_a_sandbox_and_append_to_their_own_log(make_node, role, unit):
    node = make_node(role)
    node.run()

    settings = service_settings(node.read(unit))
    name = unit.rsplit("/", 1)[1].removesuffix(".service")
    assert {key: settings[key] for key in ("User", "Group", "StandardOutput", "StandardError")} == {
        "User": "dask",
        "Group": "dask",
        "StandardOutput": f"append:/var/log/dask/{name}.log",
        "StandardError": "inherit",
    }
    sandbox = ("NoNewPrivileges", "PrivateTmp", "ProtectSystem", "ProtectHome")
    assert [settings[key] for key in sandbox] == ["true", "true", "full", "true"]


def test_dask_user_is_made_once_with_no_login(make_node):
    node = make_node("Worker")
    node.run()
    first = node.call_args("useradd")
    node.run()

    system_user = ["--system", "--user-group", "--home-dir", "/var/lib/dask", "--no-create-home"]
    assert first == [[*system_user, "--shell", "/usr/sbin/nologin", "dask"]]
    assert node.calls("useradd") == []


def test_dask_owns_its_home_spill_and_log_directories(make_node):
    node = make_node("Worker")
    node.run()

    for directory in ("/var/lib/dask", "/mnt/1/dask", "/var/log/dask"):
        assert f"dask:dask {node.root}{directory}" in node.calls("chown")
        assert node.mode(directory) == 0o750
    rotation = node.read("/etc/logrotate.d/dask")
    assert rotation.splitlines()[1] == "/var/log/dask/*.log {"
    assert "copytruncate" in rotation.split()


def test_spill_directory_holding_another_users_files_is_not_taken_over(make_node):
    node = make_node("Worker", metadata={"dask-local-directory": "/srv/data"})
    (node.root / "srv/data").mkdir(parents=True)
    (node.root / "srv/data/report.csv").write_text("a,b\n")
    result = node.run(check=False)

    assert result.returncode == 1
    assert "/srv/data holds files of another user" in result.stdout
    assert f"dask:dask {node.root}/srv/data" not in node.calls("chown")


def test_yarn_runtime_needs_no_credential_and_makes_no_user(make_node):
    node = make_node("Master", metadata={"dask-runtime": "yarn", "dask-tls-uri": ""})
    node.run()

    config = yaml.safe_load(node.read(CONFIG))
    assert "scheduler-address" not in config and "comm" not in config["distributed"]
    assert node.calls("useradd") == [] and node.calls("chown") == [] and node.calls("gcloud") == []
    assert not node.exists(TLS_DIRECTORY)
