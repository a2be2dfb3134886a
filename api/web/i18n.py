"""Translations of the pages: gettext catalogues (Babel), zh-CN by default, English on request.

The catalogues are ``locales/<locale>/LC_MESSAGES/messages.po``, compiled in memory when first
needed, so there is no build step. Message ids are the English text, so English needs no catalogue.
Update them with ``pybabel extract -F api/web/babel.cfg -o /tmp/messages.pot api/web`` and
``pybabel update -i /tmp/messages.pot -d api/web/locales``.
"""

from __future__ import annotations

import functools
import gettext
import io
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from starlette.requests import Request

LOCALES = Path(__file__).parent / "locales"
DEFAULT = "zh-CN"
# the choice (a cookie) -> the HTML lang, the catalogue's folder, the name shown in the switch
LANGUAGES: dict[str, tuple[str, str]] = {"zh-CN": ("zh_CN", "中文"), "en": ("en", "English")}
COOKIE = "evidence_lang"


def choice(request: Request) -> str:
    """The language of this request: the remembered choice, else the default."""
    chosen = request.cookies.get(COOKIE)
    return chosen if chosen in LANGUAGES else DEFAULT


@functools.cache
def translations(lang: str) -> gettext.NullTranslations:
    """The compiled catalogue of ``lang`` (English: the message ids themselves)."""
    folder = LANGUAGES[lang][0]
    po = LOCALES / folder / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        return gettext.NullTranslations()
    with po.open("rb") as f:
        catalog = read_po(f, locale=folder)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)
