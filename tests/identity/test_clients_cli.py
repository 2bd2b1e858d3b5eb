"""``gansu-health clients create|list|disable`` and ``gansu-health token``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from joserfc.jwk import ECKey
from sqlalchemy import select
from tests.identity.oauth_helpers import Registered, client_credentials
from typer.testing import CliRunner

from gansu_health.app import create_app
from gansu_health.cli import app as cli
from gansu_health.core.database import get_engine, read_transaction
from gansu_health.core.settings import Settings, get_settings
from gansu_health.identity.audit.models import audit_event
from gansu_health.identity.oauth.jwks import generate_key_pair
from gansu_health.identity.tokens import repository as tokens

TOKEN = "http://testserver/oauth/token"


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """A CLI runner whose settings point at the module's database."""
    monkeypatch.setenv("GANSU_HEALTH_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("GANSU_HEALTH_BASE_URL", settings.base_url)
    get_settings.cache_clear()
    get_engine.cache_clear()
    try:
        yield CliRunner()
    finally:
        get_engine().dispose()
        get_settings.cache_clear()
        get_engine.cache_clear()


@pytest.fixture(scope="module")
def anon(settings: Settings) -> Iterator[TestClient]:
    """An HTTP client of the app, without credentials."""
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _subtypes() -> list[str]:
    with read_transaction(get_engine()) as conn:
        return list(conn.execute(select(audit_event.c.subtype)).scalars())


def test_create_with_generated_key_and_use_it(env: CliRunner, tmp_path: Path,
                                              anon: TestClient) -> None:
    key_path = tmp_path / "keys" / "his.pem"
    result = env.invoke(cli, ["clients", "create", "--name", "兰州市第一医院 HIS",
                              "--kind", "system", "--scope", "system/Patient.rs",
                              "--generate-key", str(key_path), "--org", "org-lz1"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    client_id = lines[0]
    assert client_id.startswith("system-")
    assert lines[1] == f"private key: {key_path.resolve()}"
    assert lines[3] == f"token endpoint: {TOKEN}"
    assert key_path.stat().st_mode & 0o777 == 0o600
    key = ECKey.import_key(key_path.read_bytes())
    assert key.is_private and key.curve_name == "P-384"
    key.ensure_kid()  # the kid printed is the key's RFC 7638 thumbprint
    assert lines[2] == f"key id (kid): {key.kid}"
    # the written key obtains tokens
    token = anon.post("/oauth/token", data=client_credentials(
        Registered(client_id, key), TOKEN, scope="system/Patient.rs"))
    assert token.status_code == 200, token.text
    assert "client-create" in _subtypes()
    again = env.invoke(cli, ["clients", "create", "--name", "x", "--kind", "system",
                             "--scope", "system/*.rs", "--generate-key", str(key_path)])
    assert again.exit_code == 1 and "already exists" in again.output


def test_create_with_jwks_and_public_app(env: CliRunner, tmp_path: Path) -> None:
    _, jwks = generate_key_pair()
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks))
    node = env.invoke(cli, ["clients", "create", "--name", "天水市节点", "--kind", "node",
                            "--scope", "system/*.rs", "--jwks", str(path), "--node", "620500"])
    assert node.exit_code == 0, node.output
    app = env.invoke(cli, ["clients", "create", "--name", "健康甘肃", "--kind", "public",
                           "--scope", "patient/*.rs launch/patient offline_access",
                           "--redirect-uri", "https://app.example.cn/cb",
                           "--redirect-uri", "http://127.0.0.1:8765/cb"])
    assert app.exit_code == 0, app.output
    listed = json.loads(env.invoke(cli, ["clients", "list", "--json"]).output)
    by_id = {c["client_id"]: c for c in listed}
    assert by_id[node.output.strip()]["node"] == "620500"
    public = by_id[app.output.strip()]
    assert public["kind"] == "public"
    assert public["redirect_uris"] == ["https://app.example.cn/cb", "http://127.0.0.1:8765/cb"]
    assert set(public["scope"].split()) == {"patient/*.rs", "launch/patient", "offline_access"}
    table = env.invoke(cli, ["clients", "list"])
    assert table.exit_code == 0 and "健康甘肃" in table.output


@pytest.mark.parametrize(("args", "why"), [
    (["--kind", "system", "--scope", "system/*.rs"], "needs public keys"),
    (["--kind", "system", "--scope", "patient/*.rs", "--generate-key", "{tmp}/a.pem"],
     "cannot hold"),
    (["--kind", "public", "--scope", "patient/*.rs"], "redirect-uri"),
    (["--kind", "public", "--scope", "patient/*.rs", "--redirect-uri", "http://app.cn/cb"],
     "https"),
    (["--kind", "node", "--scope", "system/*.rs", "--generate-key", "{tmp}/b.pem"], "--node"),
    (["--kind", "robot", "--scope", "system/*.rs"], "kind"),
    (["--kind", "system", "--scope", "system/x.rs", "--generate-key", "{tmp}/c.pem"],
     "not a resource type"),
])
def test_create_refuses_unfit_clients(env: CliRunner, tmp_path: Path, args: list[str],
                                      why: str) -> None:
    argv = ["clients", "create", "--name", "x", *(a.format(tmp=tmp_path) for a in args)]
    result = env.invoke(cli, argv)
    assert result.exit_code == 1
    assert why in result.output
    assert not any(tmp_path.glob("*.pem"))  # no key left behind for a refused client


def test_create_refuses_private_jwks(env: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "private.json"
    path.write_text(json.dumps(ECKey.generate_key("P-384").as_dict(private=True)))
    result = env.invoke(cli, ["clients", "create", "--name", "x", "--kind", "system",
                              "--scope", "system/*.rs", "--jwks", str(path)])
    assert result.exit_code == 1 and "public keys only" in result.output


def test_disable_revokes_tokens(env: CliRunner, tmp_path: Path, anon: TestClient) -> None:
    key_path = tmp_path / "k.pem"
    client_id = env.invoke(cli, ["clients", "create", "--name", "gone", "--kind", "system",
                                 "--scope", "system/*.rs", "--generate-key",
                                 str(key_path)]).output.splitlines()[0]
    key = ECKey.import_key(key_path.read_bytes())
    key.ensure_kid()
    issued = anon.post("/oauth/token", data=client_credentials(
        Registered(client_id, key), TOKEN, scope="system/*.rs")).json()["access_token"]
    result = env.invoke(cli, ["clients", "disable", client_id])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"{client_id} disabled; 1 tokens revoked"
    with read_transaction(get_engine()) as conn:
        assert tokens.active(conn, issued) is None
    listed = json.loads(env.invoke(cli, ["clients", "list", "--json"]).output)
    assert next(c for c in listed if c["client_id"] == client_id)["disabled"] is True
    refused = anon.post("/oauth/token", data=client_credentials(
        Registered(client_id, key), TOKEN, scope="system/*.rs"))
    assert refused.json()["error"] == "invalid_client"
    assert "client-disable" in _subtypes()
    unknown = env.invoke(cli, ["clients", "disable", "system-nobody"])
    assert unknown.exit_code == 1 and "no client" in unknown.output


def test_operator_token(env: CliRunner, anon: TestClient) -> None:
    result = env.invoke(cli, ["token", "--scope", "system/*.rs", "--patient", "p-9",
                              "--ttl", "600", "--subject", "张工"])
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    with read_transaction(get_engine()) as conn:
        record = tokens.active(conn, token)
        mint = conn.execute(select(audit_event).where(
            audit_event.c.subtype == "token-mint")).mappings().all()
    assert record is not None
    assert (record.principal_kind, record.client_id, record.subject) == (
        "operator", "operator-cli", "张工")
    assert (record.scope, record.patient) == ("system/*.rs", "p-9")
    assert record.expires_us - record.issued_us == 600 * 1_000_000
    assert mint[-1]["actor_id"] == "张工" and mint[-1]["patient_id"] == "p-9"
    fhir = anon.get("/fhir/Patient?_count=1", headers={"Authorization": f"Bearer {token}"})
    assert fhir.status_code == 200, fhir.text
    for bad in (["--scope", "openid"], ["--scope", "system/*.rs", "--ttl", "0"],
                ["--scope", "nonsense"]):
        refused = env.invoke(cli, ["token", *bad])
        assert refused.exit_code == 1, refused.output
