"""The job library against PySpark: each job written the idiomatic Spark way, on the same inputs and the same 2 cores.

For each job of ``jobs/``, on the inputs of ``benchmarks/jobs.py`` (``jobs/generate.py``, cached
between runs, the same folders), one invocation runs:

a. the job written the way a Spark user would write it, in PySpark's DataFrame API, on one
   ``SparkSession`` with master ``local[2]`` (two task threads in one JVM: the same two cores);
b. the Dask job, as the script it is on Dataproc, against a ``LocalCluster`` of 2 workers of 1
   thread each, started, warmed up and stopped for each run exactly as ``benchmarks/jobs.py`` does
   (its functions, imported: the same pinning, malloc settings and page-cache warming);

``--repeat`` times each (default 3, alternating which engine goes first), keeping each engine's
best. The single-process reference (``benchmarks/reference.py``) runs once per job, untimed, and
every run of both engines is checked against it with ``benchmarks/jobs.py``'s ``check`` (checksums;
tolerances for the model). The Spark versions:

- **word count**: ``spark.read.text``, ``split`` on the jobs' separator (Java's ``[^\\p{L}\\p{N}]+``
  after ``lower``), ``explode``, ``groupBy("word").count()``, written as Parquet;
- **CSV to Parquet**: ``spark.read.csv`` with the columns' types given (a DDL schema, as a Spark
  user converting known files does: ``inferSchema`` would read every file twice), written as
  Parquet (snappy, Spark's default as the Dask job's);
- **Parquet analytics**: ``spark.read.parquet`` of the hive-partitioned dataset with the same
  filters (partition pruning and pushdown are Spark's own), the two reports by ``groupBy``/``agg``
  in integer cents as the job computes them, each written as Parquet;
- **ML training**: Spark MLlib's ``GBTClassifier`` (``VectorAssembler``; the reference's depth,
  learning rate, bins and rounds), metrics by MLlib's evaluators on the held-out rows (every fifth
  ``row_id``), the model saved;
- **graph analytics**: PageRank by power iteration in DataFrames, networkx's rules as the Dask job
  (parallel edges as weights, dangling mass and teleport spread evenly, the same stopping rule),
  the rank vector broadcast to the edges each iteration and each new vector ``localCheckpoint``-ed
  (without it the plan grows by a join per iteration). GraphFrames' ``pageRank`` is not used: its
  jar comes from the spark-packages repository, not from PyPI, so it cannot be installed here.

Spark's time is that of its work in the running session (reading to writing), as the Dask jobs
report their own (connecting to the scheduler included, the interpreter's start and imports not).
What a Spark job also pays once, the JVM's start and the ``SparkSession``'s creation, is measured
once and reported apart (``spark_jvm_startup_s``): a Dataproc user pays it once per job. Spark's
results are read back after each run, untimed, to be checked: a converted CSV by the checksum of
what the files hold (read back in the reference's column types: Spark stores timestamps in
microseconds where pandas stores these whole seconds in milliseconds; a cast that would lose a
digit fails), the small reports in the reference's dtypes. For PageRank, besides the reference's
``rows`` and ``nodes``, Spark's ranks of the Dask run's ten best nodes must equal Dask's to 1e-9.

The JVM is not pinned: its two task threads, its JIT compiler and its garbage collector share the
two cores, as the Dask workers (one core each) share them with their driver and scheduler. It gets
``--spark-memory`` of heap (default 6g), its UI is off and its time zone UTC. The last line::

    RESULT wordcount_dask_vs_spark=N csv_dask_vs_spark=N ... spark_jvm_startup_s=N

with each ratio = Spark's best time / Dask's best time (above 1: Dask is faster). As
``benchmarks/jobs.py`` does, a run as root holds this VM's free page reporting off while it runs.
Run with the interpreter of ``.venv-spark`` (``make benchmark-spark``), where PySpark is installed
beside the jobs' libraries. ``--quick`` runs the tiny inputs of ``benchmarks/jobs.py --quick`` (the
model's a little larger: see :data:`QUICK_HERE`), the Dask jobs in this process, once each: a smoke
test whose figures mean nothing.
"""

from __future__ import annotations

import argparse
import inspect
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import reference  # noqa: E402  # the repository's root on the path first
from benchmarks.jobs import (  # noqa: E402
    FULL,
    MALLOC,
    QUICK,
    SHORT,
    Bench,
    check,
    chosen_jobs,
    ensure_input,
    human,
    input_root,
    input_size,
    load,
    page_reporting_held_off,
    pinned_cores,
    read_into_page_cache,
    run_dask,
    run_on_own_cluster,
    run_reference,
)

