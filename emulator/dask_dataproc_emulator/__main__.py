"""``dask-dataproc-emulator``: serve the Dataproc API on loopback until SIGTERM or SIGINT.

Example::

    dask-dataproc-emulator --host 127.0.0.1 --port 8790 --data-dir .emulator

Once both servers listen it prints one line,
``dask-dataproc-emulator listening on HOST:PORT storage http://HOST:PORT data-dir DIR``, and writes
``DIR/emulator.json`` (``{"grpc": ..., "storage": ..., "pid": ...}``), which it removes on exit.
On SIGTERM or SIGINT it deletes every cluster (stopping every Dask process and job) and exits 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from dask_dataproc_emulator import settings as defaults
from dask_dataproc_emulator.settings import EmulatorSettings


def parse_args(argv: Sequence[str] | None = None) -> EmulatorSettings:
    """Return the settings the command line asks for."""
    parser = argparse.ArgumentParser(
        prog="dask-dataproc-emulator",
        description="Serve the Dataproc v1 gRPC API and a Cloud Storage subset on loopback, "
        "backed by real Dask processes.",
    )
    parser.add_argument("--host", default=defaults.HOST, help="interface to bind (default %(default)s)")
    parser.add_argument("--port", type=int, default=0, help="gRPC port; 0 picks a free one (default)")
    parser.add_argument(
        "--storage-port",
        type=int,
        default=None,
        help="storage HTTP port (default: gRPC port + 1 when --port is given, else a free one)",
    )
    parser.add_argument("--data-dir", type=Path, required=True, help="buckets, cluster logs and job files")
    parser.add_argument("--worker-threads", type=int, default=defaults.WORKER_THREADS, help="threads per Dask worker")
    parser.add_argument("--worker-memory", default=defaults.WORKER_MEMORY_LIMIT, help="memory limit per Dask worker")
    parser.add_argument(
        "--worker-nanny",
        action="store_true",
        help="run Dask workers under a nanny (slower start; Client.restart works)",
    )
    parser.add_argument(
        "--start-timeout",
        type=float,
        default=defaults.CLUSTER_START_TIMEOUT_SECONDS,
        help="seconds a cluster may take to start before it goes to ERROR",
    )
    parser.add_argument(
        "--stop-grace", type=float, default=defaults.STOP_GRACE_SECONDS, help="seconds between SIGTERM and SIGKILL"
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=defaults.TIME_SCALE,
        help="emulated seconds per real second for idle_delete_ttl, auto_delete_ttl and auto_delete_time "
        "(60: a 10-minute TTL passes in 10 s; default %(default)s)",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default %(default)s)")
    args = parser.parse_args(argv)
    if args.time_scale <= 0:
        parser.error("--time-scale must be more than 0")
    if args.start_timeout <= 0:
        parser.error(f"--start-timeout must be more than 0 seconds, not {args.start_timeout:g}")
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return EmulatorSettings(
        data_dir=args.data_dir.resolve(),
        host=args.host,
        port=args.port,
        storage_port=args.storage_port or 0,
        worker_threads=args.worker_threads,
        worker_memory_limit=args.worker_memory,
        worker_nanny=args.worker_nanny,
        start_timeout=args.start_timeout,
        stop_grace=args.stop_grace,
        time_scale=args.time_scale,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the emulator until SIGTERM or SIGINT; return the exit code."""
    settings = parse_args(argv)
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        if stop.is_set():  # a second signal: leave now; children get SIGTERM from the kernel
            os._exit(1)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    from dask_dataproc_emulator.server import Emulator

    emulator = Emulator(settings)
    emulator.start()
    try:
        print(
            f"dask-dataproc-emulator listening on {emulator.grpc_target} storage {emulator.storage_url} "
            f"data-dir {settings.data_dir}",
            flush=True,
        )
        if settings.time_scale != 1:
            logging.getLogger(__name__).info("Cluster TTLs pass %g times faster (--time-scale)", settings.time_scale)
        while not stop.wait(1.0):
            pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
