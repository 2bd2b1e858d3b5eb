"""Server-rendered pages of the authorisation endpoint: approval (授权确认) and errors."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from starlette.responses import HTMLResponse

from gansu_health.identity.oauth.subjects import PatientChoice
from gansu_health.identity.scopes import Scope, ScopeSet

STYLESHEET = "/oauth/approval.css"
CSS = """body{font-family:system-ui,"PingFang SC","Microsoft YaHei",sans-serif;max-width:36rem;
margin:2rem auto;padding:0 1rem;line-height:1.6;color:#1f2933}
h1{font-size:1.4rem}.en{color:#52606d;font-size:.9em}
ul.scopes li{margin:.3rem 0}fieldset{border:1px solid #cbd2d9;border-radius:.4rem;margin:1rem 0}
.actions{display:flex;gap:1rem;margin-top:1.5rem}
button{font-size:1rem;padding:.5rem 1.5rem;border-radius:.4rem;border:1px solid #9aa5b1}
button.allow{background:#0b6e4f;color:#fff;border-color:#0b6e4f}
.error{border-left:4px solid #c0392b;padding-left:1rem}
"""
RESOURCE_WORDS = {
    "*": ("全部健康记录", "all health records"),
    "Patient": ("基本信息", "demographics"),
    "Observation": ("检查检验结果与体征", "lab results and vital signs"),
    "Condition": ("诊断与健康问题", "diagnoses and health problems"),
    "MedicationRequest": ("处方", "prescriptions"),
    "MedicationStatement": ("用药记录", "medication records"),
    "AllergyIntolerance": ("过敏史", "allergies"),
    "Immunization": ("疫苗接种记录", "immunisations"),
    "Encounter": ("就诊记录", "visits"),
    "DiagnosticReport": ("检查报告", "diagnostic reports"),
    "Procedure": ("手术与操作", "procedures"),
    "DocumentReference": ("病历文书", "clinical documents"),
    "Appointment": ("预约挂号", "appointments"),
    "Schedule": ("医生排班", "schedules"), "Slot": ("号源", "appointment slots"),
    "Practitioner": ("医务人员信息", "practitioners"),
    "Organization": ("医疗机构信息", "healthcare organisations"),
    "CarePlan": ("诊疗计划", "care plans"),
}
VERBS = {"c": ("新增", "add"), "r": ("查看", "read"), "u": ("修改", "change"),
         "d": ("删除", "delete"), "s": ("检索", "search")}
CONTEXT_WORDS = {"patient": ("所选就诊人的", "of the selected patient"),
                 "user": ("您有权访问的", "that you may access"),
                 "system": ("", "")}
OTHER_WORDS = {
    "launch/patient": ("知道您选择了哪位就诊人", "know which patient you selected"),
    "offline_access": ("在您离开后仍可继续访问（直到您撤销）",
                       "keep access after you leave (until you revoke it)"),
    "online_access": ("在您保持登录期间持续访问", "keep access while you stay signed in"),
}


def describe(scope: Scope) -> tuple[str, str]:
    """One data scope in plain words (Chinese, English)."""
    verbs = [VERBS[p] for p in scope.permissions if p != "s" or "r" not in scope.permissions]
    zh_what, en_what = RESOURCE_WORDS.get(scope.resource_type,
                                          (scope.resource_type, scope.resource_type))
    ctx_zh, ctx_en = CONTEXT_WORDS[scope.context]
    zh = f"{'、'.join(v[0] for v in verbs)}{ctx_zh}{zh_what}"
    en = f"{' and '.join(v[1] for v in verbs)} {en_what} {ctx_en}".rstrip()
    if scope.params:
        limit = "&".join(f"{k}={v}" for k, v in scope.params)
        zh, en = f"{zh}（仅限 {limit}）", f"{en} (only {limit})"
    return zh, en


def scope_lines(scopes: ScopeSet) -> list[tuple[str, str]]:
    """Every granted scope in plain words, data scopes first."""
    lines = [describe(s) for s in scopes.scopes]
    lines += [OTHER_WORDS[o] for o in sorted(scopes.other) if o in OTHER_WORDS]
    return lines


def _page(title_zh: str, title_en: str, body: str, status: int = 200) -> HTMLResponse:
    html = (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{escape(title_zh)} · {escape(title_en)}</title>'
            f'<link rel="stylesheet" href="{STYLESHEET}"></head><body>'
            f'<h1>{escape(title_zh)} <span class="en">{escape(title_en)}</span></h1>'
            f'{body}</body></html>')
    return HTMLResponse(html, status)


def approval_page(*, client_name: str, account: str, scopes: ScopeSet,
                  choices: Sequence[PatientChoice] | None, params: Sequence[tuple[str, str]],
                  csrf_token: str) -> HTMLResponse:
    """The page where the signed-in person allows or denies an app's request."""
    items = "".join(f'<li>{escape(zh)}<br><span class="en">{escape(en)}</span></li>'
                    for zh, en in scope_lines(scopes))
    hidden = "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">'
                     for k, v in params)
    picker = ""
    if choices:
        options = "".join(
            f'<label><input type="radio" name="patient" value="{escape(c.patient_id)}"'
            f'{" checked" if i == 0 else ""}> {escape(c.name)}（{escape(c.relationship_zh)}）'
            f' <span class="en">{escape(c.relationship_en)}</span></label><br>'
            for i, c in enumerate(choices))
        picker = ('<fieldset><legend>为哪位就诊人授权 <span class="en">Share the records of'
                  f'</span></legend>{options}</fieldset>')
    body = (f'<p>当前账号 <span class="en">Signed in as</span>: <b>{escape(account)}</b></p>'
            f'<p>应用 <b>{escape(client_name)}</b> 请求以下权限：<br>'
            f'<span class="en">The app {escape(client_name)} asks to:</span></p>'
            f'<ul class="scopes">{items}</ul>'
            f'<form method="post" action="/oauth/authorize">{hidden}'
            f'<input type="hidden" name="csrf_token" value="{escape(csrf_token)}">{picker}'
            '<div class="actions">'
            '<button class="allow" type="submit" name="decision" value="approve">同意 Allow'
            '</button><button type="submit" name="decision" value="deny">拒绝 Deny</button>'
            '</div></form>'
            '<p class="en">您可以随时撤销授权。 You can withdraw this permission at any time.</p>')
    return _page("授权确认", "Allow access", body)


def error_page(message_zh: str, message_en: str, *, status: int = 400,
               back_url: str | None = None) -> HTMLResponse:
    """A refused authorisation request that cannot (or must not) go back to the app."""
    back = (f'<p><a href="{escape(back_url)}">返回应用 <span class="en">Return to the app'
            '</span></a></p>') if back_url else ""
    body = (f'<div class="error"><p>{escape(message_zh)}<br>'
            f'<span class="en">{escape(message_en)}</span></p></div>{back}')
    return _page("无法授权", "Cannot authorise", body, status)
