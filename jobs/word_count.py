"""Count the words of text files with Dask: the first job to try, written the fast way.

Runs as the driver of a Dask job on a Dataproc cluster (see ``csv_to_parquet.py`` for how), reads
the text in blocks of about ``--blocksize`` bytes that end on a line boundary, counts the words of
each block on the workers with pyarrow's vectorised string kernels, adds the counts up and writes
a Parquet dataset of ``word`` (string) and ``count`` (int64), most frequent first::

    python word_count.py --input 'gs://bucket/books/*.txt' --output gs://bucket/word_counts

A word is a maximal run of Unicode letters and digits (``[\\p{L}\\p{N}]+``), lowercased: "Don't" is
"don" and "t", "Über" is "über". Python's ``re.findall(r"[^\\W_]+", line.lower())`` finds the same
words, which is what the single-process reference does.

Why not ``dask.bag.read_text(...).str.split()``: a bag handles every line, then every word, as a
Python object, which is some ten times slower per core than one pyarrow kernel over a block. Per
block the counts are small (one row per distinct word), so the sum over blocks is a cheap tree
reduction; ``--split-out`` spreads it when the vocabulary is huge.

Prints one JSON summary line: ``rows`` (distinct words), ``words`` (all words), ``checksum`` (of
the result frame, blind to row order, see ``frame_checksum``), ``top`` (the ten most frequent) and
``seconds``. Exit status 0 on success, 1 on failure, 2 for bad arguments. Imports neither Airflow
nor the provider: this file runs alone on the cluster.
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
import pyarrow as pa

if TYPE_CHECKING:
    import dask.dataframe as dd
    from distributed import Client

JOB_NAME = "word_count"
DEFAULT_BLOCKSIZE = "32MiB"
#: What separates words, in RE2 syntax (pyarrow's): anything but a letter or a digit.
SEPARATOR_PATTERN = r"[^\p{L}\p{N}]+"
TOP_WORDS = 10
RESULT_META = pd.DataFrame(
    {"word": pd.Series([], dtype=pd.ArrowDtype(pa.string())), "count": pd.Series([], dtype=pd.ArrowDtype(pa.int64()))}
)

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


# -- shared by the jobs that read text in blocks (csv_to_parquet, word_count) ---------------------

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


# -- counting -----------------------------------------------------------------------------------


#: Bytes to lowercase ASCII letters, or spaces for ASCII that is neither letter nor digit; bytes of
#: multi-byte UTF-8 characters stay as they are.
_ASCII_TABLE = bytes(
    byte + 32 if 65 <= byte <= 90 else byte if (48 <= byte <= 57 or 97 <= byte <= 122 or byte >= 128) else 32
    for byte in range(256)
)


def count_words(data: bytes) -> pd.DataFrame:
    """Return the words of UTF-8 ``data`` and how often each occurs, unordered, as pyarrow-backed columns.

    The fast path handles ASCII with a byte translation and a plain split on spaces; only the
    pieces that hold other characters go through the Unicode-aware regular expression.
    """
    import pyarrow.compute as pc

    try:
        text = pa.array([data.translate(_ASCII_TABLE)], pa.large_binary()).cast(pa.large_string())
    except pa.ArrowInvalid:  # not valid UTF-8: replace the bad bytes, as Python's decoder would
        text = pa.array([data.decode("utf-8", errors="replace").encode().translate(_ASCII_TABLE)], pa.large_string())
    words = pc.list_flatten(pc.split_pattern(text, " "))
    ascii_only = pc.string_is_ascii(words)
    if not pc.all(ascii_only).as_py():
        others = pc.filter(words, pc.invert(ascii_only))
        others = pc.list_flatten(pc.split_pattern_regex(pc.utf8_lower(others), SEPARATOR_PATTERN))
        words = pa.chunked_array([pc.filter(words, ascii_only), others.cast(words.type)])
    words = pc.filter(words, pc.not_equal(words, ""))
    counts = pc.value_counts(words)
    return pd.DataFrame(
        {
            "word": pd.Series(counts.field("values").cast(pa.string()), dtype=pd.ArrowDtype(pa.string())),
            "count": pd.Series(counts.field("counts"), dtype=pd.ArrowDtype(pa.int64())),
        }
    )


def count_block(url: str, offset: int, length: int | None) -> pd.DataFrame:
    """Read one block of a text file and count its words."""
    return count_words(read_lines_block(url, offset, length))


def word_counts(urls: list[str], *, blocksize: str, split_out: int) -> dd.DataFrame:
    """Return the word counts of the files: one row per word, unordered."""
    import dask.dataframe as dd
    from dask.utils import parse_bytes

    blocks = byte_blocks(urls, parse_bytes(blocksize))
    partial = dd.from_map(
        count_block,
        [url for url, _, _ in blocks],
        [offset for _, offset, _ in blocks],
        [length for _, _, length in blocks],
        meta=RESULT_META,
        label="count-words",
        enforce_metadata=False,
    )
    return partial.groupby("word").sum(split_out=split_out).reset_index()


def most_frequent_first(frame: pd.DataFrame) -> pd.DataFrame:
    """Return the counts ordered by count, descending, then by word."""
    return frame.sort_values(["count", "word"], ascending=[False, True], ignore_index=True)


def _stats(frame: pd.DataFrame) -> pd.DataFrame:
    top = most_frequent_first(frame).head(TOP_WORDS)
    return pd.DataFrame(
        {
            "rows": [len(frame)],
            "words": [int(frame["count"].sum())],
            "checksum": [np.uint64(frame_checksum(frame))],
            "top": [json.dumps([[word, int(count)] for word, count in zip(top["word"], top["count"])])],
        }
    )


def merge_top(tops: Sequence[str], limit: int = TOP_WORDS) -> list[list[Any]]:
    """Return the ``limit`` most frequent ``[word, count]`` of per-partition top lists (JSON texts)."""
    pairs = [pair for text in tops for pair in json.loads(text)]
    return sorted(pairs, key=lambda pair: (-pair[1], pair[0]))[:limit]


# -- the job ------------------------------------------------------------------------------------


def count(args: argparse.Namespace) -> dict[str, Any]:
    """Run the count that ``args`` describes, and return its summary."""
    import dask

    started = time.monotonic()
    urls = resolve_input(args.input, pattern="*", what="text files")
    check_output_apart(args.output, urls)
    with cluster_client(args) as client:
        workers = wait_for_workers(client, args.min_workers, args.connect_timeout)
        log.info("Counting the words of %d file(s) from %s on %d worker(s)", len(urls), args.input, workers)
        result = word_counts(urls, blocksize=args.blocksize, split_out=args.split_out)
        if result.npartitions == 1:
            result = result.map_partitions(most_frequent_first, meta=RESULT_META)
        # The counts feed both the files and the summary: keep them on the workers (they are small).
        result = result.persist()
        write = result.to_parquet(args.output, engine="pyarrow", write_index=False, overwrite=True, compute=False)
        stats = result.map_partitions(
            _stats, meta={"rows": "int64", "words": "int64", "checksum": "uint64", "top": "object"}
        )
        _, per_partition = dask.compute(write, stats)
    return {
        "job": JOB_NAME,
        "rows": int(per_partition["rows"].sum()),
        "words": int(per_partition["words"].sum()),
        "checksum": f"{sum(int(value) for value in per_partition['checksum']) % 2**64:016x}",
        "top": merge_top(list(per_partition["top"])),
        "files": len(urls),
        "partitions": result.npartitions,
        "input": args.input,
        "output": args.output,
        "workers": workers,
        "seconds": round(time.monotonic() - started, 3),
    }


# -- command line -------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser of this job."""
    parser = argparse.ArgumentParser(prog=JOB_NAME, description="Count the words of text files on a Dask cluster.")
    parser.add_argument("--input", required=True, help="fsspec URL, glob or folder of UTF-8 text files")
    parser.add_argument("--output", required=True, help="fsspec URL of the Parquet dataset folder; overwritten")
    add_cluster_arguments(parser)
    parser.add_argument("--blocksize", default=DEFAULT_BLOCKSIZE, help="bytes of text per task (default %(default)s)")
    parser.add_argument(
        "--split-out",
        type=_positive_int,
        default=1,
        help="partitions of the result; more than 1 for a huge vocabulary, whose result is then unordered",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job; return the process exit status."""
    return run_job(JOB_NAME, count, build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
