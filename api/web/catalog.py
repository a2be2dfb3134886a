"""Keeping the catalogues in step with the templates: ``python -m api.web.catalog``.

Extracts every message of the pages (templates and ``api/web`` code), adds the new ones to each
catalogue, drops those no longer used, and lists what still has no translation (exit 1 if any).
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from api.web.i18n import LANGUAGES, LOCALES

ROOT = Path(__file__).parent
METHODS = [("templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}


def extracted() -> list[str]:
    """Every message id the pages use, in the order first met."""
    seen: dict[str, None] = {}
    for _file, _line, message, _comments, _context in extract_from_dir(ROOT, METHODS, OPTIONS):
        for msgid in message if isinstance(message, tuple) else (message,):
            if msgid:
                seen.setdefault(msgid, None)
    return list(seen)


def catalogue_path(folder: str) -> Path:
    return LOCALES / folder / "LC_MESSAGES" / "messages.po"


def untranslated(folder: str, messages: list[str]) -> list[str]:
    path = catalogue_path(folder)
    if not path.exists():
        return list(messages)
    with path.open("rb") as f:
        catalog = read_po(f, locale=folder)
    return [m for m in messages if not (catalog.get(m) and catalog.get(m).string)]  # type: ignore[union-attr]


def update(folder: str, messages: list[str]) -> None:
    path = catalogue_path(folder)
    old = Catalog(locale=folder)
    if path.exists():
        with path.open("rb") as f:
            old = read_po(f, locale=folder)
    # the old header's dates are kept, so an unchanged catalogue is an unchanged file
    new = Catalog(locale=folder, project="evidence", charset="utf-8", creation_date=old.creation_date)
    new.revision_date, new.fuzzy = old.revision_date, False
    for msgid in messages:
        found = old.get(msgid)
        new.add(msgid, found.string if found else "")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        write_po(f, new, width=0, omit_header=False, sort_output=False)


def main() -> int:
    messages = extracted()
    missing = 0
    for folder, _name in (v for k, v in LANGUAGES.items() if k != "en"):
        update(folder, messages)
        for msgid in untranslated(folder, messages):
            print(f"{folder}: no translation for {msgid!r}")
            missing += 1
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
