"""``docker-compose.yaml`` and ``scripts/local_airflow.py`` describe the same stack.

The script's :data:`SERVICES` and :data:`ENVIRONMENT` are the one table; the compose file must name the
same services, with the same commands, health checks, dependencies and Airflow settings.

Both stacks are closed to other machines and hold no fixed secret: the compose file publishes nothing
beyond 127.0.0.1 and names no password, key or secret, only where the generated ones are; the script
makes its secrets on the first start (files 0600), keeps them, and shows the admin's password once.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from dask_dataproc_emulator.testing import ephemeral_port_range

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yaml"


def load_script():
    spec = importlib.util.spec_from_file_location("local_airflow", REPO / "scripts" / "local_airflow.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


stack = load_script()
COMPOSE = yaml.safe_load(COMPOSE_FILE.read_text())
SERVICES = COMPOSE["services"]
#: Services that run the Airflow image through its entrypoint, which adds ``airflow`` to the command.
AIRFLOW_ENTRYPOINT = [name for name in stack.SERVICES if name.startswith("airflow-") and name != "airflow-init"]


def expected(items):
    return list(stack.render(items, stack.COMPOSE))


def test_the_compose_file_has_exactly_the_scripts_services():
    assert set(SERVICES) == set(stack.SERVICES)
    assert set(stack.SERVICES) == {
        "postgres",
        "airflow-init",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "dataproc-emulator",
    }


@pytest.mark.parametrize("name", AIRFLOW_ENTRYPOINT)
def test_airflow_services_run_the_same_command(name):
    assert SERVICES[name]["command"] == expected(stack.SERVICES[name].command)[1:]
    assert "entrypoint" not in SERVICES[name]  # the image's entrypoint runs `airflow COMMAND`


@pytest.mark.parametrize("name", ["postgres", "dataproc-emulator"])
def test_postgres_and_the_emulator_run_the_same_command(name):
    assert SERVICES[name]["command"] == expected(stack.SERVICES[name].command)


def test_the_emulator_listens_on_every_interface_of_its_container():
    assert SERVICES["dataproc-emulator"]["command"][:3] == ["dask-dataproc-emulator", "--host", "0.0.0.0"]


def test_the_init_service_migrates_the_database():
    script = SERVICES["airflow-init"]["command"][-1]

    assert " ".join(expected(stack.SERVICES["airflow-init"].command)) in script.splitlines()
    assert "simple_auth_manager_passwords" in script or "SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" in script


@pytest.mark.parametrize("name", list(stack.SERVICES))
def test_every_service_has_the_scripts_health_check(name):
    check = expected(stack.SERVICES[name].health)
    compose_check = ["CMD", "curl", "--fail", check[1]] if check[0] == "http" else ["CMD", *check]

    assert SERVICES[name]["healthcheck"]["test"] == compose_check


@pytest.mark.parametrize("name", list(stack.SERVICES))
def test_every_service_waits_for_what_the_script_waits_for(name):
    conditions = {
        needed: "service_completed_successfully" if stack.SERVICES[needed].one_shot else "service_healthy"
        for needed in stack.SERVICES[name].depends_on
    }

    depends_on = SERVICES[name].get("depends_on") or {}
    assert {needed: value["condition"] for needed, value in depends_on.items()} == conditions


def test_the_script_starts_each_service_after_what_it_depends_on():
    order = list(stack.SERVICES)

    for name, service in stack.SERVICES.items():
        assert all(order.index(needed) < order.index(name) for needed in service.depends_on), name


@pytest.mark.parametrize("name", [name for name in stack.SERVICES if name != "postgres"])
def test_airflow_and_the_emulator_get_the_scripts_settings(name):
    environment = SERVICES[name]["environment"]

    for key, value in stack.render(stack.ENVIRONMENT, stack.COMPOSE).items():
        assert environment.get(key) == value, key


def test_the_key_settings_are_the_issues():
    settings = stack.render(stack.ENVIRONMENT, stack.COMPOSE)

    assert settings["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert settings["AIRFLOW__CORE__AUTH_MANAGER"].endswith(".SimpleAuthManager")
    assert settings["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "admin:admin"
    assert settings["DATAPROC_EMULATOR_HOST"] == "dataproc-emulator:8790"
    assert settings["STORAGE_EMULATOR_HOST"] == "http://dataproc-emulator:8791"
    assert settings["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://airflow@postgres:")
    assert settings["AIRFLOW__DASK_DATAPROC__DEFAULT_SERVICE_ACCOUNT"] == (
        "dask-nodes@local-project.iam.gserviceaccount.com"
    )
    assert settings["AIRFLOW__DASK_DATAPROC__REAPER_PROJECTS"] == settings["GCP_PROJECT_ID"] == "local-project"


def test_the_local_values_are_loopback_and_distinct_free_ports(tmp_path):
    values = stack.local_values(tmp_path, quotas={"max_clusters_per_user": "1"})
    settings = stack.render(stack.ENVIRONMENT, values)

    assert len({values[port] for port in stack.PORTS}) == len(stack.PORTS)
    assert settings["DATAPROC_EMULATOR_HOST"] == f"127.0.0.1:{values['emulator_port']}"
    assert settings["AIRFLOW__DASK_DATAPROC__MAX_CLUSTERS_PER_USER"] == "1"
    assert settings["AIRFLOW__CORE__DAGS_FOLDER"] == str(REPO / "dags")
    assert not any("{" in value for value in settings.values())


def test_the_local_ports_lie_outside_the_range_other_processes_are_given_ports_from(tmp_path):
    """A Dask scheduler or emulator another test starts meanwhile (bind to port 0) cannot take them."""
    low, high = ephemeral_port_range()
    values = stack.local_values(tmp_path)

    assert [port for port in stack.PORTS if low <= values[port] <= high] == []


def test_a_port_that_answers_other_than_http_is_not_healthy_yet(tmp_path):
    """What CI met once: the API server's port answered by another process's gRPC server (HTTP/2)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        values = {**stack.local_values(tmp_path), "apiserver_port": server.getsockname()[1]}
        answer = threading.Thread(target=lambda: answer_with_http2_settings(server), daemon=True)
        answer.start()

        assert stack.healthy("airflow-apiserver", values, {}) is False
        answer.join(timeout=10)


