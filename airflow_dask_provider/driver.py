"""Run a Dask job's script after checking that the driver, scheduler and workers agree on versions.

The submit operator stages this file as the job's main file and the user's script beside it (in
``python_file_uris``, so it is importable on the driver, on Dataproc as on the emulator):

    python driver.py SCRIPT.py [ARGS...]

A driver whose Python, dask or distributed differs from the cluster's fails in obscure ways
(unpicklable functions, protocol errors) long after it started. This checks first, through the
client (``Client.get_versions``), and exits with status 3 and a table of what differs. When no
scheduler answers (the yarn runtime, where the script starts its own ``YarnCluster``), the check is
skipped with a note. The file uses only the standard library, dask and distributed: it runs on the
cluster, not in Airflow.

When the script raises, the driver prints the traceback and then, as its last line, ``ERROR_MARKER``
followed by the exception's ``Type: message`` (a worker's exception as the client re-raised it), and
exits with status 1. The submit operator puts that line first in the task's error.
"""

from __future__ import annotations

import importlib.util
import os
import runpy
import sys
import traceback
from pathlib import Path

#: What must be equal on the driver, the scheduler and every worker.
CHECKED = ("python", "dask", "distributed")
MISMATCH_EXIT_CODE = 3
#: Starts the driver's last line when the script raised; the rest of the line is ``Type: message``.
ERROR_MARKER = "[dask-driver] The job's script raised "


def scheduler_address() -> str:
    """Return where the driver finds the scheduler: the environment, Dask's config, else the master."""
    import dask

    return os.environ.get("DASK_SCHEDULER_ADDRESS") or dask.config.get("scheduler-address", None) or (
        "tcp://localhost:8786"
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


def check_versions(address: str, *, timeout: float = 30) -> None:
    """Exit with ``MISMATCH_EXIT_CODE`` if the cluster at ``address`` runs other versions than this driver."""
    from distributed import Client

    try:
        client = Client(address, timeout=timeout)
    except OSError as err:
        print(f"[dask-driver] No Dask scheduler at {address} ({err}); versions not checked", flush=True)
        return
    with client:
        table = version_table(client.get_versions())
    different = mismatches(table)
    if not different:
        summary = ", ".join(f"{name} {next(iter(row.values()))}" for name, row in table.items())
        print(f"[dask-driver] Driver, scheduler and {len(next(iter(table.values()))) - 2} workers agree: {summary}")
        return
    lines = [f"  {name}: " + ", ".join(f"{party}={version}" for party, version in row.items()) for name, row in different.items()]
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
    if not argv:
        raise SystemExit("usage: driver.py SCRIPT.py [ARGS...]")
    script = find_script(argv[0])
    check_versions(scheduler_address())
    run_script(script, argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
