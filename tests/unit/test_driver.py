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
        "workers": {
            "tcp://w1:1": party("3.11.7.final.0", "2026.8.0"),
            "tcp://w2:1": party("3.11.7.final.0", worker_dask),
        },
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
    client = mocker.Mock()
    client.get_versions.return_value = versions(worker_dask="2024.1.0")

    with pytest.raises(SystemExit) as exited:
        driver.check_client_versions(client)

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


def test_options_name_the_py_files_and_the_version_check_before_the_script():
    argv = ["--py-file", "mylib.py", "--py-file", "pkg.zip", "--no-version-check", "job.py", "--py-file", "x"]

    assert driver.parse_options(argv) == (["mylib.py", "pkg.zip"], False, ["job.py", "--py-file", "x"])
    assert driver.parse_options(["job.py"]) == ([], True, ["job.py"])


def test_a_py_file_is_found_on_the_path_where_dataproc_puts_it(tmp_path, monkeypatch):
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "mylib.py").write_text("X = 1\n")
    (tmp_path / "pkg.zip").write_bytes(b"")
    monkeypatch.chdir(tmp_path / "folder")
    monkeypatch.syspath_prepend(str(tmp_path / "pkg.zip"))

    assert driver.find_py_file("mylib.py") == tmp_path / "folder" / "mylib.py"
    assert driver.find_py_file("pkg.zip") == tmp_path / "pkg.zip"
    with pytest.raises(SystemExit, match="other.py is neither in the working directory nor on the Python path"):
        driver.find_py_file("other.py")


def write_archive(path, files: dict[str, str]) -> None:
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)


def test_an_archive_provides_its_modules_and_packages(tmp_path):
    write_archive(tmp_path / "deps.zip", {"shapes/__init__.py": "", "shapes/area.py": "", "units.py": ""})

    assert driver.module_names(tmp_path / "deps.zip") == ["shapes", "units"]
    assert driver.module_names(tmp_path / "mylib.py") == ["mylib"]


def test_a_shipped_archive_is_importable_until_taken_off_the_path(tmp_path):
    import importlib

    path = str(tmp_path / "shipdeps.zip")
    write_archive(path, {"shipdeps_pkg/__init__.py": "", "shipdeps_pkg/area.py": "def square(x):\n    return x * x\n"})

    driver.on_import_path(path, ["shipdeps_pkg"])
    try:
        assert importlib.import_module("shipdeps_pkg.area").square(3) == 9
    finally:
        driver.off_import_path(path, ["shipdeps_pkg"])

    assert not (tmp_path / "shipdeps.zip").exists()
    assert path not in sys.path
    assert not [name for name in sys.modules if name.startswith("shipdeps_pkg")]
    with pytest.raises(ImportError):
        importlib.import_module("shipdeps_pkg.area")


def test_a_module_taken_off_the_path_is_gone_with_its_compiled_copy(tmp_path, monkeypatch):
    import importlib

    (tmp_path / "shipmod_helper.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    driver.on_import_path(str(tmp_path / "shipmod_helper.py"), ["shipmod_helper"])
    assert importlib.import_module("shipmod_helper").VALUE == 1

    driver.off_import_path(str(tmp_path / "shipmod_helper.py"), ["shipmod_helper"])

    assert "shipmod_helper" not in sys.modules
    assert list(tmp_path.rglob("shipmod_helper*")) == []
    with pytest.raises(ImportError):
        importlib.import_module("shipmod_helper")


def test_py_files_are_not_shipped_but_the_script_runs_when_no_scheduler_answers(tmp_path):
    (tmp_path / "mylib.py").write_text("def double(x):\n    return 2 * x\n")
    (tmp_path / "job.py").write_text("import mylib\nprint('double', mylib.double(21))\n")

    result = subprocess.run(
        [sys.executable, driver.__file__, "--py-file", "mylib.py", "--no-version-check", "job.py"],
        capture_output=True,
        text=True,
        env={"DASK_SCHEDULER_ADDRESS": "tcp://127.0.0.1:9", "PATH": "/usr/bin:/bin"},
        timeout=120,
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr
    assert "; mylib.py not put on the workers" in result.stdout and "versions not checked" not in result.stdout
    assert "double 42" in result.stdout


def test_a_raising_script_ends_with_a_line_naming_its_exception(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    monkeypatch.setattr(sys, "path", list(sys.path))
    script = tmp_path / "job.py"
    script.write_text("print('working')\nraise ValueError('boom')\n")

    with pytest.raises(SystemExit) as exited:
        driver.run_script(script, [])

    assert exited.value.code == 1
    out, err = capsys.readouterr()
    assert "working" in out
    assert "Traceback (most recent call last):" in err  # the whole traceback stays in the output
    assert err.splitlines()[-1] == driver.ERROR_MARKER + "ValueError: boom"


def test_the_exception_line_names_the_type_as_python_does():
    class Failed(Exception):
        pass

    assert driver.exception_line(ValueError("boom")) == "ValueError: boom"
    assert driver.exception_line(KeyError("amount")) == "KeyError: 'amount'"
    assert driver.exception_line(Failed("two\n  lines")) == f"{__name__}.{Failed.__qualname__}: two lines"
    assert driver.exception_line(RuntimeError()) == "RuntimeError"


def test_a_script_that_exits_is_left_alone(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    monkeypatch.setattr(sys, "path", list(sys.path))
    script = tmp_path / "job.py"
    script.write_text("import sys\nsys.exit(4)\n")

    with pytest.raises(SystemExit) as exited:
        driver.run_script(script, [])

    assert exited.value.code == 4
    assert driver.ERROR_MARKER not in capsys.readouterr().err
