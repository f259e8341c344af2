"""How fast the Dask jobs are, against one process and against the machine's limit, and how they scale.

For each job of ``jobs/``, on generated data (``jobs/generate.py``, cached between runs) sized so
that the single-process version takes 20 s or more on this project's 2-core machine, one invocation
runs:

a. the single-process reference (``benchmarks/reference.py``: pandas, XGBoost's scikit-learn
   classifier, networkx) in a subprocess limited to one thread;
b. the Dask job, as the script it is on Dataproc, against a ``LocalCluster`` of 1 worker of 1 thread;
c. the same against 2 workers of 1 thread each;

and, for CSV to Parquet, pyarrow alone reading and writing the same files on one thread
(``pyarrow.csv.read_csv(use_threads=False)`` and ``pyarrow.parquet.write_table`` with Arrow's pools
set to one thread): the ceiling a core can reach. Times are those the scripts report for their own
work (without the interpreter's start and imports); each Dask run gets a cluster of its own,
started and warmed up (imports done) before the job runs and stopped after it, so no idle cluster
takes CPU from the run. Before each run, every file of its input is read once (untimed): this
VM's kernel evicts file pages unused for about a minute, and a run must not find part of its
input on disk because the previous run took long. Results of the Dask runs are checked against
the reference (checksums, or tolerances for the model) and the run fails if they differ. For CSV
to Parquet the checksum is of the Parquet files each run wrote, read back after the run (untimed);
the job runs as users run it by default, without its optional ``--checksum``.

Printed per job: input size, each way's best time and throughput (and every run's time), the
speedup of 2 workers over 1 and the parallel efficiency (speedup / 2); for CSV to Parquet also the
ceiling and ``csv_ceiling_frac`` = (Dask 1-worker rate per core) / (pyarrow single-thread rate). The last line::

    RESULT csv_speedup_2w=N parquet_speedup_2w=N csv_ceiling_frac=N wordcount_speedup_2w=N ...

Each worker and each reference is held to a core of its own (``sched_setaffinity`` for every
thread of a worker process, ``taskset`` for a reference): 1 worker means one core, as the speedup,
the parallel efficiency and the per-core ceiling figure assume. Unpinned, a 1-thread worker is not
one core here: Arrow decodes Parquet on a thread of its own pool, which then runs on the idle
second core beside the task thread (a quarter of the task thread's time in Parquet analytics),
while 2 workers have no idle core to lend. The Dask job's driver and the scheduler are
not pinned: on Dataproc they run on the master. ``--no-pin`` measures without pinning.

On a VM with virtio-balloon free page reporting (this project's machine has it), memory freed by
any process goes back to the hypervisor within seconds, and touching it again waits for the host:
here, 2.1 GB of such memory took 4.6 s to fill against 0.34 s for memory the VM still had. Every
run starts fresh processes, so each pays that for the memory it allocates, most of all the
single-process references (Parquet analytics' on 80 M events took 52 to 54 s with it, 28 s
without), and 2 workers, two fresh heaps on two busy cores, more than 1 (Parquet analytics:
1.55x to 1.70x with it, 1.65x to 1.84x without, on one day). Run as root, the benchmark holds
reporting off while it runs and restores it at the end, as it holds workers to cores: both are
settings of the machine that the figures should not measure. ``--keep-page-reporting`` measures
with it on; ``--quick`` never changes it. The header says which.

Workers and references run with glibc malloc keeping freed memory for reuse (``--malloc tuned``,
the default); ``--malloc dask`` gives them the ``MALLOC_TRIM_THRESHOLD_=65536`` that Dask's nanny
sets for its workers, which makes numpy-heavy tasks about twice as slow on this machine (see
:data:`MALLOC`).

``--quick`` runs tiny inputs, the references and the job scripts in this process (a smoke test:
the figures mean nothing); ``--jobs`` picks jobs;
``--repeat N`` keeps the best of N runs of each (default 3, alternating the ways, so a passing
disturbance hits one run, not one way: on this VM one way's runs differ by up to a third);
``--data-dir`` says where the inputs are cached.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import os
import runpy
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
JOBS = REPO / "jobs"
REFERENCE = Path(__file__).resolve().parent / "reference.py"
#: Variables that hold numeric libraries (BLAS, OpenMP, Arrow) to one thread in the reference.
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
#: glibc malloc settings of every process that computes (workers and references), by ``--malloc``.
#: Dask's nanny gives its workers ``MALLOC_TRIM_THRESHOLD_=65536``; setting any such variable turns
#: off glibc's dynamic mmap threshold, so every temporary array over 128 KiB is a fresh mmap whose
#: pages fault in: numpy-heavy tasks (hashing, group-bys) run about twice as slow here. ``tuned``
#: keeps freed memory for reuse instead (trim above 256 MiB, mmap above 32 MiB).
MALLOC = {
    "dask": {"MALLOC_TRIM_THRESHOLD_": "65536"},
    "tuned": {"MALLOC_TRIM_THRESHOLD_": str(256 << 20), "MALLOC_MMAP_THRESHOLD_": str(32 << 20)},
}
RUN_TIMEOUT_SECONDS = 3600
#: The smallest block of free memory (log2 of its pages) that Linux hands back to the hypervisor.
PAGE_REPORTING_ORDER = Path("/sys/module/page_reporting/parameters/page_reporting_order")
#: A block order larger than the page allocator has (10 on x86-64): no free memory is handed back.
PAGE_REPORTING_OFF = 11
#: Where virtio-balloon devices list their features; feature 5 is free page reporting.
BALLOONS = Path("/sys/bus/virtio/drivers/virtio_balloon")


@dataclass(frozen=True)
class Bench:
    """One job's benchmark: its input, how to run it, and what its throughput counts."""

    job: str
    kind: str
    generate: dict[str, int]
    #: Options of the Dask job alone (its partitioning).
    job_args: list[str] = field(default_factory=list)
    #: Options the Dask job and the single-process reference both take (what to compute).
    args: list[str] = field(default_factory=list)
    #: "bytes" of the input files, or the job's "rows" (edges, feature rows).
    unit: str = "bytes"


