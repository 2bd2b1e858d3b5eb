"""The UI as HTTP sees it: catalogue complete, first page weight, PWA files, headers, access."""

from __future__ import annotations

import gzip
import re
import sys

from fastapi.testclient import TestClient
from tests.conftest import REPO

from gansu_health.ui.i18n import catalogue_path

FIRST_PAGE_BUDGET = 100 * 1024


def test_every_message_is_translated() -> None:
    sys.path.insert(0, str(REPO / "scripts"))
    from babel.messages.pofile import read_po
    from i18n_update import extract

    with catalogue_path("zh-CN").open("rb") as source:
        catalogue = read_po(source)
    translated = {m.id for m in catalogue if m.id and m.string}
    missing = sorted(m.id for m in extract() if m.id and m.id not in translated)
    assert not missing, f"run scripts/i18n_update.py and translate: {missing}"


def test_first_page_fits_the_budget(client: TestClient) -> None:
    anonymous = TestClient(client.app)
    home = anonymous.get("/", headers={"Accept-Encoding": "gzip"})
    assert home.status_code == 200 and home.headers["content-security-policy"].startswith(
        "default-src 'self'")
    assert "<script>" not in home.text and " style=" not in home.text  # CSP: nothing inline
    urls = re.findall(r'(?:src|href)="(/static/[^"]+|/manifest\.webmanifest)"', home.text)
    assert any("htmx.min.js" in u for u in urls) and not any("echarts" in u for u in urls)
    total = len(gzip.compress(home.content))
    for url in set(urls):
        asset = anonymous.get(url, headers={"Accept-Encoding": "gzip"})
        assert asset.status_code == 200, url
        total += int(asset.headers.get("content-length") or len(asset.content))
        if "?v=" in url:
            assert "immutable" in asset.headers["cache-control"]
    assert total <= FIRST_PAGE_BUDGET, f"first page transfers {total} bytes"


def test_installable_pwa(client: TestClient) -> None:
    manifest = client.get("/manifest.webmanifest").json()
    assert manifest["start_url"] == "/" and manifest["display"] == "standalone"
    sizes = {icon["sizes"] for icon in manifest["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in manifest["icons"]:
        assert client.get(icon["src"]).content.startswith(b"\x89PNG")
    worker = client.get("/sw.js")
    assert worker.headers["content-type"].startswith("text/javascript")
    assert "/offline" in worker.text and "__SHELL__" not in worker.text


def test_personal_pages_need_a_citizen_session(client: TestClient) -> None:
    anonymous = TestClient(client.app)
    for path in ("/records", "/records/access-log", "/me", "/book", "/appointments", "/card",
                 "/card/code", "/inbox"):
        response = anonymous.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/signin?next=")


def test_language_negotiation_and_preferences(client: TestClient) -> None:
    anonymous = TestClient(client.app)
    english = anonymous.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert '<html lang="en"' in english.text and "Healthy Gansu" in english.text
    chinese = anonymous.get("/")
    assert '<html lang="zh-CN"' in chinese.text and "健康甘肃" in chinese.text
    chosen = anonymous.post("/ui/preferences", data={"lang": "en", "senior": "1",
                                                     "next": "https://evil.example/"},
                            follow_redirects=False)
    assert chosen.headers["location"] == "/"  # no open redirect
    page = anonymous.get("/")
    assert '<html lang="en" class="senior">' in page.text
