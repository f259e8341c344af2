"""The stack of ``docker-compose.yaml`` without Docker: the same services as processes on 127.0.0.1.

::

    python scripts/local_airflow.py start [--foreground] [--api-port 8080] [--state-dir .local-airflow]
    python scripts/local_airflow.py status
    python scripts/local_airflow.py stop [--purge]
    python scripts/local_airflow.py secrets [--state-dir DIR] [--postgres-password-file FILE]

``make local-airflow`` runs ``start --foreground``: everything runs until Ctrl-C, then stops. Without
``--foreground``, ``start`` returns once every service is healthy and ``stop`` ends them later.

:data:`SERVICES` and :data:`ENVIRONMENT` are the one description of the stack: this script starts
them, and ``tests/unit/test_local_airflow.py`` checks that ``docker-compose.yaml`` has the same
services, commands, health checks, dependencies and settings. Values in braces are filled in per
place: :data:`COMPOSE` inside Docker, :func:`local_values` here (loopback and free ports).

Needs Airflow 3 and PostgreSQL's server programs (``initdb``, ``pg_ctl``, ``postgres``: Debian's
``postgresql`` package). Run as root, PostgreSQL runs as the ``postgres`` user. Everything lives in
the state directory: Airflow's home and logs, the emulator's buckets, one log per service
(``logs/SERVICE.log``), ``state.json`` (ports, process ids) and PostgreSQL's data and log (as root,
in ``/tmp/local-airflow-postgres-*``, where the ``postgres`` user can reach them).

Everything listens on 127.0.0.1 only: PostgreSQL, the emulator, the API server and the scheduler's
health check. Airflow's log servers cannot be bound to one address, so the scheduler and the
triggerer run without them (``--skip-serve-logs``): every service writes to the same log folder,
from which the API server reads the logs.

Secrets: the first start makes them, in ``STATE_DIR/secrets/`` (a folder of mode 0700, each file
0600), and every later start reuses them; only ``stop --purge`` deletes them:

* ``fernet_key`` (Airflow encrypts connections and variables with it) and ``jwt_secret`` (the API
  server signs its tokens with it), read by every Airflow service through
  ``AIRFLOW__CORE__FERNET_KEY_CMD`` and ``AIRFLOW__API_AUTH__JWT_SECRET_CMD``;
* ``simple_auth_manager_passwords.json``, the password of the UI's ``admin`` user;
* ``pgpass``, the password of the database's ``airflow`` user (``PGPASSFILE``).

The start that makes the admin password prints it, once; later starts print where it is::

    cat .local-airflow/secrets/simple_auth_manager_passwords.json

Set ``_AIRFLOW_WWW_USER_PASSWORD``, ``AIRFLOW_JWT_SECRET`` or ``AIRFLOW_FERNET_KEY`` to replace the
stored value with your own (it is stored in its place). The ``secrets`` action makes or reuses the
secrets alone: ``docker-compose.yaml``'s airflow-init runs it inside the image, with
``--state-dir /opt/airflow``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import glob
import hashlib
import http.client
import json
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from dask_dataproc_emulator.testing import unused_ports

REPO = Path(__file__).resolve().parent.parent
ADMIN_USER = "admin"
#: The emulator's project and region: the reaper's, and the project of the Dask nodes' service account.
PROJECT = "local-project"
REGION = "europe-west1"


@dataclasses.dataclass(frozen=True)
class Service:
    """One service of the stack.

    :param command: what runs, as in the compose file (Airflow's image adds ``airflow`` itself).
    :param health: how to tell it is healthy: ``("http", URL)``, or a command that exits 0.
    :param depends_on: services that must be healthy (or, for a one-shot, done) before it starts.
    :param one_shot: it runs to completion (the database migration) instead of serving.
    :param local_args: arguments only this script adds (where Docker's image decides instead).
    """

    command: tuple[str, ...]
    health: tuple[str, ...]
    depends_on: tuple[str, ...] = ()
    one_shot: bool = False
    local_args: tuple[str, ...] = ()


AIRFLOW_JOB_CHECK = ("airflow", "jobs", "check", "--local", "--job-type")
#: Every service, in the order they start.
SERVICES: dict[str, Service] = {
    "postgres": Service(
        command=("postgres", "-p", "{postgres_port}"),
        health=("pg_isready", "-h", "{self}", "-p", "{postgres_port}", "-U", "airflow"),
        local_args=("-D", "{postgres_data}", "-h", "127.0.0.1", "-k", "{postgres_data}"),
    ),
    "dataproc-emulator": Service(
        command=(
            "dask-dataproc-emulator",
            "--host",
            "{bind}",
            "--port",
            "{emulator_port}",
            "--storage-port",
            "{storage_port}",
            "--data-dir",
            "{emulator_data}",
        ),
        health=("python", "-c", "import socket; socket.create_connection(('{self}', {emulator_port}), 5)"),
    ),
    "airflow-init": Service(
        command=("airflow", "db", "migrate"),
        health=("airflow", "db", "check-migrations", "--migration-wait-timeout", "1"),
        depends_on=("postgres",),
        one_shot=True,
    ),
    "airflow-apiserver": Service(
        command=("airflow", "api-server", "--host", "{bind}", "--port", "{apiserver_port}"),
        health=("http", "http://{self}:{apiserver_port}/api/v2/version"),
        depends_on=("postgres", "airflow-init", "dataproc-emulator"),
    ),
    "airflow-scheduler": Service(
        command=("airflow", "scheduler"),
        health=("http", "http://{self}:{scheduler_health_port}/health"),
        depends_on=("postgres", "airflow-init", "dataproc-emulator"),
        # Airflow's log server binds every interface; the API server reads the shared log folder instead.
        local_args=("--skip-serve-logs",),
    ),
    "airflow-dag-processor": Service(
        command=("airflow", "dag-processor"),
        health=(*AIRFLOW_JOB_CHECK, "DagProcessorJob"),
        depends_on=("postgres", "airflow-init", "dataproc-emulator"),
    ),
    "airflow-triggerer": Service(
        command=("airflow", "triggerer"),
        health=(*AIRFLOW_JOB_CHECK, "TriggererJob"),
        depends_on=("postgres", "airflow-init", "dataproc-emulator"),
        local_args=("--skip-serve-logs",),
    ),
}

#: The files of the secrets folder (see the module's docstring).
FERNET_KEY_FILE = "fernet_key"
JWT_SECRET_FILE = "jwt_secret"
PASSWORDS_FILE = "simple_auth_manager_passwords.json"
PGPASS_FILE = "pgpass"
#: Variables that, when set to something, replace a stored secret (which then keeps the new value).
OVERRIDES = {
    "fernet_key": "AIRFLOW_FERNET_KEY",
    "jwt_secret": "AIRFLOW_JWT_SECRET",
    "admin_password": "_AIRFLOW_WWW_USER_PASSWORD",
}

#: The settings every Airflow service gets (the compose file's ``x-airflow-common`` environment). No
#: secret is in here: the ``_CMD`` settings read them from the secrets folder when a service starts.
ENVIRONMENT: dict[str, str] = {
    "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
    # Four task slots (LocalExecutor starts one process per slot); a deferred task holds none.
    "AIRFLOW__CORE__PARALLELISM": "4",
    "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": "{secrets_dir}/" + PASSWORDS_FILE,
    # The database's password is in the pgpass file, which libpq (psycopg2) and asyncpg read.
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://airflow@{postgres_host}:{postgres_port}/airflow",
    "PGPASSFILE": "{secrets_dir}/" + PGPASS_FILE,
    "AIRFLOW__CORE__FERNET_KEY_CMD": "cat {secrets_dir_arg}/" + FERNET_KEY_FILE,
    "AIRFLOW__CORE__DAGS_FOLDER": "{dags_folder}",
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "false",
    "AIRFLOW__CORE__LOAD_EXAMPLES": "false",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": "http://{apiserver_host}:{apiserver_port}/execution/",
    "AIRFLOW__API__WORKERS": "1",
    "AIRFLOW__API_AUTH__JWT_SECRET_CMD": "cat {secrets_dir_arg}/" + JWT_SECRET_FILE,
    "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "true",
    "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "{bind}",
    "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": "{scheduler_health_port}",
    "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": "{worker_log_port}",
    "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": "{trigger_log_port}",
    "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "true",
    "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
    "AIRFLOW__DASK_DATAPROC__MAX_CLUSTERS_PER_USER": "{max_clusters_per_user}",
    "AIRFLOW__DASK_DATAPROC__MAX_SECONDARY_WORKERS_PER_USER": "{max_secondary_workers_per_user}",
    "AIRFLOW__DASK_DATAPROC__REAPER_PROJECTS": PROJECT,
    "AIRFLOW__DASK_DATAPROC__REAPER_REGIONS": REGION,
    "AIRFLOW__DASK_DATAPROC__DEFAULT_SERVICE_ACCOUNT": f"dask-nodes@{PROJECT}.iam.gserviceaccount.com",
    "DATAPROC_EMULATOR_HOST": "{emulator_host}:{emulator_port}",
    "STORAGE_EMULATOR_HOST": "http://{emulator_host}:{storage_port}",
    "GCP_PROJECT_ID": PROJECT,
    "GCP_REGION": REGION,
}

#: The values inside Docker: services reach each other by name; ``{self}`` is a service's own host.
COMPOSE: dict[str, Any] = {
    "self": "localhost",
    "bind": "0.0.0.0",
    "postgres_host": "postgres",
    "postgres_port": 5432,
    "apiserver_host": "airflow-apiserver",
    "apiserver_port": 8080,
    "scheduler_health_port": 8974,
    "worker_log_port": 8793,
    "trigger_log_port": 8794,
    "emulator_host": "dataproc-emulator",
    "emulator_port": 8790,
    "storage_port": 8791,
    "emulator_data": "/opt/airflow/emulator",
    "dags_folder": "/opt/airflow/dags",
    "config_dir": "/opt/airflow/config",
    "secrets_dir": "/opt/airflow/secrets",
    "secrets_dir_arg": "/opt/airflow/secrets",
    "max_clusters_per_user": "${MAX_CLUSTERS_PER_USER:-3}",
    "max_secondary_workers_per_user": "${MAX_SECONDARY_WORKERS_PER_USER:-3}",
}
PORTS = (
    "postgres_port",
    "apiserver_port",
    "scheduler_health_port",
    "worker_log_port",
    "trigger_log_port",
    "emulator_port",
    "storage_port",
)
#: Seconds a service may take to become healthy, and between two looks.
HEALTH_TIMEOUT = 240.0
HEALTH_INTERVAL = 2.0
STOP_TIMEOUT = 60.0


def render(items: tuple[str, ...] | dict[str, str], values: dict[str, Any]) -> Any:
    """Fill the ``{name}`` fields of a command or an environment."""
    if isinstance(items, dict):
        return {key: value.format(**values) for key, value in items.items()}
    return tuple(item.format(**values) for item in items)


def local_values(state_dir: Path, *, api_port: int = 0, quotas: dict[str, str] | None = None) -> dict[str, Any]:
    """Return the values of this machine's stack: loopback, free ports, paths in ``state_dir``."""
    values: dict[str, Any] = dict(zip(PORTS, unused_ports(len(PORTS)), strict=True))
    if api_port:
        values["apiserver_port"] = api_port
    quotas = quotas or {}
    values.update(
        self="127.0.0.1",
        bind="127.0.0.1",
        postgres_host="127.0.0.1",
        apiserver_host="127.0.0.1",
        emulator_host="127.0.0.1",
        emulator_data=str(state_dir / "emulator"),
        dags_folder=str(REPO / "dags"),
        config_dir=str(state_dir / "airflow-home"),
        secrets_dir=str(secrets_dir(state_dir)),
        secrets_dir_arg=shlex.quote(str(secrets_dir(state_dir))),  # in a command Airflow splits with shlex
        postgres_home=str(postgres_dir(state_dir)),
        postgres_data=str(postgres_dir(state_dir) / "data"),
        max_clusters_per_user=quotas.get("max_clusters_per_user", "3"),
        max_secondary_workers_per_user=quotas.get("max_secondary_workers_per_user", "3"),
    )
    return values


# -- secrets ----------------------------------------------------------------------------------------


def secrets_dir(state_dir: Path) -> Path:
    return state_dir / "secrets"


@dataclasses.dataclass(frozen=True)
class Secrets:
    """The stack's secrets, as :func:`ensure_secrets` left them in ``directory``.

    :param made: the names of those it generated just now (not found, not given).
    """

    directory: Path
    fernet_key: str
    jwt_secret: str
    admin_password: str
    postgres_password: str
    made: frozenset[str] = frozenset()

    @property
    def passwords_file(self) -> Path:
        return self.directory / PASSWORDS_FILE


def ensure_secrets(
    directory: Path, *, environ: dict[str, str] | None = None, postgres_password_file: Path | None = None
) -> Secrets:
    """Make the secrets missing from ``directory``, keep those it has; return them all.

    The folder gets mode 0700 and each file 0600. A variable of :data:`OVERRIDES` set in ``environ``
    (default: this process's environment) replaces its secret. ``postgres_password_file`` holds the
    database's password where someone else made it (the compose file's postgres service); without
    it, the password is kept in the pgpass file, and made with it.
    """
    environ = os.environ if environ is None else environ
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)
    made: set[str] = set()

    def given(name: str) -> str:
        return environ.get(OVERRIDES[name], "").strip() if name in OVERRIDES else ""

    def keep(name: str, stored: str, generate) -> str:
        value = given(name) or stored
        if not value:
            value = generate()
            made.add(name)
        return value

    fernet_key = keep("fernet_key", read_secret(directory / FERNET_KEY_FILE), new_fernet_key)
    check_fernet_key(fernet_key)
    # 64 random bytes: Airflow signs with HS512, whose key should be at least 64 bytes (RFC 7518 3.2).
    jwt_secret = keep("jwt_secret", read_secret(directory / JWT_SECRET_FILE), lambda: secrets.token_urlsafe(64))
    passwords = read_json(directory / PASSWORDS_FILE)
    admin_password = keep("admin_password", passwords.get(ADMIN_USER, ""), lambda: secrets.token_urlsafe(16))
    if postgres_password_file is not None:
        postgres_password = read_secret(postgres_password_file)
        if not postgres_password:
            raise SystemExit(f"No database password in {postgres_password_file}")
    else:
        stored = read_pgpass(directory / PGPASS_FILE)
        postgres_password = keep("postgres_password", stored, lambda: secrets.token_urlsafe(24))

    write_secret(directory / FERNET_KEY_FILE, fernet_key)
    write_secret(directory / JWT_SECRET_FILE, jwt_secret)
    write_secret(directory / PASSWORDS_FILE, json.dumps({**passwords, ADMIN_USER: admin_password}) + "\n")
    # Any host, port and database, the user airflow (the file's fields: host:port:database:user:password).
    write_secret(directory / PGPASS_FILE, f"*:*:*:airflow:{pgpass_escape(postgres_password)}\n")
    return Secrets(directory, fernet_key, jwt_secret, admin_password, postgres_password, frozenset(made))


def new_fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def check_fernet_key(key: str) -> None:
    from cryptography.fernet import Fernet

    try:
        for part in key.split(","):  # Airflow takes several, comma-separated, to rotate keys
            Fernet(part.strip().encode())
    except ValueError as error:
        raise SystemExit(f"Not a Fernet key ({OVERRIDES['fernet_key']} or the fernet_key file): {error}") from None


def read_secret(path: Path) -> str:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""


def read_json(path: Path) -> dict[str, str]:
    text = read_secret(path)
    try:
        return json.loads(text) if text else {}
    except ValueError:
        raise SystemExit(f"{path} is not JSON: fix it, or delete it to get a new admin password") from None


def pgpass_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")


def read_pgpass(path: Path) -> str:
    """Return the password of the pgpass file's first line (ours has one), or ``""``."""
    line = read_secret(path).splitlines()[:1]
    if not line:
        return ""
    fields, field, escaped = [], "", False
    for char in line[0]:
        if escaped:
            field, escaped = field + char, False
        elif char == "\\":
            escaped = True
        elif char == ":" and len(fields) < 4:
            fields, field = [*fields, field], ""
        else:
            field += char
    return field if len(fields) == 4 else ""


def write_secret(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, mode 0600 from the start, replacing it whole (never half-written)."""
    if path.is_file() and path.read_text() == text:
        path.chmod(0o600)
        return
    partial = path.with_name(f".{path.name}.{os.getpid()}.new")
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    os.replace(partial, path)


def secrets_text(found: Secrets) -> str:
    """What to tell about the admin password: the password itself only where it was made just now."""
    if "admin_password" in found.made:
        return (
            f"Password of the user {ADMIN_USER}, made now and shown only this once: {found.admin_password}\n"
            f"It is kept in {found.passwords_file}"
        )
    return f"Password of the user {ADMIN_USER}: in {found.passwords_file}"


# -- programs ---------------------------------------------------------------------------------------


def postgres_bin() -> Path:
    """Return the folder of PostgreSQL's server programs (``initdb``, ``pg_ctl``, ``postgres``)."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if candidates:
        return Path(candidates[-1]).parent
    raise SystemExit("PostgreSQL's server programs are missing: apt-get install postgresql (or put initdb on PATH)")


def as_root() -> bool:
    return os.geteuid() == 0


def postgres_dir(state_dir: Path) -> Path:
    """PostgreSQL's folder (``data/`` and ``postgres.log``): in the state dir, or, as root, in a folder
    the ``postgres`` user can reach (a state dir under pytest's or a home folder may not be)."""
    if not as_root():
        return state_dir / "postgres"
    digest = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:12]
    return Path("/tmp") / f"local-airflow-postgres-{digest}"


def argv(command: tuple[str, ...]) -> list[str]:
    """Turn a compose-style command into this machine's: this interpreter, PostgreSQL's folder."""
    first, rest = command[0], list(command[1:])
    if first == "airflow":
        return [sys.executable, "-m", "airflow", *rest]
    if first == "dask-dataproc-emulator":
        return [sys.executable, "-m", "dask_dataproc_emulator", *rest]
    if first == "python":
        return [sys.executable, *rest]
    if first in ("postgres", "pg_isready", "initdb", "pg_ctl", "createdb"):
        program = [str(postgres_bin() / first), *rest]
        # The server's programs run as the postgres user; its clients as this one (pgpass is this user's).
        return ["runuser", "-u", "postgres", "--", *program] if as_root() and first in SERVER_PROGRAMS else program
    return [first, *rest]


SERVER_PROGRAMS = ("postgres", "initdb", "pg_ctl")


def service_env(values: dict[str, Any]) -> dict[str, str]:
    """Return the environment of every service: this one without Airflow's or the emulator's settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AIRFLOW__") and key not in ("DATAPROC_EMULATOR_HOST", "STORAGE_EMULATOR_HOST")
    }
    env.update(render(ENVIRONMENT, values))
    env["AIRFLOW_HOME"] = values["config_dir"]
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


# -- health ---------------------------------------------------------------------------------------------


def healthy(name: str, values: dict[str, Any], env: dict[str, str]) -> bool:
    """Run the service's health check once."""
    check = render(SERVICES[name].health, values)
    if check[0] == "http":
        try:
            with urllib.request.urlopen(check[1], timeout=5) as response:
                return response.status == 200
        except (OSError, http.client.HTTPException):  # not listening yet, or not HTTP
            return False
    result = subprocess.run(argv(check), env=env, capture_output=True, timeout=120)
    return result.returncode == 0


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):  # a zombie is not alive
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][0] != "Z"
    return True


