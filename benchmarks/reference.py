"""Single-process references of the Dask jobs: what one would write with pandas, scikit-learn or networkx.

Each function does the job of its namesake in ``jobs/`` on one machine, in one process, the plain
way, and returns its result in a form the tests compare with the Dask job's output. The tests
import this module by path; ``benchmarks/jobs.py`` runs its command line in a subprocess on one
thread (Arrow, BLAS and XGBoost limited to one) to time the single-process baseline::

    python benchmarks/reference.py word_count --input DIR --output DIR

prints one JSON line with ``seconds`` (the work, without the interpreter's start and imports).
Nothing here imports the job scripts: a reference that shared the job's code would share its bugs.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

#: Python's spelling of the jobs' word: a run of letters and digits.
WORD = re.compile(r"[^\W_]+")
JOBS = ("word_count", "csv_to_parquet", "pyarrow_csv", "parquet_analytics", "ml_training", "graph_analytics")


def files(folder: str | Path, pattern: str) -> list[Path]:
    """Return the files of ``folder`` matching ``pattern``, sorted (a file is itself)."""
    path = Path(folder)
    return [path] if path.is_file() else sorted(p for p in path.rglob(pattern) if p.is_file())


def frame_checksum(frame: pd.DataFrame) -> int:
    """Return the sum, modulo 2**64, of the row hashes of ``frame`` (as the jobs compute it)."""
    hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy(dtype=np.uint64)
    return int(np.add.reduce(hashes, dtype=np.uint64)) if len(hashes) else 0


# -- word count ---------------------------------------------------------------------------------


def word_count(folder: str | Path) -> pd.DataFrame:
    """Return ``word``, ``count`` of the text files, most frequent first, then by word."""
    counts: collections.Counter[str] = collections.Counter()
    for path in files(folder, "*"):
        with open(path, encoding="utf-8", errors="replace") as stream:
            for line in stream:
                counts.update(WORD.findall(line.lower()))
    frame = pd.DataFrame(
        {
            "word": pd.Series(list(counts), dtype=pd.ArrowDtype(pa.string())),
            "count": pd.Series(list(counts.values()), dtype="int64[pyarrow]"),
        }
    )
    return frame.sort_values(["count", "word"], ascending=[False, True], ignore_index=True)


# -- CSV to Parquet -----------------------------------------------------------------------------


def csv_to_parquet(folder: str | Path, output: str | Path) -> int:
    """Convert each CSV file to a Parquet file with pandas; return the rows converted."""
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    rows = 0
    for number, path in enumerate(files(folder, "*.csv")):
        frame = pd.read_csv(path, engine="pyarrow", dtype_backend="pyarrow")
        frame.to_parquet(out / f"part-{number:05d}.parquet", index=False)
        rows += len(frame)
    return rows


def read_back(output: str | Path) -> pd.DataFrame:
    """Return what a Parquet folder holds, as pyarrow-backed columns (to compare conversions)."""
    return pd.read_parquet(output, dtype_backend="pyarrow")


def written_checksum(output: str | Path) -> str:
    """Return :func:`frame_checksum` of what a Parquet folder holds, file by file (the sum is order-blind)."""
    import pyarrow.dataset as ds

    total = 0
    for fragment in ds.dataset(str(output), format="parquet").get_fragments():
        total += frame_checksum(fragment.to_table().to_pandas(types_mapper=pd.ArrowDtype))
    return f"{total % 2**64:016x}"


def pyarrow_csv(folder: str | Path, output: str | Path) -> int:
    """Convert each CSV file to Parquet with pyarrow alone, on this thread: the ceiling; return the rows."""
    import pyarrow.parquet as pq
    from pyarrow import csv

    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    rows = 0
    for number, path in enumerate(files(folder, "*.csv")):
        table = csv.read_csv(path, read_options=csv.ReadOptions(use_threads=False))
        pq.write_table(table, out / f"part-{number:05d}.parquet")
        rows += table.num_rows
    return rows


# -- Parquet analytics --------------------------------------------------------------------------


def parquet_analytics(
    folder: str | Path,
    *,
    countries: list[str] | None = None,
    since: str | None = None,
    until: str | None = None,
    min_amount: float | None = None,
    top: int = 100,
) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Return the report per country and month, the top users by revenue, and the rows that passed the filters."""
    frame = pd.read_parquet(folder, columns=["ts", "user_id", "amount", "quantity", "country"])
    keep = np.ones(len(frame), dtype=bool)
    if countries:
        keep &= frame["country"].astype(str).isin(countries).to_numpy()
    if since:
        keep &= (frame["ts"] >= pd.Timestamp(since)).to_numpy()
    if until:
        keep &= (frame["ts"] < pd.Timestamp(until)).to_numpy()
    if min_amount is not None:
        keep &= (frame["amount"] >= min_amount).to_numpy()
    frame = frame[keep]
    cents = (frame["amount"] * 100).round().astype("int64")
    work = pd.DataFrame(
        {
            "country": frame["country"].astype(str),
            "month": frame["ts"].dt.year * 100 + frame["ts"].dt.month,
            "user_id": frame["user_id"].astype("int64"),
            "quantity": frame["quantity"].astype("int64"),
            "cents": cents,
            "revenue": cents * frame["quantity"].astype("int64"),
        }
    )
    grouped = work.groupby(["country", "month"], sort=True).agg(
        orders=("cents", "size"),
        items=("quantity", "sum"),
        revenue=("revenue", "sum"),
        cents=("cents", "sum"),
        max_cents=("cents", "max"),
    )
    grouped = grouped.reset_index()
    report = pd.DataFrame(
        {
            "country": grouped["country"].astype(str),
            "month": grouped["month"].astype("int64"),
            "orders": grouped["orders"].astype("int64"),
            "items": grouped["items"].astype("int64"),
            "revenue": grouped["revenue"] / 100,
            "avg_amount": grouped["cents"] / grouped["orders"] / 100,
            "max_amount": grouped["max_cents"] / 100,
        }
    )
    users = work.groupby("user_id").agg(orders=("revenue", "size"), revenue=("revenue", "sum")).reset_index()
    users = users.sort_values(["revenue", "user_id"], ascending=[False, True], ignore_index=True).head(top)
    best = pd.DataFrame(
        {"user_id": users["user_id"], "orders": users["orders"].astype("int64"), "revenue": users["revenue"] / 100}
    )
    return report, best, len(frame)


