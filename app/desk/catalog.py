"""The desk's message catalog: extract every message and merge it into the zh_CN ``.po``.

``python -m app.desk.catalog`` (``make messages``) after changing a page or a message; new
messages arrive untranslated, and ``tests/desk/test_catalog.py`` fails until each has its
translation.  Keywords: ``_``/``gettext`` (templates and code), ``N_`` (marked where defined,
translated where shown), ``bi``/``zh``/``en`` (the split sheet's bilingual labels).
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po, write_po

HERE = Path(__file__).parent
LOCALE = HERE / "locale"
PO = LOCALE / "zh_CN" / "LC_MESSAGES" / "messages.po"
KEYWORDS = {**DEFAULT_KEYWORDS, "N_": None, "bi": None, "zh": None, "en": None}
METHODS = [("**.py", "python"), ("templates/**.html", "jinja2")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}


def extract() -> Catalog:
    """Every message of the desk's code and templates."""
    catalog = Catalog(project="settle desk")
    for _filename, lineno, message, _comments, context in extract_from_dir(
        HERE, method_map=METHODS, options_map=OPTIONS, keywords=KEYWORDS
    ):
        catalog.add(message, None, [], context=context)
        del lineno
    return catalog


def translations() -> Catalog:
    with PO.open("rb") as f:
        return read_po(f, locale="zh_CN")


def update() -> None:
    template = extract()
    with (LOCALE / "messages.pot").open("wb") as f:
        write_po(f, template, omit_header=True, no_location=True, sort_output=True, width=120)
    catalog = translations()
    catalog.update(template, no_fuzzy_matching=True)
    with PO.open("wb") as f:
        write_po(f, catalog, no_location=True, sort_output=True, ignore_obsolete=True, width=120)


if __name__ == "__main__":
    update()
