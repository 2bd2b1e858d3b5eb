"""Turning bearer tokens into principals: remembered briefly, looked up once per burst."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from tests.conftest import mint_token

from gansu_health.core.database import build_engine
from gansu_health.core.errors import Unauthorized
from gansu_health.core.settings import Settings
from gansu_health.identity.authn import Authenticator
from gansu_health.identity.principal import Principal


@pytest.fixture(scope="module")
def engine(settings: Settings) -> Iterator[Engine]:
    """The test database."""
    engine = build_engine(settings.database_url, settings)
    yield engine
    engine.dispose()


def _counting(auth: Authenticator, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = auth._load

    def slow_load(token: str) -> tuple[Principal, int]:
        calls.append(token)
        time.sleep(0.1)  # long enough for every other thread to arrive meanwhile
        return real(token)

    monkeypatch.setattr(auth, "_load", slow_load)
    return calls


def _together(count: int, work: object) -> list[object]:
    results: list[object] = []
    start = threading.Barrier(count)

    def run() -> None:
        start.wait()
        try:
            results.append(work())  # type: ignore[operator]
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_a_burst_with_one_token_looks_it_up_once(
        engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    auth = Authenticator(engine, cache_s=60)
    token = mint_token(settings)
    calls = _counting(auth, monkeypatch)
    assert auth.cached(token) is None
    results = _together(12, lambda: auth.principal(token))
    assert len(calls) == 1
    assert all(isinstance(r, Principal) for r in results)
    assert len({id(r) for r in results}) == 1
    assert auth.cached(token) is results[0]


def test_an_unknown_token_is_refused_for_everyone_who_brings_it(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    auth = Authenticator(engine, cache_s=60)
    calls = _counting(auth, monkeypatch)
    results = _together(5, lambda: auth.principal("no-such-token"))
    assert all(isinstance(r, Unauthorized) for r in results)
    assert 1 <= len(calls) <= 5 and not auth._loading
