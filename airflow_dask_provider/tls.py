"""Per-cluster Dask TLS credentials: what they are, made and read without any network call.

Every cluster the create operator makes gets a credential of its own, as dask-gateway gives each of
its clusters: a self-signed certificate that is also the cluster's only certificate authority, and
its private key, of the shape distributed's :meth:`~distributed.security.Security.temporary` makes
(RSA 2048, ``CN=dask-internal``, a year's validity), made here with ``cryptography`` so that creating
a cluster does not need distributed installed where Airflow runs. The
scheduler, the workers and every client of the cluster (the job's driver, the autoscaler, worker
retirement) present it and accept only peers that present it too, with ``require_encryption``, so a
client without it, or with another cluster's, is refused.

The credential travels as one PEM text, the certificate then the key: a private object in the
cluster's config bucket (:meth:`DaskDataprocHook.stage_dask_credential
<airflow_dask_provider.hooks.storage.StorageCalls.stage_dask_credential>`), whose gs:// URI is
the node metadata ``dask-tls-uri``. Only that URI is ever logged or shown; the PEM text never is.
"""

from __future__ import annotations

import datetime
import re
from typing import TYPE_CHECKING

from airflow_dask_provider.optional import import_extra

if TYPE_CHECKING:
    from distributed.security import Security

_BLOCK = re.compile(r"-----BEGIN ([A-Z ]+)-----\n.*?\n-----END \1-----\n?", re.DOTALL)


class CredentialError(ValueError):
    """A credential's text is not one certificate and one private key in PEM."""


def new_credential() -> str:
    """Return a new credential: a self-signed certificate and its private key, as one PEM text."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dask-internal")])
    now = datetime.datetime.now(tz=datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("dask-internal")]), critical=False)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode() + key_pem.decode()


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
    security_module = import_extra("distributed.security", extra="dask", feature="A Dask client of the cluster")

    certificate, key = split_credential(pem)
    return security_module.Security(
        tls_ca_file=certificate,
        tls_client_cert=certificate,
        tls_client_key=key,
        require_encryption=True,
    )
