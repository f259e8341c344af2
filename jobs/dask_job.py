"""What every Dask job script of this library shares: reaching the cluster, the command line, checks.

Each job script imports this module. The submit operator adds it to the ``py_files`` of a bundled
job (``main=job_script("word_count.py")``) by itself; a job of your own that imports it lists it
(the provider's driver puts ``py_files`` on the driver's, the scheduler's and the workers' path)::

    DaskDataprocSubmitJobOperator(
        task_id="count_words",
        main="my_job.py",
        py_files=[job_script("dask_job.py")],
        ...
    )

Dask workers import a task's functions by module name, and the scheduler and workers of a Dataproc
cluster have neither this file nor the job's. A job script ends with
``sys.exit(main_by_name(__file__, main))``: it runs as the module of its file's name, and
:func:`cluster_client` uploads that file and this one to the scheduler and every worker for the
length of the job (a worker that joins mid-job included), so tasks name the job's functions instead
of carrying them. Run as ``__main__``, every task carried them by value and the scheduler pickled
them again for each task it sent: about 4 ms a task for Parquet analytics, a third of the
scheduler's CPU, taken from the workers on a small cluster. Where nothing is uploaded (a job
imported from a package, as the tests do), :func:`cluster_client` registers this module with
cloudpickle to travel by value, so tasks that call its functions (:func:`read_lines_block`,
:func:`frame_checksum`) still run on any worker. Imports neither Airflow nor the provider.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger("dask_job")

#: Where the scheduler is when neither ``--scheduler-address`` nor the variable below says.
#: On a Dataproc master the standalone Dask runtime runs the scheduler on the same node.
DEFAULT_SCHEDULER_ADDRESS = "tcp://localhost:8786"
SCHEDULER_ADDRESS_ENV = "DASK_SCHEDULER_ADDRESS"
DEFAULT_CONNECT_TIMEOUT_SECONDS = 60.0
RUNTIMES = ("auto", "standalone", "yarn")
#: The oldest releases the jobs run on: the provider's own lower bounds (``setup.cfg``), pandas as
#: that dask requires it; ``make test-jobs-lower-bounds`` runs every job at them. The jobs use what
#: those releases brought (``pd.ArrowDtype`` columns, ``read_parquet(split_row_groups="adaptive",
#: blocksize=...)``). The initialization action's yarn runtime cannot have them: dask-yarn 0.9 runs
#: only with distributed 2022.1 and older, so its environment is locked to dask 2022.1.1, pandas
#: 1.4.0 and pyarrow 14.0.2.
MINIMUM_VERSIONS = {"dask": "2024.8.0", "distributed": "2024.8.0", "pandas": "2.0.0", "pyarrow": "14.0.1"}


class JobFailure(Exception):
    """A failure the job reports as one line on stderr, without a traceback."""


def require_libraries(
    job: str, minimum: Mapping[str, str] = MINIMUM_VERSIONS, installed: Callable[[str], str] | None = None
) -> None:
    """Exit with status 1 and one line naming each library older than ``minimum`` (or missing).

    Every job script calls it before its own module code, so a driver in an older environment (the
    yarn runtime's) stops at once with what it lacks, not with an ``AttributeError`` from deep in a
    library, and its Dataproc job fails. ``installed`` returns a distribution's version
    (``importlib.metadata.version`` by default).
    """
    from importlib.metadata import PackageNotFoundError, version

    from packaging.version import Version

    installed = installed or version
    lacking = []
    for name, oldest in minimum.items():
        try:
            found = installed(name)
        except PackageNotFoundError:
            lacking.append(f"{name} is not installed (needs {oldest} or newer)")
            continue
        if Version(found) < Version(oldest):
            lacking.append(f"{name} {found} is too old (needs {oldest} or newer)")
    if lacking:
        sys.exit(
            f"{job}: error: {'; '.join(lacking)} in {sys.executable}. The jobs run in the standalone Dask runtime of "
            "the initialization action (its default); its yarn runtime is locked to dask 2022.1.1 for dask-yarn."
        )


def scheduler_address(flag: str | None, environ: Mapping[str, str] | None = None) -> str:
    """Return the scheduler's address: ``flag``, else ``$DASK_SCHEDULER_ADDRESS``, else Dask's
    ``scheduler-address`` setting, else the local default.

    On a Dataproc node the provider's initialization action sets ``scheduler-address`` in
    ``/etc/dask/config.yaml`` (``tls://MASTER:8786``), beside the cluster's TLS credential that every
    client on the node then presents (``distributed.comm.tls``): a job connects with no flag.
    """
    import dask

    environ = os.environ if environ is None else environ
    return (
        flag
        or environ.get(SCHEDULER_ADDRESS_ENV)
        or dask.config.get("scheduler-address", None)
        or DEFAULT_SCHEDULER_ADDRESS
    )


def choose_runtime(
    runtime: str, flag: str | None, environ: Mapping[str, str] | None = None, yarn_config: Any = None
) -> str:
    """Return ``standalone`` or ``yarn``: the runtime asked for, or for ``auto`` the one the node has.

    ``auto`` is standalone when a scheduler address is given (flag or environment), else yarn when
    the Dask configuration has a ``yarn`` section (the yarn runtime of Dataproc's Dask
    initialization action writes one to ``/etc/dask/``), else standalone.
    """
    if runtime != "auto":
        return runtime
    environ = os.environ if environ is None else environ
    if flag or environ.get(SCHEDULER_ADDRESS_ENV):
        return "standalone"
    return "yarn" if yarn_config else "standalone"


def import_dask() -> None:
    """Import dask.dataframe and distributed now: a job starts its clock after, as the references do.

    The ``seconds`` of a job's summary are its work, not Python loading libraries (about 1.5 s here).
    """
    import dask.dataframe  # noqa: F401
    import distributed  # noqa: F401


@contextmanager
def connect(address: str, timeout: float) -> Iterator[Client]:
    """Connect to the Dask scheduler at ``address``, and close the client on exit.

    :raises JobFailure: the scheduler did not answer within ``timeout`` seconds.
    """
    from distributed import Client

    try:
        client = Client(address, timeout=timeout)
    except (OSError, TimeoutError) as err:
        raise JobFailure(f"cannot reach the Dask scheduler at {address} within {timeout:g} s: {err}") from err
    try:
        yield client
    finally:
        client.close()


@contextmanager
def cluster_client(args: argparse.Namespace) -> Iterator[Client]:
    """Connect to the cluster by the runtime's rules, with the job's code on it while the block runs."""
    import cloudpickle

    # Tasks call functions of this module; where it is not uploaded, a worker may not have it.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    with _runtime_client(args) as client, code_on_cluster(client, _CODE_FILES):
        yield client


@contextmanager
def _runtime_client(args: argparse.Namespace) -> Iterator[Client]:
    """Connect to the cluster by the runtime's rules; in the yarn runtime, start and stop the application."""
    import dask

    runtime = choose_runtime(args.runtime, args.scheduler_address, yarn_config=dask.config.get("yarn", None))
    if runtime == "standalone":
        address = scheduler_address(args.scheduler_address)
        with connect(address, args.connect_timeout) as client:
            log.info("Connected to %s", address)
            yield client
        return
    try:
        from dask_yarn import YarnCluster
    except ImportError as err:
        raise JobFailure("the yarn runtime needs dask-yarn on this node; pass --runtime standalone") from err
    from distributed import Client

    # A YARN application left running keeps a Dataproc cluster busy forever: always stop it.
    with YarnCluster() as cluster, Client(cluster, timeout=args.connect_timeout) as client:
        cluster.scale(args.min_workers)
        log.info("Started a Dask YARN application with %d worker(s)", args.min_workers)
        yield client


#: The files :func:`cluster_client` uploads: this module's and the job's, once :func:`main_by_name` imported it.
_CODE_FILES: list[Path] = []


def main_by_name(path: str, main: Callable[[], int]) -> int:
    """Run the job script at ``path`` as the module of its file's name, and return its exit status.

    A job script ends with ``sys.exit(main_by_name(__file__, main))``. Its functions then belong to
    a module that the scheduler and workers can import once :func:`cluster_client` has uploaded the
    file, so tasks name them; as ``__main__``, which no other process can import, they travelled by
    value in every task. If another module of that name comes first on the path, the script runs as
    it is (``main``), its functions by value.
    """
    path_ = Path(path).resolve()
    if str(path_.parent) not in sys.path:
        sys.path.insert(0, str(path_.parent))
    try:
        module = importlib.import_module(path_.stem)
        same = Path(module.__file__ or "").resolve() == path_
    except ImportError:
        same = False
    if not same:
        log.warning("Another module named %s comes first on the path: tasks carry %s by value", path_.stem, path_.name)
        return main()
    _CODE_FILES[:] = [Path(__file__).resolve(), path_]  # this module first: the job's imports it
    return module.main()


@contextmanager
def code_on_cluster(client: Client, files: Sequence[Path]) -> Iterator[None]:
    """Upload ``files`` to the cluster (:func:`upload_code`) for the length of the block, then remove their plugins.

    Removed, nothing of the job outlives it on a long-lived cluster: a worker that joins later no
    longer gets its files. The processes that imported them keep them until the next upload.
    """
    try:
        upload_code(client, files)  # inside: a file that fails to load leaves no plugin of the ones before it
        yield
    finally:
        forget_code(client, files)


def _plugin_name(path: Path) -> str:
    return f"dask-job-code-{path.name}"


def upload_code(client: Client, files: Sequence[Path]) -> None:
    """Upload ``files`` (Python modules, in import order) to the scheduler and every worker, and import them there.

    Plugins of a fixed name per file: a second upload of a file replaces the first, and a worker
    that joins later gets the files before its first task.

    :raises JobFailure: a file cannot be imported on the scheduler or a worker (a library missing there).
    """
    from distributed.diagnostics.plugin import SchedulerUploadFile, UploadFile

    for path in files:
        name = _plugin_name(path)
        try:
            client.register_plugin(SchedulerUploadFile(str(path)), name=name)
            client.register_plugin(UploadFile(str(path)), name=name)
        except Exception as err:
            raise JobFailure(f"cannot load {path.name} on the Dask cluster: {err!r}") from err
    if files:
        log.info("Uploaded %s to the scheduler and workers", ", ".join(path.name for path in files))


def forget_code(client: Client, files: Sequence[Path]) -> None:
    """Remove the upload plugins of ``files`` from the cluster; a failure is logged, never raised.

    Runs as the job ends, also when it failed: an error here must not hide the job's own.
    """
    for path in files:
        for unregister in (client.unregister_worker_plugin, client.unregister_scheduler_plugin):
            try:
                unregister(_plugin_name(path))
            except Exception as err:
                log.warning("Could not remove the upload of %s from the cluster: %r", path.name, err)


def wait_for_workers(client: Client, count: int, timeout: float) -> int:
    """Wait until at least ``count`` workers have joined, and return how many there are."""
    try:
        client.wait_for_workers(count, timeout=timeout)
    except TimeoutError as err:
        have = len(client.nthreads())
        raise JobFailure(f"{have} Dask worker(s) joined within {timeout:g} s, the job needs {count}") from err
    return len(client.nthreads())


def require_on_workers(client: Client, module: str, hint: str) -> None:
    """Raise :class:`JobFailure` naming the workers that cannot import ``module``; ``hint`` says how to get it.

    For a job whose tasks need a library the cluster may lack (XGBoost): checked before any work,
    since a task would otherwise fail on such a worker after the work before it, with an
    ``ImportError`` deep in a worker's traceback.
    """
    lacking = sorted(address for address, found in client.run(_importable, module).items() if not found)
    if lacking:
        raise JobFailure(
            f"{len(lacking)} of {len(client.nthreads())} Dask worker(s) cannot import {module} "
            f"({', '.join(lacking)}): {hint}"
        )


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def check_output_apart(output: str, others: Sequence[str]) -> None:
    """Refuse an output folder that holds any of ``others``: overwriting it would delete them."""
    from fsspec.core import url_to_fs

    out_fs, out_path = url_to_fs(output)
    prefix = out_path.rstrip("/") + "/"
    for url in others:
        fs, path = url_to_fs(url)
        if fs.protocol == out_fs.protocol and (path.rstrip("/") + "/").startswith(prefix):
            raise JobFailure(f"--output {output!r} holds {url!r}, which overwriting the output would delete")


def tree_reduce(items: Sequence[Any], combine: Callable[[Sequence[Any]], Any], fan_in: int = 8) -> Any:
    """Combine ``items`` ``fan_in`` at a time, level by level, down to one: ``combine(group)`` -> item.

    The items are delayed objects or futures; ``combine`` wraps a task around each group, so the
    partial results meet where they live instead of all at the driver.
    """
    while len(items) > 1:
        items = [combine(items[i : i + fan_in]) for i in range(0, len(items), fan_in)]
    return items[0]


def frame_checksum(frame: pd.DataFrame) -> int:
    """Return the sum, modulo 2**64, of the row hashes of ``frame``: blind to row order and index."""
    hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy(dtype=np.uint64)
    return int(np.add.reduce(hashes, dtype=np.uint64)) if len(hashes) else 0


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, not {value}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
    return value


def byte_size(text: str) -> str:
    """An argparse type: a positive size such as ``64MiB`` or ``1000000``, returned as given."""
    from dask.utils import parse_bytes

    try:
        if not text.strip() or parse_bytes(text) < 1:  # parse_bytes("") is 1
            raise ValueError(text)
    except (ValueError, TypeError) as err:
        raise argparse.ArgumentTypeError(f"not a positive size such as 64MiB: {text!r}") from err
    return text


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options that say how to reach the Dask cluster."""
    parser.add_argument(
        "--scheduler-address",
        help=f"Dask scheduler address; default ${SCHEDULER_ADDRESS_ENV}, else {DEFAULT_SCHEDULER_ADDRESS}",
    )
    parser.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default="auto",
        help="standalone: connect to a running scheduler; yarn: start a dask-yarn application; "
        "auto (default): standalone if a scheduler address is known, yarn if the Dask config has a yarn section",
    )
    parser.add_argument(
        "--connect-timeout",
        type=positive_float,
        default=DEFAULT_CONNECT_TIMEOUT_SECONDS,
        help="seconds to wait for the scheduler, and again for --min-workers (default %(default)s)",
    )
    parser.add_argument("--min-workers", type=positive_int, default=1, help="workers to wait for (default %(default)s)")


def run_job(name: str, job: Callable[[argparse.Namespace], dict[str, Any]], args: argparse.Namespace) -> int:
    """Run ``job(args)``, print its summary as one JSON line, and return the process exit status."""
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        summary = job(args)
    except JobFailure as err:
        print(f"{name}: error: {err}", file=sys.stderr)
        return 1
    except Exception:
        logging.getLogger(name).exception("The job failed")
        return 1
    print(json.dumps(summary), flush=True)
    return 0


# -- reading text in blocks (csv_to_parquet, word_count) ---------------------------------------

#: File name endings of compressed files, which cannot be split into blocks.
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz", ".zst", ".lz4")


def resolve_input(url: str, pattern: str = "*.csv", what: str = "CSV files") -> list[str]:
    """Return the URLs of the files ``url`` names: a file, a glob, or a folder (its files matching ``pattern``).

    :raises JobFailure: nothing matches, or the file system cannot be listed.
    """
    from fsspec.core import url_to_fs

    try:
        fs, path = url_to_fs(url)
        if fs.isdir(path):
            path = path.rstrip("/") + "/" + pattern
        if any(char in path for char in "*?["):
            paths = sorted(p for p in fs.glob(path) if not fs.isdir(p))
        else:
            paths = [path] if fs.isfile(path) else []
    except (OSError, ValueError, ImportError) as err:
        raise JobFailure(f"cannot list --input {url!r}: {err}") from err
    if not paths:
        raise JobFailure(f"no {what} found at --input {url!r}")
    return [fs.unstrip_protocol(p) for p in paths]


def byte_blocks(urls: Sequence[str], blocksize: int) -> list[tuple[str, int, int | None]]:
    """Return ``(url, offset, length)`` blocks that cover the files; a compressed file is one block (length None)."""
    from fsspec.core import url_to_fs

    blocks: list[tuple[str, int, int | None]] = []
    for url in urls:
        if url.lower().endswith(COMPRESSED_SUFFIXES):
            blocks.append((url, 0, None))
            continue
        fs, path = url_to_fs(url)
        size = fs.size(path)
        blocks.extend((url, offset, min(blocksize, size - offset)) for offset in range(0, max(size, 1), blocksize))
    return blocks


def read_lines_block(url: str, offset: int, length: int | None) -> bytes:
    """Return the whole lines of a block: those that start after ``offset`` (or at 0) and before ``offset + length``."""
    from fsspec.core import url_to_fs
    from fsspec.utils import read_block

    if length is None:
        from fsspec import open as fsspec_open

        with fsspec_open(url, "rb", compression="infer") as stream:
            return stream.read()
    fs, path = url_to_fs(url)
    with fs.open(path, "rb") as stream:
        return read_block(stream, offset, length, delimiter=b"\n")
