"""Convert CSV files to a Parquet dataset with Dask: the driver of a Dask job on a Dataproc cluster.

The script runs as the driver on the cluster's master node (submitted as a pyspark job whose main
file is this plain Python script), or locally as a process started by the Dataproc emulator. It
connects to the running Dask cluster, reads the CSV files in blocks on the workers, writes a
Parquet dataset, and prints one JSON summary line to stdout::

    python csv_to_parquet.py --input 'gs://bucket/raw/*.csv' --output gs://bucket/parquet/events
    python csv_to_parquet.py --output /tmp/events --sample-rows 1000000 --seed 7

Without ``--input`` (or with an empty one) it converts deterministic sample data that the workers
generate themselves, partition by partition, so no data passes through the driver.

How it is fast: every worker task reads one block of about ``--blocksize`` bytes that ends on a line
boundary and parses it with pyarrow's CSV reader on the task's own thread (``use_threads=False``:
Dask already runs one task per worker thread), with column types fixed once from a sample of the
first file, so all partitions agree. The table reaches pandas as pyarrow-backed columns without a
copy, and goes to Parquet the same way. Pandas' C parser, which ``dask.dataframe.read_csv`` uses,
leaves timestamps as strings and copies every column into Arrow afterwards. Like Dask's reader,
this one splits files at newlines, so a quoted field must not contain one; compressed files
(``.gz``, ``.bz2``, ``.zst``, ...) are read whole, one partition per file.

The sample data's generator lives here because the workers run it in sample mode. ``generate.py``
and ``generate_csv.py``, local tools, import it from this module, so the CSV files they write hold
exactly the data that sample mode converts (same ``--seed``, ``--rows`` and ``--rows-per-partition``).

What every job of the library shares (reaching the cluster, the command line, block reading) is in
``dask_job.py``: submit it in the job's ``py_files``.

With ``--checksum`` the summary's ``checksum`` is the sum, modulo 2**64, of pandas' per-row hashes
of the converted frame (:func:`dask_job.frame_checksum`), else null: hashing every row costs about
a sixth of the conversion, so it is asked for where it is wanted (tests, audits). It ignores row
order and partitioning, so a single-process
pandas conversion of the same CSV (``pandas.read_csv(..., engine="pyarrow", dtype_backend="pyarrow")``)
gives the same value. Exit status: 0 on success, 1 when the job fails (with a message on stderr,
so the Dataproc job's state is true), 2 for bad arguments. The script imports neither Airflow nor
the provider.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

if __package__:  # imported from the provider's package (tests, generate.py)
    from . import dask_job
else:  # run as a script beside dask_job.py: from jobs/, or on Dataproc with it in py_files
    import dask_job

dask_job.require_libraries("csv_to_parquet")  # before any code of this module meets an older library

if TYPE_CHECKING:
    import dask.dataframe as dd

JOB_NAME = "csv_to_parquet"
DEFAULT_BLOCKSIZE = "64MiB"
DEFAULT_SAMPLE_ROWS = 100_000
#: Rows per generated partition. The sample data depends on it, on the seed and on the row count.
DEFAULT_ROWS_PER_PARTITION = 250_000
#: Bytes of the first file that fix the column types when they are inferred.
INFER_SAMPLE_BYTES = 1 << 20
COMPRESSIONS = ("snappy", "zstd", "gzip", "brotli", "lz4", "none")
SCHEMAS = ("infer", "sample")

#: Columns of the sample data, as pyarrow types.
SAMPLE_SCHEMA = pa.schema(
    [
        ("event_id", pa.int64()),
        ("ts", pa.timestamp("us")),
        ("user_id", pa.int64()),
        ("country", pa.string()),
        ("amount", pa.float64()),
        ("quantity", pa.int32()),
    ]
)
#: The same columns as pandas dtypes, for reading CSV files the generator wrote.
SAMPLE_DTYPES = {field.name: pd.ArrowDtype(field.type) for field in SAMPLE_SCHEMA}
_COUNTRIES = np.array(["US", "DE", "FR", "GB", "IN", "BR", "JP", "NG"])
_COUNTRY_WEIGHTS = np.array([0.30, 0.15, 0.12, 0.11, 0.12, 0.08, 0.07, 0.05])
_SAMPLE_EPOCH = np.datetime64("2024-01-01T00:00:00", "us")
_SAMPLE_SPAN_SECONDS = 366 * 24 * 3600
_SAMPLE_USERS = 50_000

log = logging.getLogger(JOB_NAME)


# -- sample data --------------------------------------------------------------------------------


def sample_partitions(rows: int, rows_per_partition: int = DEFAULT_ROWS_PER_PARTITION) -> list[tuple[int, int]]:
    """Return ``(first_row, rows)`` of each sample partition, in order; partition i starts at row i * size."""
    if rows < 0 or rows_per_partition < 1:
        raise ValueError(f"rows must be >= 0 and rows_per_partition >= 1, not {rows} and {rows_per_partition}")
    return [(start, min(rows_per_partition, rows - start)) for start in range(0, rows, rows_per_partition)]


def make_partition(seed: int, partition_index: int, rows: int, first_row: int = 0) -> pd.DataFrame:
    """Return partition ``partition_index`` of the sample data: a function of its arguments only.

    Each partition draws from its own random stream, seeded by ``(seed, partition_index)``, so
    partitions can be made in any order, on any worker. ``event_id`` counts from ``first_row``.

    :param seed: the data set's seed, a non-negative integer.
    :param partition_index: which partition; selects the random stream.
    :param rows: how many rows to make.
    :param first_row: ``event_id`` of the first row.
    """
    rng = np.random.default_rng([seed, partition_index])
    seconds = rng.integers(0, _SAMPLE_SPAN_SECONDS, rows)
    columns = {
        "event_id": np.arange(first_row, first_row + rows, dtype=np.int64),
        "ts": _SAMPLE_EPOCH + seconds.astype("timedelta64[s]"),
        "user_id": rng.integers(1, _SAMPLE_USERS + 1, rows, dtype=np.int64),
        "country": _COUNTRIES[rng.choice(len(_COUNTRIES), rows, p=_COUNTRY_WEIGHTS)],
        "amount": np.round(rng.lognormal(3.0, 1.0, rows), 2),
        "quantity": rng.geometric(0.45, rows).astype(np.int32),
    }
    table = pa.table(columns, schema=SAMPLE_SCHEMA)
    return table.to_pandas(types_mapper=pd.ArrowDtype)


def sample_frame(seed: int, rows: int, rows_per_partition: int = DEFAULT_ROWS_PER_PARTITION) -> dd.DataFrame:
    """Return the sample data as a Dask DataFrame whose partitions the workers generate."""
    import dask.dataframe as dd

    parts = sample_partitions(rows, rows_per_partition)
    if not parts:
        raise dask_job.JobFailure("--sample-rows must be at least 1")
    return dd.from_map(
        make_partition,
        [seed] * len(parts),
        range(len(parts)),
        [count for _, count in parts],
        [first for first, _ in parts],
        meta=make_partition(seed, 0, 0),
        label="sample-data",
        enforce_metadata=False,
    )


def _partition_stats(frame: pd.DataFrame, checksum: bool) -> pd.DataFrame:
    hashed = dask_job.frame_checksum(frame) if checksum else 0
    return pd.DataFrame({"rows": [len(frame)], "checksum": [np.uint64(hashed)]})


# -- reading CSV --------------------------------------------------------------------------------


def infer_schema(url: str, sample_bytes: int = INFER_SAMPLE_BYTES) -> tuple[pa.Schema, bytes]:
    """Return the column types pyarrow infers from the start of ``url``, and the file's header line.

    Columns that are empty throughout the sample become strings, and timestamps in seconds become
    milliseconds, the coarsest unit Parquet has (so the partitions are what the files hold).
    """
    from fsspec import open as fsspec_open
    from pyarrow import csv

    with fsspec_open(url, "rb", compression="infer") as stream:
        sample = stream.read(sample_bytes)
    header, newline, rest = sample.partition(b"\n")
    if not newline:
        raise dask_job.JobFailure(f"no header line in the first {sample_bytes} bytes of {url!r}")
    complete = rest[: rest.rfind(b"\n") + 1]  # whole lines only
    try:
        schema = csv.read_csv(pa.py_buffer(header + b"\n" + complete)).schema
    except pa.ArrowInvalid as err:
        raise dask_job.JobFailure(f"cannot parse the start of {url!r} as CSV: {err}") from err
    return pa.schema([_storable(field) for field in schema]), header + b"\n"


def _storable(field: pa.Field) -> pa.Field:
    """Return ``field`` with a type Parquet stores as is: strings for all-empty columns, ms for s timestamps."""
    if pa.types.is_null(field.type):
        return field.with_type(pa.string())
    if pa.types.is_timestamp(field.type) and field.type.unit == "s":
        return field.with_type(pa.timestamp("ms", field.type.tz))
    return field


def parse_csv_block(url: str, offset: int, length: int | None, header: bytes, schema: pa.Schema) -> pd.DataFrame:
    """Read one block of a CSV file and return it as a frame of pyarrow-backed columns of ``schema``."""
    from pyarrow import csv

    data = dask_job.read_lines_block(url, offset, length)
    if offset > 0:
        data = header + data
    if not data or data.isspace() or data == header:  # no copy of the block, unlike strip()
        return schema.empty_table().to_pandas(types_mapper=pd.ArrowDtype)
    try:
        table = csv.read_csv(
            pa.py_buffer(data),
            # pyarrow's own 1 MiB parse chunks stay in the CPU's cache: 16 MiB ones parse 7 to 13 % slower here.
            read_options=csv.ReadOptions(use_threads=False, block_size=1 << 20),
            convert_options=csv.ConvertOptions(column_types=schema, include_columns=schema.names),
        )
    except pa.ArrowInvalid as err:
        raise ValueError(f"{url} (bytes from {offset}): {err}; pass --schema or fix the file") from err
    return table.to_pandas(types_mapper=pd.ArrowDtype, use_threads=False)


def read_csv(urls: list[str], *, blocksize: str, schema: str) -> dd.DataFrame:
    """Return the CSV files as one Dask DataFrame of pyarrow-backed columns, read in blocks on the workers."""
    import dask.dataframe as dd
    from dask.utils import parse_bytes

    inferred, header = infer_schema(urls[0])
    if schema == "sample":
        known = set(SAMPLE_SCHEMA.names)
        inferred = pa.schema([SAMPLE_SCHEMA.field(f.name) if f.name in known else f for f in inferred])
    blocks = dask_job.byte_blocks(urls, parse_bytes(blocksize))
    return dd.from_map(
        parse_csv_block,
        [url for url, _, _ in blocks],
        [offset for _, offset, _ in blocks],
        [length for _, _, length in blocks],
        header=header,
        schema=inferred,
        meta=inferred.empty_table().to_pandas(types_mapper=pd.ArrowDtype),
        label="read-csv",
        enforce_metadata=False,
    )


# -- the job ------------------------------------------------------------------------------------


def convert(args: argparse.Namespace) -> dict[str, Any]:
    """Run the conversion that ``args`` describes, and return its summary."""
    import dask

    dask_job.import_dask()
    started = time.monotonic()
    urls = dask_job.resolve_input(args.input) if args.input else []
    dask_job.check_output_apart(args.output, [*urls, *filter(None, [args.write_sample_csv])])
    with dask_job.cluster_client(args) as client:
        workers = dask_job.wait_for_workers(client, args.min_workers, args.connect_timeout)
        log.info("The cluster has %d worker(s)", workers)
        if urls:
            log.info("Reading %d CSV file(s) from %s", len(urls), args.input)
            frame = read_csv(urls, blocksize=args.blocksize, schema=args.schema)
        else:
            log.info("Generating %d sample rows with seed %d on the workers", args.sample_rows, args.seed)
            frame = sample_frame(args.seed, args.sample_rows, args.rows_per_partition)
        if args.partition_on and args.partition_on not in frame.columns:
            raise dask_job.JobFailure(
                f"--partition-on {args.partition_on!r} is not a column; columns: {list(frame.columns)}"
            )
        if args.write_sample_csv and not urls:
            # A pass of its own (to_csv builds a graph dask cannot merge with the one below); the
            # sample data is cheap to generate again, and identical.
            log.info("Writing the sample data as CSV to %s", args.write_sample_csv)
            frame.to_csv(args.write_sample_csv.rstrip("/") + "/part-*.csv", index=False)
        write = frame.to_parquet(
            args.output,
            engine="pyarrow",
            write_index=False,
            compression=None if args.compression == "none" else args.compression,
            partition_on=[args.partition_on] if args.partition_on else None,
            overwrite=True,
            compute=False,
        )
        stats = frame.map_partitions(
            _partition_stats, checksum=args.checksum, meta={"rows": "int64", "checksum": "uint64"}
        )
        # One graph: each block is read (or generated) once and feeds both the files and the stats.
        _, per_partition = dask.compute(write, stats)
    return {
        "job": JOB_NAME,
        "rows": int(per_partition["rows"].sum()),
        "partitions": frame.npartitions,
        "output": args.output,
        "input": args.input or None,
        "sample": None if urls else {"rows": args.sample_rows, "seed": args.seed},
        "columns": [str(column) for column in frame.columns],
        "seconds": round(time.monotonic() - started, 3),
        "workers": workers,
        "checksum": f"{sum(int(value) for value in per_partition['checksum']) % 2**64:016x}" if args.checksum else None,
    }


# -- command line -------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser of this job."""
    parser = argparse.ArgumentParser(
        prog=JOB_NAME,
        description="Convert CSV files (or generated sample data) to a Parquet dataset on a Dask cluster.",
    )
    parser.add_argument(
        "--input",
        help="fsspec URL, glob or folder of CSV files (gs://... on Dataproc). Empty or absent: sample data.",
    )
    parser.add_argument("--output", required=True, help="fsspec URL of the Parquet dataset folder; overwritten")
    dask_job.add_cluster_arguments(parser)
    parser.add_argument(
        "--blocksize",
        type=dask_job.byte_size,
        default=DEFAULT_BLOCKSIZE,
        help="CSV bytes per partition (default %(default)s)",
    )
    parser.add_argument(
        "--schema",
        choices=SCHEMAS,
        default="infer",
        help="column types of the CSV: inferred from the first MiB, or those of the sample data (default %(default)s)",
    )
    parser.add_argument("--partition-on", help="column to partition the dataset on, hive style (col=value/)")
    parser.add_argument(
        "--compression", choices=COMPRESSIONS, default="snappy", help="Parquet compression (default %(default)s)"
    )
    parser.add_argument(
        "--checksum",
        action="store_true",
        help="add an order-blind checksum of every row to the summary (costs about a sixth of the time)",
    )
    parser.add_argument(
        "--sample-rows",
        type=dask_job.positive_int,
        default=DEFAULT_SAMPLE_ROWS,
        help="rows of sample data, when there is no --input (default %(default)s)",
    )
    parser.add_argument("--seed", type=dask_job.non_negative_int, default=0, help="seed of the sample data (default 0)")
    parser.add_argument(
        "--rows-per-partition",
        type=dask_job.positive_int,
        default=DEFAULT_ROWS_PER_PARTITION,
        help="rows per sample partition; part of what defines the sample data (default %(default)s)",
    )
    parser.add_argument("--write-sample-csv", metavar="URL", help="also write the sample data as CSV to this folder")
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line; an empty ``--input`` (as a template may render it) means sample data."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.input = (args.input or "").strip() or None
    if args.write_sample_csv and args.input:
        parser.error("--write-sample-csv applies only to sample data, without --input")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job; return the process exit status."""
    return dask_job.run_job(JOB_NAME, convert, parse_args(argv))


if __name__ == "__main__":  # as the module of this file's name, uploaded to the cluster: tasks name its functions
    sys.exit(dask_job.main_by_name(__file__, main))
