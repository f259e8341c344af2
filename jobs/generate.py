"""Write the deterministic input data of every job in the library: same seed and size, same bytes.

One subcommand per kind of data::

    python generate.py csv      --output DIR --rows 1000000 --files 4   # events as CSV: csv_to_parquet
    python generate.py events   --output DIR --rows 1000000             # events as hive-partitioned Parquet
    python generate.py text     --output DIR --rows 100000              # lines of text: word_count
    python generate.py features --output DIR --rows 100000              # labelled features: ml_training
    python generate.py edges    --output DIR --rows 1000000             # a directed edge list: graph_analytics

``--output`` is a local folder or any fsspec URL (gs:// on Dataproc). The data is cut into
partitions of ``--rows-per-file`` rows (``csv``: ``--files`` files); partition ``i`` is drawn from its
own random stream seeded by ``(seed, i)``, so the partitions can be written in any order and in
parallel (``--processes``) without changing a byte. Prints one JSON summary line.

The events (``csv``, ``events``) come from ``csv_to_parquet.make_partition``, so converting the CSV
files with ``csv_to_parquet.py --schema sample`` gives the same checksum as its sample mode. That is
the one sibling this script imports: run it beside ``csv_to_parquet.py`` (on Dataproc, pass that file
in the job's ``py_files``). Generation runs in this process (or its ``--processes``), not on Dask
workers: it is a setup step, and a driver that writes straight to Cloud Storage is fast enough.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

if __package__:  # imported as part of a package, e.g. airflow_dask_provider.jobs
    events = importlib.import_module(f"{__package__}.csv_to_parquet")
else:  # run as a file: Python has put this file's folder first on sys.path
    import csv_to_parquet as events

JOB_NAME = "generate"
DEFAULT_ROWS_PER_FILE = 250_000
#: Rows per Parquet row group of the ``events`` files: small enough for ``ts`` filters to skip some.
EVENTS_ROW_GROUP_ROWS = 50_000
#: Words of the ``text`` vocabulary, and the exponent of their Zipf-like frequencies.
VOCABULARY_SIZE = 20_000
ZIPF_EXPONENT = 1.1
WORDS_PER_LINE = 12
_SYLLABLES = (
    "ka ri to na me lo su vi da ne po ra li mu te so ga bi ru ze an el in on ur "
    "tha sho pre stra cle gro bla dri fen mor qui wex yul zan"
).split()
FEATURES = 16


# -- events (csv_to_parquet's sample data) ------------------------------------------------------


def file_row_ranges(rows: int, files: int) -> list[tuple[int, int]]:
    """Return the ``[start, stop)`` rows of each file: ``files`` contiguous, near-equal ranges."""
    return [(rows * index // files, rows * (index + 1) // files) for index in range(files)]


def event_rows(seed: int, rows: int, start: int, stop: int, rows_per_partition: int) -> list[pd.DataFrame]:
    """Return rows ``[start, stop)`` of the ``rows`` sample events, one frame per sample partition touched.

    Whole partitions are generated and then cut: a partition's rows depend on its full size.
    """
    frames = []
    for index, (first, count) in enumerate(events.sample_partitions(rows, rows_per_partition)):
        if first + count > start and first < stop:
            frame = events.make_partition(seed, index, count, first)
            frames.append(frame.iloc[max(start - first, 0) : stop - first])
    return frames


def _csv_header(frame: pd.DataFrame) -> bytes:
    return (",".join(frame.columns) + "\n").encode()


def _write_csv_file(path: str, seed: int, rows: int, start: int, stop: int, rows_per_partition: int) -> str:
    from fsspec.core import url_to_fs
    from pyarrow import csv

    fs, local = url_to_fs(path)
    options = csv.WriteOptions(include_header=False, quoting_style="none")
    with fs.open(local, "wb") as stream:
        for number, frame in enumerate(event_rows(seed, rows, start, stop, rows_per_partition)):
            if number == 0:
                stream.write(_csv_header(frame))
            table = pa.Table.from_pandas(frame, preserve_index=False)
            # Whole seconds, so timestamps read back as "2024-06-22 04:29:22", as pandas writes them.
            table = table.set_column(1, "ts", table.column("ts").cast(pa.timestamp("s")))
            csv.write_csv(table, stream, write_options=options)
    return fs.unstrip_protocol(local)


def write_csv(
    output: str,
    *,
    rows: int,
    seed: int = 0,
    files: int = 1,
    rows_per_partition: int = events.DEFAULT_ROWS_PER_PARTITION,
    processes: int = 1,
) -> list[str]:
    """Write ``rows`` sample events into ``files`` CSV files ``part-NNNNN.csv`` in ``output``; return their URLs.

    :param output: a local folder or fsspec URL; created if missing. Existing part files are replaced.
    :param rows: rows in all, at least ``files``.
    :param seed: seed of the sample data.
    :param files: how many files to split the rows into; does not change the rows.
    :param rows_per_partition: size of the generator's partitions, which the data depends on.
    :param processes: how many processes write files at once.
    """
    if files < 1 or rows < files:
        raise ValueError(f"rows must be at least files, and files at least 1, not rows={rows} files={files}")
    folder = _make_folder(output)
    tasks = [
        (f"{folder}/part-{number:05d}.csv", seed, rows, start, stop, rows_per_partition)
        for number, (start, stop) in enumerate(file_row_ranges(rows, files))
    ]
    return _run_all(_write_csv_file, tasks, processes)


def _write_events_file(folder: str, seed: int, index: int, first: int, count: int) -> list[str]:
    import pyarrow.parquet as pq
    from fsspec.core import url_to_fs

    frame = events.make_partition(seed, index, count, first)
    fs, local = url_to_fs(folder)
    written = []
    for country, part in frame.groupby("country", sort=True, observed=True):
        table = pa.Table.from_pandas(part.drop(columns="country").sort_values("ts"), preserve_index=False)
        fs.makedirs(f"{local}/country={country}", exist_ok=True)
        path = f"{local}/country={country}/part-{index:05d}.parquet"
        with fs.open(path, "wb") as stream:
            pq.write_table(table, stream, row_group_size=EVENTS_ROW_GROUP_ROWS)
        written.append(fs.unstrip_protocol(path))
    return written


def write_events(
    output: str,
    *,
    rows: int,
    seed: int = 0,
    rows_per_file: int = DEFAULT_ROWS_PER_FILE,
    processes: int = 1,
) -> list[str]:
    """Write the sample events as a Parquet dataset partitioned hive style by country; return its files.

    Partition ``i`` of the events (``rows_per_file`` rows) becomes ``country=C/part-i.parquet`` for each
    country, without the ``country`` column (its folder says it), sorted by ``ts`` in row groups of
    :data:`EVENTS_ROW_GROUP_ROWS` rows, so a filter on ``ts`` can skip row groups by their statistics.
    The rows are those of ``csv_to_parquet.py --sample-rows ROWS --rows-per-partition ROWS_PER_FILE``.
    """
    folder = _make_folder(output)
    tasks = [
        (folder, seed, index, first, count)
        for index, (first, count) in enumerate(events.sample_partitions(rows, rows_per_file))
    ]
    return [path for paths in _run_all(_write_events_file, tasks, processes) for path in paths]


# -- text ---------------------------------------------------------------------------------------


@cache
def vocabulary() -> tuple[np.ndarray, np.ndarray]:
    """Return the words of the ``text`` data and their probabilities (fixed: no seed changes them)."""
    rng = np.random.default_rng(20240101)
    words: dict[str, None] = {}
    while len(words) < VOCABULARY_SIZE:
        length = 1 + min(int(rng.poisson(1.6)), 4)
        words["".join(rng.choice(_SYLLABLES, length))] = None
    weights = 1.0 / np.arange(1, VOCABULARY_SIZE + 1) ** ZIPF_EXPONENT
    return np.array(list(words), dtype=object), weights / weights.sum()


def text_lines(seed: int, index: int, rows: int) -> list[str]:
    """Return partition ``index`` of the text: ``rows`` lines of words, some capitalised, with punctuation."""
    words, probabilities = vocabulary()
    rng = np.random.default_rng([seed, index])
    lengths = 1 + rng.poisson(WORDS_PER_LINE - 1, rows)
    drawn = words[rng.choice(len(words), int(lengths.sum()), p=probabilities)]
    ends = np.cumsum(lengths)
    marks = rng.choice(np.array([".", "!", "?", ",", ";", ""], dtype=object), rows, p=[0.5, 0.1, 0.1, 0.1, 0.1, 0.1])
    lines = []
    for line, (start, stop) in enumerate(zip(ends - lengths, ends)):
        text = " ".join(drawn[start:stop])
        lines.append(text[:1].upper() + text[1:] + marks[line])
    return lines


def _write_text_file(path: str, seed: int, index: int, rows: int) -> str:
    from fsspec.core import url_to_fs

    fs, local = url_to_fs(path)
    with fs.open(local, "wb") as stream:
        stream.write(("\n".join(text_lines(seed, index, rows)) + "\n").encode())
    return fs.unstrip_protocol(local)


def write_text(
    output: str, *, rows: int, seed: int = 0, rows_per_file: int = DEFAULT_ROWS_PER_FILE, processes: int = 1
) -> list[str]:
    """Write ``rows`` lines of text into ``part-NNNNN.txt`` files of ``rows_per_file`` lines; return their URLs."""
    folder = _make_folder(output)
    tasks = [
        (f"{folder}/part-{index:05d}.txt", seed, index, count)
        for index, (_, count) in enumerate(events.sample_partitions(rows, rows_per_file))
    ]
    return _run_all(_write_text_file, tasks, processes)


# -- features -----------------------------------------------------------------------------------


def feature_rows(seed: int, index: int, rows: int, first_row: int) -> pd.DataFrame:
    """Return partition ``index`` of the labelled features: ``row_id``, ``f0``.. ``f15`` (float32), ``label``.

    The label is 1 where a fixed non-linear score plus noise is positive: learnable, not trivially.
    """
    rng = np.random.default_rng([seed, index])
    x = rng.standard_normal((rows, FEATURES), dtype=np.float32)
    weights = np.random.default_rng(7).standard_normal(FEATURES).astype(np.float32)
    score = x @ weights + 1.5 * np.sin(2 * x[:, 0] * x[:, 1]) + 0.8 * np.abs(x[:, 2]) - 0.6
    label = (score + rng.standard_normal(rows, dtype=np.float32) > 0).astype(np.int8)
    columns: dict[str, Any] = {"row_id": np.arange(first_row, first_row + rows, dtype=np.int64)}
    columns.update({f"f{number}": x[:, number] for number in range(FEATURES)})
    columns["label"] = label
    return pd.DataFrame(columns)


def _write_parquet_file(path: str, make: Callable[..., pd.DataFrame], *args: Any) -> str:
    import pyarrow.parquet as pq
    from fsspec.core import url_to_fs

    fs, local = url_to_fs(path)
    with fs.open(local, "wb") as stream:
        pq.write_table(pa.Table.from_pandas(make(*args), preserve_index=False), stream)
    return fs.unstrip_protocol(local)


def write_features(
    output: str, *, rows: int, seed: int = 0, rows_per_file: int = DEFAULT_ROWS_PER_FILE, processes: int = 1
) -> list[str]:
    """Write ``rows`` labelled feature rows into ``part-NNNNN.parquet`` files; return their URLs."""
    folder = _make_folder(output)
    tasks = [
        (f"{folder}/part-{index:05d}.parquet", feature_rows, seed, index, count, first)
        for index, (first, count) in enumerate(events.sample_partitions(rows, rows_per_file))
    ]
    return _run_all(_write_parquet_file, tasks, processes)


# -- edges --------------------------------------------------------------------------------------


def edge_rows(seed: int, index: int, rows: int, nodes: int) -> pd.DataFrame:
    """Return partition ``index`` of a directed edge list over ``nodes`` nodes: columns ``src``, ``dst``.

    Targets follow a Zipf-like law over a seed-fixed shuffle of the nodes (a few nodes are popular),
    sources are uniform. Parallel edges and self-loops can occur: both count, as in a multigraph.
    """
    rng = np.random.default_rng([seed, index])
    popularity = 1.0 / np.arange(1, nodes + 1) ** 0.8
    order = np.random.default_rng([seed, 2**31]).permutation(nodes)
    cumulative = np.cumsum(popularity / popularity.sum())
    ranks = np.minimum(np.searchsorted(cumulative, rng.random(rows)), nodes - 1)
    return pd.DataFrame({"src": rng.integers(0, nodes, rows, dtype=np.int64), "dst": order[ranks].astype(np.int64)})


def write_edges(
    output: str,
    *,
    rows: int,
    nodes: int,
    seed: int = 0,
    rows_per_file: int = DEFAULT_ROWS_PER_FILE,
    processes: int = 1,
) -> list[str]:
    """Write ``rows`` edges between ``nodes`` nodes into ``part-NNNNN.parquet`` files; return their URLs."""
    if nodes < 1:
        raise ValueError(f"nodes must be at least 1, not {nodes}")
    folder = _make_folder(output)
    tasks = [
        (f"{folder}/part-{index:05d}.parquet", edge_rows, seed, index, count, nodes)
        for index, (_, count) in enumerate(events.sample_partitions(rows, rows_per_file))
    ]
    return _run_all(_write_parquet_file, tasks, processes)


# -- running ------------------------------------------------------------------------------------


def _make_folder(output: str) -> str:
    from fsspec.core import url_to_fs

    fs, folder = url_to_fs(output)
    fs.makedirs(folder, exist_ok=True)
    return fs.unstrip_protocol(folder.rstrip("/"))


def _call(task: tuple[Callable[..., Any], tuple[Any, ...]]) -> Any:
    function, args = task
    return function(*args)


def _run_all(function: Callable[..., Any], tasks: list[tuple[Any, ...]], processes: int) -> list[Any]:
    if processes <= 1 or len(tasks) <= 1:
        return [function(*args) for args in tasks]
    import multiprocessing

    with ProcessPoolExecutor(min(processes, len(tasks)), mp_context=multiprocessing.get_context("fork")) as pool:
        return list(pool.map(_call, [(function, args) for args in tasks]))


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser of this script."""
    parser = argparse.ArgumentParser(prog=JOB_NAME, description="Write deterministic input data for the Dask jobs.")
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="KIND")
    helps = {
        "csv": "sample events as CSV files, for csv_to_parquet",
        "events": "sample events as a hive-partitioned Parquet dataset, for parquet_analytics",
        "text": "lines of text, for word_count",
        "features": "labelled feature rows as Parquet, for ml_training",
        "edges": "a directed edge list as Parquet, for graph_analytics",
    }
    for kind, text in helps.items():
        sub = kinds.add_parser(kind, help=text, description=f"Write {text}.")
        sub.add_argument("--output", required=True, help="folder: a local path or fsspec URL")
        sub.add_argument("--rows", type=int, default=100_000, help="rows (lines, edges) in all (default %(default)s)")
        sub.add_argument("--seed", type=int, default=0, help="seed of the data (default 0)")
        sub.add_argument("--processes", type=int, default=1, help="processes writing at once (default 1)")
        if kind == "csv":
            sub.add_argument("--files", type=int, default=1, help="files to split the rows into (default 1)")
            sub.add_argument(
                "--rows-per-partition",
                type=int,
                default=events.DEFAULT_ROWS_PER_PARTITION,
                help="generator partition size; must match csv_to_parquet's to get the same data (default %(default)s)",
            )
        else:
            sub.add_argument(
                "--rows-per-file", type=int, default=DEFAULT_ROWS_PER_FILE, help="rows per file (default %(default)s)"
            )
        if kind == "edges":
            sub.add_argument("--nodes", type=int, help="number of nodes (default: rows / 8, at least 1)")
    return parser


