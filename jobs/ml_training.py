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
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if __package__:  # imported from the provider's package (tests, generate.py)
    from . import dask_job
else:  # run as a script beside dask_job.py: from jobs/, or on Dataproc with it in py_files
    import dask_job

dask_job.require_libraries("ml_training")  # before any code of this module meets an older library

if TYPE_CHECKING:
    import dask.dataframe as dd

JOB_NAME = "ml_training"
METRICS = ("logloss", "error", "auc")
#: Where XGBoost comes from, for the driver and every worker (the provider's ``jobs`` extra).
XGBOOST_HINT = (
    "install xgboost-cpu 2.1.1 or newer on the driver and the workers: on Dataproc with the initialization "
    "action's dask-pip-packages metadata, elsewhere with pip install 'airflow-dask-provider[jobs]'"
)
DEFAULTS = {"rounds": 50, "max_depth": 6, "learning_rate": 0.3, "max_bin": 256, "test_every": 5}

log = logging.getLogger(JOB_NAME)


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
        raise dask_job.JobFailure(f"no feature columns besides {label!r} and {id_column!r}")
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
        raise dask_job.JobFailure(f"cannot read the Parquet dataset --input {url!r}: {err}") from err
    missing = [column for column in (label, id_column) if column not in frame.columns]
    if missing:
        raise dask_job.JobFailure(f"--input {url!r} has no column(s) {missing}; columns: {list(frame.columns)}")
    features = split_columns(list(frame.columns), label, id_column)
    return frame.astype({**dict.fromkeys(features, "float32"), label: "int8"})


def train(args: argparse.Namespace) -> dict[str, Any]:
    """Train the model that ``args`` describes, write it with its metrics, and return the summary."""
    import dask
    from distributed import wait
    from fsspec.core import url_to_fs

    try:
        from xgboost import dask as dxgb
    except ImportError as err:
        raise dask_job.JobFailure(f"cannot import xgboost.dask here ({err}): {XGBOOST_HINT}") from err

    dask_job.import_dask()
    started = time.monotonic()
    dask_job.check_output_apart(args.output, [args.input])
    with dask_job.cluster_client(args) as client:
        workers = dask_job.wait_for_workers(client, args.min_workers, args.connect_timeout)
        dask_job.require_on_workers(client, "xgboost", XGBOOST_HINT)
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
            raise dask_job.JobFailure(
                f"the split left {counts[0]} training and {counts[1]} test rows; both must be more than 0"
            )
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
    dask_job.add_cluster_arguments(parser)
    parser.add_argument("--label", default="label", help="the 0/1 label column (default %(default)s)")
    parser.add_argument("--id-column", default="row_id", help="integer row id, for the split (default %(default)s)")
    parser.add_argument(
        "--test-every",
        type=dask_job.positive_int,
        default=DEFAULTS["test_every"],
        help="hold out rows whose id is a multiple of this (default %(default)s: 20 %%)",
    )
    parser.add_argument("--rounds", type=dask_job.positive_int, default=DEFAULTS["rounds"], help="boosting rounds")
    parser.add_argument("--max-depth", type=dask_job.positive_int, default=DEFAULTS["max_depth"], help="tree depth")
    parser.add_argument("--learning-rate", type=dask_job.positive_float, default=DEFAULTS["learning_rate"], help="eta")
    parser.add_argument("--max-bin", type=dask_job.positive_int, default=DEFAULTS["max_bin"], help="histogram bins")
    parser.add_argument("--seed", type=dask_job.non_negative_int, default=0, help="XGBoost's seed (default 0)")
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    args = build_parser().parse_args(argv)
    if args.test_every < 2:
        build_parser().error("--test-every must be at least 2")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job; return the process exit status."""
    return dask_job.run_job(JOB_NAME, train, parse_args(argv))


if __name__ == "__main__":  # as the module of this file's name, uploaded to the cluster: tasks name its functions
    sys.exit(dask_job.main_by_name(__file__, main))
