"""Each emulated cluster's Dask TLS credential, taken from where the provider keeps it.

As ``dask.sh`` does on a Dataproc node, the emulator reads the gs:// URI in the cluster's
``dask-tls-uri`` metadata (the provider's create operator puts one PEM object there: the cluster's
certificate, which is also its certificate authority, then its private key) and starts the
scheduler and every worker with it, over ``tls://`` with encryption required. The job drivers get
it through Dask's configuration (``DASK_DISTRIBUTED__COMM__TLS__*``), as a driver on a Dataproc
master gets it from ``/etc/dask/config.yaml``. So on the emulator as on Dataproc, a client without
the cluster's credential is refused.

Two differences from a node: a cluster created without the metadata (by another tool, such as the
Google provider's operators) gets a credential the emulator makes for it, where ``dask.sh`` would
refuse to start; and ``dask-allow-plaintext: true`` runs the cluster over plain ``tcp://`` as
``dask.sh`` does. The credential is copied into the cluster's directory, readable by its owner only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from google.cloud import dataproc_v1

from dask_dataproc_emulator.errors import ClusterStartError, InvalidArgumentError
from dask_dataproc_emulator.settings import ALLOW_PLAINTEXT_METADATA_KEY, TLS_URI_METADATA_KEY
from dask_dataproc_emulator.uris import is_gcs, local_path

if TYPE_CHECKING:
    from distributed.security import Security

#: The credential's file inside the cluster's directory.
CREDENTIAL_FILE = Path("tls") / "cluster.pem"


def wants_tls(cluster: dataproc_v1.Cluster) -> bool:
    """Return whether the cluster's Dask runs over TLS: always, unless its metadata opts out."""
    return cluster.config.gce_cluster_config.metadata.get(ALLOW_PLAINTEXT_METADATA_KEY, "false") != "true"


def check_metadata(cluster: dataproc_v1.Cluster) -> None:
    """Refuse, as CreateCluster's INVALID_ARGUMENT, a credential URI that is not ``gs://``."""
    uri = cluster.config.gce_cluster_config.metadata.get(TLS_URI_METADATA_KEY, "")
    if uri and not is_gcs(uri):
        raise InvalidArgumentError(
            f"Invalid config.gce_cluster_config.metadata[{TLS_URI_METADATA_KEY}] {uri!r}: must be a gs:// URI"
        )
    flag = cluster.config.gce_cluster_config.metadata.get(ALLOW_PLAINTEXT_METADATA_KEY, "false")
    if flag not in ("true", "false"):
        raise InvalidArgumentError(
            f"Invalid config.gce_cluster_config.metadata[{ALLOW_PLAINTEXT_METADATA_KEY}] {flag!r}: must be true or false"
        )


def install(cluster: dataproc_v1.Cluster, *, gcs_dir: Path, directory: Path) -> Path | None:
    """Put the cluster's credential into ``directory`` and return its file; None for a plain-TCP cluster.

    :raises ClusterStartError: the metadata names a credential that does not exist (as a Dataproc
        node's initialization action would fail to copy it).
    """
    if not wants_tls(cluster):
        return None
    uri = cluster.config.gce_cluster_config.metadata.get(TLS_URI_METADATA_KEY, "")
    if uri:
        source = local_path(uri, gcs_dir, field=f"metadata {TLS_URI_METADATA_KEY}")
        try:
            text = source.read_text()
        except OSError as err:
            raise ClusterStartError(
                f"Initialization failed: cannot read the Dask TLS credential {uri} "
                f"(metadata {TLS_URI_METADATA_KEY}): {err.strerror}"
            ) from None
    else:
        from distributed.security import Security

        temporary = Security.temporary()
        text = temporary.tls_ca_file + temporary.tls_client_key
    path = directory / CREDENTIAL_FILE
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    return path


def security(path: Path | None) -> Security | None:
    """Return the ``Security`` of a client of the cluster whose credential is at ``path`` (None: plain)."""
    if path is None:
        return None
    from distributed.security import Security

    return Security(tls_ca_file=str(path), tls_client_cert=str(path), tls_client_key=str(path), require_encryption=True)


def process_flags(path: Path | None) -> list[str]:
    """Return the ``dask scheduler``/``dask worker`` flags that make a process use the credential."""
    if path is None:
        return []
    return ["--tls-ca-file", str(path), "--tls-cert", str(path), "--tls-key", str(path)]


def client_environment(path: Path | None) -> dict[str, str]:
    """Return the Dask configuration, as environment variables, of a client process on the cluster."""
    if path is None:
        return {}
    return {
        "DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION": "True",
        "DASK_DISTRIBUTED__COMM__TLS__CA_FILE": str(path),
        "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT": str(path),
        "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY": str(path),
    }