#: The quick inputs: ``benchmarks/jobs.py``'s, but for the model. MLlib's gradient-boosted trees step by the
#: gradient alone where XGBoost takes Newton steps, so the two models agree within ``check``'s tolerances only
#: with enough rows and rounds: on 4,000 rows and 3 rounds their test AUCs differed by 0.047, on 20,000 rows and
#: 10 rounds by 0.004 (and by 0.002 on the full input).
QUICK_HERE = {
    **QUICK,
    "ml_training": Bench("ml_training", "features", {"rows": 20_000, "rows-per-file": 5_000}, args=["--rounds=10"],
                         unit="rows"),
}  # fmt: skip
#: Spark's settings besides the master: heap (``--spark-memory``) is added at start.
SPARK_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
}
#: The jobs' word separator, in Java's regular expressions (Unicode letters and digits make words).
SEPARATOR = r"[^\p{L}\p{N}]+"
#: The generated CSV's columns, typed as the reference's pandas (pyarrow engine) reads them.
CSV_DDL = "event_id BIGINT, ts TIMESTAMP_NTZ, user_id BIGINT, country STRING, amount DOUBLE, quantity BIGINT"
#: The CSV's columns as the reference's pandas writes them to Parquet (whole seconds, stored in milliseconds).
REFERENCE_CSV_SCHEMA = pa.schema([("event_id", pa.int64()), ("ts", pa.timestamp("ms")), ("user_id", pa.int64()),
                                  ("country", pa.string()), ("amount", pa.float64()), ("quantity", pa.int64())])  # fmt: skip
#: The word counts' columns, as the reference's frame has them.
REFERENCE_WORDS_SCHEMA = pa.schema([("word", pa.string()), ("count", pa.int64())])
#: Relative tolerance of Spark's PageRank against Dask's on the best ranked nodes.
RANK_TOLERANCE = 1e-9


# -- Spark ---------------------------------------------------------------------------------------


def start_spark(memory: str) -> tuple[Any, float]:
    """Start a ``local[2]`` SparkSession; return it and the seconds its JVM and session took to start."""
    from pyspark.sql import SparkSession

    started = time.perf_counter()
    builder = SparkSession.builder.master("local[2]").appName("vs_spark").config("spark.driver.memory", memory)
    for key, value in SPARK_CONF.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    seconds = time.perf_counter() - started
    spark.sparkContext.setLogLevel("ERROR")
    return spark, seconds


