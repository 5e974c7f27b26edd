"""Reading directory files for `lienthong agency import FILE`."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest

from app.agencies.directory_file import (
    AgencyRecord,
    DirectoryFileError,
    DirectoryProblem,
    read_directory_file,
)
from app.models import AgencyStatus

CSV_HEADER = "code,name,parent_code,status,successor_code,endpoint,email\n"


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def where(error: DirectoryFileError) -> list[tuple[int | None, str | None]]:
    return [(p.position, p.field) for p in error.problems]


def test_csv_with_bom_and_vietnamese_names(tmp_path: Path) -> None:
    content = (
        "\ufeffcode,name,parent,status,successor_code,endpoint,email\r\n"
        "000.00.00.H62,Ủy ban nhân dân tỉnh Vĩnh Phúc,,active,,,vanthu@vinhphuc.example\r\n"
        '000.00.12.H62,"Sở Văn hóa, Thể thao và Du lịch",000.00.00.H62,,,'
        "https://qlvb.vinhphuc.example/edoc,\r\n"
        "000.00.04.H62,Sở Kế hoạch và Đầu tư,000.00.00.H62,closed,000.00.05.H62,,\r\n"
        "000.21.34.H62,Ủy ban nhân dân xã Hồ Sơn,000.00.34.H62,Suspended,,,\r\n"
    )
    records = read_directory_file(write(tmp_path, "danh-muc.csv", content))
    assert records == [
        AgencyRecord(
            code="000.00.00.H62",
            name="Ủy ban nhân dân tỉnh Vĩnh Phúc",
            email="vanthu@vinhphuc.example",
        ),
        AgencyRecord(
            code="000.00.12.H62",
            name="Sở Văn hóa, Thể thao và Du lịch",
            parent_code="000.00.00.H62",
            endpoint="https://qlvb.vinhphuc.example/edoc",
        ),
        AgencyRecord(
            code="000.00.04.H62",
            name="Sở Kế hoạch và Đầu tư",
            parent_code="000.00.00.H62",
            status=AgencyStatus.CLOSED,
            successor_code="000.00.05.H62",
        ),
        AgencyRecord(
            code="000.21.34.H62",
            name="Ủy ban nhân dân xã Hồ Sơn",
            parent_code="000.00.34.H62",
            status=AgencyStatus.SUSPENDED,
        ),
    ]
    assert not records[0].code.startswith("\ufeff")


def test_csv_column_name_variants_extra_columns_and_semicolons(tmp_path: Path) -> None:
    content = (
        "Mã định danh;Tên;Parent Code;STATUS;Successor;URL;Mail;ghi chú\n"
        "  000.00.30.H62 ; Ủy ban nhân dân thành phố Vĩnh Yên ;000.00.00.H62;;;;;trụ sở mới\n"
        "\n"
        ";;;;;;;\n"
    )
    records = read_directory_file(write(tmp_path, "agencies.csv", content))
    assert records == [
        AgencyRecord(
            code="000.00.30.H62",
            name="Ủy ban nhân dân thành phố Vĩnh Yên",
            parent_code="000.00.00.H62",
        )
    ]


def test_json_list_and_object_forms(tmp_path: Path) -> None:
    entries = [
        {
            "code": "000.00.00.G22",
            "name": "Văn phòng Chính phủ",
            "parent_code": None,
            "status": "active",
            "successor_code": None,
            "endpoint": None,
            "email": None,
        },
        {"code": "000.00.01.H62", "name": "Văn phòng UBND tỉnh", "parent_code": "000.00.00.H62"},
    ]
    expected = [
        AgencyRecord(code="000.00.00.G22", name="Văn phòng Chính phủ"),
        AgencyRecord(code="000.00.01.H62", name="Văn phòng UBND tỉnh", parent_code="000.00.00.H62"),
    ]
    as_list = write(tmp_path, "list.json", json.dumps(entries, ensure_ascii=False))
    as_object = write(tmp_path, "object.json", json.dumps({"agencies": entries}))
    assert read_directory_file(as_list) == expected
    assert read_directory_file(as_object) == expected
    assert read_directory_file(str(as_object)) == expected


def test_json_rows_shaped_like_the_axis_directory() -> None:
    # getAgenciesList rows: numeric id/pid are ignored, mail and oldCode are understood.
    rows = [{"id": 7, "pid": 1, "code": "000.00.00.H29", "name": "UBND TP. HCM", "mail": "a@b.example",
             "oldCode": "00.41.H29"}]  # fmt: skip
    assert read_directory_file(json.dumps(rows).encode()) == [
        AgencyRecord(code="000.00.00.H29", name="UBND TP. HCM", email="a@b.example", old_code="00.41.H29")
    ]


def test_format_from_suffix_content_or_argument(tmp_path: Path) -> None:
    csv_bytes = (CSV_HEADER + "000.00.00.H62,UBND tỉnh,,,,,\n").encode()
    json_bytes = b'\xef\xbb\xbf [{"code": "000.00.00.H62", "name": "UBND t\xe1\xbb\x89nh"}]'
    expected = [AgencyRecord(code="000.00.00.H62", name="UBND tỉnh")]
    assert read_directory_file(csv_bytes) == expected
    assert read_directory_file(json_bytes) == expected
    assert read_directory_file(write(tmp_path, "export.txt", json_bytes)) == expected
    assert read_directory_file(write(tmp_path, "export.dat", csv_bytes), format="csv") == expected
    with pytest.raises(DirectoryFileError):
        read_directory_file(json_bytes, format="csv")


def test_names_are_stored_composed() -> None:
    decomposed = unicodedata.normalize("NFD", "Sở Tư pháp")
    assert decomposed != "Sở Tư pháp"
    records = read_directory_file((CSV_HEADER + f"000.00.03.H62,{decomposed},,,,,\n").encode())
    assert records[0].name == "Sở Tư pháp"


def test_a_bad_csv_reports_every_problem_at_once(tmp_path: Path) -> None:
    content = (
        CSV_HEADER
        + "000.00.00.H62,UBND tỉnh,,active,,,\n"  # line 2: fine
        + "000.00.00.h62,Sở X,000.00.00.H62,active,,,\n"  # 3: lower-case code
        + "000.00.02.H62,,000..H62,retired,,ftp://x.example,\n"  # 4: name, parent, status, endpoint
        + "000.00.03.H62,Sở Y,000.00.00.H62,active,000.00.05.H62,,not-an-address\n"  # 5: successor, email
        + "000.00.00.H62,UBND tỉnh again,,,,,\n"  # 6: duplicate of line 2
        + "000.00.04.H62,Sở Z,000.00.04.H62,closed,000.00.04.H62,,\n"  # 7: names itself twice
        + "000.00.06.H62,Sở W,,,,,,extra\n"  # 8: too many values
        + f'000.00.07.H62,"{"x" * 301}",,,,,\n'  # 9: name too long
        + "000.00.08.H62,Sở V,,,,http://exa mple.example,\n"  # 10: white space in the URL
        + "000.00.08.H62,Sở V bis,,paused,,,\n"  # 11: bad status, and a duplicate of line 10
    )
    with pytest.raises(DirectoryFileError) as caught:
        read_directory_file(write(tmp_path, "bad.csv", content))
    error = caught.value
    assert where(error) == [
        (3, "code"),
        (4, "name"),
        (4, "parent_code"),
        (4, "status"),
        (4, "endpoint"),
        (5, "successor_code"),
        (5, "email"),
        (6, "code"),
        (7, "parent_code"),
        (7, "successor_code"),
        (8, None),
        (9, "name"),
        (10, "endpoint"),
        (11, "status"),
        (11, "code"),
    ]
    messages = {(p.position, p.field): p.message for p in error.problems}
    assert "character 'h'" in messages[(3, "code")]
    assert messages[(4, "name")] == "missing"
    assert "'..'" in messages[(4, "parent_code")]
    assert "'retired' is not one of active|suspended|closed" in messages[(4, "status")]
    assert "http(s)" in messages[(4, "endpoint")]
    assert "only a closed agency" in messages[(5, "successor_code")]
    assert "first at line 2" in messages[(6, "code")]
    assert "white space" in messages[(10, "endpoint")]
    assert "first at line 10" in messages[(11, "code")]
    text = str(error)
    assert text.startswith("directory file has 15 problems:")
    assert "line 4, status: 'retired' is not one of" in text
    assert isinstance(error, ValueError)


def test_a_bad_json_reports_every_problem_at_once() -> None:
    entries = [
        {"code": "000.00.00.H62", "name": "UBND tỉnh"},
        "000.00.01.H62",
        {"code": 62, "name": "Sở"},
        {"name": "Sở không mã", "parent": "000.00.00.H62", "parent_code": "000.00.00.H62"},
        {"code": "000.00.09.H62", "name": "Sở", "endpoint": "https://:80"},
        {"code": "000.00.00.H62", "name": "trùng", "status": "closed", "successor_code": "000.00.00.G22"},
    ]
    with pytest.raises(DirectoryFileError) as caught:
        read_directory_file(json.dumps(entries).encode())
    error = caught.value
    assert where(error) == [
        (1, None),
        (2, "code"),
        (3, "parent_code"),
        (3, "code"),
        (4, "endpoint"),
        (5, "code"),
    ]
    assert error.problems[1].message == "expected text, got a number"
    assert error.problems[2].message == "both 'parent' and 'parent_code' give the parent_code"
    assert error.problems[3].message == "missing"
    assert "not a valid URL" in error.problems[4].message or "http(s)" in error.problems[4].message
    assert "first at entry 0" in error.problems[5].message
    assert "entry 1: expected an object, got text" in str(error)


def test_a_missing_required_column_is_reported_once_at_the_header() -> None:
    content = "code,parent_code,parent\n000.00.01.H62,000.00.00.H62,\n000.00.02.H62,000.00.00.H62,\n"
    with pytest.raises(DirectoryFileError) as caught:
        read_directory_file(content.encode())
    assert caught.value.problems == [
        DirectoryProblem(1, "parent_code", "both 'parent_code' and 'parent' give the parent_code"),
        DirectoryProblem(1, "name", "the header has no such column"),
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "no header row"),
        (b"[{]", "not valid JSON"),
        (b'{"items": []}', 'an object with an "agencies" list'),
        (b'{"agencies": {"code": "000.00.00.H62"}}', "expected a list of agencies"),
        ("code,name\n000.00.03.H62,Tư pháp\n".encode("cp1258"), "not UTF-8"),
    ],
)
def test_unreadable_files_are_one_problem(content: bytes, message: str) -> None:
    with pytest.raises(DirectoryFileError) as caught:
        read_directory_file(content)
    assert len(caught.value.problems) == 1
    assert message in caught.value.problems[0].message


def test_an_empty_directory_is_valid() -> None:
    assert read_directory_file(CSV_HEADER.encode()) == []
    assert read_directory_file(b"[]") == []
