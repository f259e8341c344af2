"""Run a Dask job's script after checking that the driver, scheduler and workers agree on versions.

The submit operator stages this file as the job's main file and the user's script beside it (in
``python_file_uris``, so it is importable on the driver, on Dataproc as on the emulator):

    python driver.py [--py-file NAME]... [--no-version-check] SCRIPT.py [ARGS...]

A driver whose Python, dask or distributed differs from the cluster's fails in obscure ways
(unpicklable functions, protocol errors) long after it started. This checks first, through the
client (``Client.get_versions``), and exits with status 3 and a table of what differs. When no
scheduler answers (the yarn runtime, where the script starts its own ``YarnCluster``), the check is
skipped with a note.

Each ``--py-file`` names one of the job's ``py_files`` (a ``.py`` module or a ``.zip``/``.egg``
archive), which Dataproc puts beside the driver only. The driver puts it on the import path of the
scheduler and of every worker for the length of the script, so that tasks calling its functions
run there: a worker plugin per file (a worker that joins mid-job, by autoscaling, gets it before
its first task), the file written into each process's Dask local directory, which is on its
``sys.path``. When the script ends, also by failing or by a cancel's SIGTERM, the plugins are
unregistered, the files deleted and their modules dropped from ``sys.modules``: nothing of a job's
helpers stays importable for the next job, and a helper of the same name is imported afresh.

The file uses only the standard library, dask and distributed: it runs on the cluster, not in
Airflow.

When the script raises, the driver prints the traceback and then, as its last line, ``ERROR_MARKER``
followed by the exception's ``Type: message`` (a worker's exception as the client re-raised it), and
exits with status 1. The submit operator puts that line first in the task's error.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import runpy
import signal
import sys
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

#: What must be equal on the driver, the scheduler and every worker.
CHECKED = ("python", "dask", "distributed")
MISMATCH_EXIT_CODE = 3
#: Seconds to wait for the scheduler before running the script without checking or shipping.
CONNECT_TIMEOUT_SECONDS = 30
#: The option naming one of the job's ``py_files`` to put on the cluster's import path.
PY_FILE_OPTION = "--py-file"
#: The option that skips the version check (the operator's ``check_versions=False``).
NO_VERSION_CHECK_OPTION = "--no-version-check"
#: Archives Python imports from once they are on ``sys.path``; other files are ``.py`` modules.
ARCHIVE_SUFFIXES = (".zip", ".egg", ".pyz")
#: The exit status of a driver stopped by SIGTERM (a cancelled job), as a shell reports it.
SIGTERM_EXIT_CODE = 128 + signal.SIGTERM
#: Starts the driver's last line when the script raised; the rest of the line is ``Type: message``.
ERROR_MARKER = "[dask-driver] The job's script raised "


def scheduler_address() -> str:
    """Return where the driver finds the scheduler: the environment, Dask's config, else the master."""
    import dask

    return (
        os.environ.get("DASK_SCHEDULER_ADDRESS")
        or dask.config.get("scheduler-address", None)
        or ("tcp://localhost:8786")
    )


def version_table(versions: dict) -> dict[str, dict[str, str]]:
    """Return, for each checked package, the version of every party (client, scheduler, workers)."""
    parties = {"driver": versions["client"], "scheduler": versions["scheduler"], **versions["workers"]}
    table: dict[str, dict[str, str]] = {}
    for name in CHECKED:
        table[name] = {}
        for party, info in parties.items():
            packages = {**info.get("host", {}), **info.get("packages", {})}
            version = str(packages.get(name))
            # Python must agree to the minor version (pickles differ between 3.10 and 3.11, not patches)
            table[name][party] = ".".join(version.split(".")[:2]) if name == "python" else version
    return table


