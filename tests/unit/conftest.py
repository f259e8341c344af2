"""Unit tests reach no emulator and no Google service."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def no_emulator(monkeypatch):
    monkeypatch.delenv("DATAPROC_EMULATOR_HOST", raising=False)
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