def answer_with_http2_settings(server: socket.socket) -> None:
    connection, _ = server.accept()
    with connection:
        connection.sendall(b"\x00\x00\x06\x04\x00\x00\x00\x00\x00\x00\x04\x00@\x00\x00\r\n\r\n")


def test_every_airflow_service_is_built_from_the_providers_image_with_dags_and_jobs_mounted():
    for name in stack.SERVICES:
        if name == "postgres":
            continue
        service = SERVICES[name]
        assert service["build"] == {"context": ".", "dockerfile": "docker/Dockerfile"}, name
        mounts = {volume.split(":")[0]: volume.split(":")[1] for volume in service["volumes"]}
        assert mounts["./jobs"] == "/opt/airflow/provider/jobs", name
        if name != "dataproc-emulator":
            assert mounts["./dags"] == "/opt/airflow/dags"


def test_the_image_is_the_tested_airflow_with_the_provider_installed():
    dockerfile = (REPO / "docker" / "Dockerfile").read_text()
    pinned = re.search(r"^apache-airflow==(\S+)$", (REPO / "constraints" / "airflow-3.txt").read_text(), re.MULTILINE)[
        1
    ]

    assert re.search(rf"^FROM apache/airflow:{re.escape(pinned)}-python3\.11$", dockerfile, re.MULTILINE)
    assert "pip install" in dockerfile and "-e /opt/airflow/provider" in dockerfile
    assert ".venv*" in (REPO / ".dockerignore").read_text().split()


def published_ports(services: dict) -> dict[str, list]:
    return {name: service["ports"] for name, service in services.items() if service.get("ports")}


def on_loopback(port) -> bool:
    """A ``ports:`` entry, short (``IP:HOST:CONTAINER[/PROTOCOL]``) or long syntax, bound to 127.0.0.1."""
    if isinstance(port, dict):
        return port.get("host_ip") == "127.0.0.1" and bool(port.get("published"))
    return str(port).startswith("127.0.0.1:") and len(str(port).split(":")) == 3


