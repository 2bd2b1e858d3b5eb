"""Fixtures of the notification tests: the same world as tests/payment."""

from __future__ import annotations

import pytest
from tests.scheduling.conftest import clock, doctors, operator_headers  # noqa: F401 (fixtures)

from gansu_health.core.settings import Settings


@pytest.fixture(scope="module")
def settings(db_url: str) -> Settings:
    """Settings without the app's own outbox thread: these tests deliver events themselves."""
    return Settings(database_url=db_url, base_url="http://testserver/fhir", event_delivery_s=0)
