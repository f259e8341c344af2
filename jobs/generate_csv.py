"""Write deterministic sample CSV files: input for ``csv_to_parquet.py`` and for tests.

``generate.py csv`` does the same; this script stays for its shorter command line. The rows come
from ``csv_to_parquet.make_partition``, so for the same ``--seed``, ``--rows`` and
``--rows-per-partition`` these files hold exactly the data that ``csv_to_parquet.py`` generates on
the cluster when it is given no ``--input``; converting them with ``--schema sample`` gives the same
checksum. The generator lives in ``csv_to_parquet.py``, whose workers run it in sample mode; this
script is a local tool and finds that module beside itself. How the rows are split into files
(``--files``) does not change them::

    python generate_csv.py --output /tmp/events_csv --rows 1000000 --files 4 --seed 7
    python generate_csv.py --output gs://bucket/raw/events --rows 1000000

Writes ``part-00000.csv``, ``part-00001.csv``, ... into the ``--output`` folder (a local path or
any fsspec URL), then prints one JSON summary line to stdout.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence

if __package__:  # imported as part of a package, e.g. airflow_dask_provider.jobs
    conversion = importlib.import_module(f"{__package__}.csv_to_parquet")
    generate = importlib.import_module(f"{__package__}.generate")
else:  # run as a file: Python has put this file's folder first on sys.path
    import csv_to_parquet as conversion
    import generate

JOB_NAME = "generate_csv"

#: Re-exported: ``generate.py csv`` writes the same files (see its ``write_csv``).
file_row_ranges = generate.file_row_ranges
write_csv = generate.write_csv


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser of this script."""
    parser = argparse.ArgumentParser(prog=JOB_NAME, description="Write deterministic sample CSV files.")
    parser.add_argument("--output", required=True, help="folder (local path or fsspec URL) for part-NNNNN.csv")
    parser.add_argument("--rows", type=int, default=conversion.DEFAULT_SAMPLE_ROWS, help="rows in all")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data (default 0)")
    parser.add_argument("--files", type=int, default=1, help="how many files to split the rows into (default 1)")
    parser.add_argument(
        "--rows-per-partition",
        type=int,
        default=conversion.DEFAULT_ROWS_PER_PARTITION,
        help="generator partition size; must match csv_to_parquet's to get the same data (default %(default)s)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Write the files; return the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.seed < 0 or args.files < 1 or args.rows < args.files or args.rows_per_partition < 1:
        parser.error("need --seed >= 0, --files >= 1, --rows >= --files and --rows-per-partition >= 1")
    try:
        paths = write_csv(
            args.output,
            rows=args.rows,
            seed=args.seed,
            files=args.files,
            rows_per_partition=args.rows_per_partition,
        )
    except OSError as err:
        print(f"{JOB_NAME}: error: cannot write to --output {args.output!r}: {err}", file=sys.stderr)
        return 1
    summary = {"job": JOB_NAME, "rows": args.rows, "seed": args.seed, "output": args.output, "files": paths}
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