def job_options(bench: Bench) -> argparse.Namespace:
    """Return the options that the Dask job and the reference both take (``bench.args``), parsed."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--countries", type=lambda text: text.split(","), default=None)
    parser.add_argument("--since")
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--tol", type=float, default=inspect.signature(reference.pagerank).parameters["tol"].default)
    return parser.parse_args(bench.args)


def spark_word_count(spark: Any, folder: Path, output: Path, options: argparse.Namespace) -> dict[str, Any]:
    from pyspark.sql import functions as F

    words = spark.read.text(str(folder)).select(F.explode(F.split(F.lower("value"), SEPARATOR)).alias("word"))
    words.where(F.col("word") != "").groupBy("word").count().write.mode("overwrite").parquet(str(output))
    return {}


def spark_csv_to_parquet(spark: Any, folder: Path, output: Path, options: argparse.Namespace) -> dict[str, Any]:
    events = spark.read.csv(str(folder), header=True, schema=CSV_DDL)
    events.write.mode("overwrite").parquet(str(output))
    return {}


def spark_parquet_analytics(spark: Any, folder: Path, output: Path, options: argparse.Namespace) -> dict[str, Any]:
    from pyspark.sql import functions as F

    events = spark.read.parquet(str(folder))
    if options.countries:
        events = events.where(F.col("country").isin(options.countries))
    if options.since:
        events = events.where(F.col("ts") >= F.lit(options.since).cast("timestamp_ntz"))
    cents = F.round(F.col("amount") * 100).cast("long")
    work = events.select(
        "country",
        (F.year("ts") * 100 + F.month("ts")).alias("month"),
        "user_id",
        F.col("quantity").cast("long").alias("quantity"),
        cents.alias("cents"),
        (cents * F.col("quantity")).alias("revenue_cents"),
    )
    by_month = work.groupBy("country", "month").agg(
        F.count("*").alias("orders"),
        F.sum("quantity").alias("items"),
        F.sum("revenue_cents").alias("revenue_cents"),
        F.sum("cents").alias("cents"),
        F.max("cents").alias("max_cents"),
    )
    by_month.select(
        "country",
        "month",
        "orders",
        "items",
        (F.col("revenue_cents") / 100).alias("revenue"),
        (F.col("cents") / F.col("orders") / 100).alias("avg_amount"),
        (F.col("max_cents") / 100).alias("max_amount"),
    ).write.mode("overwrite").parquet(str(output / "by_country_month"))
    users = work.groupBy("user_id").agg(F.count("*").alias("orders"), F.sum("revenue_cents").alias("revenue_cents"))
    top = users.orderBy(F.desc("revenue_cents"), F.asc("user_id")).limit(100)
    top.select("user_id", "orders", (F.col("revenue_cents") / 100).alias("revenue")).coalesce(1).write.mode(
        "overwrite"
    ).parquet(str(output / "top_users"))
    return {}


def spark_ml_training(spark: Any, folder: Path, output: Path, options: argparse.Namespace) -> dict[str, Any]:
    from pyspark.ml.classification import GBTClassifier
    from pyspark.ml.evaluation import BinaryClassificationEvaluator, MulticlassClassificationEvaluator
    from pyspark.ml.feature import VectorAssembler
    from pyspark.sql import functions as F

    same = inspect.signature(reference.ml_training).parameters
    frame = spark.read.parquet(str(folder))
    features = [column for column in frame.columns if column not in ("row_id", "label")]
    rows = VectorAssembler(inputCols=features, outputCol="features").transform(frame)
    test = F.col("row_id") % same["test_every"].default == 0
    model = GBTClassifier(
        labelCol="label",
        maxIter=options.rounds,
        maxDepth=same["max_depth"].default,
        stepSize=same["learning_rate"].default,
        maxBins=same["max_bin"].default,
        seed=same["seed"].default,
    ).fit(rows.where(~test))
    predicted = model.transform(rows.where(test)).cache()
    auc = BinaryClassificationEvaluator(labelCol="label", rawPredictionCol="probability").evaluate(predicted)
    logloss = MulticlassClassificationEvaluator(labelCol="label", metricName="logLoss").evaluate(predicted)
    accuracy = MulticlassClassificationEvaluator(labelCol="label", metricName="accuracy").evaluate(predicted)
    model.write().overwrite().save(str(output))
    predicted.unpersist()
    return {"logloss": logloss, "error": 1 - accuracy, "auc": auc}


def spark_graph_analytics(spark: Any, folder: Path, output: Path, options: argparse.Namespace) -> dict[str, Any]:
    from pyspark.sql import functions as F

    same = inspect.signature(reference.pagerank).parameters
    alpha, max_iter = same["alpha"].default, same["max_iter"].default
    edges = spark.read.parquet(str(folder)).select("src", "dst")
    weighted = edges.groupBy("src", "dst").agg(F.count("*").alias("count"))
    out_degree = weighted.groupBy("src").agg(F.sum("count").alias("out"))
    links = weighted.join(out_degree, "src").select("src", "dst", (F.col("count") / F.col("out")).alias("weight"))
    links = links.localCheckpoint()
    ids = edges.select(F.col("src").alias("node")).union(edges.select(F.col("dst").alias("node"))).distinct()
    nodes = ids.join(out_degree.withColumnRenamed("src", "node"), "node", "left")
    nodes = nodes.select("node", F.col("out").isNull().alias("dangling")).localCheckpoint()
    count = nodes.count()
    ranks = nodes.withColumn("rank", F.lit(1.0 / count)).localCheckpoint()
    dangling_mass = ranks.where("dangling").agg(F.sum("rank")).first()[0] or 0.0
    iterations, converged = 0, False
    while iterations < max_iter and not converged:
        spread = alpha * dangling_mass / count + (1.0 - alpha) / count
        sources = F.broadcast(ranks.select(F.col("node").alias("src"), F.col("rank").alias("source_rank")))
        incoming = (
            links.join(sources, "src").groupBy("dst").agg(F.sum(F.col("source_rank") * F.col("weight")).alias("in"))
        )
        updated = ranks.join(incoming.withColumnRenamed("dst", "node"), "node", "left").select(
            "node",
            "dangling",
            (alpha * F.coalesce("in", F.lit(0.0)) + spread).alias("rank"),
            F.col("rank").alias("previous"),
        )
        updated = updated.localCheckpoint()
        change, dangling_mass = updated.agg(
            F.sum(F.abs(F.col("rank") - F.col("previous"))), F.sum(F.when(F.col("dangling"), F.col("rank")))
        ).first()
        dangling_mass = dangling_mass or 0.0
        ranks = updated.select("node", "dangling", "rank")
        iterations += 1
        converged = change < count * options.tol
    ranks.select("node", "rank").write.mode("overwrite").parquet(str(output))
    return {"iterations": iterations, "converged": converged}


SPARK_JOBS: dict[str, Callable[[Any, Path, Path, argparse.Namespace], dict[str, Any]]] = {
    "word_count": spark_word_count,
    "csv_to_parquet": spark_csv_to_parquet,
    "parquet_analytics": spark_parquet_analytics,
    "ml_training": spark_ml_training,
    "graph_analytics": spark_graph_analytics,
}


# -- what Spark wrote, as the reference's summary has it (untimed) --------------------------------


def checksum_as(output: Path, schema: Any) -> str:
    """Return ``reference.frame_checksum`` of what a Parquet folder holds, read in ``schema``'s types, file by file.

    As ``reference.written_checksum`` (the sum is order-blind), with each file's table cast safely
    to ``schema`` first: a value the cast would change fails the run.
    """
    import pandas as pd
    import pyarrow.dataset as ds

    total = 0
    for fragment in ds.dataset(str(output), format="parquet").get_fragments():
        table = fragment.to_table(columns=schema.names).cast(schema)
        total += reference.frame_checksum(table.to_pandas(types_mapper=pd.ArrowDtype))
    return f"{total % 2**64:016x}"


def rows_in(output: Path) -> int:
    import pyarrow.dataset as ds

    return ds.dataset(str(output), format="parquet").count_rows()


def read_small(output: Path, dtypes: dict[str, Any]) -> Any:
    """Return a small Parquet result Spark wrote as pandas, in the reference's dtypes and column order."""
    import pandas as pd

    return pd.read_parquet(output, columns=list(dtypes)).astype(dtypes)