def test_only_the_api_server_publishes_a_port_and_on_loopback_only():
    port = stack.COMPOSE["apiserver_port"]

    assert published_ports(SERVICES) == {"airflow-apiserver": [f"127.0.0.1:{port}:{port}"]}


@pytest.mark.parametrize(
    ("port", "closed"),
    [
        ("127.0.0.1:8080:8080", True),
        ("8080:8080", False),
        ("0.0.0.0:8080:8080", False),
        ("8080", False),
        ({"target": 8080, "published": 8080, "host_ip": "127.0.0.1"}, True),
        ({"target": 8080, "published": 8080}, False),
    ],
)
def test_the_loopback_check_refuses_a_port_open_to_other_machines(port, closed):
    assert on_loopback(port) is closed


def test_no_service_shares_the_hosts_network_or_runs_privileged():
    for name, service in SERVICES.items():
        assert service.get("network_mode") is None, name
        assert not service.get("privileged"), name


#: Names of settings and variables that hold, or point at, something secret.
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|PASSFILE|CREDENTIAL|(^|_)KEY(_|$)|SQL_ALCHEMY_CONN")
#: The folders of the generated secrets: the airflow-secrets and postgres-password volumes.
SECRET_FOLDERS = ("/opt/airflow/secrets/", "/var/lib/postgresql/password/", "/opt/airflow/postgres-password/")


def fixed_secret(key: str, value) -> str | None:
    """Why the setting ``key: value`` holds a fixed secret, or None when it holds none.

    A secret's setting may only name where the generated one is (a ``_CMD`` that reads a file of the
    secrets' volumes, a ``_FILE`` or ``PGPASSFILE`` there), or take the user's own value (``${VAR}``
    or ``${VAR:-}``, empty unless set); a database URL must have no password.
    """
    if not SECRET_NAME.search(key):
        return None
    value = str(value)
    if key.endswith("_CMD"):
        ok = re.fullmatch(r"cat (\S+)", value) and value[4:].startswith(SECRET_FOLDERS)
        return None if ok else f"{key} runs {value!r}, not a read of a generated secret"
    if key.endswith(("_FILE", "PASSFILE")):
        return None if value.startswith(SECRET_FOLDERS) else f"{key} points outside the secrets' volumes"
    if re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*(:?-)?\}", value):
        return None
    if key.endswith("SQL_ALCHEMY_CONN"):
        from sqlalchemy.engine import make_url

        return None if make_url(value).password is None else f"{key} has a password in its URL"
    return f"{key} holds a literal value {value!r}"


def every_environment() -> dict[str, dict]:
    environments = {name: service.get("environment") or {} for name, service in SERVICES.items()}
    environments["x-airflow-common"] = COMPOSE["x-airflow-common"]["environment"]
    return environments


def test_the_compose_file_holds_no_fixed_secret():
    problems = [
        f"{where}: {problem}"
        for where, environment in every_environment().items()
        for key, value in environment.items()
        if (problem := fixed_secret(key, value))
    ]

    assert problems == []


def test_no_secret_variable_has_a_default():
    """``${AIRFLOW_JWT_SECRET:-something}`` would be a fixed secret for whoever does not set it."""
    text = COMPOSE_FILE.read_text()
    defaults = re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*):?-([^}]*)\}", text)

    assert defaults, "the file has no default at all: the pattern is out of date"
    assert [(name, default) for name, default in defaults if SECRET_NAME.search(name) and default] == []
    for gone in ("local-only-change-me", "admin:admin@", "airflow:airflow@", "POSTGRES_PASSWORD:"):
        assert gone not in text


