"""Directory files (danh mục mã định danh) as `lienthong agency import FILE` reads them, and the
packaged demo directory of province H62.

A file is JSON (a list of objects, or `{"agencies": [...]}`) or CSV with a header row, UTF-8 with or
without a BOM. Every entry is checked and every problem is collected, so an operator fixes a file in
one round: `DirectoryFileError.problems` lists them all. Reading the file is the only I/O here;
writing the records into the database is the directory service's job.
"""

from __future__ import annotations

import csv
import io
import json
import os
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal, NamedTuple
from urllib.parse import urlsplit

from app.agencies.codes import AgencyCode, InvalidAgencyCode
from app.models import AgencyStatus

FileFormat = Literal["csv", "json"]

# Lengths of the `agencies` table's columns (app/models.py).
MAX_NAME = 300
MAX_ENDPOINT = 500
MAX_EMAIL = 100

DEMO_PACKAGE = "app.agencies"
DEMO_FILE = "data/demo-h62.json"

FIELDS = ("code", "name", "parent_code", "status", "successor_code", "endpoint", "email", "old_code")
_CODE_FIELDS = ("code", "parent_code", "successor_code", "old_code")
_REQUIRED = ("code", "name")

# Accepted spellings of each column or key, compared after `_normalise_key`. Includes the axis's own
# directory rows (getAgenciesList: code, name, mail, oldCode) and common Vietnamese headers.
_ALIASES: dict[str, str] = {
    alias: field
    for field, aliases in {
        "code": ("code", "agencycode", "organid", "ma", "madinhdanh"),
        "name": ("name", "agencyname", "organname", "ten", "tencoquan", "tendonvi"),
        "parent_code": ("parentcode", "parent", "parentorganid", "macha", "madinhdanhcha"),
        "status": ("status", "trangthai"),
        "successor_code": ("successorcode", "successor", "replacedby", "mathaythe"),
        "endpoint": ("endpoint", "endpointurl", "url"),
        "email": ("email", "mail", "thudientu"),
        "old_code": ("oldcode", "macu"),
    }.items()
    for alias in aliases
}


@dataclass(frozen=True, slots=True)
class AgencyRecord:
    """One validated entry of a directory file, ready for the `agencies` table.

    Codes are kept as their text (each one parsed with `AgencyCode`), so a record maps column for
    column onto `Agency`; `status` is an `AgencyStatus`, which is a str.
    """

    code: str
    name: str
    parent_code: str | None = None
    status: AgencyStatus = AgencyStatus.ACTIVE
    successor_code: str | None = None
    endpoint: str | None = None
    email: str | None = None
    old_code: str | None = None  # mã cũ: the 3-group code the axis still maps to this one


class DirectoryProblem(NamedTuple):
    """One problem: where (CSV line number, 1 = the header; or JSON entry index, from 0; None = the
    whole file), which field (None = the whole entry), and what is wrong."""

    position: int | None
    field: str | None
    message: str


class _Entry(NamedTuple):
    position: int
    values: dict[str, str | None]
    reported: set[str]  # fields whose problem is already known (a missing column, a wrong JSON type)


class DirectoryFileError(ValueError):
    """The file cannot be imported; `problems` lists everything found, in file order."""

    def __init__(self, problems: Iterable[DirectoryProblem], *, position_kind: Literal["line", "entry"]):
        self.problems = list(problems)
        self.position_kind = position_kind
        count = len(self.problems)
        lines = [f"directory file has {count} problem{'s' if count != 1 else ''}:"]
        lines += [f"  {self.describe(problem)}" for problem in self.problems]
        super().__init__("\n".join(lines))

    def describe(self, problem: DirectoryProblem) -> str:
        """`line 4, parent_code: …` for CSV, `entry 3, status: …` for JSON."""
        where = [] if problem.position is None else [f"{self.position_kind} {problem.position}"]
        if problem.field is not None:
            where.append(problem.field)
        return f"{', '.join(where)}: {problem.message}" if where else problem.message


