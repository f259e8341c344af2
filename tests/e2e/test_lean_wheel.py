"""The provider's wheel as Composer gets it: lean, without the emulator, and enough to parse every example DAG.

The wheel is built from this checkout and installed alone (no extras) into a fresh virtual
environment with the suite's Airflow 3 constraints, as Composer installs a PyPI package beside its
own pinned ones.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .conftest import REPO

#: What only the extras bring: a Composer environment that does not ask for them never gets them. (pyarrow is
#: not among them: the Google provider requires it.)
EXTRAS_ONLY = ("matplotlib", "bokeh", "dask", "distributed", "xgboost-cpu", "sphinx", "myst-parser", "furo")
UV = Path(sys.executable).parent / "uv"

PARSE = """
import json, sys
from airflow.models import DagBag
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({"dags": sorted(bag.dag_ids), "errors": {k: str(v) for k, v in bag.import_errors.items()}}))
"""


def run(*args: str | os.PathLike, **kwargs) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([os.fspath(a) for a in args], capture_output=True, text=True, timeout=600, **kwargs)
    assert result.returncode == 0, f"{args[:3]} exited with {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # from a copy: setuptools writes build/ and *.egg-info/ beside the sources it builds
    source = tmp_path_factory.mktemp("source") / "checkout"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".*", "build", "dist", "*.egg-info", "test-artifacts"))
    out = tmp_path_factory.mktemp("dist")
    run(UV, "build", "--wheel", "--out-dir", out, source)
    [built] = out.glob("airflow_dask_provider-*.whl")
    return built


@pytest.fixture(scope="module")
def lean_venv(wheel, tmp_path_factory) -> Path:
    venv = tmp_path_factory.mktemp("lean") / "venv"
    run(UV, "venv", "--quiet", "--python", sys.executable, venv)
    python = venv / "bin" / "python"
    run(UV, "pip", "install", "--quiet", "--python", python, "--constraint", REPO / "constraints/airflow-3.txt", wheel)
    return venv


def test_the_wheel_holds_no_emulator_and_no_dev_tooling(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    modules = sorted(name for name in names if name.endswith(".py"))
    assert modules, "the wheel holds no module"
    assert all(name.startswith("airflow_dask_provider/") for name in modules), [
        name for name in modules if not name.startswith("airflow_dask_provider/")
    ]
    assert not [name for name in modules if "emulator" in name or "devtools" in name or "testing" in name]
    # what runs on the nodes ships with the provider: the driver, the bundled jobs, the init actions
    for shipped in ("airflow_dask_provider/driver.py", "airflow_dask_provider/jobs/dask_job.py"):
        assert shipped in names
    assert any(name.startswith("airflow_dask_provider/init_actions/") and name.endswith(".sh") for name in names)
    entry_points = next(name for name in names if name.endswith("entry_points.txt"))
    assert "console_scripts" not in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_the_emulator_is_a_distribution_of_its_own(tmp_path):
    source = tmp_path / "emulator"
    shutil.copytree(REPO / "emulator", source, ignore=shutil.ignore_patterns(".*", "build", "*.egg-info"))
    run(UV, "build", "--wheel", "--out-dir", tmp_path, source)
    [built] = tmp_path.glob("dask_dataproc_emulator-*.whl")
    names = zipfile.ZipFile(built).namelist()
    modules = [name for name in names if name.endswith(".py")]
    assert "dask_dataproc_emulator/server.py" in modules and "dask_dataproc_emulator/testing.py" in modules
    assert all(name.startswith("dask_dataproc_emulator/") for name in modules), modules
    entry_points = next(name for name in names if name.endswith("entry_points.txt"))
    assert (
        "dask-dataproc-emulator = dask_dataproc_emulator.__main__:main"
        in zipfile.ZipFile(built).read(entry_points).decode()
    )


def test_the_wheel_alone_installs_none_of_the_extras(lean_venv):
    listed = run(UV, "pip", "list", "--python", lean_venv / "bin" / "python", "--format", "json").stdout
    installed = {package["name"].lower() for package in json.loads(listed)}
    assert "airflow-dask-provider" in installed and "apache-airflow-providers-google" in installed
    assert not installed & set(EXTRAS_ONLY), sorted(installed & set(EXTRAS_ONLY))


def test_every_example_dag_parses_with_the_wheel_alone(lean_venv, tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env.update(AIRFLOW_HOME=str(tmp_path), AIRFLOW__CORE__LOAD_EXAMPLES="False", PYTHONPATH="")
    # from a folder away from the checkout, so the installed wheel is what is imported
    result = run(lean_venv / "bin" / "python", "-c", PARSE, REPO / "dags", env=env, cwd=tmp_path)
    parsed = json.loads(result.stdout.strip().splitlines()[-1])
    assert parsed["errors"] == {}
    files = sorted((REPO / "dags").glob("*.py"))
    assert len(parsed["dags"]) >= len(files), (parsed["dags"], [f.name for f in files])


def test_a_feature_of_an_extra_names_the_extra(lean_venv, tmp_path):
    code = (
        "from airflow_dask_provider.tls import new_credential, security\n"
        "pem = new_credential()\n"  # creating a cluster's credential needs no extra
        "try:\n"
        "    security(pem)\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env.update(AIRFLOW_HOME=str(tmp_path), PYTHONPATH="")
    printed = run(lean_venv / "bin" / "python", "-c", code, env=env, cwd=tmp_path).stdout
    assert "pip install 'airflow-dask-provider[dask]'" in printed, printed
