"""Per-cluster Dask TLS credentials: what they are, made and read without any network call.

Every cluster the create operator makes gets a credential of its own, as dask-gateway gives each of
its clusters: a self-signed certificate that is also the cluster's only certificate authority, and
its private key, made by distributed's :meth:`~distributed.security.Security.temporary`. The
scheduler, the workers and every client of the cluster (the job's driver, the autoscaler, worker
retirement) present it and accept only peers that present it too, with ``require_encryption``, so a
client without it, or with another cluster's, is refused.

The credential travels as one PEM text, the certificate then the key: a private object in the
cluster's config bucket (:meth:`DaskDataprocHook.stage_dask_credential
<airflow_dask_provider.hooks.dataproc.DaskDataprocHook.stage_dask_credential>`), whose gs:// URI is
the node metadata ``dask-tls-uri``. Only that URI is ever logged or shown; the PEM text never is.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from distributed.security import Security

_BLOCK = re.compile(r"-----BEGIN ([A-Z ]+)-----\n.*?\n-----END \1-----\n?", re.DOTALL)


class CredentialError(ValueError):
    """A credential's text is not one certificate and one private key in PEM."""


def new_credential() -> str:
    """Return a new credential: a self-signed certificate and its private key, as one PEM text."""
    from distributed.security import Security

    temporary = Security.temporary()
    return temporary.tls_ca_file + temporary.tls_client_key


def split_credential(pem: str) -> tuple[str, str]:
    """Return the certificate and the private key of a credential's PEM text.

    :raises CredentialError: the text does not hold exactly one certificate and one private key
        (the message names what was found, never the text).
    """
    blocks = {match.group(1): match.group(0) for match in _BLOCK.finditer(pem)}
    kinds = [match.group(1) for match in _BLOCK.finditer(pem)]
    keys = [kind for kind in kinds if kind.endswith("PRIVATE KEY")]
    if kinds.count("CERTIFICATE") != 1 or len(keys) != 1:
        found = ", ".join(kinds) or "no PEM block"
        raise CredentialError(f"expected one CERTIFICATE and one PRIVATE KEY, found: {found}")
    return blocks["CERTIFICATE"], blocks[keys[0]]


def security(pem: str) -> Security:
    """Return the ``Security`` of a client of the cluster whose credential ``pem`` is.

    The certificate is both the certificate authority and the client's certificate; encryption is
    required, so a ``tcp://`` address is refused rather than tried in the clear.
    """
    from distributed.security import Security

    certificate, key = split_credential(pem)
    return Security(
        tls_ca_file=certificate,
        tls_client_cert=certificate,
        tls_client_key=key,
        require_encryption=True,
    )
