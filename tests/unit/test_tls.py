"""Per-cluster Dask TLS credentials: made, split and turned into a client's Security without a network."""

from __future__ import annotations

import pytest

from airflow_dask_provider.tls import CredentialError, new_credential, security, split_credential


def test_a_new_credential_is_one_certificate_and_its_private_key():
    certificate, key = split_credential(new_credential())

    assert certificate.startswith("-----BEGIN CERTIFICATE-----")
    assert key.startswith("-----BEGIN PRIVATE KEY-----")


def test_every_credential_is_new():
    assert new_credential() != new_credential()


def test_security_presents_the_certificate_trusts_only_it_and_requires_encryption():
    pem = new_credential()
    certificate, key = split_credential(pem)

    client = security(pem)

    assert client.require_encryption is True
    assert (client.tls_ca_file, client.tls_client_cert, client.tls_client_key) == (certificate, certificate, key)
    assert client.get_connection_args("client")["ssl_context"] is not None


def test_the_security_repr_shows_no_key_material():
    pem = new_credential()
    _, key = split_credential(pem)

    assert key.splitlines()[1] not in repr(security(pem))


@pytest.mark.parametrize("text", ["", "hello", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"])
def test_a_text_without_one_certificate_and_one_key_is_refused_without_showing_it(text):
    with pytest.raises(CredentialError) as caught:
        split_credential(text)

    assert "AAAA" not in str(caught.value)
