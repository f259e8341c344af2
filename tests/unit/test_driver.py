"""The driver that checks versions before running a job's script (it runs on the cluster)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from airflow_dask_provider import driver


def versions(worker_dask: str = "2026.8.0", scheduler_python: str = "3.11.7.final.0") -> dict:
    def party(python: str, dask: str) -> dict:
        return {"host": {"python": python}, "packages": {"dask": dask, "distributed": dask, "numpy": "2.0"}}

    return {
        "client": party("3.11.9.final.0", "2026.8.0"),
        "scheduler": party(scheduler_python, "2026.8.0"),
        "workers": {"tcp://w1:1": party("3.11.7.final.0", "2026.8.0"), "tcp://w2:1": party("3.11.7.final.0", worker_dask)},
    }


def test_patch_releases_of_python_agree():
    assert driver.mismatches(driver.version_table(versions())) == {}


def test_a_worker_with_another_dask_is_named():
    different = driver.mismatches(driver.version_table(versions(worker_dask="2024.1.0")))

    assert list(different) == ["dask", "distributed"]
    assert different["dask"]["tcp://w2:1"] == "2024.1.0"
    assert different["dask"]["driver"] == "2026.8.0"


def test_another_python_minor_version_is_a_mismatch():
    different = driver.mismatches(driver.version_table(versions(scheduler_python="3.10.12.final.0")))

    assert different["python"]["scheduler"] == "3.10"


def test_a_mismatch_exits_with_a_table(mocker, capsys):
    client = mocker.patch("distributed.Client")
    client.return_value.get_versions.return_value = versions(worker_dask="2024.1.0")

    with pytest.raises(SystemExit) as exited:
        driver.check_versions("tcp://nowhere:8786")

    assert exited.value.code == driver.MISMATCH_EXIT_CODE
    err = capsys.readouterr().err
    assert "Version mismatch" in err and "tcp://w2:1=2024.1.0" in err


def test_the_script_runs_with_its_arguments_when_no_scheduler_answers(tmp_path):
    script = tmp_path / "job.py"
    script.write_text("import sys\nprint('args', sys.argv[1:])\n")

    result = subprocess.run(
        [sys.executable, driver.__file__, str(script), "--rows", "3"],
        capture_output=True,
        text=True,
        env={"DASK_SCHEDULER_ADDRESS": "tcp://127.0.0.1:9", "PATH": "/usr/bin:/bin"},
        timeout=120,
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr
    assert "versions not checked" in result.stdout
    assert "args ['--rows', '3']" in result.stdout