def read_directory_file(
    source: str | os.PathLike[str] | bytes, *, format: FileFormat | None = None
) -> list[AgencyRecord]:
    """Read and validate a directory file; raise DirectoryFileError with every problem found.

    `source` is a path (str or PathLike) or the file's bytes. Without `format`, a path's suffix
    (`.csv`, `.json`) decides, else the content: JSON starts with `[` or `{`.
    """
    if isinstance(source, bytes):
        data, suffix = source, ""
    else:
        path = Path(source)
        data, suffix = path.read_bytes(), path.suffix.lower()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        message = f"not UTF-8 text (byte at offset {error.start}); save the file as UTF-8"
        raise DirectoryFileError([DirectoryProblem(None, None, message)], position_kind="line") from None
    if format is None:
        if suffix in (".csv", ".json"):
            format = "json" if suffix == ".json" else "csv"
        else:
            format = "json" if text.lstrip()[:1] in ("[", "{") else "csv"
    if format == "json":
        return _read_json(text)
    return _read_csv(text)


def demo_directory() -> list[AgencyRecord]:
    """The demo directory of province H62 (Vĩnh Phúc) that an embedded hub loads on first start."""
    data = resources.files(DEMO_PACKAGE).joinpath(DEMO_FILE).read_bytes()
    return read_directory_file(data, format="json")


def _read_json(text: str) -> list[AgencyRecord]:
    def fail(message: str) -> DirectoryFileError:
        return DirectoryFileError([DirectoryProblem(None, None, message)], position_kind="entry")

    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise fail(f"not valid JSON: {error.msg} at line {error.lineno} column {error.colno}") from None
    if isinstance(document, dict):
        if "agencies" not in document:
            raise fail('expected a list of agencies, or an object with an "agencies" list')
        document = document["agencies"]
    if not isinstance(document, list):
        raise fail('expected a list of agencies, or an object with an "agencies" list')

    problems: list[DirectoryProblem] = []
    entries: list[_Entry] = []
    for index, item in enumerate(document):
        if not isinstance(item, dict):
            problems.append(DirectoryProblem(index, None, f"expected an object, got {_json_type(item)}"))
            continue
        keys = list(item)
        fields, key_problems = _map_keys(keys)
        problems += [DirectoryProblem(index, field, message) for field, message in key_problems]
        entry = _Entry(index, {}, set())
        for position, field in fields.items():
            value = item[keys[position]]
            if value is not None and not isinstance(value, str):
                problems.append(DirectoryProblem(index, field, f"expected text, got {_json_type(value)}"))
                entry.reported.add(field)
                continue
            entry.values[field] = value
        entries.append(entry)
    return _validate(entries, problems, position_kind="entry")


def _read_csv(text: str) -> list[AgencyRecord]:
    def fail(problems: list[DirectoryProblem]) -> DirectoryFileError:
        return DirectoryFileError(problems, position_kind="line")

    header_line = text.split("\n", 1)[0]
    delimiter = next((d for d in (",", ";", "\t") if d in header_line), ",")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader, None)
        if header is None or not any(cell.strip() for cell in header):
            raise fail([DirectoryProblem(1, None, "no header row (code,name,parent_code,status,…)")])
        fields, key_problems = _map_keys(header)
        problems = [DirectoryProblem(1, field, message) for field, message in key_problems]
        missing = {field for field in _REQUIRED if field not in fields.values()}
        problems += [
            DirectoryProblem(1, field, "the header has no such column")
            for field in _REQUIRED
            if field in missing
        ]
        entries: list[_Entry] = []
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if len(row) > len(header):
                problems.append(
                    DirectoryProblem(
                        reader.line_num, None, f"{len(row)} values but the header has {len(header)} columns"
                    )
                )
                continue
            values: dict[str, str | None] = {
                field: row[column] for column, field in fields.items() if column < len(row)
            }
            entries.append(_Entry(reader.line_num, values, missing))
    except csv.Error as error:
        raise fail([DirectoryProblem(reader.line_num, None, f"not valid CSV: {error}")]) from None
    return _validate(entries, problems, position_kind="line")


def _validate(
    entries: list[_Entry],
    problems: list[DirectoryProblem],
    *,
    position_kind: Literal["line", "entry"],
) -> list[AgencyRecord]:
    """Check every entry, then the file as a whole (duplicates)."""
    records: list[AgencyRecord] = []
    first_seen: dict[str, int] = {}
    for position, values, reported in entries:
        code, record, entry_problems = _record(values, reported=reported)
        problems += [DirectoryProblem(position, field, message) for field, message in entry_problems]
        if code is None:
            continue
        if code in first_seen:
            message = f"duplicate code {code}, first at {position_kind} {first_seen[code]}"
            problems.append(DirectoryProblem(position, "code", message))
            continue
        first_seen[code] = position
        if record is not None:
            records.append(record)
    if problems:
        # Stable sort: a file's problems in file order, each entry's in field order.
        in_file_order = sorted(problems, key=lambda problem: problem.position or 0)
        raise DirectoryFileError(in_file_order, position_kind=position_kind)
    return records


