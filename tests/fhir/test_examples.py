"""Round-trip of every R4 specification example through the REST API, on both databases."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gansu_health.mpi.settings import EMPI_SYSTEM

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = Path(os.environ.get("GANSU_HEALTH_SHARED_DATA", REPO.parent / "shared" / "data")
                ) / "fhir-examples-r4"
INVALID = "bundle-questionnaire.json"  # official example with display items lacking linkId
FHIR_JSON = {"content-type": "application/fhir+json"}


def _example_names() -> list[str]:
    names = sorted(p.name for p in EXAMPLES.glob("*.json")) if EXAMPLES.is_dir() else []
    return names or ["missing"]


def _read(shared_data: Path, name: str) -> bytes:
    path = shared_data / "fhir-examples-r4" / name
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path.read_bytes()


def _numeric(raw: bytes | str) -> Any:
    """Parse JSON comparing decimals by value (Decimal == ignores trailing zeros)."""
    return json.loads(raw, parse_float=Decimal)


def _lexical(raw: bytes | str) -> Any:
    """Parse JSON keeping each decimal's precision (canonical text of the Decimal)."""
    return json.loads(raw, parse_float=lambda s: f"decimal:{Decimal(s)}")


def _strip_server_meta(resource: dict[str, Any]) -> dict[str, Any]:
    out = dict(resource)
    meta = {k: v for k, v in (out.pop("meta", None) or {}).items()
            if k not in ("versionId", "lastUpdated")}
    if meta:
        out["meta"] = meta
    return out


def _without_empi(resource: dict[str, Any]) -> dict[str, Any]:
    """Drop the enterprise id the master patient index adds to every Patient it registers."""
    if resource.get("resourceType") != "Patient":
        return resource
    out = dict(resource)
    kept = [i for i in out.pop("identifier", []) if i.get("system") != EMPI_SYSTEM]
    if kept:
        out["identifier"] = kept
    return out


def _write(client: TestClient, raw: bytes) -> tuple[str, str, int, dict[str, Any]]:
    """PUT the example under its own id (POST when it has none); return type, id, status, body."""
    body = json.loads(raw)
    rtype, rid = body["resourceType"], body.get("id")
    if rid:
        resp = client.put(f"/fhir/{rtype}/{rid}", content=raw, headers=FHIR_JSON)
    else:
        resp = client.post(f"/fhir/{rtype}", content=raw, headers=FHIR_JSON)
    assert resp.status_code in (200, 201), resp.text
    written = resp.json()
    assert written["resourceType"] == rtype
    assert written["meta"]["versionId"]
    assert written["meta"]["lastUpdated"]
    if rid:
        assert written["id"] == rid
    else:
        assert resp.status_code == 201
        assert written["id"]
    assert resp.headers["etag"] == f'W/"{written["meta"]["versionId"]}"'
    return rtype, written["id"], resp.status_code, written


@pytest.mark.parametrize("name", [n for n in _example_names() if n != INVALID])
def test_example_round_trip(client: TestClient, shared_data: Path, name: str) -> None:
    raw = _read(shared_data, name)
    rtype, rid, _, written = _write(client, raw)
    expected = _strip_server_meta({**_numeric(raw), "id": rid})

    read = client.get(f"/fhir/{rtype}/{rid}")
    assert read.status_code == 200, read.text
    assert read.headers["content-type"].startswith("application/fhir+json")
    got = _numeric(read.content)
    assert got["meta"]["versionId"] == written["meta"]["versionId"]
    assert _without_empi(_strip_server_meta(got)) == expected

    found = client.get(f"/fhir/{rtype}", params={"_id": rid})
    assert found.status_code == 200, found.text
    bundle = _numeric(found.content)
    assert bundle["type"] == "searchset"
    matches = [e for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]
    assert [(e["resource"]["resourceType"], e["resource"]["id"]) for e in matches] == [
        (rtype, rid)]
    assert bundle.get("total", 1) == 1
    assert matches[0]["fullUrl"].endswith(f"/{rtype}/{rid}")
    assert _without_empi(_strip_server_meta(matches[0]["resource"])) == expected


def _decimal_examples() -> list[str]:
    """Examples whose decimals carry precision a binary float would lose (1.00, 1E-22, ...)."""
    picked = []
    for name in _example_names():
        path = EXAMPLES / name
        if name == INVALID or not path.is_file():
            continue
        raw = path.read_bytes()
        if _lexical(raw) != json.loads(json.dumps(json.loads(raw)),
                                       parse_float=lambda s: f"decimal:{Decimal(s)}"):
            picked.append(name)
    return picked or ["none"]


@pytest.mark.parametrize("name", _decimal_examples())
def test_example_keeps_decimal_precision(client: TestClient, shared_data: Path,
                                         name: str) -> None:
    """R4 decimal: "the original precision should be preserved" (0.010 is not 0.01)."""
    if name == "none":
        pytest.skip("no example carries trailing-zero or exponent decimals")
    raw = _read(shared_data, name)
    rtype, rid, _, _ = _write(client, raw)
    read = client.get(f"/fhir/{rtype}/{rid}")
    assert read.status_code == 200
    assert _without_empi(_strip_server_meta(_lexical(read.content))) == _strip_server_meta(
        _lexical(raw))


def test_invalid_official_example_is_rejected(client: TestClient, shared_data: Path) -> None:
    raw = _read(shared_data, INVALID)
    body = json.loads(raw)
    rtype, rid = body["resourceType"], body["id"]
    resp = client.put(f"/fhir/{rtype}/{rid}", content=raw, headers=FHIR_JSON)
    assert resp.status_code == 400, resp.text
    outcome = resp.json()
    assert outcome["resourceType"] == "OperationOutcome"
    errors = [i for i in outcome["issue"] if i["severity"] in ("error", "fatal")]
    assert errors
    assert all(i["code"] == "required" for i in errors), errors
    expressions = [e for i in errors for e in i.get("expression", [])]
    assert expressions
    assert all(e.startswith("Questionnaire.item[") and e.endswith(".linkId")
               for e in expressions), expressions
    assert any("linkId" in i.get("diagnostics", "") for i in errors)
    # Nothing was stored, and a create by POST is refused the same way.
    assert client.get(f"/fhir/{rtype}/{rid}").status_code == 404
    post = client.post(f"/fhir/{rtype}", content=raw, headers=FHIR_JSON)
    assert post.status_code == 400
    assert post.json()["resourceType"] == "OperationOutcome"
    empty = client.get(f"/fhir/{rtype}", params={"_id": rid}).json()
    assert [e for e in empty.get("entry", []) if e["search"]["mode"] == "match"] == []