FULL = {
    "word_count": Bench("word_count", "text", {"rows": 7_000_000, "rows-per-file": 125_000}),
    "csv_to_parquet": Bench("csv_to_parquet", "csv", {"rows": 75_000_000, "files": 75}),
    "parquet_analytics": Bench(
        "parquet_analytics",
        "events",
        {"rows": 80_000_000, "rows-per-file": 2_000_000},
        args=["--countries=US,DE,FR,GB,IN", "--since=2024-02-01"],
    ),
    "ml_training": Bench(
        "ml_training", "features", {"rows": 4_500_000, "rows-per-file": 250_000}, args=["--rounds=50"], unit="rows"
    ),
    "graph_analytics": Bench(
        "graph_analytics",
        "edges",
        {"rows": 3_500_000, "rows-per-file": 125_000, "nodes": 350_000},
        args=["--tol=1e-10"],
        unit="rows",
    ),
}
QUICK = {
    "word_count": Bench("word_count", "text", {"rows": 4_000, "rows-per-file": 1_000}, ["--blocksize=64KiB"]),
    "csv_to_parquet": Bench("csv_to_parquet", "csv", {"rows": 20_000, "files": 2}, ["--blocksize=256KiB"]),
    "parquet_analytics": Bench(
        "parquet_analytics",
        "events",
        {"rows": 40_000, "rows-per-file": 10_000},
        args=["--countries=US,DE", "--since=2024-02-01"],
    ),
    "ml_training": Bench(
        "ml_training", "features", {"rows": 4_000, "rows-per-file": 1_000}, args=["--rounds=3"], unit="rows"
    ),
    "graph_analytics": Bench(
        "graph_analytics", "edges", {"rows": 8_000, "rows-per-file": 2_000, "nodes": 800}, unit="rows"
    ),
}
#: The RESULT names of the jobs.
SHORT = {
    "word_count": "wordcount",
    "csv_to_parquet": "csv",
    "parquet_analytics": "parquet",
    "ml_training": "ml",
    "graph_analytics": "graph",
}


