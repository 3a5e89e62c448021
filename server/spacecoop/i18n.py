"""The site's languages and their gettext catalogues (Babel): one home for every UI string.

Catalogues are ``locale/<locale>/LC_MESSAGES/<domain>.po`` beside this module, one domain
per area of the site (``site`` for pages, ``pictures`` for the timeline and the map, …);
all the domains of a language are merged into one :class:`babel.support.Translations`, so
any layer asks for a string the same way. The ``.po`` files are read directly (compiled in
memory once per process): there is no build step, and an edited catalogue is what serves.

English is the source language: its strings are the message ids, so an English page needs
no catalogue. Language codes are the data's (``en``, ``zh`` as in ``"嫦娥六号"@zh``);
:data:`HTML_LANG` gives the BCP 47 tag for ``<html lang>`` and ``hreflang``.

>>> gettext("en", "Search")
'Search'
>>> language("zh-CN"), language("en-GB"), language("fr"), language(None)
('zh', 'en', 'en', 'en')
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LANGUAGES = ("en", "zh")
DEFAULT = "en"
HTML_LANG = {"en": "en", "zh": "zh-Hans"}
LOCALES = {"en": "en", "zh": "zh_Hans"}
LOCALE_DIR = Path(__file__).resolve().parent / "locale"


def language(code: str | None) -> str:
    """Our language for a language tag (``zh-CN``, ``zh-Hans``, ``zh_TW`` → ``zh``); else English."""
    if not code:
        return DEFAULT
    primary = code.strip().replace("_", "-").split("-")[0].lower()
    return primary if primary in LANGUAGES else DEFAULT


def catalogue_files(lang: str) -> list[Path]:
    """The ``.po`` files of a language, every domain, in a stable order."""
    return sorted((LOCALE_DIR / LOCALES[language(lang)] / "LC_MESSAGES").glob("*.po"))


@cache
def translations(lang: str) -> NullTranslations:
    """Every domain's catalogue of ``lang`` merged; English (or no catalogue) passes strings through."""
    merged: NullTranslations = NullTranslations()
    for path in catalogue_files(lang):
        with path.open("rb") as po:
            catalog = read_po(po, locale=LOCALES[language(lang)])
        compiled = io.BytesIO()
        write_mo(compiled, catalog)
        compiled.seek(0)
        loaded = Translations(compiled)
        if isinstance(merged, Translations):
            merged.merge(loaded)
        else:
            merged = loaded
    return merged


def gettext(lang: str, message: str) -> str:
    """``message`` (English) in ``lang``; the English when the catalogue has no translation."""
    return translations(language(lang)).gettext(message)


def ngettext(lang: str, singular: str, plural: str, n: int) -> str:
    """The singular or plural form of a message in ``lang`` for ``n``."""
    return translations(language(lang)).ngettext(singular, plural, n)