# -- ML training --------------------------------------------------------------------------------


def ml_training(
    folder: str | Path,
    *,
    rounds: int = 50,
    max_depth: int = 6,
    learning_rate: float = 0.3,
    max_bin: int = 256,
    test_every: int = 5,
    seed: int = 0,
    n_jobs: int = 1,
) -> dict[str, float]:
    """Train XGBoost's scikit-learn classifier on one process; return test ``logloss``, ``error``, ``auc``.

    ``error`` and ``auc`` are scikit-learn's, from the predicted probabilities.
    """
    from sklearn.metrics import accuracy_score, log_loss, roc_auc_score
    from xgboost import XGBClassifier

    frame = pd.read_parquet(folder)
    test = (frame["row_id"] % test_every == 0).to_numpy()
    features = [column for column in frame.columns if column not in ("row_id", "label")]
    x, y = frame[features].to_numpy(dtype=np.float32), frame["label"].to_numpy()
    model = XGBClassifier(
        n_estimators=rounds,
        max_depth=max_depth,
        learning_rate=learning_rate,
        max_bin=max_bin,
        tree_method="hist",
        random_state=seed,
        n_jobs=n_jobs,
    )
    model.fit(x[~test], y[~test])
    probability = model.predict_proba(x[test])[:, 1]
    return {
        "logloss": float(log_loss(y[test], probability)),
        "error": float(1 - accuracy_score(y[test], probability > 0.5)),
        "auc": float(roc_auc_score(y[test], probability)),
        "train_rows": int((~test).sum()),
        "test_rows": int(test.sum()),
    }


# -- graph analytics ----------------------------------------------------------------------------


def pagerank(folder: str | Path, *, alpha: float = 0.85, tol: float = 1.0e-6, max_iter: int = 100) -> pd.DataFrame:
    """Return ``node``, ``rank`` by networkx's PageRank; parallel edges add up as the edge's weight."""
    import networkx as nx

    edges = pd.read_parquet(folder, columns=["src", "dst"])
    weighted = edges.groupby(["src", "dst"]).size().rename("weight").reset_index()
    graph = nx.from_pandas_edgelist(weighted, "src", "dst", edge_attr="weight", create_using=nx.DiGraph)
    ranks = nx.pagerank(graph, alpha=alpha, tol=tol, max_iter=max_iter, weight="weight")
    return pd.DataFrame({"node": np.fromiter(ranks, np.int64), "rank": np.fromiter(ranks.values(), float)}).sort_values(
        "node", ignore_index=True
    )


# -- command line -------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run one reference as ``args`` say; return what it did, with the seconds it took."""
    started = time.perf_counter()
    summary: dict[str, Any]
    if args.job == "word_count":
        result = word_count(args.input)
        summary = {"rows": len(result), "checksum": f"{frame_checksum(result):016x}"}
    elif args.job == "csv_to_parquet":
        summary = {"rows": csv_to_parquet(args.input, args.output)}
    elif args.job == "pyarrow_csv":
        summary = {"rows": pyarrow_csv(args.input, args.output)}
    elif args.job == "parquet_analytics":
        report, best, rows = parquet_analytics(
            args.input, countries=args.countries, since=args.since, until=args.until, top=args.top
        )
        checksums = {"checksum": f"{frame_checksum(report):016x}", "top_users_checksum": f"{frame_checksum(best):016x}"}
        summary = {"rows": rows, **checksums}
    elif args.job == "ml_training":
        summary = ml_training(args.input, rounds=args.rounds)
        summary["rows"] = summary["train_rows"] + summary["test_rows"]
    else:
        result = pagerank(args.input, tol=args.tol)
        summary = {"rows": len(pd.read_parquet(args.input, columns=["src"])), "nodes": len(result)}
    return {"job": args.job, **summary, "seconds": round(time.perf_counter() - started, 3)}


def _import_ahead(job: str) -> None:
    """Import what a reference needs before its clock starts: the jobs' timings exclude imports too."""
    import pyarrow.csv
    import pyarrow.parquet  # noqa: F401

    if job == "ml_training":
        import sklearn.metrics  # noqa: F401
        import xgboost  # noqa: F401
    elif job == "graph_analytics":
        import networkx  # noqa: F401
        import scipy.sparse  # noqa: F401


def main(argv: list[str] | None = None) -> int:
    """Run one reference on one thread and print its JSON summary line."""
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    parser = argparse.ArgumentParser(description="Single-process references of the Dask jobs.")
    parser.add_argument("job", choices=JOBS)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", default="")
    parser.add_argument("--countries", type=lambda text: text.split(","), default=None)
    parser.add_argument("--since")
    parser.add_argument("--until")
    parser.add_argument("--top", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--tol", type=float, default=1.0e-6)
    args = parser.parse_args(argv)
    _import_ahead(args.job)
    print(json.dumps(run(args)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
