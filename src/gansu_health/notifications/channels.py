"""Delivery channels: the ``Notifier`` interface, the development sink, SMS and WeChat adapters.

``GANSU_HEALTH_NOTIFICATION_CHANNELS`` lists the channels every message goes to, comma-separated:
``sink`` (development: logs each message on ``gansu_health.notifications`` and keeps the recent
ones in memory), ``sms=package.module:Class`` (an ``SmsApi`` of a carrier or cloud SMS service
with registered templates), ``wechat=package.module:Class`` (a ``WeChatApi`` sending subscription
/ template messages to the resident's openid), or ``package.module:Class`` of any ``Notifier``;
each class is constructed with the ``Settings``. The inbox (the FHIR Communication the citizen app
reads) is always written, whatever the channels.
"""

from __future__ import annotations

import importlib
import logging
import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from gansu_health.core.settings import Settings
from gansu_health.identity.accounts.sms import mask_phone

log = logging.getLogger("gansu_health.notifications")
# template codes registered with the SMS provider and the WeChat official account, by kind
SMS_TEMPLATES = {"booking-confirmed": "GH_BOOKED", "waiting-reminder": "GH_QUEUE",
                 "clinic-stopped": "GH_STOPPED", "booking-cancelled": "GH_CANCELLED",
                 "waitlist-offered": "GH_OFFERED", "payment-receipt": "GH_PAID",
                 "refund-receipt": "GH_REFUNDED", "suspended": "GH_SUSPENDED"}


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message ready to send on a channel, with the recipient's contacts."""

    message: str
    kind: str
    patient: str
    title: str
    text: str
    phone: str | None = None
    openid: str | None = None


class DeliveryError(RuntimeError):
    """A channel could not deliver; ``permanent`` failures are not retried."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Notifier(ABC):
    """A channel; implementations must be thread-safe."""

    name = "channel"

    @abstractmethod
    def send(self, out: Outgoing) -> None:
        """Deliver one message or raise ``DeliveryError``."""


class SinkNotifier(Notifier):
    """Development sink: logs every message and keeps the last ``keep`` in memory."""

    name = "sink"

    def __init__(self, keep: int = 500) -> None:
        self._recent: deque[Outgoing] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def send(self, out: Outgoing) -> None:
        """Log and keep the message."""
        with self._lock:
            self._recent.append(out)
        log.info("notice to Patient/%s (%s): %s", out.patient, out.kind, out.text)

    def recent(self, patient: str | None = None) -> list[Outgoing]:
        """Kept messages, oldest first, optionally of one patient."""
        with self._lock:
            return [m for m in self._recent if patient is None or m.patient == patient]


class SmsApi(Protocol):
    """A provider's SMS API: send a registered template with parameters to a mobile phone."""

    def send(self, phone: str, template: str, params: Mapping[str, str]) -> None:
        """Send; raise DeliveryError (permanent for a bad number) on failure."""


class WeChatApi(Protocol):
    """The WeChat official account's message API."""

    def send_template(self, openid: str, template: str, data: Mapping[str, str]) -> None:
        """Send a template message; raise DeliveryError on failure."""


class SmsNotifier(Notifier):
    """Text messages through a provider's ``SmsApi``."""

    name = "sms"

    def __init__(self, api: SmsApi) -> None:
        self.api = api

    def send(self, out: Outgoing) -> None:
        """Send the message's template to the patient's mobile phone."""
        if not out.phone:
            raise DeliveryError(f"Patient/{out.patient} has no mobile phone", permanent=True)
        self.api.send(out.phone, SMS_TEMPLATES.get(out.kind, "GH_NOTICE"),
                      {"title": out.title, "text": out.text})
        log.info("SMS %s to %s", out.kind, mask_phone(out.phone))


class WeChatNotifier(Notifier):
    """WeChat template messages through a ``WeChatApi``."""

    name = "wechat"

    def __init__(self, api: WeChatApi) -> None:
        self.api = api

    def send(self, out: Outgoing) -> None:
        """Send to the patient's WeChat openid."""
        if not out.openid:
            raise DeliveryError(f"Patient/{out.patient} has no WeChat openid", permanent=True)
        self.api.send_template(out.openid, SMS_TEMPLATES.get(out.kind, "GH_NOTICE"),
                               {"first": out.title, "remark": out.text})


def _construct(path: str, settings: Settings) -> Any:
    module, colon, attr = path.partition(":")
    if not colon:
        raise ValueError(f"'{path}' is not package.module:Class")
    return getattr(importlib.import_module(module), attr)(settings)


def build_channels(settings: Settings) -> list[Notifier]:
    """The channels named by ``settings.notification_channels``."""
    channels: list[Notifier] = []
    for item in (i.strip() for i in settings.notification_channels.split(",")):
        name, equals, path = item.partition("=")
        if item == "sink":
            channels.append(SinkNotifier())
        elif equals and name == "sms":
            channels.append(SmsNotifier(_construct(path, settings)))
        elif equals and name == "wechat":
            channels.append(WeChatNotifier(_construct(path, settings)))
        elif item and not equals:
            built = _construct(item, settings)
            if not isinstance(built, Notifier):
                raise TypeError(f"{item} does not build a Notifier")
            channels.append(built)
        elif item:
            raise ValueError(f"Unknown notification channel '{item}'")
    return channels
