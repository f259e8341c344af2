"""The ``[dask_dataproc]`` section: registered with Airflow, read from its configuration."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_dask_provider import config, get_provider_info
from airflow_dask_provider.config import OPTIONS, TtlPolicy
from airflow_dask_provider.exceptions import ConfigurationError


def env_name(option: str) -> str:
    return f"AIRFLOW__DASK_DATAPROC__{option.upper()}"


def test_provider_info_registers_every_option_as_the_module_documents_it():
    section = get_provider_info()["config"]["dask_dataproc"]

    assert section["description"]
    assert set(OPTIONS) <= set(section["options"])
    for name, option in OPTIONS.items():
        registered = section["options"][name]
        assert (registered["description"], registered["default"], registered["example"]) == (
            option.description,
            option.default,
            option.example,
        )
        assert registered["type"] == "string" and registered["version_added"]


def test_defaults_give_a_two_hour_idle_ttl_and_no_ceiling():
    policy = TtlPolicy.from_config()

    assert policy == TtlPolicy(default_idle_delete_ttl=7200, default_expiry=86400)


def test_environment_variables_set_the_policy(monkeypatch):
    monkeypatch.setenv(env_name("max_idle_delete_ttl"), "4h")
    monkeypatch.setenv(env_name("default_auto_delete_ttl"), "90m")
    monkeypatch.setenv(env_name("max_auto_delete_ttl"), "1d")

    policy = TtlPolicy.from_config()

    assert (policy.max_idle_delete_ttl, policy.default_auto_delete_ttl, policy.max_auto_delete_ttl) == (
        14400,
        5400,
        86400,
    )


def test_a_bad_duration_names_the_option(monkeypatch):
    monkeypatch.setenv(env_name("max_idle_delete_ttl"), "soon")

    with pytest.raises(ConfigurationError, match=r"\[dask_dataproc\] max_idle_delete_ttl='soon'"):
        TtlPolicy.from_config()


def test_lists_are_comma_separated(monkeypatch):
    monkeypatch.setenv(env_name("reaper_regions"), " europe-west1, ,us-central1 ")

    assert config.get_list("reaper_regions") == ["europe-west1", "us-central1"]


def test_price_table_is_inline_json_or_a_file(monkeypatch, tmp_path):
    monkeypatch.setenv(env_name("price_table"), '{"currency": "EUR"}')
    assert config.price_table_override() == {"currency": "EUR"}

    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"dataproc_vcpu_hour": 0.02}))
    monkeypatch.setenv(env_name("price_table"), str(path))
    assert config.price_table_override() == {"dataproc_vcpu_hour": 0.02}


def test_a_missing_price_file_names_the_option(monkeypatch, tmp_path):
    monkeypatch.setenv(env_name("price_table"), str(tmp_path / "missing.json"))

    with pytest.raises(ConfigurationError, match="price_table"):
        config.price_table_override()


def test_airflow_config_list_shows_the_section_with_descriptions_and_defaults(tmp_path):
    from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS

    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__DASK_DATAPROC__")}
    env["AIRFLOW_HOME"] = str(tmp_path)
    show_values = ["--show-values"] if AIRFLOW_V_3_0_PLUS else []  # Airflow 3 hides values by default
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "airflow",
            "config",
            "list",
            "--section",
            "dask_dataproc",
            "--include-descriptions",
            *show_values,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )

    assert "[dask_dataproc]" in result.stdout
    assert "default_idle_delete_ttl = 2h" in result.stdout
    assert "max_idle_delete_ttl = " in result.stdout
    assert OPTIONS["max_auto_delete_ttl"].description in result.stdout


def test_airflow_3_lists_no_value_of_any_section_unless_asked_and_get_value_prints_the_default(tmp_path):
    """Issue 21: ``airflow config list --section dask_dataproc`` shows every option empty on Airflow 3, as it
    does [core]'s: Airflow 3 hides values without ``--show-values`` (tested above). ``config get-value``
    prints the default on both versions, and Airflow 2's plain listing shows it."""
    from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS

    from tests.devtools import airflow, airflow_environment

    env = airflow_environment(airflow_home=tmp_path, dags_folder=tmp_path, emulator_host=None, storage_url=None)

    value = airflow("config", "get-value", "dask_dataproc", "default_idle_delete_ttl", env=env, timeout=300)
    listed = airflow("config", "list", "--section", "dask_dataproc", env=env, timeout=300)

    assert value.stdout.strip().splitlines()[-1:] == ["2h"], value.stdout + value.stderr
    if AIRFLOW_V_3_0_PLUS:
        core = airflow("config", "list", "--section", "core", env=env, timeout=300)
        assert "# default_idle_delete_ttl = \n" in listed.stdout, listed.stdout
        assert "# dags_folder = \n" in core.stdout, core.stdout  # Airflow's own options are hidden alike
    else:
        assert "default_idle_delete_ttl = 2h" in listed.stdout, listed.stdout


def test_only_the_config_module_reads_the_section():
    """One place reads ``[dask_dataproc]``: every other module asks :mod:`airflow_dask_provider.config`."""
    package = Path(config.__file__).parent
    readers = [
        str(path.relative_to(package))
        for path in sorted(package.rglob("*.py"))
        if path != Path(config.__file__)
        and re.search(r"conf\.(get\w*|has_option)\(\s*(['\"]dask_dataproc|SECTION)", path.read_text())
    ]

    assert readers == []


def test_the_duration_defaults_are_the_ones_the_provider_applies():
    from airflow_dask_provider import defaults

    assert config.TtlPolicy.from_config().default_idle_delete_ttl == defaults.IDLE_DELETE_TTL_SECONDS
    assert config.TtlPolicy.from_config().default_auto_delete_ttl == defaults.AUTO_DELETE_TTL_SECONDS
    assert config.get_duration("default_job_timeout") == defaults.JOB_TIMEOUT_SECONDS
    assert config.get_duration("no_worker_timeout") == defaults.NO_WORKER_TIMEOUT_SECONDS