@pytest.mark.parametrize(
    ("key", "value", "fixed"),
    [
        ("AIRFLOW__CORE__FERNET_KEY", "", True),
        ("AIRFLOW__API_AUTH__JWT_SECRET", "${AIRFLOW_JWT_SECRET:-x}", True),
        ("POSTGRES_PASSWORD", "airflow", True),
        ("AIRFLOW__API_AUTH__JWT_SECRET_CMD", "echo s3cret", True),
        ("AIRFLOW__CORE__FERNET_KEY_CMD", "cat /etc/fernet", True),
        ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "postgresql://airflow:airflow@postgres/airflow", True),
        ("AIRFLOW__CORE__FERNET_KEY_CMD", "cat /opt/airflow/secrets/fernet_key", False),
        ("_AIRFLOW_WWW_USER_PASSWORD", "${_AIRFLOW_WWW_USER_PASSWORD:-}", False),
        ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "postgresql://airflow@postgres/airflow", False),
        ("AIRFLOW__CORE__PARALLELISM", "4", False),
    ],
)
def test_the_secret_check_refuses_fixed_secrets(key, value, fixed):
    assert (fixed_secret(key, value) is not None) is fixed


def test_airflow_reads_its_secrets_only_through_the_generated_files():
    environment = COMPOSE["x-airflow-common"]["environment"]
    folder = stack.COMPOSE["secrets_dir"]

    # A setting without _CMD would win over the _CMD one; an empty Fernet key means no encryption.
    assert "AIRFLOW__CORE__FERNET_KEY" not in environment and "AIRFLOW__API_AUTH__JWT_SECRET" not in environment
    assert environment["AIRFLOW__CORE__FERNET_KEY_CMD"] == f"cat {folder}/{stack.FERNET_KEY_FILE}"
    assert environment["AIRFLOW__API_AUTH__JWT_SECRET_CMD"] == f"cat {folder}/{stack.JWT_SECRET_FILE}"
    assert environment["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] == f"{folder}/{stack.PASSWORDS_FILE}"
    assert environment["PGPASSFILE"] == f"{folder}/{stack.PGPASS_FILE}"


def mounts(service: dict) -> dict[str, str]:
    return {volume.split(":")[1]: volume.split(":")[0] for volume in service.get("volumes", [])}


def test_the_airflow_services_mount_the_secrets_volume_and_the_emulator_does_not():
    """The emulator runs the jobs' code: it gets none of Airflow's secrets."""
    folder = stack.COMPOSE["secrets_dir"]

    for name in stack.SERVICES:
        expected_volume = "airflow-secrets" if name.startswith("airflow-") else None
        assert mounts(SERVICES[name]).get(folder) == expected_volume, name
    assert "airflow-secrets" in COMPOSE["volumes"]


def test_the_init_service_makes_the_secrets_before_anything_reads_them():
    lines = [line.strip() for line in SERVICES["airflow-init"]["command"][-1].splitlines()]
    secrets_line = next(i for i, line in enumerate(lines) if "scripts/local_airflow.py secrets" in line)
    arguments = lines[secrets_line].split()
    state_dir = arguments[arguments.index("--state-dir") + 1]
    password_file = arguments[arguments.index("--postgres-password-file") + 1]

    assert str(stack.secrets_dir(Path(state_dir))) == stack.COMPOSE["secrets_dir"]
    assert not any(line.startswith("airflow ") for line in lines[:secrets_line])
    assert secrets_line < lines.index("airflow db migrate")
    assert f'chown -R "${{AIRFLOW_UID:-50000}}:0" {stack.COMPOSE["secrets_dir"]}' in lines
    # The database's password, made by postgres, reaches airflow-init read-only.
    folder = str(Path(password_file).parent)
    assert f"postgres-password:{folder}:ro" in SERVICES["airflow-init"]["volumes"]
    assert SERVICES["airflow-init"]["user"] == "0:0"


def test_the_scripts_secrets_action_is_in_the_image():
    ignored = (REPO / ".dockerignore").read_text().split()

    assert not any(entry.strip("/") in ("scripts", "scripts/local_airflow.py") for entry in ignored)
    assert ".local-airflow" in ignored  # the local stack's secrets never go into the image


def test_the_local_stacks_secrets_are_ignored_by_git():
    result = subprocess.run(
        ["git", "check-ignore", "-q", ".local-airflow/secrets/fernet_key"], cwd=REPO, capture_output=True
    )

    assert result.returncode == 0


def postgres_entrypoint(tmp_path: Path) -> tuple[list[str], dict[str, str], Path]:
    """The postgres service's entrypoint as this machine runs it: the password folder in ``tmp_path``,
    ``chown`` and the image's ``docker-entrypoint.sh`` replaced by stubs that say how they were called."""
    service = SERVICES["postgres"]
    folder = str(Path(service["environment"]["POSTGRES_PASSWORD_FILE"]).parent)
    assert mounts(service)[folder] == "postgres-password"
    stubs, password_dir = tmp_path / "bin", tmp_path / "password"
    stubs.mkdir()
    password_dir.mkdir()
    for name in ("chown", "docker-entrypoint.sh"):
        (stubs / name).write_text(f'#!/bin/sh\necho "{name} $*"\n')
        (stubs / name).chmod(0o755)
    entrypoint = [part.replace("$$", "$").replace(folder, str(password_dir)) for part in service["entrypoint"]]
    env = {**os.environ, "PATH": f"{stubs}{os.pathsep}{os.environ['PATH']}"}
    password_file = password_dir / Path(service["environment"]["POSTGRES_PASSWORD_FILE"]).name
    return [*entrypoint, *service["command"]], env, password_file


def test_postgres_makes_its_password_once_and_keeps_it(tmp_path):
    command, env, password_file = postgres_entrypoint(tmp_path)

    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)
    password = password_file.read_text()
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)

    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert re.fullmatch(r"[0-9a-f]{48}", password)
    assert password_file.read_text() == password
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert f"chown postgres:postgres {password_file}" in first.stdout
    # Then the image's entrypoint runs the service's command.
    assert first.stdout.strip().splitlines()[-1] == "docker-entrypoint.sh postgres -p 5432"
    assert "Made the database's password" in first.stdout and "Made" not in second.stdout