def spark_summary(job: str, spark: Any, folder: Path, output: Path, outcome: dict[str, Any]) -> dict[str, Any]:
    """Return what ``check`` compares, from what a Spark run wrote and returned, as the reference's summary has it."""
    if job == "word_count":
        return {"rows": rows_in(output), "checksum": checksum_as(output, REFERENCE_WORDS_SCHEMA)}
    if job == "csv_to_parquet":
        return {"rows": rows_in(output), "written_checksum": checksum_as(output, REFERENCE_CSV_SCHEMA)}
    if job == "parquet_analytics":
        report = read_small(output / "by_country_month", {"country": str, "month": "int64", "orders": "int64",
                            "items": "int64", "revenue": "float64", "avg_amount": "float64", "max_amount": "float64"})  # fmt: skip
        best = read_small(output / "top_users", {"user_id": "int64", "orders": "int64", "revenue": "float64"})
        best = best.sort_values(["revenue", "user_id"], ascending=[False, True], ignore_index=True)
        return {
            "rows": int(report["orders"].sum()),
            "checksum": f"{reference.frame_checksum(report):016x}",
            "top_users_checksum": f"{reference.frame_checksum(best):016x}",
        }
    if job == "ml_training":
        return {**outcome, "rows": spark.read.parquet(str(folder)).count()}
    ranks = read_small(output, {"node": "int64", "rank": "float64"}).set_index("node")["rank"]
    return {**outcome, "rows": spark.read.parquet(str(folder)).count(), "nodes": len(ranks), "ranks": ranks}


def run_spark(job: str, spark: Any, folder: Path, output: Path, options: argparse.Namespace) -> dict[str, Any]:
    """Run a job's Spark version; return its summary with ``seconds``, read back from what it wrote."""
    shutil.rmtree(output, ignore_errors=True)
    try:
        started = time.perf_counter()
        outcome = SPARK_JOBS[job](spark, folder, output, options)
        seconds = time.perf_counter() - started
        return {**spark_summary(job, spark, folder, output, outcome), "seconds": seconds}
    finally:
        spark.catalog.clearCache()
        shutil.rmtree(output, ignore_errors=True)


def same_ranks(spark_run: dict[str, Any], dask_run: dict[str, Any]) -> str:
    """Return '' if Spark's ranks of the Dask run's best nodes equal Dask's, else which differ."""
    ranks = spark_run["ranks"]
    off = [(node, rank, ranks.get(node)) for node, rank in dask_run["top"]
           if ranks.get(node) is None or abs(ranks[node] - rank) > RANK_TOLERANCE * rank]  # fmt: skip
    return f"ranks (node, Dask, Spark) differ: {off}" if off else ""


# -- the benchmark ------------------------------------------------------------------------------


