"""Text messages to mobile phones: the ``SmsGateway`` interface and the development sink.

A real gateway (a carrier's or a cloud SMS service with a registered signature and templates)
plugs in here: implement ``SmsGateway`` and name it in ``GANSU_HEALTH_SMS_GATEWAY`` as
``package.module:ClassName`` (constructed with the ``Settings``). The default ``log`` gateway
sends nothing: it logs each message on the ``gansu_health.sms`` logger and keeps the most recent
ones in memory, where development tools and tests read the codes.
"""

from __future__ import annotations

import importlib
import logging
import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from gansu_health.core.clock import now, to_micros
from gansu_health.core.settings import Settings
from gansu_health.identity.keys import FieldCipher

log = logging.getLogger("gansu_health.sms")
TEMPLATES = {
    "login-code": "【甘肃健康】您的验证码为{code}，{minutes}分钟内有效，请勿泄露给他人。",
}


class SmsError(RuntimeError):
    """The gateway could not accept a message."""


def render(template: str, params: Mapping[str, str]) -> str:
    """The text of ``template`` filled with ``params``."""
    return TEMPLATES[template].format(**params)


def mask_phone(phone: str) -> str:
    """A phone number with its middle digits hidden (138****1234)."""
    digits = FieldCipher.normalise(phone, "phone")
    return f"{digits[:3]}****{digits[-4:]}" if len(digits) >= 7 else "****"


class SmsGateway(ABC):
    """Sends templated text messages; implementations must be thread-safe."""

    @abstractmethod
    def send(self, phone: str, template: str, params: Mapping[str, str]) -> None:
        """Send ``template`` filled with ``params`` to ``phone``; raise ``SmsError`` on failure."""


@dataclass(frozen=True, slots=True)
class SmsMessage:
    """A message handed to the development sink."""

    phone: str
    template: str
    params: dict[str, str]
    text: str
    sent_us: int


class LogSmsGateway(SmsGateway):
    """Development sink: logs every message and keeps the last ``keep`` in memory."""

    def __init__(self, keep: int = 200) -> None:
        self._recent: deque[SmsMessage] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def send(self, phone: str, template: str, params: Mapping[str, str]) -> None:
        """Log the message instead of sending it."""
        digits = FieldCipher.normalise(phone, "phone")
        message = SmsMessage(digits, template, dict(params), render(template, params),
                             to_micros(now()))
        with self._lock:
            self._recent.append(message)
        log.info("SMS to %s (%s): %s", mask_phone(digits), template, message.text)

    def recent(self, phone: str | None = None) -> list[SmsMessage]:
        """The kept messages, oldest first, optionally only those to ``phone``."""
        digits = FieldCipher.normalise(phone, "phone") if phone else None
        with self._lock:
            return [m for m in self._recent if digits is None or m.phone == digits]

    def last_code(self, phone: str) -> str | None:
        """The code of the newest message to ``phone`` (development and tests)."""
        sent = self.recent(phone)
        return sent[-1].params.get("code") if sent else None


def build_gateway(settings: Settings) -> SmsGateway:
    """The gateway named by ``settings.sms_gateway``: ``log`` or ``module:Class``."""
    name = settings.sms_gateway.strip()
    if name == "log":
        return LogSmsGateway()
    module, colon, attr = name.partition(":")
    if not colon:
        raise ValueError(f"sms_gateway must be 'log' or 'module:Class', not {name!r}")
    factory = getattr(importlib.import_module(module), attr)
    gateway = factory(settings)
    if not isinstance(gateway, SmsGateway):
        raise TypeError(f"{name} does not build an SmsGateway")
    return gateway
