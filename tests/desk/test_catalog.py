"""One message catalog: every string the desk shows is a message, and each has its Chinese."""

from __future__ import annotations

import re
from datetime import UTC

from app.desk import catalog, i18n

#: Each language's own name, shown on the switch in that language (not translated, on purpose).
LANGUAGE_NAMES = {"English", "中文"}


def test_every_message_has_a_chinese_translation() -> None:
    extracted = {m.id for m in catalog.extract() if m.id}
    translated = {m.id: m.string for m in catalog.translations() if m.id}
    assert len(extracted) > 150
    missing = sorted(str(m) for m in extracted if not translated.get(m))
    assert missing == [], "run `make messages` and translate these"
    fuzzy = [m.id for m in catalog.translations() if m.id and m.fuzzy]
    assert fuzzy == []
    i18n.set_lang("zh_CN")
    assert i18n.gettext("Sign in") == "登录"
    assert i18n.gettext("Medical expense split sheet") == "费用分割单"


def test_templates_have_no_text_outside_the_catalog() -> None:
    loose: list[str] = []
    for path in sorted((catalog.HERE / "templates").glob("*.html")):
        source = path.read_text()
        source = re.sub(r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}", " ", source, flags=re.S)
        source = re.sub(r"<(style|script)\b.*?</\1>", " ", source, flags=re.S)
        source = re.sub(r"<[^>]*>", " ", source)
        source = re.sub(r'[\w-]+="[^"]*"', " ", source)  # attributes written by a macro
        for word in re.findall(r"[^\W\d_]+", source):
            if word not in LANGUAGE_NAMES:
                loose.append(f"{path.name}: {word}")
    assert loose == []


def test_amounts_follow_the_locale_and_dates_are_iso() -> None:
    from datetime import date, datetime
    from decimal import Decimal

    for lang in i18n.LANGS:
        i18n.set_lang(lang)
        assert i18n.amount(Decimal("11700.00")) == "11,700.00"
        assert i18n.amount("0.5") == "0.50"
    i18n.set_lang(i18n.DEFAULT)
    assert i18n.day(date(2026, 3, 2)) == "2026-03-02"
    assert i18n.day(datetime(2026, 3, 2, 23, 0, tzinfo=UTC)) == "2026-03-02"
