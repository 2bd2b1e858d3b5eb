"""Fixtures: a client whose repository holds the shipped terminology."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from gansu_health.registry import load_terminology


@pytest.fixture(scope="module")
def tx(client: TestClient) -> TestClient:
    """The module's client, after loading the shipped CodeSystems and ValueSets."""
    load_terminology(client.app.state.fhir)
    return client