def check_against_compose_spec(path: Path) -> subprocess.CompletedProcess[str]:
    """The Compose Specification's JSON Schema, as check-jsonschema ships it (no network)."""
    checker = Path(sys.executable).parent / "check-jsonschema"
    return subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(path)], capture_output=True, text=True
    )


def test_the_compose_file_follows_the_compose_specification():
    result = check_against_compose_spec(COMPOSE_FILE)

    assert result.returncode == 0, result.stdout + result.stderr


def test_the_specification_check_refuses_a_misspelt_key(tmp_path):
    broken = dict(COMPOSE, services={**SERVICES, "postgres": {**SERVICES["postgres"], "healthchek": {}}})
    (tmp_path / "docker-compose.yaml").write_text(yaml.safe_dump(broken))

    result = check_against_compose_spec(tmp_path / "docker-compose.yaml")

    assert result.returncode == 1
    assert "healthchek" in result.stdout + result.stderr


def compose_cli() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    return None


def test_docker_compose_accepts_the_file():
    """docker-compose's own reading of the file (variables, merges); scripts/system_packages.sh installs it."""
    cli = compose_cli()
    if cli is None:
        pytest.fail("no docker-compose nor `docker compose`: run `bash scripts/system_packages.sh` (make test does)")
    result = subprocess.run([*cli, "-f", str(COMPOSE_FILE), "config", "-q"], capture_output=True, text=True)

    assert result.returncode == 0, result.stderr


def test_purge_deletes_the_state_dir_and_postgres_folder_it_made(tmp_path):
    state_dir, home = tmp_path / "state", tmp_path / "local-airflow-postgres-abc"
    state_dir.mkdir()
    (home / "data").mkdir(parents=True)
    (state_dir / "state.json").write_text("{}")

    stack.Stack(state_dir).purge({"postgres_home": str(home)})

    assert not state_dir.exists() and not home.exists()


def test_purge_never_deletes_a_folder_it_did_not_make(tmp_path):
    """A state file naming some other folder (a mistake, or an old layout) must not cost that folder."""
    state_dir, elsewhere = tmp_path / "not-a-stack", tmp_path / "elsewhere"
    (elsewhere / "keep").mkdir(parents=True)
    state_dir.mkdir()

    stack.Stack(state_dir).purge({"postgres_home": str(elsewhere)})
    stack.Stack(state_dir).purge({"postgres_home": str(tmp_path)})

    assert (elsewhere / "keep").is_dir() and state_dir.is_dir()


