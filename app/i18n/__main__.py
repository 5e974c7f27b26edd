"""`python -m app.i18n`: extract the messages of `app/` and bring every catalogue up to date
(new messages added untranslated, translations kept, messages no longer used dropped)."""

from __future__ import annotations

from app.i18n import LOCALES, SOURCE_LOCALE, catalogue_path
from app.i18n.catalogue import extract, update


def main() -> None:
    template = extract()
    for locale in LOCALES:
        if locale == SOURCE_LOCALE:
            continue
        added, untranslated = update(catalogue_path(locale), template, locale)
        print(f"{locale}: {added} new, {untranslated} to translate in {catalogue_path(locale)}")


main()
