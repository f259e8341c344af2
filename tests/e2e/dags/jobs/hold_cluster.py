"""A Dask job that holds its cluster: it computes a little every half second until a file exists,
``--seconds`` have passed, or (with neither) forever. The fault tests use it as a long job, a short
job and a job that never ends."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from distributed import Client


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--until-file", default="", help="end once this local file exists")
    parser.add_argument("--seconds", type=float, default=0.0, help="end after this long (0: no limit)")
    args = parser.parse_args()
    with Client() as client:  # the scheduler and the cluster's credential come from Dask's configuration
        print(f"holding the cluster with {len(client.scheduler_info()['workers'])} workers", flush=True)
        start = time.monotonic()
        while True:
            if args.until_file and Path(args.until_file).exists():
                break
            if args.seconds and time.monotonic() - start >= args.seconds:
                break
            assert client.submit(sum, [1, 2], pure=False).result() == 3
            time.sleep(0.5)
    print(f"released the cluster after {time.monotonic() - start:.1f}s", flush=True)


if __name__ == "__main__":
    main()
