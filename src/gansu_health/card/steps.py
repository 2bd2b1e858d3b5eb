"""Usage steps (用卡环节) a terminal reports when it scans a card, and refusal reasons.

The national card-management systems record a step code (``med_stepcode``) with every use; the
numeric codes of the national specification are not confirmed from a primary source, so the
platform uses readable codes in its own CodeSystem (data, easy to map later).
"""

from __future__ import annotations

from typing import Final

from gansu_health.core.errors import BadRequest
from gansu_health.registry.terminology.systems import CS_PREFIX

STEP_SYSTEM: Final = f"{CS_PREFIX}card-usage-step"
OUTCOME_SYSTEM: Final = f"{CS_PREFIX}card-refusal-reason"

STEPS: Final = {
    "identify": "身份核验",  # identity check without a further step
    "registration": "挂号",
    "check-in": "签到",
    "consultation": "就诊",
    "payment": "缴费",
    "dispensing": "取药",
    "exam": "检查",
    "lab": "检验",
    "admission": "住院",
    "vaccination": "接种",
}

# refusal reason → (HTTP status, OperationOutcome issue code, 中文)
REASONS: Final = {
    "malformed": (400, "invalid", "不是电子健康卡二维码"),
    "forged": (422, "security", "二维码伪造或被篡改"),
    "unknown-card": (404, "not-found", "卡号不存在"),
    "revoked": (422, "business-rule", "卡已注销"),
    "expired": (422, "expired", "动态码已过期"),
    "replayed": (409, "duplicate", "动态码已使用"),
    "factor-required": (422, "required", "静态码需要第二因素"),
    "factor-wrong": (422, "security", "第二因素不正确"),
    "factor-locked": (429, "throttled", "第二因素错误次数过多，已锁定"),
}


def parse_step(value: str | None, default: str = "identify") -> str:
    """Return a known step code, or raise naming the parameter and the codes."""
    step = (value or default).strip().lower()
    if step not in STEPS:
        raise BadRequest(f"Unknown usage step '{value}'; use one of {', '.join(STEPS)}",
                         expression="step")
    return step
