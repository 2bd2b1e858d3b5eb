"""The e-health card (电子健康卡) of a citizen or their 就诊人: issue, and a dynamic QR code
that the page refreshes before it expires (``Patient/<id>/$card-code``; the QR symbol is drawn
here from the code's text, so one call makes one code)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gansu_health.card.images import svg_markup
from gansu_health.ui.fhir_access import FhirAs, FhirCallError

Json = dict[str, Any]
REFRESH_MARGIN_S = 15  # a new code is fetched this long before the shown one expires
MIN_REFRESH_S = 5


@dataclass(frozen=True, slots=True)
class Code:
    """A dynamic code of a card, with its QR symbol."""

    card_id: str
    text: str
    expires: str
    lifetime: int
    svg: str

    @property
    def refresh_s(self) -> int:
        """Seconds until the page fetches the next code."""
        return max(MIN_REFRESH_S, self.lifetime - REFRESH_MARGIN_S)


def _values(answer: Json) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in answer.get("parameter") or []:
        value = next((v for k, v in part.items() if k.startswith("value")), None)
        out[part["name"]] = value.get("value") if isinstance(value, dict) and "value" in value \
            else value
    return out


def dynamic_code(fhir: FhirAs, patient: str) -> Code | None:
    """A fresh dynamic code of the person's card (None when they hold no card yet)."""
    try:
        answer = fhir.call("GET", f"Patient/{patient}/$card-code", [("kind", "dynamic")])
    except FhirCallError as exc:
        if exc.status == 404:
            return None
        raise
    values = _values(answer)
    text = str(values["code"])
    return Code(str(values["cardId"]), text, str(values.get("expires", "")),
                int(values.get("lifetime") or 60), svg_markup(text, 4))


def issue(fhir: FhirAs, patient: str) -> None:
    """Issue the person's card (or find the one they hold)."""
    fhir.call("POST", f"Patient/{patient}/$card-issue",
              body={"resourceType": "Parameters", "parameter": []})