# -- starting and stopping ----------------------------------------------------------------------------------


class Stack:
    """The stack of one state directory."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir.resolve()
        self.state_file = self.state_dir / "state.json"
        self.logs = self.state_dir / "logs"
        #: What the last :meth:`start` found or made.
        self.secrets: Secrets | None = None

    def load(self) -> dict[str, Any]:
        try:
            state = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}
        if state.get("values"):  # a state file of before the secrets folder: stop and status still work
            folder = secrets_dir(self.state_dir)
            state["values"].setdefault("secrets_dir", str(folder))
            state["values"].setdefault("secrets_dir_arg", shlex.quote(str(folder)))
        return state

    def save(self, state: dict[str, Any]) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps(state, indent=2))

    def start(self, *, api_port: int = 0, quotas: dict[str, str] | None = None) -> dict[str, Any]:
        """Start every service in order, each once what it depends on is healthy; return the state."""
        if any(alive(pid) for pid in self.load().get("pids", {}).values()):
            raise SystemExit(f"The stack of {self.state_dir} is running already: stop it first")
        self.logs.mkdir(parents=True, exist_ok=True)
        self.secrets = ensure_secrets(secrets_dir(self.state_dir))
        values = local_values(self.state_dir, api_port=api_port, quotas=quotas)
        state: dict[str, Any] = {"values": values, "pids": {}, "url": f"http://127.0.0.1:{values['apiserver_port']}"}
        self.save(state)
        env = service_env(values)
        Path(values["config_dir"]).mkdir(parents=True, exist_ok=True)
        Path(values["emulator_data"]).mkdir(parents=True, exist_ok=True)
        try:
            for name, service in SERVICES.items():
                for needed in service.depends_on:
                    self._wait_healthy(needed, values, env, state)
                print(f"Starting {name} ...", flush=True)
                if name == "postgres":
                    self._start_postgres(values, env, state, self.secrets.postgres_password)
                elif service.one_shot:
                    self._run_init(name, values, env)
                else:
                    command = [*render(service.command, values), *render(service.local_args, values)]
                    state["pids"][name] = self._spawn(name, argv(command), env)
                    self.save(state)
            for name in SERVICES:
                self._wait_healthy(name, values, env, state)
        except BaseException:
            self.stop()
            raise
        return state

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> int:
        with (self.logs / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                command, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        return process.pid

    def _start_postgres(
        self, values: dict[str, Any], env: dict[str, str], state: dict[str, Any], password: str
    ) -> None:
        data = Path(values["postgres_data"])
        log = Path(values["postgres_home"]) / "postgres.log"
        data.mkdir(mode=0o700, parents=True, exist_ok=True)
        log.touch()
        if as_root():
            for path in (data.parent, data, log):
                shutil.chown(path, "postgres", "postgres")
        if not (data / "PG_VERSION").exists():
            self._initdb(data, password, env)
        options = " ".join(render(SERVICES["postgres"].command[1:] + SERVICES["postgres"].local_args, values))
        started = subprocess.run(
            argv(("pg_ctl", "start", "-w", "-t", "60", "-D", str(data), "-l", str(log), "-o", options)),
            env=env,
            capture_output=True,
            text=True,
        )
        if started.returncode:
            raise SystemExit(f"PostgreSQL did not start:\n{started.stdout}{started.stderr}\n{tail(log)}")
        state["pids"]["postgres"] = int((data / "postmaster.pid").read_text().split()[0])
        self.save(state)
        check = subprocess.run(
            argv(("createdb", "-h", "127.0.0.1", "-p", str(values["postgres_port"]), "-U", "airflow", "airflow")),
            env=env,
            capture_output=True,
            text=True,
        )
        if check.returncode and "already exists" not in check.stderr:
            raise SystemExit(f"createdb failed: {check.stderr}")

    @staticmethod
    def _initdb(data: Path, password: str, env: dict[str, str]) -> None:
        """Make the database cluster: its superuser airflow logs in with ``password`` (scram-sha-256)."""
        password_file = data.parent / "initdb-password"  # where the postgres user can read it, for initdb only
        write_secret(password_file, password + "\n")
        try:
            if as_root():
                shutil.chown(password_file, "postgres", "postgres")
            command = ("initdb", "-D", str(data), "-U", "airflow", "--auth=scram-sha-256", f"--pwfile={password_file}")
            run(argv((*command, "-E", "UTF8")), env, "initdb")
        finally:
            password_file.unlink(missing_ok=True)

    def _run_init(self, name: str, values: dict[str, Any], env: dict[str, str]) -> None:
        """Migrate the metadata database (airflow-init in compose; :func:`ensure_secrets` wrote the passwords)."""
        with (self.logs / f"{name}.log").open("ab") as log:
            result = subprocess.run(
                argv(render(SERVICES[name].command, values)), env=env, stdout=log, stderr=subprocess.STDOUT
            )
        if result.returncode:
            raise SystemExit(f"{name} failed with exit code {result.returncode}; see {self.logs / name}.log")

    def _wait_healthy(self, name: str, values: dict[str, Any], env: dict[str, str], state: dict[str, Any]) -> None:
        deadline = time.monotonic() + HEALTH_TIMEOUT
        pid = state["pids"].get(name)
        while not healthy(name, values, env):
            if pid and not alive(pid):
                raise SystemExit(f"{name} exited; see {self.logs / name}.log:\n{tail(self.logs / f'{name}.log')}")
            if time.monotonic() > deadline:
                raise SystemExit(f"{name} was not healthy within {HEALTH_TIMEOUT:g} s; see {self.logs / name}.log")
            time.sleep(HEALTH_INTERVAL)

    def status(self) -> dict[str, str]:
        """Return each service's state: healthy, unhealthy, done (one-shot) or stopped."""
        state = self.load()
        values, pids = state.get("values"), state.get("pids", {})
        if not values:
            return dict.fromkeys(SERVICES, "stopped")
        env = service_env(values)
        result = {}
        for name, service in SERVICES.items():
            if service.one_shot:
                result[name] = "done" if healthy(name, values, env) else "not done"
            elif not alive(pids.get(name)):
                result[name] = "stopped"
            else:
                result[name] = "healthy" if healthy(name, values, env) else "unhealthy"
        return result

    def stop(self, *, purge: bool = False) -> None:
        """Stop every service in reverse order: Airflow first, the emulator (it deletes its clusters), PostgreSQL."""
        state = self.load()
        pids = state.get("pids", {})
        for name in reversed(SERVICES):
            if name == "postgres":
                continue
            stop_group(pids.get(name), name)
        values = state.get("values")
        if values and (Path(values["postgres_data"]) / "postmaster.pid").exists():
            print("Stopping postgres ...", flush=True)
            subprocess.run(
                argv(("pg_ctl", "stop", "-w", "-m", "fast", "-D", values["postgres_data"])),
                env=service_env(values),
                capture_output=True,
            )
        if state:
            state["pids"] = {}
            self.save(state)
        if purge:
            self.purge(values)

    def purge(self, values: dict[str, Any] | None) -> None:
        """Delete the state directory and PostgreSQL's folder, and nothing else.

        Only folders this script made are deleted: the state directory if it holds ``state.json``, and
        PostgreSQL's folder if it is in the state directory or named ``local-airflow-postgres-*``.
        """
        home = Path(values["postgres_home"]).resolve() if values and values.get("postgres_home") else None
        if home and (home.is_relative_to(self.state_dir) or home.name.startswith("local-airflow-postgres-")):
            shutil.rmtree(home, ignore_errors=True)
        if self.state_file.is_file():
            shutil.rmtree(self.state_dir, ignore_errors=True)


