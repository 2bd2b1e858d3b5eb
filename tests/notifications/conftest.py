"""Fixtures of the notification tests: the same world as tests/payment."""

from __future__ import annotations

from tests.scheduling.conftest import clock, doctors, operator_headers  # noqa: F401 (fixtures)
