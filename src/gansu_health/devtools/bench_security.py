"""`gansu-health bench security`: what authorisation and audit add to a FHIR request.

The same requests run through one FHIR endpoint twice per round, once with the security guard
(token lookup, scope and compartment checks, the SM3-chained audit row) and once with the open
guard, interleaved so that machine noise hits both alike. Printed: p50/p95 of each and the
added p50 per scenario (target ≤ 1 ms).
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine

from gansu_health.core.database import build_engine, write_transaction
from gansu_health.core.migrate import upgrade
from gansu_health.core.settings import Settings
from gansu_health.devtools.bench_fhir_servers import machine_info
from gansu_health.fhir.rest.dispatch import FhirApi, FhirRequest
from gansu_health.fhir.rest.guard import OpenGuard
from gansu_health.fhir.setup import build_fhir_api
from gansu_health.identity.accounts.staff import create_staff, make_grant
from gansu_health.identity.keys import FieldCipher, MemoryKeyProvider
from gansu_health.identity.policy.guard import SecurityGuard
from gansu_health.identity.tokens import repository as tokens

bench_security_app = typer.Typer(help="Security overhead benchmark.")
TARGET_MS = 1.0
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ["秀英", "桂兰", "建国", "志强", "海燕", "玉梅", "文博", "子涵", "雨轩", "浩然"]


def _seed(api: FhirApi, patients: int) -> list[tuple[str, str]]:
    """Create patients with a few observations each; return (patient id, observation id)."""
    out = []
    for i in range(patients):
        family, given = SURNAMES[i % len(SURNAMES)], GIVEN[i // len(SURNAMES) % len(GIVEN)]
        entries = [{"fullUrl": "urn:uuid:p", "resource": {
            "resourceType": "Patient", "gender": "female",
            "birthDate": f"{1940 + i % 60}-{1 + i % 12:02d}-{1 + i % 28:02d}",
            "name": [{"family": family, "given": [given]}]},
            "request": {"method": "POST", "url": "Patient"}}]
        entries += [{"resource": {"resourceType": "Observation", "status": "final",
                                  "code": {"text": f"obs {k}"},
                                  "subject": {"reference": "urn:uuid:p"}},
                     "request": {"method": "POST", "url": "Observation"}} for k in range(5)]
        resp = api.handle(FhirRequest("POST", "", [], {}, _json({
            "resourceType": "Bundle", "type": "transaction", "entry": entries})))
        locs = [e["response"]["location"].split("/") for e in _load(resp.body)["entry"]]
        out.append((locs[0][1], locs[1][1]))
    return out


def _json(value: object) -> bytes:
    import orjson

    return orjson.dumps(value)


def _load(body: bytes) -> dict[str, Any]:
    import orjson

    loaded: dict[str, Any] = orjson.loads(body)
    return loaded


def _doctor_token(api: FhirApi, engine: Engine, settings: Settings, patient: str) -> str:
    """A doctor of a hospital where ``patient`` had an encounter (a care relationship)."""
    org = _load(api.handle(FhirRequest("POST", "Organization", [], {}, _json({
        "resourceType": "Organization", "name": "兰州市第一人民医院"}))).body)["id"]
    api.handle(FhirRequest("POST", "Encounter", [], {}, _json({
        "resourceType": "Encounter", "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": f"Patient/{patient}"},
        "serviceProvider": {"reference": f"Organization/{org}"}})))
    with write_transaction(engine) as conn:
        staff = create_staff(conn, FieldCipher(MemoryKeyProvider()), node=settings.node_id,
                             username="bench-doctor", display_name="王医生",
                             password="Bench-Doctor-2026!", grants=[make_grant(org, "doctor")],
                             operator="bench", with_totp=False)
        return tokens.issue(conn, client_id="bench", principal_kind="staff",
                            subject=staff.account.id, scope="user/*.rs",
                            node=settings.node_id).access_token


def _status(api: FhirApi, req: FhirRequest) -> int:
    return api.handle(req).status


def _time(call: Callable[[], int]) -> float:
    start = time.perf_counter()
    status = call()
    elapsed = (time.perf_counter() - start) * 1000
    if status >= 400:
        raise RuntimeError(f"benchmark request failed with {status}")
    return elapsed


@bench_security_app.command("security")
def bench_security(
    rounds: Annotated[int, typer.Option(help="Requests per scenario and mode.")] = 2000,
    patients: Annotated[int, typer.Option(help="Patients to create first.")] = 200,
    database: Annotated[str | None, typer.Option(help="SQLAlchemy URL (default: temp SQLite)")
                        ] = None,
) -> None:
    """Time the same FHIR requests with security on and off, interleaved, in one run."""
    console = Console()
    tmp = Path(tempfile.mkdtemp(prefix="gh-bench-sec-"))
    url = database or f"sqlite:///{tmp}/bench.db"
    upgrade(url)
    settings = Settings(database_url=url, base_url="http://bench/fhir")
    engine = build_engine(url, settings)
    api = build_fhir_api(settings, engine)
    secure = SecurityGuard(engine, api.service, settings.node_id)
    open_guard = OpenGuard()
    pairs = _seed(api, patients)
    with write_transaction(engine) as conn:
        system = tokens.issue(conn, client_id="bench", principal_kind="system", subject="bench",
                              scope="system/*.rs", node=settings.node_id).access_token
        personal = tokens.issue(conn, client_id="bench", principal_kind="operator",
                                subject="bench", scope="patient/*.rs", node=settings.node_id,
                                patient=pairs[0][0]).access_token
    me, my_obs = pairs[0]
    doctor = _doctor_token(api, engine, settings, me)
    scenarios: dict[str, tuple[str, str, list[tuple[str, str]]]] = {
        "read Patient (system)": (system, f"Patient/{pairs[1][0]}", []),
        "search Observation (system)": (system, "Observation", [("subject", f"Patient/{me}")]),
        "read own Observation (patient)": (personal, f"Observation/{my_obs}", []),
        "search own Observation (patient)": (personal, "Observation",
                                             [("subject", f"Patient/{me}")]),
        "read Observation in care (doctor)": (doctor, f"Observation/{my_obs}", []),
        "search Observation in care (doctor)": (doctor, "Observation",
                                                [("subject", f"Patient/{me}")]),
    }
    table = Table(title=f"security overhead, {rounds} requests per cell")
    for col in ("scenario", "off p50 ms", "on p50 ms", "added p50 ms", "off p95", "on p95"):
        table.add_column(col)
    worst = 0.0
    for name, (token, path, params) in scenarios.items():
        headers = {"authorization": f"Bearer {token}"}
        timings: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(rounds):
            for on in (False, True):
                api.guard = secure if on else open_guard
                req = FhirRequest("GET", path, list(params), dict(headers))
                timings[on].append(_time(partial(_status, api, req)))
        off50, on50 = statistics.median(timings[False]), statistics.median(timings[True])
        off95 = statistics.quantiles(timings[False], n=20)[18]
        on95 = statistics.quantiles(timings[True], n=20)[18]
        worst = max(worst, on50 - off50)
        table.add_row(name, f"{off50:.3f}", f"{on50:.3f}", f"{on50 - off50:.3f}",
                      f"{off95:.3f}", f"{on95:.3f}")
    console.print(table)
    info = machine_info()
    console.print(f"machine: {info}; database: {url.split(':')[0]}")
    engine.dispose()
    shutil.rmtree(tmp, ignore_errors=True)
    verdict = "ok" if worst <= TARGET_MS else "over"
    console.print(f"worst_added_p50_ms={worst:.3f} target_ms={TARGET_MS} {verdict}")