def stop_group(pid: int | None, name: str) -> None:
    """SIGTERM a service's process group, SIGKILL it after :data:`STOP_TIMEOUT` seconds."""
    if not alive(pid):
        return
    print(f"Stopping {name} ...", flush=True)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):  # also whatever it left in its group
        os.killpg(pid, signal.SIGKILL)


def run(command: list[str], env: dict[str, str], what: str) -> None:
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"{what} failed ({result.returncode}):\n{result.stdout}{result.stderr}")


def tail(path: Path, lines: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


# -- command line ----------------------------------------------------------------------------------------------


def main(args: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("start", "stop", "status", "secrets"))
    parser.add_argument("--state-dir", type=Path, default=REPO / ".local-airflow", help="default: .local-airflow/")
    parser.add_argument("--api-port", type=int, default=0, help="the UI's port (default: a free one)")
    parser.add_argument("--foreground", action="store_true", help="start, wait for Ctrl-C, then stop everything")
    parser.add_argument("--purge", action="store_true", help="stop: also delete the state directory (and the secrets)")
    parser.add_argument(
        "--postgres-password-file",
        type=Path,
        metavar="FILE",
        help="secrets: the database's password is in FILE (by default it is made, and kept in secrets/pgpass)",
    )
    parser.add_argument(
        "--quota",
        action="append",
        default=[],
        metavar="OPTION=VALUE",
        help="a [dask_dataproc] quota, e.g. max_clusters_per_user=1",
    )
    options = parser.parse_args(args)
    stack = Stack(options.state_dir)
    if options.action == "secrets":
        found = ensure_secrets(secrets_dir(stack.state_dir), postgres_password_file=options.postgres_password_file)
        print(f"Secrets: {found.directory}/ ({', '.join(sorted(found.made)) or 'nothing'} made now)")
        print(secrets_text(found), flush=True)
        return 0
    if options.action == "stop":
        stack.stop(purge=options.purge)
        return 0
    if options.action == "status":
        states = stack.status()
        for name, service_state in states.items():
            print(f"{name:24} {service_state}")
        return 0 if all(s in ("healthy", "done") for s in states.values()) else 1
    import airflow

    if not airflow.__version__.startswith("3."):
        raise SystemExit(f"The local stack runs Airflow 3's services; this is Airflow {airflow.__version__}")
    quotas = dict(item.split("=", 1) for item in options.quota)
    if options.foreground:
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    state = stack.start(api_port=options.api_port, quotas=quotas)
    print(f"\nAirflow UI: {state['url']}  (user {ADMIN_USER})")
    print(secrets_text(stack.secrets))
    print(f"Logs: {stack.logs}/")
    if not options.foreground:
        print(f"Stop with: python {Path(__file__).relative_to(REPO)} stop --state-dir {stack.state_dir}")
        return 0
    print("Press Ctrl-C to stop everything.", flush=True)
    try:
        while all(alive(pid) for pid in state["pids"].values()):
            time.sleep(1)
        print("A service exited; stopping everything.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
