"""The hub's languages: Vietnamese by default, English beside it, for the console today and for
the command line's and the API's messages tomorrow.

Messages are written in English in the code and translated by gettext catalogues
(`app/i18n/locales/<locale>/LC_MESSAGES/messages.po`), read at run time with Babel: there is no
compile step, a changed .po file is used at the next start. English needs no catalogue (the message
is its own translation).

Use it anywhere, in a request or not:

    from app.i18n import gettext, ngettext, N_
    gettext("Deliveries", "vi")                        # -> "Hàng đợi gửi nhận"
    ngettext("{n} delivery", "{n} deliveries", 3, "vi").format(n=3)
    LABEL = N_("Overview")  # marks a constant for the catalogue; translate it where it is shown

In templates (Jinja2 with the i18n extension, see `app.console.templates`): `{{ _("Log in") }}`, or
`{% trans %}…{% endtrans %}` for a sentence with variables. Formatting for people — dates
dd/MM/yyyy, numbers 1.234,5, relative times ("3 phút trước"), all in Vietnam's time — is
`format_datetime`, `format_date`, `format_number`, `format_relative` below (filters of the same names
in templates).

To add or change a message:
 1. write it in English with `_()`/`gettext()`/`N_()` (Python) or `_()`/`{% trans %}` (templates);
 2. run `python -m app.i18n` — it extracts every message from `app/` and adds the new ones to
    each catalogue, untranslated (it keeps existing translations and drops messages no longer used);
 3. fill in each new `msgstr` in `app/i18n/locales/vi/LC_MESSAGES/messages.po`.
`tests/i18n/test_catalogue.py` fails while a message is missing, untranslated or fuzzy.
To add a language: create `locales/<code>/LC_MESSAGES/messages.po` (copy vi's header), add the code
to `LOCALES`, run step 2 and translate.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path

from babel.dates import format_timedelta
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

from app.kit.clock import VIETNAM, utcnow

DEFAULT_LOCALE = "vi"
LOCALES = ("vi", "en")
SOURCE_LOCALE = "en"  # the language messages are written in
LOCALE_DIR = Path(__file__).parent / "locales"
DOMAIN = "messages"

#: The locale of the work at hand (a console request sets it), for code that does not pass one.
current_locale: ContextVar[str] = ContextVar("current_locale", default=DEFAULT_LOCALE)


def N_(message: str) -> str:
    """Marks a constant for the catalogue without translating it yet."""
    return message


def catalogue_path(locale: str) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def normalise(locale: str | None) -> str:
    """A supported locale from a cookie, a query or an Accept-Language value; the default otherwise."""
    if locale:
        code = locale.strip().lower().replace("_", "-").split("-")[0]
        if code in LOCALES:
            return code
    return DEFAULT_LOCALE


@cache
def translations(locale: str) -> NullTranslations:
    """The locale's catalogue, read from its .po file once per process (fuzzy entries are ignored)."""
    locale = normalise(locale)
    path = catalogue_path(locale)
    if locale == SOURCE_LOCALE or not path.exists():
        return NullTranslations()
    with path.open("rb") as file:
        catalog = read_po(file, locale=locale, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def gettext(message: str, locale: str | None = None) -> str:
    return translations(locale or current_locale.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int, locale: str | None = None) -> str:
    return translations(locale or current_locale.get()).ngettext(singular, plural, n)


@contextmanager
def use_locale(locale: str) -> Iterator[str]:
    """Make `locale` the current one for the block (for gettext calls that do not name one)."""
    token = current_locale.set(normalise(locale))
    try:
        yield current_locale.get()
    finally:
        current_locale.reset(token)


def local_time(moment: datetime) -> datetime:
    """A stored (UTC) moment in Vietnam's time (Asia/Ho_Chi_Minh: UTC+7, no daylight saving)."""
    return moment.astimezone(VIETNAM)


def format_datetime(moment: datetime | None, locale: str | None = None, *, seconds: bool = False) -> str:
    """dd/MM/yyyy HH:mm (Vietnam time) in every locale: the form Vietnamese administration uses."""
    if moment is None:
        return "—"
    return local_time(moment).strftime("%d/%m/%Y %H:%M:%S" if seconds else "%d/%m/%Y %H:%M")


def format_date(moment: datetime | None, locale: str | None = None) -> str:
    return "—" if moment is None else local_time(moment).strftime("%d/%m/%Y")


def format_number(value: float | int | None, locale: str | None = None) -> str:
    """1.234,5 in Vietnamese, 1,234.5 in English."""
    if value is None:
        return "—"
    return format_decimal(value, locale=normalise(locale or current_locale.get()))


def format_relative(
    moment: datetime | None, locale: str | None = None, *, now: datetime | None = None
) -> str:
    """'3 phút trước', 'sau 5 giờ nữa' ('3 minutes ago', 'in 5 hours')."""
    if moment is None:
        return "—"
    delta: timedelta = moment - (now or utcnow())
    return format_timedelta(
        delta, add_direction=True, threshold=1.0, locale=normalise(locale or current_locale.get())
    )


def accept_language(header: str | None, default: str = DEFAULT_LOCALE) -> str:
    """The supported locale an HTTP Accept-Language header prefers (q-values honoured, `*` and
    unknown languages skipped), or `default` when it names none: `vi-VN,vi;q=0.9,en;q=0.8` -> vi."""
    best: tuple[float, int, str] | None = None
    for position, part in enumerate((header or "").split(",")):
        tag, _, parameters = part.strip().partition(";")
        code = tag.strip().lower().replace("_", "-").split("-")[0]
        if code not in LOCALES:
            continue
        weight = 1.0
        for parameter in parameters.split(";"):
            name, _, value = parameter.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if weight > 0 and (best is None or (weight, -position) > (best[0], best[1])):
            best = (weight, -position, code)
    return best[2] if best else default
