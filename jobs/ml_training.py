"""Train a gradient-boosted tree classifier on a Parquet dataset with ``xgboost.dask``.

Runs as the driver of a Dask job on a Dataproc cluster (see ``csv_to_parquet.py`` for how). Reads
a Parquet dataset of numeric features and a 0/1 label, holds out every ``--test-every``-th row (by
``row_id``, so the split does not depend on partitioning), trains with XGBoost's ``hist`` method on
every worker at once, and writes the model (XGBoost JSON) and its metrics::

    python ml_training.py --input gs://bucket/features --output gs://bucket/models/churn --rounds 100

Why ``xgboost.dask`` and not dask-ml: on Python 3.11 with the pinned Dask of both constraint files,
the CPU-only wheel ``xgboost-cpu`` is one 18 MB package that needs only numpy and scipy, and its
Dask module is developed and released with XGBoost itself. dask-ml (last release 2025.1) pulls
numba and llvmlite (about 190 MB installed) plus dask-glm, multipledispatch and sparse, and its
estimators are mostly wrappers that train scikit-learn models on one worker or fit linear models
by many passes over the data. XGBoost trains one model on all workers: each worker builds
gradient histograms of its own rows, and the workers add them up (allreduce) every tree level, so
the data never moves. (The full ``xgboost`` wheel works too; it adds the 200 MB NCCL GPU library.)
On Dataproc, install ``xgboost-cpu`` on every node with the Dask initialization action.

How it is lean: the features are read once, as float32, and persisted because the train and the
test matrix both come from them; ``DaskQuantileDMatrix`` builds XGBoost's binned matrix straight
from each worker's own partitions, without the intermediate float matrix of ``DaskDMatrix``; the
metrics come from XGBoost's own distributed evaluation of the test set, with no predict pass.

Prints one JSON summary line: ``rows`` (train + test), ``train_rows``, ``test_rows``, the test
``logloss``, ``error`` and ``auc`` after the last round, ``rounds``, ``model`` (its URL) and
``seconds``. Exit status 0 on success, 1 on failure, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import dask.dataframe as dd
    from distributed import Client

JOB_NAME = "ml_training"
METRICS = ("logloss", "error", "auc")
DEFAULTS = {"rounds": 50, "max_depth": 6, "learning_rate": 0.3, "max_bin": 256, "test_every": 5}

log = logging.getLogger(JOB_NAME)


# -- shared by the job scripts: kept identical in each (tests/unit/jobs/test_shared_helpers.py) ------
#
# Dataproc stages only a job's main file, and Dask workers import functions of other modules by
# name, so every job script carries these helpers itself instead of importing them.

#: Where the scheduler is when neither ``--scheduler-address`` nor the variable below says.
#: On a Dataproc master the standalone Dask runtime runs the scheduler on the same node.
DEFAULT_SCHEDULER_ADDRESS = "tcp://localhost:8786"
SCHEDULER_ADDRESS_ENV = "DASK_SCHEDULER_ADDRESS"
DEFAULT_CONNECT_TIMEOUT_SECONDS = 60.0
RUNTIMES = ("auto", "standalone", "yarn")


class JobFailure(Exception):
    """A failure the job reports as one line on stderr, without a traceback."""


def scheduler_address(flag: str | None, environ: Mapping[str, str] = os.environ) -> str:
    """Return the scheduler's address: ``flag``, else ``$DASK_SCHEDULER_ADDRESS``, else the local default."""
    return flag or environ.get(SCHEDULER_ADDRESS_ENV) or DEFAULT_SCHEDULER_ADDRESS


def choose_runtime(
    runtime: str, flag: str | None, environ: Mapping[str, str] = os.environ, yarn_config: Any = None
) -> str:
    """Return ``standalone`` or ``yarn``: the runtime asked for, or for ``auto`` the one the node has.

    ``auto`` is standalone when a scheduler address is given (flag or environment), else yarn when
    the Dask configuration has a ``yarn`` section (the yarn runtime of Dataproc's Dask
    initialization action writes one to ``/etc/dask/``), else standalone.
    """
    if runtime != "auto":
        return runtime
    if flag or environ.get(SCHEDULER_ADDRESS_ENV):
        return "standalone"
    return "yarn" if yarn_config else "standalone"


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


