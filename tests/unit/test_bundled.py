"""The code that runs on cluster nodes is found through one module: the driver, the job scripts, the init actions."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_dask_provider import bundled, driver


def test_the_driver_is_the_packages_driver_module():
    assert Path(bundled.driver_path()) == Path(driver.__file__).resolve()


def test_a_job_script_is_found_by_name_and_known_as_bundled():
    path = bundled.job_script("word_count.py")

    assert Path(path).is_file()
    assert bundled.is_job_script(path)


def test_an_init_action_is_found_by_name():
    assert bundled.init_action_path("dask.sh").read_text().startswith("#!")


@pytest.mark.parametrize(
    ("find", "name"),
    [(bundled.job_script, "no_such_job.py"), (bundled.init_action_path, "no-such-action.sh")],
)
def test_an_unknown_name_raises_file_not_found(find, name):
    with pytest.raises(FileNotFoundError, match=name):
        find(name)


def test_the_node_code_modules_import_no_airflow():
    import subprocess
    import sys

    code = "import sys, airflow_dask_provider.bundled, airflow_dask_provider.driver; print('airflow' in sys.modules)"
    output = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout

    assert output.strip() == "False"