def bench_job(
    bench: Bench, spark: Any, folder: Path, repeat: int, quick: bool, malloc: dict[str, str], pin: bool
) -> float:
    """Run one job on both engines ``repeat`` times, check every run, print its lines; return Spark / Dask."""
    output = folder.parent / "_out" / bench.job
    expected = run_reference(bench.job, folder, output, bench.args, in_process=quick, malloc=malloc, pin=pin)
    options = job_options(bench)
    runs: dict[str, Callable[[], dict[str, Any]]] = {
        "spark": lambda: run_spark(bench.job, spark, folder, output, options),
        "dask": lambda: run_on_own_cluster(
            2, malloc, pin, lambda address: run_dask(bench, address, folder, output, in_process=quick)
        ),
    }
    times: dict[str, list[float]] = {"spark": [], "dask": []}
    for round_ in range(repeat):
        last: dict[str, dict[str, Any]] = {}
        for engine in ("spark", "dask") if round_ % 2 == 0 else ("dask", "spark"):
            read_into_page_cache(folder)
            last[engine] = runs[engine]()
            problem = check(bench, expected, last[engine])
            if problem:
                sys.exit(f"{bench.job} on {engine}: {problem}")
            times[engine].append(float(last[engine]["seconds"]))
        problem = same_ranks(last["spark"], last["dask"]) if bench.job == "graph_analytics" else ""
        if problem:
            sys.exit(f"{bench.job} on spark: {problem}")
    best = {engine: min(seconds) for engine, seconds in times.items()}
    amount = input_size(bench, folder, expected)
    print(f"{bench.job}: input {human(amount, bench.unit)} ({folder.name}), both engines' results equal the reference")
    for engine, label in (("spark", "Spark local[2]"), ("dask", "Dask 2 workers")):
        every = ", ".join(f"{seconds:.2f}" for seconds in times[engine])
        print(f"  {label:<15} {best[engine]:8.2f} s   (runs: {every} s)")
    ratio = best["spark"] / best["dask"]
    print(f"  Spark / Dask: {ratio:.2f} ({'Dask' if ratio >= 1 else 'Spark'} faster)", flush=True)
    return ratio


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny inputs: check that it all works")
    parser.add_argument("--jobs", default=",".join(FULL), help="comma-separated jobs (default: all)")
    parser.add_argument(
        "--repeat", type=int, help="runs of each engine, keeping the fastest (default 3; 1 with --quick)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated inputs (default 0)")
    parser.add_argument("--data-dir", type=Path, help="where inputs are cached (default: benchmarks/jobs.py's)")
    parser.add_argument("--spark-memory", default="6g", help="the Spark JVM's heap (default %(default)s)")
    parser.add_argument("--malloc", choices=sorted(MALLOC), default="tuned", help="Dask workers' malloc settings")
    parser.add_argument("--no-pin", dest="pin", action="store_false", help="let Dask's workers use any core")
    parser.add_argument("--keep-page-reporting", action="store_true", help="leave free page reporting on")
    args = parser.parse_args(argv)
    repeat = args.repeat or (1 if args.quick else 3)
    specs = QUICK_HERE if args.quick else FULL
    chosen = chosen_jobs(parser, args.jobs, specs)
    pinning = "each Dask worker on a core of its own" if args.pin and pinned_cores(2) else "not pinned"
    ratios: dict[str, float] = {}
    with (
        input_root(args.data_dir, quick=args.quick, prefix="vs-spark-") as root,
        page_reporting_held_off(keep=args.keep_page_reporting or args.quick) as reporting,
    ):
        print(f"Dask against Spark on {len(pinned_cores(2) or [])} cores: Spark local[2], heap {args.spark_memory}; "
              f"Dask 2 workers x 1 thread ({pinning}), malloc {args.malloc}; inputs in {root}")  # fmt: skip
        if reporting:
            print(reporting)
        print(f"Load average at the start: {load()}", flush=True)
        inputs = {name: ensure_input(specs[name], root, args.seed) for name in chosen}  # before any thread starts
        spark, startup = start_spark(args.spark_memory)
        print(f"Spark {spark.version}: the JVM and the SparkSession started in {startup:.2f} s (reported apart)")
        try:
            for name in chosen:
                ratios[name] = bench_job(
                    specs[name], spark, inputs[name], repeat, args.quick, MALLOC[args.malloc], args.pin
                )
        finally:
            spark.stop()
            shutil.rmtree(root / "_out", ignore_errors=True)
    print(f"Load average at the end: {load()}")
    figures = [f"{SHORT[name]}_dask_vs_spark={ratio:.2f}" for name, ratio in ratios.items()]
    print("RESULT " + " ".join([*figures, f"spark_jvm_startup_s={startup:.2f}"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
