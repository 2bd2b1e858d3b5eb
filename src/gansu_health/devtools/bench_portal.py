"""`gansu-health bench portal`: server time of the citizen app's pages and first-page weight.

Loads the demo province (with its clinics) into a fresh SQLite database, signs a resident in
(SMS code, real-name binding), walks the booking pages to a paid booking (hold, sandbox payment,
book), issues the e-health card and requests each citizen page in rounds. "Server time" is
measured inside the ASGI app (from the request to the last body byte), so the in-process client
adds nothing. Printed:
p50/p95 per page, and the bytes the first page transfers (gzip HTML + its assets; the chart
bundle is loaded only on trend pages).
"""

from __future__ import annotations

import gzip
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from fastapi.testclient import TestClient
from rich.console import Console
from rich.table import Table
from starlette.types import ASGIApp, Receive, Scope, Send

from gansu_health.app import create_app
from gansu_health.core.database import build_engine, read_transaction
from gansu_health.core.migrate import upgrade
from gansu_health.core.settings import Settings
from gansu_health.demo import generate_demo
from gansu_health.demo.clinics import demo_doctors, ensure_demo_clinics
from gansu_health.devtools.bench_fhir_servers import machine_info
from gansu_health.fhir.loader import LoadStats, post_bundle
from gansu_health.fhir.setup import build_fhir_api
from gansu_health.mpi.resident_id import RESIDENT_ID_SYSTEM
from gansu_health.registry import load_terminology

bench_portal_app = typer.Typer(help="Citizen app page benchmark.")
TARGET_P95_MS = 50.0
PHONE = "13800001111"
HOSPITAL = "gs-620100-h01"


def seed_demo(settings: Settings, patients: int = 200,
              clinics: tuple[str, ...] | None = None) -> None:
    """Load the terminology, the demo province and its clinics (of the ``clinics`` hospitals
    only, when given) into the settings' database."""
    engine = build_engine(settings.database_url, settings)
    try:
        api = build_fhir_api(settings, engine)
        load_terminology(api)
        stats = LoadStats()
        for i, bundle in enumerate(generate_demo(patients=patients)):
            post_bundle(api, bundle, stats, f"demo bundle {i}")
        if stats.errors:
            raise RuntimeError(f"demo province did not load: {stats.errors[:3]}")
        ensure_demo_clinics(api, demo_doctors(hospitals=clinics))
    finally:
        engine.dispose()


class ServerTimer:
    """ASGI middleware recording each HTTP request's time inside the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.last_ms = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Time the request until its last body message."""
        start = time.perf_counter()
        await self.app(scope, receive, send)
        self.last_ms = (time.perf_counter() - start) * 1000


def first_page_bytes(client: TestClient) -> dict[str, int]:
    """Bytes transferred by an anonymous first visit to ``/``: gzip HTML plus each asset."""
    home = client.get("/", headers={"Accept-Encoding": "gzip"})
    sizes = {"/ (html, gzip)": len(gzip.compress(home.content))}
    for url in sorted(set(re.findall(r'(?:src|href)="(/static/[^"]+|/manifest[^"]*)"',
                                     home.text))):
        asset = client.get(url, headers={"Accept-Encoding": "gzip"})
        sizes[url.split("?")[0]] = int(asset.headers.get("content-length") or len(asset.content))
    return sizes


def _sign_in(client: TestClient, app: Any) -> None:
    client.post("/signin/code", data={"phone": PHONE})
    code = app.state.accounts.sms.last_code(PHONE)
    client.post("/signin", data={"phone": PHONE, "code": code})
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/me").text)
    assert csrf, "sign-in failed"
    api = app.state.fhir
    with read_transaction(api.engine) as conn:
        search = api.service.parse("Observation", [("code", "http://loinc.org|4548-4"),
                                                   ("_count", "1")])
        obs = api.service.search(conn, search).matches[0].json()
        patient = api.service.read(conn, "Patient", obs["subject"]["reference"][8:]).json()
    number = next(i["value"] for i in patient["identifier"] if i["system"] == RESIDENT_ID_SYSTEM)
    client.post("/me/bind", data={"csrf_token": csrf.group(1), "resident_id": number,
                                  "name": patient["name"][0]["text"]})


