"""Locales and message catalogues: English message ids, translated by gettext catalogues.

Templates and Python code are written with English msgids (``_("Sign in")``, ``N_(...)`` for
strings defined in Python and translated when rendered); ``locale/<lang>/LC_MESSAGES/messages.po``
holds the translations, read with Babel at start-up (no compiled ``.mo`` files to keep in sync).
zh-CN is the default locale; English is the alternative.
"""

from __future__ import annotations

import gettext
from functools import cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

DEFAULT_LOCALE = "zh-CN"
LOCALES = ("zh-CN", "en")
CATALOGUE_DIRS = {"zh-CN": "zh_Hans_CN"}
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"


def N_(message: str) -> str:
    """Mark ``message`` for extraction; it is translated where it is rendered."""
    return message


def catalogue_path(locale: str) -> Path:
    """The .po file of ``locale``."""
    return LOCALE_DIR / CATALOGUE_DIRS[locale] / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(locale: str) -> gettext.NullTranslations:
    """The gettext translations of ``locale`` (English needs none)."""
    if locale not in CATALOGUE_DIRS:
        return gettext.NullTranslations()
    with catalogue_path(locale).open("rb") as source:
        catalogue = read_po(source, locale=CATALOGUE_DIRS[locale])
    compiled = BytesIO()
    write_mo(compiled, catalogue, use_fuzzy=False)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    """The locale chosen by cookie, else by ``Accept-Language``, else zh-CN."""
    if cookie in LOCALES:
        return cookie
    ranked: list[tuple[float, str]] = []
    for item in (accept_language or "").split(","):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((quality, tag.strip().lower()))
    for _quality, tag in sorted(ranked, key=lambda pair: -pair[0]):
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return DEFAULT_LOCALE