def generate(args: argparse.Namespace) -> list[str]:
    """Write the data ``args`` describe and return the URLs of the files."""
    common = {"rows": args.rows, "seed": args.seed, "processes": args.processes}
    if args.kind == "csv":
        return write_csv(args.output, files=args.files, rows_per_partition=args.rows_per_partition, **common)
    writers: dict[str, Callable[..., list[str]]] = {
        "events": write_events,
        "text": write_text,
        "features": write_features,
        "edges": write_edges,
    }
    extra = {"nodes": args.nodes or max(args.rows // 8, 1)} if args.kind == "edges" else {}
    return writers[args.kind](args.output, rows_per_file=args.rows_per_file, **common, **extra)


def main(argv: Sequence[str] | None = None) -> int:
    """Write the data; return the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    per_file = getattr(args, "rows_per_file", None) or getattr(args, "rows_per_partition", 1)
    if args.seed < 0 or args.rows < 1 or args.processes < 1 or per_file < 1 or getattr(args, "files", 1) < 1:
        parser.error("need --seed >= 0, --rows >= 1, --processes >= 1 and sizes >= 1")
    if args.kind == "csv" and args.rows < args.files:
        parser.error("need --rows >= --files")
    started = time.monotonic()
    try:
        paths = generate(args)
    except OSError as err:
        print(f"{JOB_NAME}: error: cannot write to --output {args.output!r}: {err}", file=sys.stderr)
        return 1
    summary = {
        "job": JOB_NAME,
        "kind": args.kind,
        "rows": args.rows,
        "seed": args.seed,
        "output": args.output,
        "files": len(paths),
        "seconds": round(time.monotonic() - started, 3),
    }
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
