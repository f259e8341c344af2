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
the result frame, blind to row order, see ``dask_job.frame_checksum``), ``top`` (the ten most
frequent) and ``seconds``. Exit status 0 on success, 1 on failure, 2 for bad arguments. Imports
neither Airflow nor the provider; on Dataproc, submit ``dask_job.py`` with it in ``py_files``.
"""

from __future__ import annotations

import argparse
import json
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

dask_job.require_libraries("word_count")  # before any code of this module meets an older library

if TYPE_CHECKING:
    import dask.dataframe as dd

JOB_NAME = "word_count"
DEFAULT_BLOCKSIZE = "32MiB"
#: What separates words, in RE2 syntax (pyarrow's): anything but a letter or a digit.
SEPARATOR_PATTERN = r"[^\p{L}\p{N}]+"
TOP_WORDS = 10
RESULT_META = pd.DataFrame(
    {"word": pd.Series([], dtype=pd.ArrowDtype(pa.string())), "count": pd.Series([], dtype=pd.ArrowDtype(pa.int64()))}
)

log = logging.getLogger(JOB_NAME)


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
    return count_words(dask_job.read_lines_block(url, offset, length))


def word_counts(urls: list[str], *, blocksize: str, split_out: int) -> dd.DataFrame:
    """Return the word counts of the files: one row per word, unordered."""
    import dask.dataframe as dd
    from dask.utils import parse_bytes

    blocks = dask_job.byte_blocks(urls, parse_bytes(blocksize))
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
            "checksum": [np.uint64(dask_job.frame_checksum(frame))],
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

    dask_job.import_dask()
    started = time.monotonic()
    urls = dask_job.resolve_input(args.input, pattern="*", what="text files")
    dask_job.check_output_apart(args.output, urls)
    with dask_job.cluster_client(args) as client:
        workers = dask_job.wait_for_workers(client, args.min_workers, args.connect_timeout)
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
    dask_job.add_cluster_arguments(parser)
    parser.add_argument(
        "--blocksize",
        type=dask_job.byte_size,
        default=DEFAULT_BLOCKSIZE,
        help="bytes of text per task (default %(default)s)",
    )
    parser.add_argument(
        "--split-out",
        type=dask_job.positive_int,
        default=1,
        help="partitions of the result; more than 1 for a huge vocabulary, whose result is then unordered",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job; return the process exit status."""
    return dask_job.run_job(JOB_NAME, count, build_parser().parse_args(argv))


if __name__ == "__main__":  # as the module of this file's name, uploaded to the cluster: tasks name its functions
    sys.exit(dask_job.main_by_name(__file__, main))
