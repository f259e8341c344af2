"""Code that runs on the cluster's nodes and ships inside the package, found here and nowhere else.

Three kinds, each with its finder:

- the driver, :func:`driver_path`: ``airflow_dask_provider/driver.py``, the main file of every job
  the submit operator runs through it (version check, Python files on the workers' import path);
- the Dask job scripts of ``jobs/``, :func:`job_script` (and :func:`is_job_script`,
  :func:`job_imports`): a wheel installs them as the package ``airflow_dask_provider.jobs``;
- the Dataproc initialization actions of ``init_actions/``, :func:`init_action_path`: bash, not
  Python, so ``init_actions/`` has no ``__init__.py``. A wheel installs them as
  ``airflow_dask_provider/init_actions/``; a source checkout (and an editable install, whose import
  hook cannot see a folder without ``__init__.py``) has them in ``init_actions/`` beside the package.

None of them imports Airflow: they run where only Dask is installed.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
#: Where the initialization actions are: installed from a wheel, then a source checkout.
_INIT_ACTION_LOCATIONS = (_PACKAGE / "init_actions", _PACKAGE.parent / "init_actions")


def driver_path() -> str:
    """Return the local path of the provider's job driver, ``driver.py``: the submit operator stages it as ``main``."""
    return str(_PACKAGE / "driver.py")


def job_script(name: str) -> str:
    """Return the local path of a bundled Dask job script, such as ``"csv_to_parquet.py"``.

    Pass it as ``main`` of :class:`~airflow_dask_provider.operators.DaskDataprocSubmitJobOperator`:
    the operator stages it into the cluster's bucket.
    """
    path = files("airflow_dask_provider.jobs").joinpath(name)
    if not path.is_file():
        raise FileNotFoundError(f"No bundled job script named {name!r}")
    return str(path)


def is_job_script(path: str) -> bool:
    """Whether ``path`` is a local path of one of the bundled job scripts (what :func:`job_script` returns).

    Only an absolute path of an existing file counts: a relative ``jobs/x.py`` is the user's own, relative
    to the DAG's folder, even where the working directory is a checkout of this project.
    """
    candidate = Path(path)
    if "://" in path or not candidate.is_absolute():
        return False
    folder = Path(str(files("airflow_dask_provider.jobs"))).resolve()
    return candidate.suffix == ".py" and candidate.is_file() and candidate.resolve().parent == folder


def job_imports(path: str) -> list[str]:
    """Return the local paths of the bundled job scripts that the bundled job script at ``path`` imports.

    Read from the scripts' ``import`` statements, directly or through one another (``generate.py``
    imports ``csv_to_parquet.py``, which imports ``dask_job.py``): each once, a script after those it
    imports, ``path`` itself left out. The submit operator adds them to a bundled job's ``py_files``.
    """
    found: list[str] = []
    _add_imports(Path(path).resolve(), found, seen={Path(path).resolve()})
    return found


def _add_imports(script: Path, found: list[str], seen: set[Path]) -> None:
    for name in _imported_names(script):
        sibling = script.parent / f"{name}.py"
        if sibling in seen or not sibling.is_file():
            continue
        seen.add(sibling)
        _add_imports(sibling, found, seen)
        found.append(str(sibling))


def _imported_names(script: Path) -> list[str]:
    """Return the top-level names ``script`` imports: ``import x``, and ``from . import x`` of its own package."""
    import ast

    names: list[str] = []
    for node in ast.walk(ast.parse(script.read_text(encoding="utf-8"), filename=str(script))):
        if isinstance(node, ast.Import):
            names += [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 1:
            names += [node.module.split(".")[0]] if node.module else [alias.name for alias in node.names]
    return names


def init_action_path(name: str) -> Path:
    """Return the local path of a bundled initialization action, such as ``"dask.sh"``.

    :param name: file name of the script inside ``init_actions/``.
    :raises FileNotFoundError: no bundled script has that name.
    """
    if not name or Path(name).name != name:
        raise FileNotFoundError(f"No bundled initialization action named {name!r}")
    for folder in _INIT_ACTION_LOCATIONS:
        path = folder / name
        if path.is_file():
            return path
    raise FileNotFoundError(f"No bundled initialization action named {name!r}")