# -- the local stack's secrets ------------------------------------------------------------------------------

NO_OVERRIDES: dict[str, str] = {}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_first_start_makes_every_secret_in_files_only_their_owner_reads(tmp_path):
    folder = stack.secrets_dir(tmp_path)

    made = stack.ensure_secrets(folder, environ=NO_OVERRIDES)

    assert made.made == {"fernet_key", "jwt_secret", "admin_password", "postgres_password"}
    assert mode(folder) == 0o700
    files = {path.name: mode(path) for path in folder.iterdir()}
    assert files == dict.fromkeys(
        [stack.FERNET_KEY_FILE, stack.JWT_SECRET_FILE, stack.PASSWORDS_FILE, stack.PGPASS_FILE], 0o600
    )
    assert (folder / stack.FERNET_KEY_FILE).read_text() == made.fernet_key
    assert (folder / stack.JWT_SECRET_FILE).read_text() == made.jwt_secret
    assert json.loads((folder / stack.PASSWORDS_FILE).read_text()) == {"admin": made.admin_password}
    assert stack.read_pgpass(folder / stack.PGPASS_FILE) == made.postgres_password
    assert len(made.jwt_secret.encode()) >= 64  # what HS512, Airflow's JWT algorithm, asks of its key
    assert len(made.admin_password) >= 22  # secrets.token_urlsafe(16)
    from cryptography.fernet import Fernet

    assert Fernet(made.fernet_key.encode()).decrypt(Fernet(made.fernet_key.encode()).encrypt(b"x")) == b"x"


def test_a_later_start_keeps_every_secret(tmp_path):
    folder = stack.secrets_dir(tmp_path)
    first = stack.ensure_secrets(folder, environ=NO_OVERRIDES)
    contents = {path.name: path.read_text() for path in folder.iterdir()}

    again = stack.ensure_secrets(folder, environ=NO_OVERRIDES)

    assert again == stack.Secrets(
        folder, first.fernet_key, first.jwt_secret, first.admin_password, first.postgres_password, made=frozenset()
    )
    assert {path.name: path.read_text() for path in folder.iterdir()} == contents


def test_two_state_dirs_get_different_secrets(tmp_path):
    one = stack.ensure_secrets(tmp_path / "one", environ=NO_OVERRIDES)
    other = stack.ensure_secrets(tmp_path / "other", environ=NO_OVERRIDES)

    for name in ("fernet_key", "jwt_secret", "admin_password", "postgres_password"):
        assert getattr(one, name) != getattr(other, name), name


def test_a_secret_a_user_gives_replaces_the_stored_one_and_is_kept(tmp_path):
    folder = stack.secrets_dir(tmp_path)
    first = stack.ensure_secrets(folder, environ=NO_OVERRIDES)

    given = stack.ensure_secrets(folder, environ={"_AIRFLOW_WWW_USER_PASSWORD": "mine", "AIRFLOW_JWT_SECRET": ""})
    later = stack.ensure_secrets(folder, environ=NO_OVERRIDES)

    assert given.admin_password == later.admin_password == "mine"
    assert given.jwt_secret == first.jwt_secret  # an empty variable gives nothing
    assert given.made == later.made == frozenset()


def test_a_wrong_fernet_key_is_refused_before_anything_starts(tmp_path):
    with pytest.raises(SystemExit, match="Not a Fernet key"):
        stack.ensure_secrets(tmp_path, environ={"AIRFLOW_FERNET_KEY": "not-a-key"})


def test_a_secret_is_written_0600_even_where_others_could_read_before(tmp_path):
    (tmp_path / stack.JWT_SECRET_FILE).write_text("kept")
    (tmp_path / stack.JWT_SECRET_FILE).chmod(0o644)
    tmp_path.chmod(0o755)

    found = stack.ensure_secrets(tmp_path, environ=NO_OVERRIDES)

    assert found.jwt_secret == "kept" and "jwt_secret" not in found.made
    assert mode(tmp_path / stack.JWT_SECRET_FILE) == 0o600 and mode(tmp_path) == 0o700