def mismatches(table: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """Return the rows of the table whose parties do not all agree."""
    return {name: row for name, row in table.items() if len(set(row.values())) > 1}


def connect(address: str, *, timeout: float = CONNECT_TIMEOUT_SECONDS, skipped: str = "versions not checked") -> Any:
    """Return a client of the scheduler at ``address`` (not the default client), or None, saying what is
    ``skipped``, when no scheduler answers."""
    from distributed import Client

    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except OSError as err:
        print(f"[dask-driver] No Dask scheduler at {address} ({err}); {skipped}", flush=True)
        return None


def check_client_versions(client: Any) -> None:
    """Exit with ``MISMATCH_EXIT_CODE`` if the cluster of ``client`` runs other versions than this driver."""
    table = version_table(client.get_versions())
    different = mismatches(table)
    if not different:
        summary = ", ".join(f"{name} {next(iter(row.values()))}" for name, row in table.items())
        print(f"[dask-driver] Driver, scheduler and {len(next(iter(table.values()))) - 2} workers agree: {summary}")
        return
    lines = [
        f"  {name}: " + ", ".join(f"{party}={version}" for party, version in row.items())
        for name, row in different.items()
    ]
    print(
        "[dask-driver] Version mismatch between the driver and the cluster; the job would fail in obscure ways.\n"
        + "\n".join(lines)
        + "\nInstall the same versions on the nodes (metadata dask-version, distributed-version) and the driver.",
        file=sys.stderr,
        flush=True,
    )
    raise SystemExit(MISMATCH_EXIT_CODE)


def find_script(name: str) -> Path:
    """Return the user's script: a path, or a file shipped in ``python_file_uris`` (on ``sys.path``)."""
    if Path(name).is_file():
        return Path(name)
    spec = importlib.util.find_spec(Path(name).stem)
    if spec is None or spec.origin is None:
        raise SystemExit(f"[dask-driver] The job's script {name} is neither a file nor on the Python path")
    return Path(spec.origin)


def parse_options(argv: Sequence[str]) -> tuple[list[str], bool, list[str]]:
    """Return the ``--py-file`` names, whether to check versions, and the script with its arguments."""
    py_files: list[str] = []
    check = True
    rest = list(argv)
    while rest and rest[0] in (PY_FILE_OPTION, NO_VERSION_CHECK_OPTION):
        option = rest.pop(0)
        if option == NO_VERSION_CHECK_OPTION:
            check = False
        elif not rest:
            raise SystemExit(f"[dask-driver] {PY_FILE_OPTION} needs a file name")
        else:
            py_files.append(rest.pop(0))
    if not rest:
        raise SystemExit(f"usage: driver.py [{PY_FILE_OPTION} NAME]... [{NO_VERSION_CHECK_OPTION}] SCRIPT.py [ARGS...]")
    return py_files, check, rest


def find_py_file(name: str) -> Path:
    """Return the local copy of a file shipped in ``python_file_uris``: in the working directory or on ``sys.path``
    (Dataproc puts a ``.py`` file's folder there, an archive itself)."""
    candidates = [Path(name)]
    for entry in sys.path:
        folder = Path(entry or ".")
        candidates += [folder / name, folder]
    for candidate in candidates:
        if candidate.name == name and candidate.is_file():
            return candidate.resolve()
    raise SystemExit(
        f"[dask-driver] The job's py_files entry {name} is neither in the working directory nor on the Python path"
    )


def module_names(path: Path) -> list[str]:
    """Return the top-level modules that ``path`` provides: a ``.py`` file's name, or an archive's modules and packages."""
    if path.suffix in ARCHIVE_SUFFIXES:
        return sorted(info.name for info in pkgutil.iter_modules([str(path)]))
    return [path.stem]


def forget_modules(modules: Sequence[str]) -> None:
    """Drop ``modules`` and their submodules from ``sys.modules``: the next import reads them from the path again."""
    prefixes = tuple(f"{name}." for name in modules)
    for name in [name for name in sys.modules if name in modules or name.startswith(prefixes)]:
        del sys.modules[name]
    importlib.invalidate_caches()


def on_import_path(path: str, modules: Sequence[str]) -> None:
    """Make the file just written at ``path`` importable in this process: an archive goes on ``sys.path`` (its
    folder, a Dask local directory, already is), and older modules of its names are dropped."""
    if path.endswith(ARCHIVE_SUFFIXES) and path not in sys.path:
        sys.path.insert(0, path)
    forget_modules(modules)


def off_import_path(path: str, modules: Sequence[str]) -> None:
    """Delete the shipped file at ``path`` and its compiled copy, take it off ``sys.path`` and drop its modules."""
    import zipimport

    if path in sys.path:
        sys.path.remove(path)
    sys.path_importer_cache.pop(path, None)
    getattr(zipimport, "_zip_directory_cache", {}).pop(path, None)
    with suppress(FileNotFoundError):
        os.remove(path)
    if path.endswith(".py"):
        with suppress(FileNotFoundError):
            os.remove(importlib.util.cache_from_source(path))
    forget_modules(modules)


def _place_on_scheduler(filename: str, data: bytes, modules: Sequence[str], dask_scheduler: Any = None) -> None:
    path = os.path.join(dask_scheduler.local_directory, filename)
    with open(path, "wb") as stream:
        stream.write(data)
    on_import_path(path, modules)


def _remove_from_scheduler(filename: str, modules: Sequence[str], dask_scheduler: Any = None) -> None:
    off_import_path(os.path.join(dask_scheduler.local_directory, filename), modules)


def plugin_name(path: Path) -> str:
    """Return the name of the worker plugin that ships ``path``: one per file name, so a later job's replaces it."""
    return f"dask-driver-py-file-{path.name}"


def worker_plugin(path: Path) -> Any:
    """Return a worker plugin that puts ``path`` on a worker's import path while registered.

    Distributed's ``UploadFile`` writes the file into the worker's local directory when the plugin is
    set up, on the workers there and on those that join later; unregistering it runs ``teardown``,
    which deletes the file and drops its modules. The class is defined here, not at import, so that
    the driver runs where distributed is older (the yarn runtime's), where no scheduler answers at
    start anyway.
    """
    from distributed.diagnostics.plugin import UploadFile

    class ShippedPyFile(UploadFile):
        def __init__(self, filepath: str, modules: Sequence[str]) -> None:
            super().__init__(filepath, load=False)
            self.modules = list(modules)

        async def setup(self, worker: Any) -> None:
            await super().setup(worker)
            on_import_path(os.path.join(worker.local_directory, self.filename), self.modules)

        def teardown(self, worker: Any) -> None:
            off_import_path(os.path.join(worker.local_directory, self.filename), self.modules)

    return ShippedPyFile(str(path), module_names(path))


@contextmanager
def shipped(client: Any, files: Sequence[Path]) -> Iterator[None]:
    """Put ``files`` on the import path of the scheduler and every worker of ``client``'s cluster while the block
    runs, and take them off after, also when it fails (a failure to take them off is printed, never raised)."""
    placed: list[Path] = []
    try:
        for path in files:
            placed.append(path)
            try:
                client.run_on_scheduler(_place_on_scheduler, path.name, path.read_bytes(), module_names(path))
                client.register_plugin(worker_plugin(path), name=plugin_name(path))
            except Exception as err:
                raise SystemExit(f"[dask-driver] Cannot put {path.name} on the Dask cluster's path: {err!r}") from err
        print(
            f"[dask-driver] Put {', '.join(path.name for path in files)} on the scheduler's and workers' path",
            flush=True,
        )
        yield
    finally:
        for path in reversed(placed):
            _quietly(path, client.unregister_worker_plugin, plugin_name(path))
            _quietly(path, client.run_on_scheduler, _remove_from_scheduler, path.name, module_names(path))


def _quietly(path: Path, call: Any, *args: Any) -> None:
    """Call ``call(*args)`` to take ``path`` off the cluster; print a failure instead of raising it over the job's own."""
    try:
        call(*args)
    except Exception as err:
        print(
            f"[dask-driver] Could not take {path.name} off the Dask cluster's path: {err!r}",
            file=sys.stderr,
            flush=True,
        )


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    """Raise ``SystemExit`` on SIGTERM (a cancelled job), so the shipped files are taken off the cluster."""
    raise SystemExit(SIGTERM_EXIT_CODE)


def exception_line(err: BaseException) -> str:
    """Return ``Type: message`` on one line, the type named as Python's traceback names it."""
    kind = type(err)
    module = "" if kind.__module__ in ("builtins", "__main__") else f"{kind.__module__}."
    message = " ".join(str(err).split())
    return f"{module}{kind.__qualname__}: {message}" if message else f"{module}{kind.__qualname__}"


def run_script(script: Path, args: list[str]) -> None:
    """Run the user's script as ``__main__``; if it raises, print the traceback, then ``ERROR_MARKER``
    and the exception on the last line, and exit with status 1 (as Python does). ``SystemExit`` passes."""
    sys.argv = [str(script), *args]
    sys.path.insert(0, str(script.parent))
    try:
        runpy.run_path(str(script), run_name="__main__")
    except Exception as err:
        sys.stdout.flush()
        traceback.print_exc()
        print(ERROR_MARKER + exception_line(err), file=sys.stderr, flush=True)
        raise SystemExit(1) from None


def main(argv: list[str]) -> None:
    names, check, (script_name, *args) = parse_options(argv)
    script = find_script(script_name)
    files = [find_py_file(name) for name in names]
    skipped = ["versions not checked"] * check + [f"{', '.join(names)} not put on the workers"] * bool(files)
    client = connect(scheduler_address(), skipped="; ".join(skipped)) if skipped else None
    if client is None:
        run_script(script, args)
        return
    with client:
        if check:
            check_client_versions(client)
        if not files:
            client.close()  # the script's own client is the only one while it runs
            run_script(script, args)
            return
        signal.signal(signal.SIGTERM, _exit_on_sigterm)  # a cancel takes the files off too
        with shipped(client, files):
            run_script(script, args)


if __name__ == "__main__":
    main(sys.argv[1:])
