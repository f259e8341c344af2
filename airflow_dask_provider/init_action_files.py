"""Files that ship inside the package: the Dataproc initialization actions of ``init_actions/``.

The scripts are data, not Python: ``init_actions/`` has no ``__init__.py``. A wheel installs them
as ``airflow_dask_provider/init_actions/``; a source checkout (and an editable install, whose
import hook cannot see a folder without ``__init__.py``) has them in ``init_actions/`` beside the
package.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_LOCATIONS = (_PACKAGE / "init_actions", _PACKAGE.parent / "init_actions")


def init_action_path(name: str) -> Path:
    """Return the local path of a bundled initialization action, such as ``"dask.sh"``.

    :param name: file name of the script inside ``init_actions/``.
    :raises FileNotFoundError: no bundled script has that name.
    """
    if not name or Path(name).name != name:
        raise FileNotFoundError(f"No bundled initialization action named {name!r}")
    for folder in _LOCATIONS:
        path = folder / name
        if path.is_file():
            return path
    raise FileNotFoundError(f"No bundled initialization action named {name!r}")