def wait_for_workers(client: Client, count: int, timeout: float) -> int:
    """Wait until at least ``count`` workers have joined, and return how many there are."""
    try:
        client.wait_for_workers(count, timeout=timeout)
    except TimeoutError as err:
        have = len(client.nthreads())
        raise JobFailure(f"{have} Dask worker(s) joined within {timeout:g} s, the job needs {count}") from err
    return len(client.nthreads())


def check_output_apart(output: str, others: Sequence[str]) -> None:
    """Refuse an output folder that holds any of ``others``: overwriting it would delete them."""
    from fsspec.core import url_to_fs

    out_fs, out_path = url_to_fs(output)
    prefix = out_path.rstrip("/") + "/"
    for url in others:
        fs, path = url_to_fs(url)
        if fs.protocol == out_fs.protocol and (path.rstrip("/") + "/").startswith(prefix):
            raise JobFailure(f"--output {output!r} holds {url!r}, which overwriting the output would delete")


def frame_checksum(frame: pd.DataFrame) -> int:
    """Return the sum, modulo 2**64, of the row hashes of ``frame``: blind to row order and index."""
    hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy(dtype=np.uint64)
    return int(np.add.reduce(hashes, dtype=np.uint64)) if len(hashes) else 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, not {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
    return value


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
        type=_positive_float,
        default=DEFAULT_CONNECT_TIMEOUT_SECONDS,
        help="seconds to wait for the scheduler, and again for --min-workers (default %(default)s)",
    )
    parser.add_argument(
        "--min-workers", type=_positive_int, default=1, help="workers to wait for (default %(default)s)"
    )


def run_job(name: str, job: Callable[[argparse.Namespace], dict[str, Any]], args: argparse.Namespace) -> int:
    """Run ``job(args)``, print its summary as one JSON line, and return the process exit status."""
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
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


# -- training -----------------------------------------------------------------------------------


def xgboost_params(*, max_depth: int, learning_rate: float, max_bin: int, seed: int) -> dict[str, Any]:
    """Return the booster parameters; the single-process reference uses the same ones."""
    return {
        "objective": "binary:logistic",
        "tree_method": "hist",
        "max_depth": max_depth,
        "eta": learning_rate,
        "max_bin": max_bin,
        "eval_metric": list(METRICS),
        "seed": seed,
    }


def split_columns(columns: Sequence[str], label: str, id_column: str) -> list[str]:
    """Return the feature columns: all but the label and the row id."""
    features = [column for column in columns if column not in (label, id_column)]
    if not features:
        raise JobFailure(f"no feature columns besides {label!r} and {id_column!r}")
    return features


def is_test_row(row_ids: Any, test_every: int) -> Any:
    """Return which rows are held out for testing: those whose id is a multiple of ``test_every``."""
    return row_ids % test_every == 0


def read_features(url: str, label: str, id_column: str) -> dd.DataFrame:
    """Return the dataset with float32 features, as numpy-backed columns (what XGBoost takes)."""
    import dask.dataframe as dd

    try:
        frame = dd.read_parquet(url)
    except (OSError, ValueError) as err:
        raise JobFailure(f"cannot read the Parquet dataset --input {url!r}: {err}") from err
    missing = [column for column in (label, id_column) if column not in frame.columns]
    if missing:
        raise JobFailure(f"--input {url!r} has no column(s) {missing}; columns: {list(frame.columns)}")
    features = split_columns(list(frame.columns), label, id_column)
    return frame.astype({**{column: "float32" for column in features}, label: "int8"})