def _record(
    entry: Mapping[str, str | None], *, reported: set[str]
) -> tuple[str | None, AgencyRecord | None, list[tuple[str, str]]]:
    """The entry's code if valid, the record it describes if it is valid as a whole, and the problems
    found in it as (field, message). Fields in `reported` already have a problem and are not
    reported missing again."""
    problems: list[tuple[str, str]] = []
    values = {field: _clean(entry.get(field)) for field in FIELDS}

    for field in _REQUIRED:
        if values[field] is None and field not in reported:
            problems.append((field, "missing"))

    codes: dict[str, str | None] = {}
    for field in _CODE_FIELDS:
        raw = values[field]
        codes[field] = None
        if raw is not None:
            try:
                codes[field] = str(AgencyCode.parse(raw))
            except InvalidAgencyCode as error:
                problems.append((field, error.reason))
    code = codes["code"]
    for field in ("parent_code", "successor_code"):
        if code is not None and codes[field] == code:
            problems.append((field, "an agency cannot name itself"))

    status: AgencyStatus | None = AgencyStatus.ACTIVE
    raw_status = values["status"]
    if raw_status is not None:
        try:
            status = AgencyStatus(raw_status.lower())
        except ValueError:
            status = None
            allowed = "|".join(AgencyStatus)
            problems.append(("status", f"{raw_status!r} is not one of {allowed}"))
    if codes["successor_code"] is not None and status not in (AgencyStatus.CLOSED, None):
        problems.append(("successor_code", f"only a closed agency names a successor, this one is {status}"))

    name = values["name"]
    if name is not None:
        # Vietnamese text arrives composed or decomposed depending on the tool that wrote it.
        name = unicodedata.normalize("NFC", name)
        if len(name) > MAX_NAME:
            problems.append(("name", f"{len(name)} characters, at most {MAX_NAME}"))

    endpoint = values["endpoint"]
    if endpoint is not None:
        message = _endpoint_problem(endpoint)
        if message:
            problems.append(("endpoint", message))

    email = values["email"]
    if email is not None:
        message = _email_problem(email)
        if message:
            problems.append(("email", message))

    if problems or code is None or name is None or status is None:
        return code, None, problems
    record = AgencyRecord(
        code=code,
        name=name,
        parent_code=codes["parent_code"],
        status=status,
        successor_code=codes["successor_code"],
        endpoint=endpoint,
        email=email,
        old_code=codes["old_code"],
    )
    return code, record, problems


def _endpoint_problem(url: str) -> str | None:
    if len(url) > MAX_ENDPOINT:
        return f"{len(url)} characters, at most {MAX_ENDPOINT}"
    if any(char.isspace() for char in url):
        return f"{url!r} contains white space"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as error:
        return f"{url!r} is not a valid URL: {error}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{url!r} is not an http(s) URL"
    return None


def _email_problem(email: str) -> str | None:
    if len(email) > MAX_EMAIL:
        return f"{len(email)} characters, at most {MAX_EMAIL}"
    local, at, domain = email.rpartition("@")
    if not at or not local or "." not in domain.strip(".") or any(c.isspace() for c in email):
        return f"{email!r} is not an e-mail address"
    return None


def _map_keys(keys: Sequence[str]) -> tuple[dict[int, str], list[tuple[str | None, str]]]:
    """Map column names (CSV) or keys (JSON), by position, to fields. Unknown ones are ignored
    (exports carry extra columns such as the axis's numeric id); two spellings of one field are an
    error."""
    mapping: dict[int, str] = {}
    problems: list[tuple[str | None, str]] = []
    seen: dict[str, str] = {}
    for position, key in enumerate(keys):
        field = _ALIASES.get(_normalise_key(key))
        if field is None:
            continue
        if field in seen:
            problems.append((field, f"both {seen[field]!r} and {key!r} give the {field}"))
            continue
        seen[field] = key
        mapping[position] = field
    return mapping, problems


def _normalise_key(key: str) -> str:
    """`Parent Code`, `parent_code`, `parentCode`, `Mã định danh` -> `parentcode`, `madinhdanh`."""
    decomposed = unicodedata.normalize("NFD", key.strip().lower().replace("đ", "d"))
    return "".join(c for c in decomposed if c.isalnum() and not unicodedata.combining(c))


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, str):
        return "text"
    return "null" if value is None else type(value).__name__