# -- running things -----------------------------------------------------------------------------


def load() -> str:
    """Return the 1, 5 and 15 minute load averages, as ``uptime`` prints them."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def run_json(argv: list[str], *, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run a script that prints one JSON line last; return it, or exit naming the failure."""
    proc = subprocess.run(
        argv, capture_output=True, text=True, env=env, timeout=RUN_TIMEOUT_SECONDS, stdin=subprocess.DEVNULL
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode or not lines:
        sys.exit(f"{' '.join(argv[:3])} ... failed with code {proc.returncode}:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1])


def free_page_reporting() -> int | None:
    """Return the block order from which this VM hands free memory back to its hypervisor.

    None if it has no virtio-balloon with free page reporting; :data:`PAGE_REPORTING_OFF` or more if
    reporting is there but off.
    """
    try:
        features = [path.read_text() for path in BALLOONS.glob("virtio*/features")]
        if not any(len(bits) > 5 and bits[5] == "1" for bits in features):
            return None
        return int(PAGE_REPORTING_ORDER.read_text())
    except (OSError, ValueError):
        return None


def page_reporting_line(order: int | None) -> str:
    """Return the header's line on free page reporting ('' for a machine without it)."""
    if order is None:
        return ""
    if order >= PAGE_REPORTING_OFF:
        return f"Free page reporting is off ({PAGE_REPORTING_ORDER} is {order})."
    return (
        f"Free page reporting is on (order {order}): memory freed here goes back to the hypervisor and is slow to "
        "touch again, which slows runs that allocate much (the single-process references most, then 2 workers). "
        "Run as root and the benchmark holds it off while it runs; by hand: "
        f"echo {PAGE_REPORTING_OFF} > {PAGE_REPORTING_ORDER} (echo {order} restores it)."
    )


@contextlib.contextmanager
def page_reporting_held_off(keep: bool = False) -> Iterator[str]:
    """Hold this VM's free page reporting off while the block runs, if it is on and this process may; restore it after.

    Yields the header's line on it. Like pinning workers to cores, this is a setting of the machine
    for the figures' sake: reporting makes every fresh process pay the hypervisor for the memory it
    touches, which is not what the benchmark measures. Left as it is with ``keep``, when it is off
    or absent, and when the setting cannot be written (not root): the line then says how.
    SIGTERM ends the run through the ``finally`` that restores it.
    """
    order = free_page_reporting()
    if keep or order is None or order >= PAGE_REPORTING_OFF or not _turned_off():
        yield page_reporting_line(order)
        return
    terminate = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        yield (
            f"Free page reporting is held off while this runs ({PAGE_REPORTING_ORDER}: {order} -> "
            f"{PAGE_REPORTING_OFF}, {order} again at the end; --keep-page-reporting measures with it on)."
        )
    finally:
        signal.signal(signal.SIGTERM, terminate)
        PAGE_REPORTING_ORDER.write_text(f"{order}\n")


def _turned_off() -> bool:
    """Turn free page reporting off; return False if this process may not (not root)."""
    try:
        PAGE_REPORTING_ORDER.write_text(f"{PAGE_REPORTING_OFF}\n")
    except OSError:
        return False
    return True


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    sys.exit(128 + signum)


def clean_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "DASK_SCHEDULER_ADDRESS"}
    return {**env, **extra}


def chosen_jobs(parser: argparse.ArgumentParser, text: str, specs: dict[str, Bench]) -> list[str]:
    """Return the jobs of a comma-separated ``--jobs``, or stop naming those unknown and the choices."""
    chosen = [name.strip() for name in text.split(",") if name.strip()]
    unknown = set(chosen) - set(specs)
    if unknown:
        parser.error(f"unknown jobs {sorted(unknown)}; choose from {list(specs)}")
    return chosen


@contextlib.contextmanager
def input_root(data_dir: Path | None, *, quick: bool, prefix: str) -> Iterator[Path]:
    """Yield where the inputs go: ``--data-dir``; for a quick run without it, a temporary folder
    removed afterwards; else a cache folder in the temp dir that later runs reuse."""
    temporary = tempfile.mkdtemp(prefix=prefix) if quick and not data_dir else None
    root = data_dir or Path(temporary or Path(tempfile.gettempdir()) / "airflow-dask-provider-bench")
    root.mkdir(parents=True, exist_ok=True)
    try:
        yield root
    finally:
        if temporary:
            shutil.rmtree(temporary, ignore_errors=True)


def ensure_input(bench: Bench, root: Path, seed: int) -> Path:
    """Generate the job's input under ``root`` unless an identical one is there; return its folder.

    Runs ``generate.py`` in this process (two worker processes write the files): call it before any
    Dask cluster starts threads here.
    """
    options = [f"--{name}={value}" for name, value in sorted(bench.generate.items())]
    folder = root / "-".join([bench.kind, f"seed{seed}", *(o.lstrip("-").replace("=", "") for o in options)])
    # Beside the input, not in it: word count reads every file of its folder, and Spark (benchmarks/vs_spark.py) none
    # whose name starts with "_", so a marker inside would be words that one engine counts and the other does not.
    done = folder.with_name(f"{folder.name}.generated")
    if done.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    print(f"  generating {bench.kind} input in {folder} ...", flush=True)
    generate = _import_from(JOBS, "generate")
    with contextlib.redirect_stdout(io.StringIO()):
        code = generate.main([bench.kind, f"--output={folder}", f"--seed={seed}", *options, "--processes=2"])
    if code:
        sys.exit(f"generate.py {bench.kind} failed with code {code}")
    done.write_text(json.dumps(bench.generate))
    return folder


def _import_from(folder: Path, name: str) -> Any:
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    return importlib.import_module(name)


def input_size(bench: Bench, folder: Path, summary: dict[str, Any]) -> float:
    """Return the amount of work: bytes of the input files, or the rows the job reported."""
    if bench.unit == "rows":
        return float(summary["rows"])
    return float(sum(path.stat().st_size for path in folder.rglob("*") if path.is_file() and path.name[0] != "_"))


def with_written_checksum(job: str, summary: dict[str, Any], output: Path) -> dict[str, Any]:
    """Add the checksum of what a CSV conversion wrote; read back after the run, so it is not timed."""
    if job != "csv_to_parquet":
        return summary
    return {**summary, "written_checksum": _import_from(REFERENCE.parent, "reference").written_checksum(output)}


def run_reference(
    job: str, folder: Path, output: Path, extra: list[str], *, in_process: bool, malloc: dict[str, str], pin: bool
) -> dict[str, Any]:
    """Run a single-process reference and return its summary.

    A subprocess limited to one thread (Arrow, BLAS, OpenMP) and, with ``pin``, held to the first
    core; for a quick run, this process.
    """
    shutil.rmtree(output, ignore_errors=True)
    argv = [job, f"--input={folder}", f"--output={output}", *extra]
    try:
        if in_process:
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                _import_from(REFERENCE.parent, "reference").main(argv)
            summary = json.loads(printed.getvalue().splitlines()[-1])
        else:
            cores = pinned_cores(1) if pin else None
            taskset = ["taskset", "--cpu-list", str(cores[0])] if cores else []
            summary = run_json([*taskset, sys.executable, str(REFERENCE), *argv], env=clean_env(**ONE_THREAD, **malloc))
        return with_written_checksum(job, summary, output)
    finally:
        shutil.rmtree(output, ignore_errors=True)


def run_dask(
    bench: Bench, address: str, folder: Path, output: Path, *, in_process: bool, environ: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run the Dask job script against the scheduler at ``address`` and return its summary.

    A subprocess, as on Dataproc; for a quick run, the script's ``main`` in this process. ``environ``:
    more variables for the subprocess (a quick run's caller sets what they would set in this process).
    """
    shutil.rmtree(output, ignore_errors=True)
    script = JOBS / f"{bench.job}.py"
    args = [f"--input={folder}", f"--output={output}", f"--scheduler-address={address}", *bench.args, *bench.job_args]
    try:
        if in_process:
            # Not imported as a module: the workers get the script's functions by value, as from a file,
            # and the script imports dask_job from beside it, as on Dataproc.
            if str(JOBS) not in sys.path:
                sys.path.insert(0, str(JOBS))
            job = runpy.run_path(str(script), run_name=f"bench_{bench.job}")
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                code = job["main"](args)
            if code:
                sys.exit(f"{bench.job} failed with code {code}")
            summary = json.loads(printed.getvalue().splitlines()[-1])
        else:
            summary = run_json([sys.executable, str(script), *args], env=clean_env(**(environ or {})))
        return with_written_checksum(bench.job, summary, output)
    finally:
        shutil.rmtree(output, ignore_errors=True)


def _warm_worker() -> int:
    """Import what the jobs use and hold Arrow to one thread, as the worker's one core."""
    import dask.dataframe  # noqa: F401
    import fsspec  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow
    import pyarrow.compute
    import pyarrow.csv
    import pyarrow.dataset
    import pyarrow.parquet

    pyarrow.set_cpu_count(1)
    pyarrow.set_io_thread_count(1)
    try:
        import xgboost  # noqa: F401
    except ImportError:
        pass
    return pyarrow.cpu_count()


def run_on_own_cluster(
    workers: int, malloc: dict[str, str], pin: bool, run: Callable[[str], dict[str, Any]], **options: Any
) -> dict[str, Any]:
    """Run ``run(scheduler_address)`` on a cluster started for it alone, and stop the cluster after.

    An idle cluster is not free: its scheduler, nannies and workers (heartbeats, the memory monitor,
    the sampling profiler) take about a fifth of a core here, which a run on the other cluster would
    lose on this 2-core machine. ``options`` go to the ``LocalCluster`` (:func:`start_cluster`).
    """
    cluster = start_cluster(workers, malloc, pin, **options)
    try:
        return run(cluster.scheduler_address)
    finally:
        cluster.close()


def start_cluster(workers: int, malloc: dict[str, str], pin: bool, **options: Any):
    """Start a LocalCluster of ``workers`` one-thread worker processes on 127.0.0.1, warmed up.

    Warmed up: the workers have imported what the jobs use, and so has this process, which runs the
    scheduler. Otherwise the first Dask run of an invocation waited about 1.5 s for the scheduler to
    import ``dask.dataframe`` before it could read the graph. With ``pin``, each worker process is
    held to a core of its own, the first ``workers`` cores. ``options`` go to the ``LocalCluster``
    (``security=`` and ``protocol=`` for a TLS cluster); the warm-up's client takes the cluster's security.
    """
    import dask
    import dask.dataframe  # the scheduler, in this process, needs it for the jobs' graphs
    from distributed import Client

    environ = {f"distributed.nanny.pre-spawn-environ.{name}": value for name, value in malloc.items()}
    with dask.config.set(environ):
        cluster = _local_cluster(workers, **options)
    with Client(cluster) as client:
        client.wait_for_workers(workers)
        client.run(_warm_worker)
        for core, address in zip(pinned_cores(workers) if pin else [], sorted(client.scheduler_info()["workers"])):
            client.run(_hold_to_core, core, workers=[address])
    return cluster


def pinned_cores(count: int) -> list[int] | None:
    """Return the first ``count`` cores this process may run on, or None if it may not pin to that many."""
    if not hasattr(os, "sched_getaffinity") or shutil.which("taskset") is None:
        return None
    cores = sorted(os.sched_getaffinity(0))
    return cores[:count] if len(cores) >= count else None


def _hold_to_core(core: int) -> None:
    """Hold every thread of this process to ``core``; threads it starts later inherit the affinity."""
    for thread in os.listdir("/proc/self/task"):
        os.sched_setaffinity(int(thread), {core})


def _local_cluster(workers: int, **options: Any):
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        scheduler_port=0,
        dashboard_address=None,
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        silence_logs=40,
        **options,
    )


# -- checking -----------------------------------------------------------------------------------


def check(bench: Bench, reference: dict[str, Any], dask_run: dict[str, Any]) -> str:
    """Return '' if the Dask result equals the reference's, else what differs."""
    if bench.job in ("word_count", "parquet_analytics"):
        keys = ["rows", "checksum"] + (["top_users_checksum"] if bench.job == "parquet_analytics" else [])
    elif bench.job == "ml_training":
        close = all(abs(dask_run[name] - reference[name]) <= tolerance for name, tolerance in
                    (("logloss", 0.02), ("error", 0.02), ("auc", 0.01)))  # fmt: skip
        return "" if close and dask_run["rows"] == reference["rows"] else f"metrics {dask_run} vs {reference}"
    elif bench.job == "graph_analytics":
        keys = ["rows", "nodes"]
    else:  # csv_to_parquet: what the files hold, read back after the run
        keys = ["rows", "written_checksum"]
    differs = {key: (dask_run.get(key), reference.get(key)) for key in keys if dask_run.get(key) != reference.get(key)}
    return f"differs from the reference: {differs}" if differs else ""


# -- the benchmark ------------------------------------------------------------------------------


def read_into_page_cache(folder: Path) -> int:
    """Read every file of ``folder`` once, untimed, so that each run starts with its input in memory.

    This VM's kernel runs DAMON with a ``pageout`` scheme: file pages not touched for about a minute
    are evicted although memory is free (minutes after a run, 660 MB of the events dataset's 940 MB
    were left in memory). Without this, a run could read part of its input from disk because the
    previous run took long. Returns the bytes read.
    """
    total = 0
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with path.open("rb", buffering=0) as stream:
                while chunk := stream.read(8 << 20):
                    total += len(chunk)
    return total


def human(amount: float, unit: str) -> str:
    if unit == "bytes":
        return f"{amount / 1e6:,.1f} MB"
    return f"{amount / 1e6:,.2f} M rows"


def rate(amount: float, seconds: float, unit: str) -> str:
    return f"{amount / 1e6 / seconds:,.1f} {'MB/s' if unit == 'bytes' else 'M rows/s'}"


def bench_job(
    bench: Bench, folder: Path, repeat: int, quick: bool, malloc: dict[str, str], pin: bool
) -> dict[str, float]:
    """Run one job's benchmark on its input ``folder``, print its lines, and return its figures."""
    root = folder.parent
    output = root / "_out" / bench.job
    times: dict[str, list[float]] = {}
    summaries: dict[str, dict[str, Any]] = {}
    reference = partial(run_reference, folder=folder, output=output, in_process=quick, malloc=malloc, pin=pin)
    for _ in range(repeat):
        runs = {"single": lambda: reference(bench.job, extra=bench.args)}
        if bench.job == "csv_to_parquet":
            runs["pyarrow"] = lambda: reference("pyarrow_csv", extra=[])
        for workers in (1, 2):
            runs[f"{workers}w"] = lambda workers=workers: run_on_own_cluster(
                workers, malloc, pin, lambda address: run_dask(bench, address, folder, output, in_process=quick)
            )
        for name, run in runs.items():
            read_into_page_cache(folder)
            summary = run()
            summaries[name] = summary
            times.setdefault(name, []).append(float(summary["seconds"]))
    best = {name: min(seconds) for name, seconds in times.items()}
    for name in ("1w", "2w"):
        problem = check(bench, summaries["single"], summaries[name])
        if problem:
            sys.exit(f"{bench.job} on {name}: {problem}")
    amount = input_size(bench, folder, summaries["single"])
    speedup = best["1w"] / best["2w"]
    figures = {"speedup_2w": speedup, "efficiency_2w": speedup / 2, "vs_single_2w": best["single"] / best["2w"]}
    print(f"{bench.job}: input {human(amount, bench.unit)} ({folder.name}), results equal the reference")
    for name, label in (("single", "single process"), ("pyarrow", "pyarrow alone"), ("1w", "Dask 1 worker"),
                        ("2w", "Dask 2 workers")):  # fmt: skip
        if name in best:
            runs = ", ".join(f"{seconds:.2f}" for seconds in times[name])
            print(f"  {label:<15} {best[name]:8.2f} s  {rate(amount, best[name], bench.unit):>14}   (runs: {runs} s)")
    print(f"  speedup 2 workers / 1 worker: {speedup:.2f}x, parallel efficiency {speedup / 2:.0%}; "
          f"2 workers vs single process: {best['single'] / best['2w']:.2f}x")  # fmt: skip
    if "pyarrow" in best:
        figures["ceiling_frac"] = best["pyarrow"] / best["1w"]  # same bytes: ratio of rates
        figures["pyarrow_mb_s"] = amount / 1e6 / best["pyarrow"]
        figures["dask_1w_mb_s"] = amount / 1e6 / best["1w"]
        print(f"  Dask 1 worker per core reaches {figures['ceiling_frac']:.0%} of the pyarrow single-thread ceiling")
    print(flush=True)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny inputs: check that it all works")
    parser.add_argument("--jobs", default=",".join(FULL), help="comma-separated jobs (default: all)")
    parser.add_argument("--repeat", type=int, help="runs of each, keeping the fastest (default 3; 1 with --quick)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated inputs (default 0)")
    parser.add_argument("--data-dir", type=Path, help="where inputs are cached (default: a folder in the temp dir)")
    parser.add_argument(
        "--malloc",
        choices=sorted(MALLOC),
        default="tuned",
        help="glibc malloc settings of workers and references (default %(default)s; dask: as Dask's nanny sets them)",
    )
    parser.add_argument("--no-pin", dest="pin", action="store_false", help="let workers and references use any core")
    parser.add_argument(
        "--keep-page-reporting",
        action="store_true",
        help="leave this VM's free page reporting on (by default, as root, it is held off while the benchmark runs)",
    )
    args = parser.parse_args(argv)
    if args.repeat is None:  # the best of three evens out noisy runs (page faults, a busy neighbour)
        args.repeat = 1 if args.quick else 3
    specs = QUICK if args.quick else FULL
    chosen = chosen_jobs(parser, args.jobs, specs)
    pinning = "each worker and reference on a core of its own" if args.pin and pinned_cores(2) else "not pinned"
    results: dict[str, dict[str, float]] = {}
    # A quick run's figures mean nothing: it leaves the machine's settings alone.
    with (
        input_root(args.data_dir, quick=args.quick, prefix="job-bench-") as root,
        page_reporting_held_off(keep=args.keep_page_reporting or args.quick) as reporting,
    ):
        print(f"Jobs benchmark on {os.cpu_count()} cores ({pinning}), malloc {args.malloc} {MALLOC[args.malloc]}, "
              f"inputs in {root}")  # fmt: skip
        if reporting:
            print(reporting)
        print(f"Load average at the start: {load()}", flush=True)
        inputs = {name: ensure_input(specs[name], root, args.seed) for name in chosen}
        try:
            for name in chosen:
                results[name] = bench_job(
                    specs[name], inputs[name], args.repeat, args.quick, MALLOC[args.malloc], args.pin
                )
        finally:
            shutil.rmtree(root / "_out", ignore_errors=True)
    figures = {f"{SHORT[name]}_speedup_2w": result["speedup_2w"] for name, result in results.items()}
    figures.update({f"{SHORT[name]}_vs_single_2w": result["vs_single_2w"] for name, result in results.items()})
    if "csv_to_parquet" in results:
        figures["csv_ceiling_frac"] = results["csv_to_parquet"]["ceiling_frac"]
        figures["csv_pyarrow_mb_s"] = results["csv_to_parquet"]["pyarrow_mb_s"]
        figures["csv_dask_1w_mb_s"] = results["csv_to_parquet"]["dask_1w_mb_s"]
    first = ["csv_speedup_2w", "parquet_speedup_2w", "csv_ceiling_frac"]
    ordered = [key for key in first if key in figures] + [key for key in figures if key not in first]
    print(f"Load average at the end: {load()}")
    print("RESULT " + " ".join(f"{key}={figures[key]:.2f}" for key in ordered))
    return 0


if __name__ == "__main__":
    sys.exit(main())
