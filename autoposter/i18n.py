"""Every sentence a person reads goes through here: ``gettext`` and ``ngettext``.

The catalogues are ``autoposter/locale/LANG/LC_MESSAGES/autoposter.mo``; the
source strings are English, so a language without a catalogue reads them as
written. ``translations(lang)`` is what the web console installs in Jinja2 for
one request; ``gettext`` and ``ngettext`` here use the language set by ``use``.
"""

from __future__ import annotations

import gettext as _stdlib
from functools import lru_cache
from pathlib import Path

__all__ = ["DOMAIN", "LOCALE_DIR", "gettext", "language", "ngettext", "translations", "use"]

DOMAIN = "autoposter"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"

_active: list[tuple[str, _stdlib.NullTranslations]] = []


@lru_cache(maxsize=8)
def translations(lang: str) -> _stdlib.NullTranslations:
    """The catalogue for ``lang`` ("fr", "fr-FR"), or the English source text."""
    wanted = [lang.replace("-", "_"), lang.split("-")[0]]
    return _stdlib.translation(DOMAIN, LOCALE_DIR, languages=wanted, fallback=True)


def use(lang: str) -> None:
    """Make ``lang`` the language of ``gettext`` and ``ngettext`` in this process."""
    _active[:] = [(lang, translations(lang))]


def language() -> str:
    return _active[0][0] if _active else "en"


def gettext(message: str) -> str:
    return (_active[0][1] if _active else translations("en")).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return (_active[0][1] if _active else translations("en")).ngettext(singular, plural, n)