def train(args: argparse.Namespace) -> dict[str, Any]:
    """Train the model that ``args`` describes, write it with its metrics, and return the summary."""
    import dask
    from distributed import wait
    from fsspec.core import url_to_fs
    from xgboost import dask as dxgb

    started = time.monotonic()
    check_output_apart(args.output, [args.input])
    with cluster_client(args) as client:
        workers = wait_for_workers(client, args.min_workers, args.connect_timeout)
        frame = read_features(args.input, args.label, args.id_column)
        features = split_columns(list(frame.columns), args.label, args.id_column)
        log.info("Training on %d feature(s) of %s with %d worker(s)", len(features), args.input, workers)
        # Both matrices read the data: persist it once rather than read the files twice.
        frame = frame.persist()
        wait(frame)
        test = is_test_row(frame[args.id_column], args.test_every)
        train_rows, test_rows = frame[~test], frame[test]
        counts = dask.compute(train_rows.shape[0], test_rows.shape[0])
        if not all(counts):
            raise JobFailure(f"the split left {counts[0]} training and {counts[1]} test rows; both must be more than 0")
        dtrain = dxgb.DaskQuantileDMatrix(client, train_rows[features], train_rows[args.label], max_bin=args.max_bin)
        dtest = dxgb.DaskQuantileDMatrix(
            client, test_rows[features], test_rows[args.label], max_bin=args.max_bin, ref=dtrain
        )
        del frame, train_rows, test_rows, test  # the matrices hold what training needs
        params = xgboost_params(
            max_depth=args.max_depth, learning_rate=args.learning_rate, max_bin=args.max_bin, seed=args.seed
        )
        log.info("Training %d round(s) on %d rows, testing on %d", args.rounds, *counts)
        output = dxgb.train(
            client, params, dtrain, num_boost_round=args.rounds, evals=[(dtest, "test")], verbose_eval=False
        )
    booster, history = output["booster"], output["history"]["test"]
    metrics = {name: float(history[name][-1]) for name in METRICS}
    fs, folder = url_to_fs(args.output)
    fs.makedirs(folder, exist_ok=True)
    with fs.open(f"{folder}/model.json", "wb") as stream:
        stream.write(bytes(booster.save_raw("json")))
    with fs.open(f"{folder}/metrics.json", "w") as stream:
        json.dump({"metrics": metrics, "history": history, "params": params, "rounds": args.rounds}, stream)
    return {
        "job": JOB_NAME,
        "rows": int(counts[0] + counts[1]),
        "train_rows": int(counts[0]),
        "test_rows": int(counts[1]),
        "features": len(features),
        "rounds": args.rounds,
        **{name: round(value, 6) for name, value in metrics.items()},
        "model": fs.unstrip_protocol(f"{folder}/model.json"),
        "input": args.input,
        "output": args.output,
        "workers": workers,
        "seconds": round(time.monotonic() - started, 3),
    }


# -- command line -------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser of this job."""
    parser = argparse.ArgumentParser(prog=JOB_NAME, description="Train an XGBoost classifier on a Dask cluster.")
    parser.add_argument("--input", required=True, help="fsspec URL of a Parquet dataset of features and a label")
    parser.add_argument("--output", required=True, help="fsspec URL of a folder for model.json and metrics.json")
    add_cluster_arguments(parser)
    parser.add_argument("--label", default="label", help="the 0/1 label column (default %(default)s)")
    parser.add_argument("--id-column", default="row_id", help="integer row id, for the split (default %(default)s)")
    parser.add_argument(
        "--test-every", type=_positive_int, default=DEFAULTS["test_every"], help="hold out rows whose id is a "
        "multiple of this (default %(default)s: 20 %%)"
    )
    parser.add_argument("--rounds", type=_positive_int, default=DEFAULTS["rounds"], help="boosting rounds")
    parser.add_argument("--max-depth", type=_positive_int, default=DEFAULTS["max_depth"], help="tree depth")
    parser.add_argument("--learning-rate", type=_positive_float, default=DEFAULTS["learning_rate"], help="eta")
    parser.add_argument("--max-bin", type=_positive_int, default=DEFAULTS["max_bin"], help="histogram bins")
    parser.add_argument("--seed", type=_non_negative_int, default=0, help="XGBoost's seed (default 0)")
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    args = build_parser().parse_args(argv)
    if args.test_every < 2:
        build_parser().error("--test-every must be at least 2")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job; return the process exit status."""
    return run_job(JOB_NAME, train, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
