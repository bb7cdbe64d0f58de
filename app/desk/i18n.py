"""The desk's languages: one gettext catalog (Babel), amounts and dates in the locale's format.

Source strings are English; ``locale/zh_CN/LC_MESSAGES/messages.po`` translates them.  The
``.po`` is compiled in memory when the desk starts (``babel.messages.mofile.write_mo``), so a
clean clone needs no build step and the catalog cannot drift from a stale ``.mo``.
``tests/desk/test_catalog.py`` extracts every message from the templates and Python code and
requires a translation for each.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from contextvars import ContextVar
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Literal

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).parent / "locale"
Lang = Literal["zh_CN", "en"]
LANGS: tuple[Lang, ...] = ("zh_CN", "en")
DEFAULT: Lang = "zh_CN"
#: The ``lang`` attribute of each page (BCP 47).
HTML_LANG = {"zh_CN": "zh-CN", "en": "en"}

_current: ContextVar[Lang] = ContextVar("desk_lang", default=DEFAULT)


@cache
def translations(lang: Lang) -> NullTranslations:
    if lang == "en":
        return NullTranslations()
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po, locale=lang)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


def set_lang(lang: Lang) -> None:
    _current.set(lang)


def current() -> Lang:
    return _current.get()


def gettext(message: str) -> str:
    return translations(_current.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(_current.get()).ngettext(singular, plural, n)


def in_lang(lang: Lang) -> Callable[[str], str]:
    """``gettext`` of one given language (the split sheet prints Chinese and English)."""
    return translations(lang).gettext


def _(message: str) -> str:
    return gettext(message)


def N_(message: str) -> str:
    """Marks a string for extraction; translated where it is shown."""
    return message


def amount(value: Decimal | str | None) -> str:
    """Money in the locale's format, two decimals: ``11,700.00``."""
    if value is None:
        return ""
    return format_decimal(Decimal(value), format="#,##0.00", locale=_current.get())


def quantity(value: str) -> str:
    """A line's quantity as a plain number (the stored form may be ``1E+1``)."""
    return format_decimal(Decimal(value), format="#,##0.######", locale=_current.get())


def day(value: date | datetime | str | None) -> str:
    """Dates are always ``YYYY-MM-DD`` (a timestamp shows its UTC date)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value[:10]
    if isinstance(value, datetime):
        return value.date().isoformat()
    return value.isoformat()
