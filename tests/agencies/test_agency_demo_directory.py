"""The packaged demo directory of province H62 (Vĩnh Phúc)."""

from __future__ import annotations

import unicodedata

import pytest

from app.agencies.codes import AgencyCode
from app.agencies.directory_file import AgencyRecord, demo_directory
from app.models import AgencyStatus

PROVINCE = AgencyCode.parse("000.00.00.H62")


@pytest.fixture(scope="module")
def demo() -> dict[str, AgencyRecord]:
    return {record.code: record for record in demo_directory()}


def test_the_demo_directory_is_large_enough(demo: dict[str, AgencyRecord]) -> None:
    assert len(demo) >= 30
    assert len(demo) == len(demo_directory())  # no duplicate codes


def test_every_parent_is_in_the_file_and_consistent_with_the_code(demo: dict[str, AgencyRecord]) -> None:
    for record in demo.values():
        if record.parent_code is None:
            assert AgencyCode.parse(record.code).parent is None, record.code
            continue
        assert record.parent_code in demo, record.code
        assert AgencyCode.parse(record.code).is_under(AgencyCode.parse(record.parent_code)), record.code


def test_the_province_tree(demo: dict[str, AgencyRecord]) -> None:
    local = [AgencyCode.parse(code) for code in demo if AgencyCode.parse(code).level1 == "H62"]
    assert all(code.is_under(PROVINCE) for code in local)
    assert demo[str(PROVINCE)].name == "Ủy ban nhân dân tỉnh Vĩnh Phúc"
    assert demo["000.00.01.H62"].name.startswith("Văn phòng")
    departments = [f"000.00.{n:02d}.H62" for n in range(2, 14)]
    assert all(code in demo for code in departments)
    assert sum(demo[code].name.startswith("Sở ") for code in departments) >= 10
    assert demo["000.00.30.H62"].name == "Ủy ban nhân dân thành phố Vĩnh Yên"
    assert demo["000.12.30.H62"].parent_code == "000.00.30.H62"
    assert sum(code.startswith("000.00.3") for code in demo) >= 9  # the districts and cities
    assert any(code.groups[1] not in ("00", "12") for code in local)  # communes or wards


def test_non_local_agencies(demo: dict[str, AgencyRecord]) -> None:
    assert demo["000.00.00.G22"].name == "Văn phòng Chính phủ"
    assert demo["000.00.00.H29"].name == "Ủy ban nhân dân Thành phố Hồ Chí Minh"
    ministries = [code for code in demo if AgencyCode.parse(code).level1.startswith("G")]
    assert len(ministries) >= 4


def test_statuses(demo: dict[str, AgencyRecord]) -> None:
    closed = [r for r in demo.values() if r.status is AgencyStatus.CLOSED]
    suspended = [r for r in demo.values() if r.status is AgencyStatus.SUSPENDED]
    assert len(closed) >= 1 and len(suspended) >= 1
    for record in closed:
        assert record.successor_code in demo
        assert demo[record.successor_code].status is AgencyStatus.ACTIVE
    assert all(r.successor_code is None for r in demo.values() if r.status is not AgencyStatus.CLOSED)


def test_names_are_vietnamese_in_composed_utf8(demo: dict[str, AgencyRecord]) -> None:
    for record in demo.values():
        assert record.name == unicodedata.normalize("NFC", record.name)
        assert record.endpoint is None
        assert record.email is not None and record.email.endswith(".example")
    assert any("ộ" in r.name or "ủ" in r.name.lower() for r in demo.values())
