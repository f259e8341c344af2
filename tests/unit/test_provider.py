from __future__ import annotations

import importlib
import json
import subprocess
import sys
from importlib.metadata import entry_points

import pytest

from airflow_dask_provider import get_provider_info


def test_provider_is_registered_through_the_airflow_entry_point():
    [entry] = [
        ep for ep in entry_points(group="apache_airflow_provider") if ep.value.startswith("airflow_dask_provider")
    ]

    assert entry.load()()["package-name"] == "airflow-dask-provider"


def listed_modules() -> list[str]:
    info = get_provider_info()
    return [
        m
        for kind in ("hooks", "operators", "sensors", "triggers")
        for group in info[kind]
        for m in group["python-modules"]
    ]


@pytest.mark.parametrize("module", listed_modules())
def test_every_listed_module_imports(module):
    importlib.import_module(module)


def test_connection_type_names_an_existing_hook_class():
    [conn] = get_provider_info()["connection-types"]
    module, _, name = conn["hook-class-name"].rpartition(".")

    hook_class = getattr(importlib.import_module(module), name)

    assert hook_class.conn_type == conn["connection-type"]


def test_importing_the_operators_loads_no_google_grpc_or_dask_module():
    code = (
        "import json, sys, airflow_dask_provider.operators\n"
        "heavy = ('google.cloud.dataproc_v1', 'grpc', 'distributed', 'dask', 'google.protobuf')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('grpc', 'distributed', 'dask')"
        " or m.startswith(heavy))))\n"
    )
    output = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    loaded = json.loads(output.splitlines()[-1])

    assert loaded == []


def test_airflow_lists_the_provider():
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "list", "-o", "json"], capture_output=True, text=True, check=True
    )

    listing = next(line for line in result.stdout.splitlines() if line.startswith("["))
    packages = {p["package_name"] for p in json.loads(listing)}
    assert "airflow-dask-provider" in packages


@pytest.mark.parametrize("path", get_provider_info()["extra-links"])
def test_every_listed_extra_link_is_a_named_operator_link(path):
    module, _, name = path.rpartition(".")
    link = getattr(importlib.import_module(module), name)()

    assert link.name and link.xcom_key == link.key


def test_every_subpackage_is_listed_for_the_wheel():
    import configparser
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    config = configparser.ConfigParser()
    config.read(repo / "setup.cfg")
    listed = set(config["options"]["packages"].split())
    source = repo / "airflow_dask_provider"
    mapped = {line.split("=")[0].strip() for line in config["options"]["package_dir"].strip().splitlines()}
    on_disk = {".".join(init.parent.relative_to(repo).parts) for init in source.rglob("__init__.py")} | mapped

    assert listed == on_disk