def _field(text: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]+)"', text)
    assert found, f"no {name} field"
    return found.group(1)


def _links(text: str) -> list[str]:
    return [u.replace("&amp;", "&")
            for u in re.findall(r'class="choice" href="(/book\?[^"]+)"', text)]


def _book(client: TestClient) -> list[str]:
    """Walk the booking pages to a paid booking and issue the card; the booking pages seen and
    the booking's page."""
    seen = [f"/book?hospital={HOSPITAL}"]
    for _step in ("date", "department", "doctor", "slot"):
        seen.append(_links(client.get(seen[-1]).text)[0])
    confirm = client.get(seen.pop()).text
    form = {k: _field(confirm, k) for k in ("csrf_token", "slot", "who")}
    pay = client.post("/book", data=form).url
    key = _field(client.get(str(pay)).text, "key")
    done = client.post(str(pay.path), data={"csrf_token": form["csrf_token"],
                                            "who": form["who"], "key": key})
    assert done.status_code == 200 and "/appointments/" in str(done.url), "the booking failed"
    client.post("/card/issue", data={"csrf_token": form["csrf_token"], "who": form["who"]})
    return [*seen, f"{done.url.path}?{done.url.query.decode()}"]


def run(patients: int, rounds: int) -> tuple[dict[str, list[float]], dict[str, int]]:
    """Seed, sign in and time every citizen page ``rounds`` times."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        settings = Settings(database_url=url, key_file=Path(tmp) / "keys.json")
        seed_demo(settings, patients)
        engine = build_engine(url, settings)
        app = create_app(settings, engine)
        timer = ServerTimer(app)
        with TestClient(timer) as anonymous, TestClient(timer) as client:
            weight = first_page_bytes(anonymous)
            _sign_in(client, app)
            booked = _book(client)
            pages = ["/", "/hospitals", "/hospitals?city=620100&level=3",
                     "/hospitals?department=03&doctor=王", f"/hospitals/{HOSPITAL}",
                     "/articles", "/articles/hypertension", "/me", "/records",
                     "/records/results", "/records/results/4548-4", "/records/vaccines",
                     "/records/prescriptions", "/records/access-log", "/book", *booked,
                     "/appointments", "/card", "/inbox"]
            times: dict[str, list[float]] = {page: [] for page in pages}
            for round_no in range(rounds + 3):
                for page in pages:
                    response = client.get(page)
                    assert response.status_code == 200, (page, response.status_code)
                    if round_no >= 3:  # warm-up rounds are not counted
                        times[page].append(timer.last_ms)
        engine.dispose()
    return times, weight


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18] if len(values) > 1 else values[0]


@bench_portal_app.command("portal")
def bench_portal(patients: Annotated[int, typer.Option(help="Demo residents.")] = 200,
                 rounds: Annotated[int, typer.Option(help="Requests per page.")] = 40) -> None:
    """Server time p50/p95 of the citizen pages (demo province) and the first-page weight."""
    console = Console()
    console.print(machine_info())
    times, weight = run(patients, rounds)
    table = Table(title=f"citizen pages, {rounds} requests each, demo province ({patients})")
    for column in ("page", "p50 ms", "p95 ms"):
        table.add_column(column, justify="left" if column == "page" else "right")
    for page, values in times.items():
        table.add_row(page, f"{statistics.median(values):.1f}", f"{_p95(values):.1f}")
    everything = [v for values in times.values() for v in values]
    table.add_row("[bold]all pages", f"{statistics.median(everything):.1f}",
                  f"[bold]{_p95(everything):.1f}")
    console.print(table)
    console.print(f"p95 target {TARGET_P95_MS:.0f} ms")
    for name, size in weight.items():
        console.print(f"  {name}: {size:,} B")
    console.print(f"[bold]first page: {sum(weight.values()):,} B[/] (budget 102,400 B)")
