"""The command line: migrate, load Bundles and NDJSON with a summary, seed the demo, reindex."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gansu_health.cli import app
from gansu_health.core.database import get_engine
from gansu_health.core.settings import get_settings
from gansu_health.fhir.rest.dispatch import FhirRequest
from gansu_health.fhir.setup import build_fhir_api


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("GANSU_HEALTH_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    get_settings.cache_clear()
    get_engine.cache_clear()
    yield tmp_path
    get_engine().dispose()
    get_settings.cache_clear()
    get_engine.cache_clear()


def test_db_load_seed_reindex(cli_env: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    ndjson = cli_env / "patients.ndjson"
    ndjson.write_text("\n".join(json.dumps({"resourceType": "Patient", "id": f"nd-{i}",
                                            "gender": "female"}) for i in range(7)) + "\n")
    collection = cli_env / "coll.json"
    collection.write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Organization", "name": "张掖市人民医院"}}]}))
    result = runner.invoke(app, ["load", str(cli_env)])
    assert result.exit_code == 0, result.output
    assert "Patient" in result.output and "resources/s" in result.output
    bad = cli_env / "bad" / "bad.ndjson"
    bad.parent.mkdir()
    bad.write_text(json.dumps({"resourceType": "Patient", "gender": "bogus"}) + "\n")
    failed = runner.invoke(app, ["load", str(bad)])
    assert failed.exit_code == 1
    assert "gender" in failed.output
    seeded = runner.invoke(app, ["seed", "--demo", "--patients", "10"])
    assert seeded.exit_code == 0, seeded.output
    assert "errors: 0" in seeded.output
    again = runner.invoke(app, ["seed", "--demo", "--patients", "10"])
    assert again.exit_code == 0
    api = build_fhir_api(get_settings(), get_engine())
    counted = api.handle(FhirRequest("GET", "Patient", [("_summary", "count")], {}))
    copies = api.handle(FhirRequest("GET", "Patient", [
        ("identifier", "https://gansu-health.cn/fhir/sid/mrn/gs-620100-h01|"),
        ("_summary", "count")], {}))
    hospital = json.loads(copies.body)["total"]  # demo residents registered again by a hospital
    assert hospital >= 1
    assert json.loads(counted.body)["total"] == 7 + 10 + hospital  # reseeding: no second copy
    reindexed = runner.invoke(app, ["fhir", "reindex", "--type", "Patient"])
    assert reindexed.exit_code == 0 and "reindexed" in reindexed.output


def test_help_lists_commands() -> None:
    result = CliRunner().invoke(app, ["--help"])
    for command in ("serve", "load", "seed", "demo", "db", "fhir"):
        assert command in result.output
