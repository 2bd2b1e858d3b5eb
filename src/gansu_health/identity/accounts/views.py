"""The server-rendered sign-in page (/auth/signin): residents by SMS code, staff by password.

It works without JavaScript (the strict CSP allows none inline). After sign-in the browser goes
to ``next``, which must be a path on this site; the OAuth authorize endpoint sends people here.
"""

from __future__ import annotations

import html
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from gansu_health.core.errors import PlatformError, TooManyRequests
from gansu_health.identity.accounts import flows
from gansu_health.identity.accounts.sessions import current_session, set_session_cookie
from gansu_health.identity.accounts.sms import mask_phone
from gansu_health.identity.web.errors import PlatformErrorRoute

views = APIRouter(prefix="/auth", include_in_schema=False, route_class=PlatformErrorRoute)
CSS = """body{font-family:system-ui,"PingFang SC","Microsoft YaHei",sans-serif;max-width:28rem;
margin:2rem auto;padding:0 1rem;line-height:1.5;color:#1d2733}
h1{font-size:1.3rem}h2{font-size:1.05rem;margin:0 0 .5rem}section{border:1px solid #d5dbe1;
border-radius:8px;padding:1rem;margin:1rem 0}label{display:block;margin:.5rem 0}
input{display:block;width:100%;box-sizing:border-box;padding:.45rem;font-size:1rem}
button{margin:.5rem .5rem 0 0;padding:.45rem 1rem;font-size:1rem}.en{color:#5b6b7b}
.error{color:#a8071a;background:#fff1f0;padding:.5rem}.notice{background:#f0f7ff;padding:.5rem}"""
PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>登录 Sign in · 甘肃省互联网+医疗健康平台</title>
<link rel="stylesheet" href="/auth/signin.css"></head><body><main>
<h1>甘肃省互联网+医疗健康平台</h1><p class="en">Gansu Internet + Healthcare platform · Sign in</p>
{message}{current}
<section><h2>居民登录 <span class="en">Residents</span></h2>
<form method="post" action="/auth/signin/citizen">{hidden}
<label>手机号 <span class="en">Mobile number</span>
<input name="phone" type="tel" inputmode="numeric" autocomplete="tel" maxlength="20" required
 value="{phone}"></label>
<label>验证码 <span class="en">SMS code</span>
<input name="code" inputmode="numeric" autocomplete="one-time-code" maxlength="6"></label>
<button type="submit" formaction="/auth/signin/otp" formnovalidate>获取验证码 Send code</button>
<button type="submit">登录 Sign in</button></form></section>
<section><h2>医务人员登录 <span class="en">Staff</span></h2>
<form method="post" action="/auth/signin/staff">{hidden}
<label>用户名 <span class="en">Username</span>
<input name="username" autocomplete="username" maxlength="64" required value="{username}"></label>
<label>密码 <span class="en">Password</span>
<input name="password" type="password" autocomplete="current-password" required></label>
<label>动态口令 <span class="en">Authenticator code (if enrolled)</span>
<input name="totp" inputmode="numeric" autocomplete="one-time-code" maxlength="6"></label>
<button type="submit">登录 Sign in</button></form></section>
</main></body></html>"""


def safe_next(target: str | None) -> str:
    """``target`` when it is a path on this site, else ``/`` (no open redirects)."""
    if not target or len(target) > 2048 or not target.startswith("/"):
        return "/"
    if target.startswith(("//", "/\\")) or any(c in target for c in "\\\r\n\t\x00 "):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


def _page(request: Request, next_url: str, *, status: int = 200, message: str = "",
          error: bool = False, phone: str = "", username: str = "",
          headers: dict[str, str] | None = None) -> HTMLResponse:
    session = current_session(request)
    hidden = f'<input type="hidden" name="next" value="{html.escape(next_url)}">'
    current = ""
    if session is not None:
        current = (f'<p class="notice">已登录 Signed in. <a href="{html.escape(next_url)}">'
                   "继续 Continue</a></p>")
    shown = ""
    if message:
        cls = "error" if error else "notice"
        shown = f'<p class="{cls}" role="alert">{html.escape(message)}</p>'
    body = PAGE.format(message=shown, current=current, hidden=hidden, phone=html.escape(phone),
                       username=html.escape(username))
    return HTMLResponse(body, status, headers=headers)


def _failed(request: Request, next_url: str, exc: PlatformError, **fields: str) -> HTMLResponse:
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequests) else None
    return _page(request, next_url, status=exc.status, message=exc.message, error=True,
                 headers=headers, **fields)


@views.get("/signin")
def signin_page(request: Request, next: str = "/") -> HTMLResponse:
    """The sign-in page."""
    return _page(request, safe_next(next))


@views.get("/signin.css")
def signin_css() -> Response:
    """The sign-in page's style sheet (no inline styles under the CSP)."""
    return Response(CSS, media_type="text/css",
                    headers={"Cache-Control": "public, max-age=3600"})


@views.post("/signin/otp")
def signin_otp(request: Request, phone: Annotated[str, Form(max_length=32)] = "",
               next: Annotated[str, Form(max_length=2048)] = "/") -> HTMLResponse:
    """Send the code, then show the page again with the phone filled in."""
    target = safe_next(next)
    try:
        issued = flows.request_code(request, phone)
    except PlatformError as exc:
        return _failed(request, target, exc, phone=phone)
    return _page(request, target, phone=issued.phone,
                 message=f"验证码已发送至 {mask_phone(issued.phone)}，5 分钟内有效。 "
                         "A code was sent; it is valid for 5 minutes.")


@views.post("/signin/citizen", response_model=None)
def signin_citizen(request: Request, phone: Annotated[str, Form(max_length=32)] = "",
                   code: Annotated[str, Form(max_length=16)] = "",
                   next: Annotated[str, Form(max_length=2048)] = "/"
                   ) -> Response:
    """Sign a resident in and go to ``next``."""
    target = safe_next(next)
    try:
        _acct, session_id, info = flows.citizen_login(request, phone, code, None)
    except PlatformError as exc:
        return _failed(request, target, exc, phone=phone)
    response = RedirectResponse(target, 303)
    set_session_cookie(response, flows.deps(request).settings, session_id, info)
    return response


@views.post("/signin/staff", response_model=None)
def signin_staff(request: Request, username: Annotated[str, Form(max_length=128)] = "",
                 password: Annotated[str, Form(max_length=256)] = "",
                 totp: Annotated[str, Form(max_length=16)] = "",
                 next: Annotated[str, Form(max_length=2048)] = "/"
                 ) -> Response:
    """Sign staff in and go to ``next``."""
    target = safe_next(next)
    try:
        _acct, session_id, info = flows.staff_login(request, username, password, totp or None)
    except PlatformError as exc:
        return _failed(request, target, exc, username=username)
    response = RedirectResponse(target, 303)
    set_session_cookie(response, flows.deps(request).settings, session_id, info)
    return response
