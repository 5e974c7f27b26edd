"""The directory sync (app.axis.directory.sync_directory) against the real database (SQLite and
PostgreSQL), prepared with the demo directory of province H62 (every agency in it `local`).

The axis's rows are built directly, numbered with ids that are not the codes, as the real axis
numbers them: a parent is named by its `id` (`pid`), never by its code.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, text
from support.delivery import rows

from app.axis.client import AxisAgency
from app.axis.directory import ACTOR, SyncReport, sync_directory
from app.kit.db import Database
from app.models import AdminLogEntry

PROVINCE = "000.00.00.H62"  # UBND tỉnh Vĩnh Phúc
OFFICE = "000.00.01.H62"  # Văn phòng UBND tỉnh
HOME_AFFAIRS = "000.00.02.H62"  # Sở Nội vụ: its QLVB settings are the province's to decide
JUSTICE = "000.00.03.H62"  # Sở Tư pháp: never listed by the axis in these tests
PLANNING = "000.00.04.H62"  # Sở Kế hoạch và Đầu tư: closed in the demo, successor Sở Tài chính
INDUSTRY = "000.00.06.H62"  # Sở Công Thương
NEW_UNIT = "000.00.40.H62"
OTHER_NEW_UNIT = "000.00.41.H62"


def agency(id: str, code: str, *, pid: str = "", name: str = "", mail: str = "", old: str = "") -> AxisAgency:
    return AxisAgency(id=id, code=code, pid=pid, name=name or f"Đơn vị {code}", mail=mail, old_code=old)


ROOT = agency("101", PROVINCE, name="Ủy ban nhân dân tỉnh Vĩnh Phúc", mail="vanthu@vinhphuc.example")


async def directory(database: Database) -> dict[str, dict[str, Any]]:
    """Every agency row, by code (all columns but the timestamps)."""
    found = await rows(database, "SELECT * FROM agencies")
    return {
        row.code: {k: v for k, v in row._asdict().items() if k not in ("created_at", "updated_at")}
        for row in found
    }


async def sync_log(database: Database) -> list[AdminLogEntry]:
    async with database.reading() as session:
        entries = await session.scalars(
            select(AdminLogEntry).where(AdminLogEntry.action == "directory.sync").order_by(AdminLogEntry.id)
        )
        return list(entries)


def counts(report: SyncReport) -> tuple[int, int, int, int, int]:
    return report.listed, report.added, report.updated, report.closed, report.reopened


async def test_a_new_code_is_added_active_from_the_axis_with_its_parent_resolved_through_pid(
    database: Database,
) -> None:
    report = await sync_directory(
        database,
        [
            ROOT,
            agency("140", NEW_UNIT, pid="101", name="Sở Dân tộc tỉnh Vĩnh Phúc", mail="sdt@vinhphuc.example"),
            agency("141", OTHER_NEW_UNIT, pid="999", name="Ban quản lý các khu công nghiệp"),
        ],
    )

    after = await directory(database)
    new = after[NEW_UNIT]
    assert (new["name"], new["status"], new["source"]) == ("Sở Dân tộc tỉnh Vĩnh Phúc", "active", "axis")
    assert new["parent_code"] == PROVINCE  # "101" is the axis's id of the province, not a code
    assert (new["email"], new["old_code"], new["successor_code"]) == ("sdt@vinhphuc.example", None, None)
    assert (new["endpoint"], new["signature_policy"]) == (None, "optional")
    # A pid that names no listed row leaves the parent unknown rather than guessed.
    assert after[OTHER_NEW_UNIT]["parent_code"] is None
    assert after[OTHER_NEW_UNIT]["status"] == "active"
    assert counts(report) == (3, 2, 1, 0, 0)  # the province itself is now the axis's
    assert report.skipped == []


async def test_a_known_agency_follows_the_axis_but_keeps_what_the_province_decided(
    database: Database,
) -> None:
    async with database.transaction() as session:
        await session.execute(
            text(
                "UPDATE agencies SET endpoint = 'https://qlvb.snv.example/edxml', "
                "endpoint_timeout_seconds = 12.5, signature_policy = 'required', status = 'suspended' "
                "WHERE code = :code"
            ),
            {"code": HOME_AFFAIRS},
        )

    report = await sync_directory(
        database,
        [
            ROOT,
            agency("201", OFFICE, pid="101"),
            agency(
                "202",
                HOME_AFFAIRS,
                pid="201",
                name="Sở Nội vụ (tên mới)",
                mail="vanthu.snv@vinhphuc.example",
                old="000.00.98.H62",
            ),
        ],
    )

    row = (await directory(database))[HOME_AFFAIRS]
    # What the axis is the authority for follows it ...
    assert row["name"] == "Sở Nội vụ (tên mới)"
    assert row["parent_code"] == OFFICE
    assert row["email"] == "vanthu.snv@vinhphuc.example"
    assert row["old_code"] == "000.00.98.H62"
    assert row["source"] == "axis"
    # ... and what the province decided is left as it was.
    assert row["endpoint"] == "https://qlvb.snv.example/edxml"
    assert row["endpoint_timeout_seconds"] == 12.5
    assert row["signature_policy"] == "required"
    assert row["status"] == "suspended"
    assert counts(report) == (3, 0, 3, 0, 0)


async def test_a_code_the_axis_listed_before_and_lists_no_more_is_closed(database: Database) -> None:
    await sync_directory(database, [ROOT, agency("140", NEW_UNIT, pid="101")])
    assert (await directory(database))[NEW_UNIT]["status"] == "active"

    report = await sync_directory(database, [ROOT])

    row = (await directory(database))[NEW_UNIT]
    assert (row["status"], row["successor_code"]) == ("closed", None)
    assert counts(report) == (1, 0, 0, 1, 0)


async def test_a_listed_old_code_closes_the_known_code_with_the_listed_code_as_successor(
    database: Database,
) -> None:
    report = await sync_directory(
        database,
        [ROOT, agency("141", OTHER_NEW_UNIT, pid="101", name="Sở Công Thương (mã mới)", old=INDUSTRY)],
    )

    after = await directory(database)
    assert (after[INDUSTRY]["status"], after[INDUSTRY]["successor_code"]) == ("closed", OTHER_NEW_UNIT)
    assert (after[OTHER_NEW_UNIT]["status"], after[OTHER_NEW_UNIT]["old_code"]) == ("active", INDUSTRY)
    assert counts(report) == (2, 1, 1, 1, 0)


async def test_an_agency_the_axis_never_listed_is_never_closed(database: Database) -> None:
    before = await directory(database)
    local = {code for code, row in before.items() if row["source"] == "local"}
    assert JUSTICE in local and before["000.21.34.H62"]["status"] == "suspended"

    # Listed, then no longer listed: only the axis's own code is closed; the province's units stay.
    await sync_directory(database, [ROOT, agency("140", NEW_UNIT, pid="101")])
    report = await sync_directory(database, [ROOT])

    after = await directory(database)
    assert report.closed == 1 and after[NEW_UNIT]["status"] == "closed"
    for code in local - {PROVINCE}:
        assert after[code] == before[code], code
    assert after[JUSTICE]["status"] == "active" and after[JUSTICE]["source"] == "local"


async def test_a_closed_code_listed_again_is_reopened(database: Database) -> None:
    await sync_directory(database, [ROOT, agency("140", NEW_UNIT, pid="101")])
    await sync_directory(database, [ROOT])
    assert (await directory(database))[NEW_UNIT]["status"] == "closed"
    assert (await directory(database))[PLANNING]["successor_code"] == "000.00.05.H62"

    # The code the axis closed comes back, and so does the one the province had closed.
    report = await sync_directory(
        database, [ROOT, agency("140", NEW_UNIT, pid="101"), agency("104", PLANNING, pid="101")]
    )

    after = await directory(database)
    for code in (NEW_UNIT, PLANNING):
        assert (after[code]["status"], after[code]["successor_code"]) == ("active", None), code
    assert (report.added, report.reopened, report.closed) == (0, 2, 0)


async def test_rows_with_invalid_codes_are_skipped_and_reported_the_rest_applied(
    database: Database,
) -> None:
    report = await sync_directory(
        database,
        [
            ROOT,
            agency("150", "000.00.50.h62"),  # lower case
            agency("151", "000..51.H62"),  # empty group
            agency("152", "  "),
            agency("140", NEW_UNIT, pid="150"),  # its parent is one of the skipped rows
            agency("141", f" {OTHER_NEW_UNIT} ", pid="101"),  # surrounding spaces are tolerated
        ],
    )

    after = await directory(database)
    assert after[NEW_UNIT]["status"] == "active" and after[NEW_UNIT]["parent_code"] is None
    assert after[OTHER_NEW_UNIT]["parent_code"] == PROVINCE
    assert not {"000.00.50.h62", "000.00.50.H62", "000..51.H62", ""} & after.keys()
    assert len(report.skipped) == 3
    for written, skipped in zip(("'000.00.50.h62'", "'000..51.H62'", "'  '"), report.skipped, strict=True):
        assert skipped.startswith(written + ":"), skipped
    assert counts(report) == (3, 2, 1, 0, 0)
    [entry] = await sync_log(database)
    assert entry.detail["skipped"] == report.skipped


async def test_an_empty_list_is_refused_and_changes_nothing(database: Database) -> None:
    before = await directory(database)

    with pytest.raises(ValueError, match="no agencies"):
        await sync_directory(database, [])

    assert await directory(database) == before
    assert await sync_log(database) == []


async def test_a_list_with_no_readable_row_is_refused_and_changes_nothing(database: Database) -> None:
    await sync_directory(database, [ROOT, agency("140", NEW_UNIT, pid="101")])
    before = await directory(database)

    # Read as a list without those codes, it would close every code the axis listed before.
    with pytest.raises(ValueError, match="valid code"):
        await sync_directory(database, [agency("101", "000.00.00.h62"), agency("140", "000.00.40.h62")])

    assert await directory(database) == before
    assert len(await sync_log(database)) == 1


async def test_each_sync_writes_one_admin_log_entry_with_its_counts(database: Database) -> None:
    first = await sync_directory(database, [ROOT, agency("140", NEW_UNIT, pid="101"), agency("1", "x")])
    second = await sync_directory(database, [ROOT])

    entries = await sync_log(database)
    assert len(entries) == 2
    for entry, report in zip(entries, (first, second), strict=True):
        assert (entry.actor, entry.action) == (ACTOR, "directory.sync")
        assert ACTOR == "axis:directory-sync"
        assert entry.detail == {
            "listed": report.listed,
            "added": report.added,
            "updated": report.updated,
            "closed": report.closed,
            "reopened": report.reopened,
            "skipped": report.skipped,
        }
    assert [entry.detail["added"] for entry in entries] == [1, 0]
    assert [entry.detail["closed"] for entry in entries] == [0, 1]
    assert len(entries[0].detail["skipped"]) == 1


async def test_the_report_counts_what_changed_and_a_second_identical_sync_changes_nothing(
    database: Database,
) -> None:
    listed = [
        ROOT,  # known, same name and e-mail as the demo: only its source changes
        agency("202", HOME_AFFAIRS, pid="101", name="Sở Nội vụ tỉnh Vĩnh Phúc (đổi tên)"),
        agency("140", NEW_UNIT, pid="101"),
        agency("141", OTHER_NEW_UNIT, pid="140", old=INDUSTRY),
    ]
    first = await sync_directory(database, listed)
    assert counts(first) == (4, 2, 2, 1, 0)
    after_first = await directory(database)
    stamps = {
        row.code: row.updated_at for row in await rows(database, "SELECT code, updated_at FROM agencies")
    }

    second = await sync_directory(database, listed)

    assert counts(second) == (4, 0, 0, 0, 0)
    assert await directory(database) == after_first
    again = {
        row.code: row.updated_at for row in await rows(database, "SELECT code, updated_at FROM agencies")
    }
    assert again == stamps  # nothing was even rewritten