@pytest.mark.parametrize("password", ["plain", "with:colon", "back\\slash", "both\\:"])
def test_the_pgpass_file_keeps_any_database_password(tmp_path, password):
    given = tmp_path / "password"
    given.write_text(password + "\n")

    found = stack.ensure_secrets(tmp_path / "secrets", environ=NO_OVERRIDES, postgres_password_file=given)

    assert found.postgres_password == password and "postgres_password" not in found.made
    assert stack.read_pgpass(tmp_path / "secrets" / stack.PGPASS_FILE) == password


def test_the_admin_password_is_shown_by_the_start_that_made_it_only(tmp_path, capsys):
    """``secrets`` (what the compose file's airflow-init runs) and ``start`` tell the same."""
    assert stack.main(["secrets", "--state-dir", str(tmp_path)]) == 0
    first = capsys.readouterr().out
    password = json.loads((stack.secrets_dir(tmp_path) / stack.PASSWORDS_FILE).read_text())["admin"]
    assert stack.main(["secrets", "--state-dir", str(tmp_path)]) == 0
    second = capsys.readouterr().out

    assert first.count(password) == 1 and "shown only this once" in first
    assert password not in second
    assert str(stack.secrets_dir(tmp_path) / stack.PASSWORDS_FILE) in first
    assert str(stack.secrets_dir(tmp_path) / stack.PASSWORDS_FILE) in second


def test_the_secrets_action_takes_the_databases_password_from_the_given_file(tmp_path, capsys):
    given = tmp_path / "postgres-password"
    given.write_text("0123abcd\n")

    stack.main(["secrets", "--state-dir", str(tmp_path), "--postgres-password-file", str(given)])

    assert stack.read_pgpass(stack.secrets_dir(tmp_path) / stack.PGPASS_FILE) == "0123abcd"
    empty = tmp_path / "empty"
    empty.write_text("")
    with pytest.raises(SystemExit, match="No database password"):
        stack.main(["secrets", "--state-dir", str(tmp_path), "--postgres-password-file", str(empty)])


def test_the_local_settings_hold_no_secret_and_name_the_secrets_folder(tmp_path):
    found = stack.ensure_secrets(stack.secrets_dir(tmp_path), environ=NO_OVERRIDES)
    values = stack.local_values(tmp_path)
    settings = stack.render(stack.ENVIRONMENT, values)
    text = json.dumps(values) + json.dumps(settings)  # what state.json and the services' environment hold

    for secret in (found.fernet_key, found.jwt_secret, found.admin_password, found.postgres_password):
        assert secret not in text
    assert settings["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] == str(found.passwords_file)
    assert settings["PGPASSFILE"] == str(found.directory / stack.PGPASS_FILE)


def test_every_local_service_listens_on_loopback_only(tmp_path):
    values = stack.local_values(tmp_path)
    settings = stack.render(stack.ENVIRONMENT, values)

    assert values["bind"] == "127.0.0.1"
    for name in ("dataproc-emulator", "airflow-apiserver"):
        command = stack.render(stack.SERVICES[name].command, values)
        assert command[command.index("--host") + 1] == "127.0.0.1", name
    postgres = stack.render(stack.SERVICES["postgres"].local_args, values)
    assert postgres[postgres.index("-h") + 1] == "127.0.0.1"
    assert settings["AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST"] == "127.0.0.1"
    # Airflow's log servers bind every interface, whatever the settings: the local stack runs none.
    for name in ("airflow-scheduler", "airflow-triggerer"):
        assert "--skip-serve-logs" in stack.SERVICES[name].local_args, name


def test_stop_still_reads_a_state_file_of_before_the_secrets_folder(tmp_path):
    values = {key: value for key, value in stack.local_values(tmp_path).items() if not key.startswith("secrets_dir")}
    (tmp_path / "state.json").write_text(json.dumps({"values": values, "pids": {}}))

    loaded = stack.Stack(tmp_path).load()

    assert stack.service_env(loaded["values"])["PGPASSFILE"] == str(stack.secrets_dir(tmp_path) / stack.PGPASS_FILE)
