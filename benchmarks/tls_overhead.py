"""What mutual TLS costs a Dask job: Parquet analytics on 2 workers, with and without TLS, interleaved.

The same job and input as ``benchmarks/jobs.py``'s Parquet analytics (80 M events, its default;
``--quick``: a tiny input), on two cluster setups started the same way (``benchmarks/jobs.py``'s
``start_cluster``: a ``LocalCluster`` of 2 worker processes of 1 thread each, plus the scheduler in
this process, warmed up, each worker held to a core of its own, a fresh cluster for each run):

- **plain**: ``tcp://``, as a cluster without TLS;
- **tls**: ``protocol="tls"`` and ``distributed.security.Security.temporary()`` (a self-signed
  certificate made for this invocation, ``require_encryption=True``): scheduler, workers and client
  all present it and accept no other, so every connection (client to scheduler, worker to
  scheduler, worker to worker) is mutual TLS.

The job's driver is the script run as on Dataproc (a subprocess; ``--quick``: in this process). It
gets the TLS cluster's credential the way a driver on a cluster does, from Dask's configuration
(``distributed.comm.tls.ca-file``, ``.client.cert``, ``.client.key`` and
``distributed.comm.require-encryption``, here as ``DASK_...`` variables naming files this benchmark
writes, readable by its user alone, and removes at the end): its ``Client(address)`` takes
``Security()`` from there.

Before the runs, one TLS cluster is started to show that it is closed to strangers: its scheduler's
and workers' addresses are ``tls://``, a client with the credential connects (the protocol and
cipher are printed), and three clients without it are refused: a plain ``tcp://`` one, a TLS one
that trusts the cluster's certificate but has none of its own, and a TLS one with a certificate of
another authority. The benchmark fails if any of them gets in.

Then ``--rounds`` rounds (default 5), each one run of each setup, in alternating order (plain
first in even rounds, tls first in odd ones) so that a drift of the machine's speed (other
processes, its host) hits both alike. Each run's result is checked against the single-process
reference (``benchmarks/reference.py``, run once, untimed); before each run every file of the input
is read once, untimed (see ``benchmarks/jobs.py``). Times are those the job reports for its own work
(connecting to the scheduler included, the interpreter's start and imports not). Printed per setup:
every run, the best and the median; then the overhead of TLS, from the medians and from the bests,
and the median of the rounds' own ratios (tls / plain of the same round; each round's line gives it
and the 1-minute load average after it: on a machine shared with others, a busy round shows).
Ratios of this run only. The last line::

    RESULT tls_overhead_pct=N tls_overhead_best_pct=N plain_median_s=N tls_median_s=N

with ``tls_overhead_pct = (median tls / median plain - 1) * 100``. As ``benchmarks/jobs.py`` does,
a run as root holds this VM's free page reporting off while it runs (``--keep-page-reporting``
leaves it on; ``--quick`` never changes it); ``--no-pin`` lets the workers use any core.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import ssl
import statistics
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.jobs import (  # noqa: E402  # the repository's root on the path first
    FULL,
    MALLOC,
    QUICK,
    Bench,
    check,
    ensure_input,
    input_root,
    load,
    page_reporting_held_off,
    pinned_cores,
    read_into_page_cache,
    run_dask,
    run_on_own_cluster,
    run_reference,
    start_cluster,
)

JOB = "parquet_analytics"
WORKERS = 2
SETUPS = ("plain", "tls")
#: How long a client without the credential may try before it counts as refused.
REFUSAL_TIMEOUT_SECONDS = 5.0


# -- the TLS credential -------------------------------------------------------------------------


def cluster_options(setup: str, security: Any) -> dict[str, Any]:
    """Return the ``LocalCluster`` options of a setup."""
    return {"protocol": "tls", "security": security} if setup == "tls" else {"protocol": "tcp"}


@contextlib.contextmanager
def credential_files(security: Any) -> Iterator[dict[str, str]]:
    """Write the client's part of ``security`` to files only this user may read; yield Dask's configuration naming them.

    The configuration a job's driver reads: ``Client(address)`` takes ``Security()`` from it. The
    folder is removed on exit.
    """
    folder = Path(tempfile.mkdtemp(prefix="tls-overhead-credential-"))  # mode 0700
    try:
        files = {"ca-file": "ca.pem", "client.cert": "client.pem", "client.key": "client-key.pem"}
        contents = {
            "ca-file": security.tls_ca_file,
            "client.cert": security.tls_client_cert,
            "client.key": security.tls_client_key,
        }
        config: dict[str, Any] = {"distributed.comm.require-encryption": True}
        for key, name in files.items():
            path = folder / name
            path.touch(mode=0o600)
            path.write_text(contents[key])
            config[f"distributed.comm.tls.{key}"] = str(path)
        yield config
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def as_environ(config: dict[str, Any]) -> dict[str, str]:
    """Return Dask configuration as the ``DASK_...`` variables that set it in a new process."""
    return {"DASK_" + key.replace(".", "__").replace("-", "_").upper(): str(value) for key, value in config.items()}


# -- proof that the TLS cluster is closed to strangers ------------------------------------------


def _refusal(attempt: Any) -> str:
    """Return how ``attempt()`` was refused, or '' if it connected."""
    try:
        attempt()
    except Exception as err:  # any failure to connect is a refusal: say which
        return f"{type(err).__name__}: {' '.join(str(err).split())[:160]}"
    return ""


def prove_tls(malloc: dict[str, str], security: Any) -> list[str]:
    """Start a TLS cluster and show it is one; return the lines to print. Exits if a stranger gets in."""
    from distributed import Client
    from distributed.comm import connect
    from distributed.security import Security

    cluster = start_cluster(WORKERS, malloc, False, **cluster_options("tls", security))
    try:
        address = cluster.scheduler_address
        with Client(cluster) as client:
            workers = sorted(client.scheduler_info()["workers"])

        async def cipher(context: ssl.SSLContext | None, **args: Any) -> str:
            comm = await connect(address, timeout=REFUSAL_TIMEOUT_SECONDS, ssl_context=context, **args)
            try:
                name, protocol, bits = comm.extra_info["cipher"]
                await comm.write({"op": "identity"})
                await comm.read()  # the scheduler answers: the connection is accepted, not just opened
                return f"{protocol}, {name}, {bits} bits"
            finally:
                await comm.close()

        own = security.get_connection_args("client")
        accepted = asyncio.run(cipher(own["ssl_context"], require_encryption=True))
        # Trusts the cluster's certificate, presents none: only the server's check of clients stops it.
        no_certificate = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cadata=security.tls_ca_file)
        no_certificate.check_hostname = False
        stranger = Security.temporary()
        impostor = Security(
            require_encryption=True,
            tls_ca_file=security.tls_ca_file,
            tls_client_cert=stranger.tls_client_cert,
            tls_client_key=stranger.tls_client_key,
        )
        plain_address = "tcp://" + address.split("://", 1)[1]
        timeout = REFUSAL_TIMEOUT_SECONDS
        refusals = {
            "a plain tcp:// client (no credential)": _refusal(
                lambda: Client(plain_address, security=Security(require_encryption=False), timeout=timeout).close()
            ),
            "a TLS client that trusts the cluster but has no certificate": _refusal(
                lambda: asyncio.run(cipher(no_certificate))
            ),
            "a TLS client with a certificate the cluster did not issue": _refusal(
                lambda: Client(address, security=impostor, timeout=timeout).close()
            ),
        }
    finally:
        cluster.close()
    schemes = {item.split("://", 1)[0] for item in [address, *workers]}
    if schemes != {"tls"}:
        sys.exit(f"the TLS cluster is not TLS: scheduler {address}, workers {workers}")
    let_in = [who for who, how in refusals.items() if not how]
    if let_in:
        sys.exit(f"the TLS cluster let in {', '.join(let_in)}")
    return [
        f"TLS cluster: scheduler {address}, workers {', '.join(workers)}",
        f"  a client with the cluster's credential: connected ({accepted})",
        *(f"  {who}: refused ({how})" for who, how in refusals.items()),
        "TLS check: the TLS cluster refused every client without its credential, plain client included",
    ]


# -- the benchmark ------------------------------------------------------------------------------


def run_setup(
    setup: str,
    bench: Bench,
    folder: Path,
    output: Path,
    *,
    quick: bool,
    malloc: dict[str, str],
    pin: bool,
    security: Any,
    credential: dict[str, Any],
) -> dict[str, Any]:
    """Run the job once on a fresh cluster of ``setup``; return its summary."""
    import dask

    def run(address: str) -> dict[str, Any]:
        if not address.startswith(f"{'tls' if setup == 'tls' else 'tcp'}://"):
            sys.exit(f"the {setup} cluster's scheduler is at {address}")
        if setup != "tls":
            return run_dask(bench, address, folder, output, in_process=quick)
        if quick:  # the driver runs in this process: its configuration, for this run only
            with dask.config.set(credential):
                return run_dask(bench, address, folder, output, in_process=True)
        return run_dask(bench, address, folder, output, in_process=False, environ=as_environ(credential))

    read_into_page_cache(folder)
    return run_on_own_cluster(WORKERS, malloc, pin, run, **cluster_options(setup, security))


def overhead_pct(tls: float, plain: float) -> float:
    return (tls / plain - 1) * 100


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny input, driver in this process: check it all works")
    parser.add_argument("--rounds", type=int, help="rounds of one run per setup (default 5; 2 with --quick)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated input (default 0)")
    parser.add_argument("--data-dir", type=Path, help="where the input is cached (default: as benchmarks/jobs.py)")
    parser.add_argument("--malloc", choices=sorted(MALLOC), default="tuned", help="as benchmarks/jobs.py (%(default)s)")
    parser.add_argument("--no-pin", dest="pin", action="store_false", help="let the workers use any core")
    parser.add_argument(
        "--keep-page-reporting", action="store_true", help="leave this VM's free page reporting on (as root)"
    )
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = 2 if args.quick else 5
    if args.rounds < 1:
        parser.error("--rounds must be 1 or more")
    from distributed.security import Security

    bench = (QUICK if args.quick else FULL)[JOB]
    malloc = MALLOC[args.malloc]
    pinning = "each worker on a core of its own" if args.pin and pinned_cores(WORKERS) else "not pinned"
    times: dict[str, list[float]] = {setup: [] for setup in SETUPS}
    with (
        input_root(args.data_dir, quick=args.quick, prefix="tls-bench-") as root,
        # apart from jobs.py's _out
        tempfile.TemporaryDirectory(prefix="_tls-overhead-out-", dir=root, ignore_cleanup_errors=True) as out,
        page_reporting_held_off(keep=args.keep_page_reporting or args.quick) as reporting,
    ):
        output = Path(out) / JOB
        print(
            f"TLS overhead benchmark: {JOB} on {WORKERS} workers x 1 thread, {os.cpu_count()} cores ({pinning}), "
            f"{args.rounds} round(s), malloc {args.malloc}, {ssl.OPENSSL_VERSION}, inputs in {root}"
        )
        if reporting:
            print(reporting)
        print(f"Load average at the start: {load()}", flush=True)
        folder = ensure_input(bench, root, args.seed)  # before any cluster starts threads here
        security = Security.temporary()
        for line in prove_tls(malloc, security):
            print(line, flush=True)
        reference = run_reference(JOB, folder, output, bench.args, in_process=args.quick, malloc=malloc, pin=args.pin)
        with credential_files(security) as credential:
            for number in range(args.rounds):
                order = SETUPS if number % 2 == 0 else SETUPS[::-1]
                for setup in order:
                    summary = run_setup(
                        setup,
                        bench,
                        folder,
                        output,
                        quick=args.quick,
                        malloc=malloc,
                        pin=args.pin,
                        security=security,
                        credential=credential,
                    )
                    problem = check(bench, reference, summary)
                    if problem:
                        sys.exit(f"{JOB} on the {setup} cluster, round {number + 1}: {problem}")
                    times[setup].append(float(summary["seconds"]))
                ratio = times["tls"][-1] / times["plain"][-1]
                print(
                    f"  round {number + 1} ({' then '.join(order)}): "
                    + ", ".join(f"{setup} {times[setup][-1]:.2f} s" for setup in SETUPS)
                    + f", tls / plain {ratio:.3f}, load average {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
    best = {setup: min(values) for setup, values in times.items()}
    median = {setup: statistics.median(values) for setup, values in times.items()}
    paired = statistics.median(overhead_pct(tls, plain) for tls, plain in zip(times["tls"], times["plain"]))
    print(f"{JOB}: input {folder.name}, every run's result equals the reference")
    for setup in SETUPS:
        runs = ", ".join(f"{seconds:.2f}" for seconds in times[setup])
        print(f"  {setup:<5} best {best[setup]:6.2f} s  median {median[setup]:6.2f} s   (runs: {runs} s)")
    figures = {
        "tls_overhead_pct": overhead_pct(median["tls"], median["plain"]),
        "tls_overhead_best_pct": overhead_pct(best["tls"], best["plain"]),
    }
    print(
        f"  TLS overhead: {figures['tls_overhead_pct']:+.1f} % by the medians, "
        f"{figures['tls_overhead_best_pct']:+.1f} % by the bests, {paired:+.1f} % the median of the rounds' ratios "
        "(target: at most 5 %)"
    )
    print(f"Load average at the end: {load()}")
    print(
        f"RESULT tls_overhead_pct={figures['tls_overhead_pct']:.1f} "
        f"tls_overhead_best_pct={figures['tls_overhead_best_pct']:.1f} "
        f"plain_median_s={median['plain']:.3f} tls_median_s={median['tls']:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
