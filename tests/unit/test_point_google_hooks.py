"""``point_google_dataproc_hooks`` gives the Google provider's Dataproc hooks clients of the emulator."""

from __future__ import annotations

import asyncio

import pytest
from airflow.providers.google.cloud.hooks.dataproc import DataprocAsyncHook, DataprocHook
from google.cloud import dataproc_v1

from dask_dataproc_emulator.testing import GOOGLE_HOOK_CLIENTS, point_google_dataproc_hooks


@pytest.fixture
def pointed(monkeypatch):
    """Point the hooks at a closed port; the classes get their own factories back afterwards."""
    for method in GOOGLE_HOOK_CLIENTS:
        for hook_class in (DataprocHook, DataprocAsyncHook):
            monkeypatch.setattr(hook_class, method, getattr(hook_class, method))
    monkeypatch.setenv("DATAPROC_EMULATOR_HOST", "127.0.0.1:1")
    # A connection with no key and no credentials: the hooks read it, the clients never use it.
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", '{"conn_type": "google_cloud_platform"}')
    point_google_dataproc_hooks()


@pytest.mark.parametrize(("method", "service"), GOOGLE_HOOK_CLIENTS.items())
def test_every_factory_builds_its_client_without_credentials(pointed, method, service):
    client = getattr(DataprocHook(), method)(region="europe-west1")

    assert type(client) is getattr(dataproc_v1, f"{service}Client")


@pytest.mark.parametrize(("method", "service"), GOOGLE_HOOK_CLIENTS.items())
def test_every_async_factory_builds_its_client_in_the_running_loop(pointed, method, service):
    async def build():
        return await getattr(DataprocAsyncHook(), method)(region="europe-west1")

    assert type(asyncio.run(build())) is getattr(dataproc_v1, f"{service}AsyncClient")


def test_a_call_goes_to_the_emulator_address_and_names_it_when_nothing_answers(pointed):
    client = DataprocHook().get_cluster_client()

    with pytest.raises(Exception, match="127.0.0.1:1"):
        client.get_cluster(project_id="p", region="r", cluster_name="c", timeout=5, retry=None)
