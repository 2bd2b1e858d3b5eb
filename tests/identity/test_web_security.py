"""Web security: headers, CSRF for cookie sessions, rate limits, the sign-in page, SMS gateways."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from tests.identity.test_accounts_support import (
    PASSWORD,
    accounts,
    make_staff,
    new_phone,
    sign_in_citizen,
    sms_code,
)

from gansu_health.app import create_app
from gansu_health.core.errors import TooManyRequests
from gansu_health.core.settings import Settings
from gansu_health.identity.accounts.sessions import COOKIE, SECURE_COOKIE
from gansu_health.identity.accounts.sms import (
    LogSmsGateway,
    SmsError,
    SmsGateway,
    build_gateway,
)
from gansu_health.identity.accounts.views import safe_next
from gansu_health.identity.web import install_web_security
from gansu_health.identity.web.headers import SecurityHeadersMiddleware
from gansu_health.identity.web.ratelimit import (
    MemoryRateLimiter,
    Policy,
    RateLimits,
    check_client_quota,
    current_limits,
    use_limits,
)


@pytest.fixture(scope="module")
def client(client: TestClient) -> TestClient:
    """A browser on the app: no operator bearer token, cookies of its own."""
    return TestClient(client.app)


class FakeMonotonic:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_security_headers(client: TestClient) -> None:
    auth = client.get("/auth/signin")
    fhir = client.get("/fhir/metadata")
    for resp in (auth, fhir):
        csp = resp.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert resp.headers["referrer-policy"] == "no-referrer"
        assert "camera=()" in resp.headers["permissions-policy"]
        assert "strict-transport-security" not in resp.headers  # plain http
    assert auth.headers["cache-control"] == "no-store"
    assert "no-store" not in fhir.headers.get("cache-control", "")
    assert "cdn.jsdelivr.net" in client.get("/docs").headers["content-security-policy"]
    assert "cdn.jsdelivr.net" not in auth.headers["content-security-policy"]


def test_https_adds_hsts_and_secure_host_cookie(settings: Settings) -> None:
    https = settings.model_copy(update={"base_url": "https://health.gansu.example/fhir"})
    browser = TestClient(create_app(https))
    page = browser.get("/auth/signin")
    assert page.headers["strict-transport-security"].startswith("max-age=31536000")
    phone = new_phone()
    assert browser.post("/auth/otp", json={"phone": phone}).status_code == 202
    code = browser.app.state.accounts.sms.last_code(phone)  # type: ignore[attr-defined]
    resp = browser.post("/auth/citizen/login", json={"phone": phone, "code": code})
    cookie = resp.headers["set-cookie"]
    assert cookie.startswith(f"{SECURE_COOKIE}=") and "Secure" in cookie
    assert "Path=/" in cookie and "Domain" not in cookie


def test_csrf_for_cookie_sessions(client: TestClient) -> None:
    _, signed = sign_in_citizen(client)
    token = signed["csrf_token"]
    refused = client.post("/auth/logout")
    assert refused.status_code == 403
    assert refused.json()["issue"][0]["expression"] == ["X-CSRF-Token"]
    assert client.post("/auth/logout", headers={"X-CSRF-Token": "x" + token}).status_code == 403
    assert client.put("/auth/me/password", json={"password": "Gansu-2026x"}).status_code == 403
    assert client.get("/auth/me").status_code == 200  # safe methods need no token
    form = client.post("/auth/logout", data={"csrf_token": token})
    assert form.status_code == 200 and form.json() == {"signed_out": True}
    _, signed = sign_in_citizen(client)
    bearer = client.post("/auth/logout", headers={"Authorization": "Bearer not-a-cookie"})
    assert bearer.status_code == 200  # the cookie does not authenticate a bearer request
    client.cookies.set(COOKIE, "no-such-session")
    stale = client.post("/auth/logout")
    assert stale.status_code == 200 and stale.json() == {"signed_out": False}


def test_csrf_form_body_reaches_the_endpoint(client: TestClient) -> None:
    _, signed = sign_in_citizen(client)
    other = new_phone()
    resp = client.post("/auth/signin/otp", data={"phone": other, "next": "/x",
                                                 "csrf_token": signed["csrf_token"]})
    assert resp.status_code == 200 and sms_code(client, other)
    assert f"{other[:3]}****{other[-4:]}" in resp.text


def test_memory_rate_limiter() -> None:
    clock = FakeMonotonic()
    limiter = MemoryRateLimiter(clock=clock)
    policy = Policy(3, 60.0)
    assert [limiter.hit("k", policy) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.hit("k", policy)
    assert wait == pytest.approx(20.0)
    assert limiter.hit("other", policy) == 0.0
    clock.t += 20.0
    assert limiter.hit("k", policy) == 0.0
    assert limiter.hit("k", policy) > 0
    clock.t += 3600
    assert [limiter.hit("k", policy) for _ in range(3)] == [0.0, 0.0, 0.0]


def test_memory_rate_limiter_is_thread_safe() -> None:
    limiter = MemoryRateLimiter(clock=FakeMonotonic(), prune_every=7)
    policy = Policy(500, 60.0)
    allowed: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        count = sum(limiter.hit("shared", policy) == 0.0 for _ in range(200))
        with lock:
            allowed.append(count)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(allowed) == 500


def test_client_quota() -> None:
    before = current_limits()
    clock = FakeMonotonic()
    use_limits(RateLimits(MemoryRateLimiter(clock=clock), {"client": Policy(2, 1.0)}))
    try:
        check_client_quota("his-1")
        check_client_quota("his-1")
        check_client_quota("his-2")
        with pytest.raises(TooManyRequests) as raised:
            check_client_quota("his-1")
        assert raised.value.retry_after == 1 and raised.value.status == 429
        clock.t += 0.5
        check_client_quota("his-1")
    finally:
        use_limits(before)


def test_install_replaces_process_limits(settings: Settings) -> None:
    before = current_limits()
    try:
        app = Starlette()
        app.state.engine = None
        installed = install_web_security(app, settings.model_copy(  # type: ignore[arg-type]
            update={"client_quota_per_minute": 7}))
        assert current_limits() is installed
        assert installed.policies["client"] == Policy(7, 60.0)
    finally:
        use_limits(before)


def test_sign_in_rate_limit_per_address(client: TestClient) -> None:
    state = client.app.state  # type: ignore[attr-defined]
    before = state.rate_limits
    state.rate_limits = RateLimits(policies={"signin-ip": Policy(2, 60.0)})
    try:
        user = make_staff(client, [("org-x", "nurse")], with_totp=False)
        body = {"username": user.username, "password": PASSWORD}
        assert client.post("/auth/staff/login", json=body).status_code == 200
        assert client.post("/auth/staff/login", json=body).status_code == 200
        third = client.post("/auth/staff/login", json=body)
        assert third.status_code == 429 and 1 <= int(third.headers["retry-after"]) <= 30
        page = client.post("/auth/signin/staff", data=body)
        assert page.status_code == 429 and "retry-after" in page.headers
    finally:
        state.rate_limits = before


def test_safe_next() -> None:
    kept = "/oauth/authorize?client_id=a&state=x"
    assert safe_next(kept) == kept
    for bad in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "evil",
                "javascript:alert(1)", "/x\r\nSet-Cookie: a=b", "", None, "/" + "a" * 3000):
        assert safe_next(bad) == "/", bad


def test_sign_in_page_flow(client: TestClient) -> None:
    client.cookies.clear()
    target = "/oauth/authorize?client_id=app&state=\"<x>\""
    page = client.get("/auth/signin", params={"next": target})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'lang="zh-CN"' in page.text and "Send code" in page.text and "Staff" in page.text
    assert 'value="/oauth/authorize?client_id=app&amp;state=&quot;&lt;x&gt;&quot;"' in page.text
    evil = client.get("/auth/signin", params={"next": "https://evil.example/"})
    assert 'name="next" value="/"' in evil.text
    css = client.get("/auth/signin.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    phone = new_phone()
    sent = client.post("/auth/signin/otp", data={"phone": phone, "next": target})
    assert sent.status_code == 200 and f'value="{phone}"' in sent.text
    code = sms_code(client, phone)
    wrong = client.post("/auth/signin/citizen", data={
        "phone": phone, "code": f"{(int(code) + 1) % 1_000_000:06d}", "next": target},
        follow_redirects=False)
    assert wrong.status_code == 401 and 'role="alert"' in wrong.text
    done = client.post("/auth/signin/citizen", data={"phone": phone, "next": target,
                                                     "code": sms_code(client, phone)},
                       follow_redirects=False)
    assert done.status_code == 303 and unquote(done.headers["location"]) == target
    assert COOKIE in done.headers["set-cookie"]
    assert "已登录" in client.get("/auth/signin").text
    user = make_staff(client, [("org-y", "doctor")], with_totp=False)
    client.cookies.clear()
    staff = client.post("/auth/signin/staff", data={"username": user.username,
                                                    "password": PASSWORD,
                                                    "next": "//evil.example"},
                        follow_redirects=False)
    assert staff.status_code == 303 and staff.headers["location"] == "/"


class BrokenGateway(SmsGateway):
    def __init__(self, settings: Settings | None = None) -> None:
        self.calls = 0

    def send(self, phone: str, template: str, params: Mapping[str, str]) -> None:
        self.calls += 1
        raise SmsError("gateway down")


def test_sms_failure_frees_the_quota(client: TestClient) -> None:
    service = accounts(client)
    working = service.sms
    service.sms = BrokenGateway()
    phone = new_phone()
    try:
        failed = client.post("/auth/otp", json={"phone": phone})
        assert failed.status_code == 503
    finally:
        service.sms = working
    assert client.post("/auth/otp", json={"phone": phone}).status_code == 202


def test_build_gateway(settings: Settings) -> None:
    assert isinstance(build_gateway(settings), LogSmsGateway)
    custom = settings.model_copy(update={"sms_gateway": f"{__name__}:BrokenGateway"})
    assert isinstance(build_gateway(custom), BrokenGateway)
    with pytest.raises(ValueError):
        build_gateway(settings.model_copy(update={"sms_gateway": "carrier"}))


def test_headers_middleware_keeps_headers_the_endpoint_set() -> None:
    def endpoint(request: Request) -> PlainTextResponse:
        return PlainTextResponse("x", headers={"Content-Security-Policy": "default-src 'none'"})

    app = SecurityHeadersMiddleware(Starlette(routes=[Route("/auth/x", endpoint)]), https=True)
    resp = TestClient(app).get("/auth/x")
    assert resp.headers["content-security-policy"] == "default-src 'none'"
    assert resp.headers["cache-control"] == "no-store"
    assert resp.headers["strict-transport-security"].startswith("max-age=")


