"""Problem messages in the caller's language: every problem code, every title and every /vxp
ErrorCode has Vietnamese; the REST API answers in the language Accept-Language asks for (English
by default), /vxp in Vietnamese by default; codes and paths never change."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from datetime import date
from pathlib import Path

from support.hub import SENDER, Hub

import app
from app.axis.protocol import ErrorCode, ProtocolError
from app.axis_api.messages import ERROR_CODE_MESSAGES, describe_protocol_error
from app.i18n import N_, accept_language, gettext
from app.kit.errors import HubError, InvalidDocument, Problem
from app.kit.problem_messages import CODE_MESSAGES, COMMON_DETAILS, problem_message

APP = Path(app.__file__).parent


def _raised_codes() -> dict[str, list[str]]:
    """Every problem code written in app/: the `code` of each Problem(...) and Problem.of(...)."""
    codes: dict[str, list[str]] = {}
    for path in APP.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            is_problem = isinstance(func, ast.Name) and func.id == "Problem"
            is_of = (
                isinstance(func, ast.Attribute)
                and func.attr == "of"
                and isinstance(func.value, ast.Name)
                and func.value.id == "Problem"
            )
            if not (is_problem or is_of):
                continue
            code = node.args[1] if len(node.args) > 1 else None
            for keyword in node.keywords:
                if keyword.arg == "code":
                    code = keyword.value
            if isinstance(code, ast.Constant) and isinstance(code.value, str):
                where = f"{path.relative_to(APP)}:{node.lineno}"
                codes.setdefault(code.value, []).append(where)
    return codes


def _translated(message: str) -> bool:
    return gettext(message, "vi") != message


def test_every_problem_code_raised_has_a_vietnamese_message() -> None:
    codes = _raised_codes()
    assert len(codes) > 30  # the walk found the edXML, directory and signature problems
    missing = {code: where for code, where in codes.items() if code not in CODE_MESSAGES}
    assert not missing, f"add these codes to app.kit.problem_messages.CODE_MESSAGES: {missing}"
    untranslated = sorted(code for code, message in CODE_MESSAGES.items() if not _translated(message))
    assert not untranslated, f"no Vietnamese for: {untranslated}"


def _hub_errors() -> set[type[HubError]]:
    for module in pkgutil.walk_packages([str(APP)], prefix="app."):
        if module.name not in ("app.i18n.__main__",):
            importlib.import_module(module.name)
    found: set[type[HubError]] = set()
    pending: list[type[HubError]] = [HubError]
    while pending:
        kind = pending.pop()
        found.add(kind)
        pending.extend(kind.__subclasses__())
    return found


def test_every_title_and_every_vxp_error_code_has_vietnamese() -> None:
    kinds = _hub_errors()
    assert len(kinds) >= 13
    untranslated = sorted(
        f"{kind.__qualname__}: {kind.title}" for kind in kinds if not _translated(kind.title)
    )
    assert not untranslated, untranslated
    assert set(ERROR_CODE_MESSAGES) == set(ErrorCode)
    assert all(_translated(message) for message in ERROR_CODE_MESSAGES.values())


def test_common_details_are_still_written_in_the_code() -> None:
    """A detail marked in COMMON_DETAILS that its module no longer writes would never be translated."""
    sources = "\n".join(
        path.read_text(encoding="utf-8") for path in APP.rglob("*.py") if path.name != "problem_messages.py"
    )
    flattened = sources.replace('"\n', "").replace('        "', "")  # strings split over lines
    stale = [detail for detail in COMMON_DETAILS if detail not in sources and detail not in flattened]
    assert not stale, stale
    assert all(_translated(detail) for detail in COMMON_DETAILS)


def test_a_problem_is_translated_whole_then_by_its_code_and_kept_english_otherwise() -> None:
    template = N_("the edXML message has {count} problems")
    error = InvalidDocument(
        template, [Problem("/edXML", "wrong-namespace", "found urn:x")], params={"count": 3}
    )
    assert error.detail == "the edXML message has 3 problems"  # English where it is raised and logged
    english = error.to_problem("/api/v1/documents", "en")
    vietnamese = error.to_problem("/api/v1/documents", "vi")
    assert english["detail"] == error.detail and english["errors"][0]["message"] == "found urn:x"
    assert vietnamese["title"] == "Văn bản không hợp lệ"
    assert vietnamese["detail"] == "gói tin edXML có 3 lỗi"
    assert vietnamese["errors"] == [
        {
            "path": "/edXML",
            "code": "wrong-namespace",
            "message": "Phần tử gốc phải là edXML trong không gian tên edXML (found urn:x)",
        }
    ]
    assert {k: v for k, v in english.items() if k not in ("title", "detail", "errors")} == {
        k: v for k, v in vietnamese.items() if k not in ("title", "detail", "errors")
    }
    # an unknown code keeps its English message; a templated one is translated in full
    assert problem_message(Problem("/x", "some-new-code", "as written"), "vi") == "as written"
    formatted = Problem.of("/x", "required", N_("the parameter {name} is missing"), name="vxp-from")
    assert formatted.message == "the parameter vxp-from is missing"
    assert problem_message(formatted, "vi") == "thiếu tham số vxp-from"
    # an untranslated detail stays English
    assert HubError("a rare detail").to_problem(None, "vi")["detail"] == "a rare detail"


def test_vxp_descriptions() -> None:
    missing = ProtocolError(ErrorCode.INVALID_REQUEST, N_("the parameter {name} is missing"), name="vxp-from")
    assert missing.description == "the parameter vxp-from is missing"
    assert describe_protocol_error(missing, "vi") == "thiếu tham số vxp-from"
    assert describe_protocol_error(missing, "en") == "the parameter vxp-from is missing"
    rare = ProtocolError(ErrorCode.BAD_CREDENTIALS, "vxp-timestamp is empty")
    assert describe_protocol_error(rare, "vi") == (
        "Mã hệ thống, chữ ký hoặc địa chỉ gọi đến không được chấp nhận (vxp-timestamp is empty)"
    )


def test_accept_language() -> None:
    assert accept_language(None, "en") == "en"
    assert accept_language("", "vi") == "vi"
    assert accept_language("vi", "en") == "vi"
    assert accept_language("vi-VN,vi;q=0.9,en-US;q=0.8,en;q=0.7", "en") == "vi"
    assert accept_language("en-US,en;q=0.9,vi;q=0.8", "vi") == "en"
    assert accept_language("fr-FR, de", "en") == "en"
    assert accept_language("fr, en;q=0.2, vi;q=0.5", "en") == "vi"
    assert accept_language("vi;q=0, *", "en") == "en"
    assert accept_language("vi;q=abc", "en") == "en"


async def test_the_api_answers_in_the_language_asked_for(hub: Hub) -> None:
    from app.edxml import DocumentSpec, Organ, build_document

    body = build_document(
        DocumentSpec(
            sender=Organ(SENDER, organ_name="Văn phòng UBND tỉnh"),
            recipients=["000.00.99.H62"],  # not in the directory
            code_number="16",
            code_notation="VP-TH",
            subject="V/v thử thông báo lỗi",
            promulgation_date=date(2026, 11, 20),
        )
    )
    english = await hub.submit(body)  # no Accept-Language: English, as integrators always read
    vietnamese = await hub.submit(body, **{"Accept-Language": "vi-VN,vi;q=0.9,en;q=0.5"})
    asked_english = await hub.submit(body, **{"Accept-Language": "en-US,en;q=0.9,vi;q=0.8"})
    for response in (english, vietnamese, asked_english):
        assert response.status_code == 422
        assert response.headers["content-type"].startswith("application/problem+json")
    en, vi = english.json(), vietnamese.json()
    assert asked_english.json() == en and english.headers["content-language"] == "en"
    assert vietnamese.headers["content-language"] == "vi"
    assert en["title"] == "The document is not valid" and vi["title"] == "Văn bản không hợp lệ"
    assert en["detail"] == "the document has 1 problem(s) against the directory"
    assert vi["detail"] == "văn bản có 1 lỗi so với danh mục cơ quan"
    assert [(p["path"], p["code"]) for p in vi["errors"]] == [(p["path"], p["code"]) for p in en["errors"]]
    assert vi["errors"][0]["code"] == "unknown-agency"
    assert vi["errors"][0]["message"].startswith("Mã định danh này không có trong danh mục cơ quan")
    assert "000.00.99.H62" in vi["errors"][0]["message"]  # the particulars stay
    assert (vi["type"], vi["status"], vi["instance"]) == (en["type"], en["status"], en["instance"])

    unauthenticated = await hub.client.get("/api/v1/inbox", headers={"Accept-Language": "vi"})
    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["title"] == "Thiếu hoặc sai mã truy cập"
    assert unauthenticated.json()["detail"] == "hãy gửi 'Authorization: Bearer <mã truy cập>'"


async def test_vxp_answers_in_vietnamese_unless_english_is_asked_for(hub: Hub) -> None:
    unsigned = {"Content-Type": "application/json"}
    default = await hub.client.post("/vxp/getAgenciesList", headers=unsigned)
    english = await hub.client.post("/vxp/getAgenciesList", headers={**unsigned, "Accept-Language": "en"})
    assert default.status_code == english.status_code
    assert default.json()["ErrorCode"] == english.json()["ErrorCode"] != "0"
    assert default.json()["ErrorDesc"] != english.json()["ErrorDesc"]
    assert default.json()["ErrorDesc"].isascii() is False  # Vietnamese (escaped on the wire)
    assert b"\\u" in default.content and default.content.isascii()
    assert english.json()["ErrorDesc"].isascii()
