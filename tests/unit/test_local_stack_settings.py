"""Airflow 3 itself reads the local stack's generated secrets.

The local stack runs Airflow 3 (its image is apache/airflow:3.3, ``make local-airflow`` runs .venv's
Airflow 3): these tests run the installed Airflow with the stack's settings, so they are collected in
the Airflow 3 suite only (tests/conftest.py), like tests/browser. The compose file's and the script's
own checks (tests/unit/test_local_airflow.py) run on both versions.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.unit.test_local_airflow import NO_OVERRIDES, stack


def test_airflow_may_read_its_fernet_key_and_jwt_secret_from_a_command():
    """Airflow runs ``AIRFLOW__SECTION__KEY_CMD`` only for the options it lists as sensitive."""
    from airflow.configuration import conf

    assert {("core", "fernet_key"), ("api_auth", "jwt_secret")} <= conf.sensitive_config_values


def test_airflow_reads_the_local_stacks_secrets_through_its_settings(tmp_path):
    """Airflow itself, given the local stack's environment, gets the generated secrets, also from a
    state dir whose path has a space (the _CMD settings are split like a shell's words)."""
    state_dir = tmp_path / "state dir"
    found = stack.ensure_secrets(stack.secrets_dir(state_dir), environ=NO_OVERRIDES)
    env = stack.service_env(stack.local_values(state_dir))
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True)
    probe = (
        "import json\n"
        "from airflow.configuration import conf\n"
        "from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager\n"
        "print(json.dumps([conf.get('core', 'fernet_key'), conf.get('api_auth', 'jwt_secret'),"
        " SimpleAuthManager.get_passwords()['admin']]))\n"
    )

    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == [found.fernet_key, found.jwt_secret, found.admin_password]
