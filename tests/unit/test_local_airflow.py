"""``docker-compose.yaml`` and ``scripts/local_airflow.py`` describe the same stack.

The script's :data:`SERVICES` and :data:`ENVIRONMENT` are the one table; the compose file must name the
same services, with the same commands, health checks, dependencies and Airflow settings.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

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
        "postgres", "airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
        "airflow-triggerer", "dataproc-emulator",
    }  # fmt: skip


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
    assert settings["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://airflow:airflow@postgres:")


def test_the_local_values_are_loopback_and_distinct_free_ports(tmp_path):
    values = stack.local_values(tmp_path, quotas={"max_clusters_per_user": "1"})
    settings = stack.render(stack.ENVIRONMENT, values)

    assert len({values[port] for port in stack.PORTS}) == len(stack.PORTS)
    assert settings["DATAPROC_EMULATOR_HOST"] == f"127.0.0.1:{values['emulator_port']}"
    assert settings["AIRFLOW__DASK_DATAPROC__MAX_CLUSTERS_PER_USER"] == "1"
    assert settings["AIRFLOW__CORE__DAGS_FOLDER"] == str(REPO / "dags")
    assert not any("{" in value for value in settings.values())


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


def test_only_the_api_server_publishes_a_port():
    published = {name: service.get("ports") for name, service in SERVICES.items() if service.get("ports")}

    assert published == {"airflow-apiserver": [f"{stack.COMPOSE['apiserver_port']}:{stack.COMPOSE['apiserver_port']}"]}


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
