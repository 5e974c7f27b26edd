"""The Vietnamese catalogue covers every message of the code, and the formatting helpers speak
Vietnamese."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.i18n import (
    LOCALES,
    SOURCE_LOCALE,
    catalogue_path,
    format_date,
    format_datetime,
    format_number,
    format_relative,
    gettext,
    ngettext,
    use_locale,
)
from app.i18n.catalogue import extract, read


def test_every_message_has_a_vietnamese_translation_that_is_not_fuzzy() -> None:
    wanted = {m.id for m in extract() if m.id}
    assert len(wanted) > 100  # the console's messages were found (templates and Python)
    for locale in LOCALES:
        if locale == SOURCE_LOCALE:
            continue
        catalogue = {m.id: m for m in read(catalogue_path(locale), locale) if m.id}
        missing = sorted(str(i) for i in wanted - set(catalogue))
        assert not missing, f"{locale}: not in the catalogue (run python -m app.i18n): {missing}"
        fuzzy = sorted(str(i) for i, m in catalogue.items() if m.fuzzy)
        assert not fuzzy, f"{locale}: fuzzy entries: {fuzzy}"
        strings = {i: m.string for i, m in catalogue.items()}
        untranslated = sorted(
            str(i) for i, s in strings.items() if not (all(s) if isinstance(s, tuple | list) else s)
        )
        assert not untranslated, f"{locale}: untranslated: {untranslated}"
        unused = sorted(str(i) for i in set(catalogue) - wanted)
        assert not unused, f"{locale}: no longer used (run python -m app.i18n): {unused}"


def test_gettext_translates_outside_requests_and_follows_the_current_locale() -> None:
    assert gettext("Delivery queue", "vi") == "Hàng đợi gửi nhận"
    assert gettext("Delivery queue", "en") == "Delivery queue"
    assert gettext("Delivery queue", "en-GB") == "Delivery queue"
    assert gettext("a message nobody translated", "vi") == "a message nobody translated"
    with use_locale("en"):
        assert gettext("Overview") == "Overview"
    assert gettext("Overview") == "Tổng quan"  # Vietnamese is the default
    assert ngettext("{n} delivery requeued.", "{n} deliveries requeued.", 3, "en").format(n=3) == (
        "3 deliveries requeued."
    )
    assert ngettext("{n} delivery requeued.", "{n} deliveries requeued.", 1, "en").format(n=1) == (
        "1 delivery requeued."
    )
    assert "3" in ngettext("{n} delivery requeued.", "{n} deliveries requeued.", 3, "vi").format(n=3)


def test_dates_numbers_and_relative_times_are_vietnamese() -> None:
    moment = datetime(2026, 12, 1, 18, 5, 9, tzinfo=UTC)  # 2 December 01:05:09 in Hà Nội
    assert format_datetime(moment) == "02/12/2026 01:05"
    assert format_datetime(moment, seconds=True) == "02/12/2026 01:05:09"
    assert format_date(moment) == "02/12/2026"
    assert format_number(1234.5, "vi") == "1.234,5"
    assert format_number(1234567, "vi") == "1.234.567"
    assert format_number(1234.5, "en") == "1,234.5"
    now = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    assert format_relative(now - timedelta(minutes=3), "vi", now=now) == "3 phút trước"
    assert format_relative(now + timedelta(hours=5), "vi", now=now) == "sau 5 giờ nữa"
    assert format_relative(now - timedelta(minutes=3), "en", now=now) == "3 minutes ago"
    assert format_datetime(None) == "—"
