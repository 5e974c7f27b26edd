"""The signing scheme and the answers of docs/axis-protocol.md: what a server accepts, every refusal
the page lists, and how the hub's client reads answers (including ones the simulator never gives)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.datastructures import Headers

from app.axis.client import AxisAgency, AxisClient, AxisError
from app.axis.protocol import (
    HTTP_STATUS,
    PREFIX,
    TIMESTAMP_WINDOW_SECONDS,
    ErrorCode,
    ProtocolError,
    ReplayGuard,
    SignedRequest,
    decode_description,
    encode_description,
    failure,
    ok,
    read_request,
    sign,
    verify,
)

SYSTEM = "hub-h62"
SECRET = "một-bí-mật-rất-dài-0123456789"
NOW = 1_790_000_000_000
WINDOW_MS = TIMESTAMP_WINDOW_SECONDS * 1000


def signed(params: dict[str, str] | None = None, *, now_ms: int = NOW) -> dict[str, str]:
    return sign(SYSTEM, SECRET, params if params is not None else {"docId": "abc123"}, now_ms=now_ms)


def refused(code: ErrorCode, action: Callable[[], object]) -> str:
    """The description of the ProtocolError `action` raises with `code`."""
    with pytest.raises(ProtocolError) as caught:
        action()
    assert caught.value.code is code, caught.value.description
    return caught.value.description


def as_received(headers: dict[str, str]) -> Headers:
    """The headers as a server sees them (starlette: names lower-cased, repeats kept)."""
    return Headers(
        raw=[(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
    )


def resigned(headers: dict[str, str], json_text: str, *, key: str | None = None) -> dict[str, str]:
    """`headers` with another signed JSON (and sign-header-key), correctly signed with SECRET."""
    changed = dict(headers)
    changed[PREFIX + "sign-header"] = json_text
    if key is not None:
        changed[PREFIX + "sign-header-key"] = key
    changed[PREFIX + "hash-header"] = hmac.new(
        SECRET.encode(), json_text.encode(), hashlib.sha256
    ).hexdigest()
    return changed


# --- signing ---------------------------------------------------------------------------------------


def test_sign_sends_every_logical_header_and_signs_them_all() -> None:
    headers = signed({"docId": "abc123", "status": "done"})
    assert headers == {
        "XroadVnpt-systemid": SYSTEM,
        "XroadVnpt-timestamp": str(NOW),
        "XroadVnpt-docId": "abc123",
        "XroadVnpt-status": "done",
        "XroadVnpt-sign-header-key": "systemid;timestamp;docId;status",
        "XroadVnpt-sign-header": (
            f'{{"systemid":"{SYSTEM}","timestamp":"{NOW}","docId":"abc123","status":"done"}}'
        ),
        "XroadVnpt-hash-header": hmac.new(
            SECRET.encode("utf-8"), headers["XroadVnpt-sign-header"].encode("ascii"), hashlib.sha256
        ).hexdigest(),
    }


def test_a_signed_request_reads_back_and_verifies() -> None:
    request = read_request(as_received(signed()), required=["docId"])
    assert request.system_id == SYSTEM
    assert request.timestamp_ms == NOW
    assert request.params == {"systemid": SYSTEM, "timestamp": str(NOW), "docid": "abc123"}
    assert request.param("DOCID") == request.param("docId") == "abc123"
    assert request.param("status") is None
    verify(request, SECRET, now_ms=NOW)


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"systemid": "other"}, "reserved"),
        ({"Timestamp": "1"}, "reserved"),
        ({"hash-header": "x"}, "reserved"),
        ({"docId": "a", "DOCID": "b"}, "twice"),
        ({"doc id": "a"}, "not an HTTP header name"),
        ({"docId;status": "a"}, "not an HTTP header name"),
        ({"docId": "Văn bản"}, "printable ASCII"),
        ({"docId": "a\r\nX-Injected: 1"}, "printable ASCII"),
        ({"docId": " padded"}, "printable ASCII"),
    ],
)
def test_sign_refuses_what_http_would_not_carry_unchanged(params: dict[str, str], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        sign(SYSTEM, SECRET, params, now_ms=NOW)


names = st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,19}", fullmatch=True).filter(
    lambda name: (
        name.lower() not in {"systemid", "timestamp", "sign-header-key", "sign-header", "hash-header"}
    )
)
values = st.from_regex(r"([\x21-\x7e]([\x20-\x7e]{0,40}[\x21-\x7e])?)?", fullmatch=True)


@given(st.dictionaries(names, values, max_size=8).filter(lambda d: len({k.lower() for k in d}) == len(d)))
def test_any_parameters_round_trip(params: dict[str, str]) -> None:
    headers = sign(SYSTEM, SECRET, params, now_ms=NOW)
    for received in (as_received(headers), httpx.Headers(headers)):
        request = read_request(received, required=[name for name, value in params.items() if value])
        verify(request, SECRET, now_ms=NOW)
        assert {name: request.param(name) for name in params} == params


# --- refusals: structure (read_request) ------------------------------------------------------------


@pytest.mark.parametrize("header", ["sign-header-key", "sign-header", "hash-header"])
def test_a_missing_signing_header_is_15(header: str) -> None:
    headers = signed()
    del headers[PREFIX + header]
    assert "is missing" in refused(ErrorCode.BAD_CREDENTIALS, lambda: read_request(headers))


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("hash-header", "not-hex"),
        ("hash-header", "A" * 64),  # upper case: a replay could otherwise pass as a new signature
        ("sign-header", "not json"),
        ("sign-header", '["systemid"]'),
        ("sign-header", f'{{"systemid":"{SYSTEM}","timestamp":{NOW},"docId":"abc123"}}'),  # a number
        ("sign-header", '{"systemid":"a","SystemId":"b","timestamp":"1","docId":"abc123"}'),
        ("sign-header-key", "systemid;;timestamp;docId"),
        ("sign-header-key", "systemid;timestamp;docId;DOCID"),
    ],
)
def test_a_malformed_signing_header_is_15(header: str, value: str) -> None:
    headers = signed()
    headers[PREFIX + header] = value
    refused(ErrorCode.BAD_CREDENTIALS, lambda: read_request(headers))


def test_a_tampered_value_is_15() -> None:
    headers = signed()
    headers[PREFIX + "docId"] = "another-document"
    assert "differs from its signed value" in refused(
        ErrorCode.BAD_CREDENTIALS, lambda: read_request(headers)
    )


def test_a_tampered_value_and_json_fail_the_signature() -> None:
    headers = signed()
    headers[PREFIX + "docId"] = "another-document"
    headers[PREFIX + "sign-header"] = headers[PREFIX + "sign-header"].replace("abc123", "another-document")
    request = read_request(headers)
    description = refused(ErrorCode.BAD_CREDENTIALS, lambda: verify(request, SECRET, now_ms=NOW))
    assert "does not match" in description


def test_an_unsigned_parameter_header_is_15() -> None:
    headers = signed()
    headers[PREFIX + "status"] = "done"
    assert "XroadVnpt-status is not signed" in refused(
        ErrorCode.BAD_CREDENTIALS, lambda: read_request(headers)
    )


def test_other_headers_are_not_the_scheme_s_business() -> None:
    headers = {**signed(), "Content-Type": "multipart/form-data", "X-Request-Id": "1"}
    read_request(headers)


def test_a_signed_header_that_is_not_sent_is_15() -> None:
    headers = signed()
    del headers[PREFIX + "docId"]
    assert "not sent" in refused(ErrorCode.BAD_CREDENTIALS, lambda: read_request(headers))


def test_json_and_sign_header_key_naming_different_headers_is_15() -> None:
    headers = signed()
    headers[PREFIX + "sign-header-key"] = "systemid;timestamp"
    assert "differ" in refused(ErrorCode.BAD_CREDENTIALS, lambda: read_request(headers))


@pytest.mark.parametrize("unsigned", ["systemid", "timestamp"])
def test_systemid_and_timestamp_must_be_signed(unsigned: str) -> None:
    headers = signed()
    values = json.loads(headers[PREFIX + "sign-header"])
    del values[unsigned]
    key = ";".join(values)
    changed = resigned(headers, json.dumps(values, separators=(",", ":")), key=key)
    del changed[PREFIX + unsigned]
    assert f"{unsigned} is not signed" in refused(ErrorCode.BAD_CREDENTIALS, lambda: read_request(changed))


def test_a_timestamp_that_is_not_milliseconds_is_15() -> None:
    headers = signed()
    json_text = headers[PREFIX + "sign-header"].replace(str(NOW), "2026-11-27T10:00:00")
    changed = resigned(headers, json_text)
    changed[PREFIX + "timestamp"] = "2026-11-27T10:00:00"
    assert "milliseconds" in refused(ErrorCode.BAD_CREDENTIALS, lambda: read_request(changed))


def test_a_repeated_parameter_header_is_15() -> None:
    headers = signed()
    raw = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
    raw.append((b"xroadvnpt-docid", b"another-document"))
    assert "more than once" in refused(ErrorCode.BAD_CREDENTIALS, lambda: read_request(Headers(raw=raw)))


def test_names_are_case_insensitive() -> None:
    headers = {name.upper(): value for name, value in signed().items()}
    headers["XROADVNPT-SIGN-HEADER-KEY"] = "SYSTEMID;TimeStamp;docid"
    request = read_request(headers, required=["DocId"])
    verify(request, SECRET, now_ms=NOW)


def test_a_missing_required_parameter_is_10() -> None:
    headers = signed({"docId": "abc123"})
    description = refused(
        ErrorCode.INVALID_REQUEST, lambda: read_request(headers, required=["docId", "status"])
    )
    assert description == "the parameter XroadVnpt-status is missing"


# --- refusals: secret and clock (verify) and replays -----------------------------------------------


def test_a_wrong_secret_is_15_and_says_nothing_of_the_right_one() -> None:
    request = read_request(signed())
    description = refused(ErrorCode.BAD_CREDENTIALS, lambda: verify(request, "wrong", now_ms=NOW))
    expected = hmac.new(b"wrong", request.signed_json.encode(), hashlib.sha256).hexdigest()
    assert SECRET not in description and expected not in description and request.signature not in description


@pytest.mark.parametrize(
    ("skew_ms", "accepted"),
    [(0, True), (WINDOW_MS, True), (WINDOW_MS + 1, False), (-WINDOW_MS, True), (-WINDOW_MS - 1, False)],
    ids=["now", "future edge", "future", "stale edge", "stale"],
)
def test_the_timestamp_window_holds_both_ways(skew_ms: int, accepted: bool) -> None:
    request = read_request(signed(now_ms=NOW + skew_ms))
    if accepted:
        verify(request, SECRET, now_ms=NOW)
        return
    description = refused(ErrorCode.BAD_CREDENTIALS, lambda: verify(request, SECRET, now_ms=NOW))
    assert ("ahead of" if skew_ms > 0 else "behind") in description
    assert "300 s" in description


def test_the_window_is_configurable() -> None:
    request = read_request(signed(now_ms=NOW - 10_001))
    refused(ErrorCode.BAD_CREDENTIALS, lambda: verify(request, SECRET, now_ms=NOW, window_seconds=10))


def test_a_replay_is_refused_while_it_could_still_verify() -> None:
    guard = ReplayGuard()
    request = read_request(signed())
    assert guard.first_time(SYSTEM, request.signature, now_ms=NOW)
    assert not guard.first_time(SYSTEM, request.signature, now_ms=NOW + 1)
    assert guard.first_time("another-system", request.signature, now_ms=NOW + 1)
    # Seen at NOW, stamped up to a window later: it verifies until two windows after it was seen.
    assert not guard.first_time(SYSTEM, request.signature, now_ms=NOW + 2 * WINDOW_MS)
    assert guard.first_time(SYSTEM, request.signature, now_ms=NOW + 2 * WINDOW_MS + 1)


# --- answers ---------------------------------------------------------------------------------------


def test_answers_have_the_axis_shape() -> None:
    assert ok(DocId="abc") == {"status": "OK", "ErrorCode": "0", "ErrorDesc": "", "DocId": "abc"}
    assert failure(ErrorCode.UNKNOWN_RECIPIENT, "not in the directory: 000.00.99.H62") == {
        "status": "FAIL",
        "ErrorCode": "18",
        "ErrorDesc": "not in the directory: 000.00.99.H62",
    }


def test_every_error_code_has_the_http_status_of_the_table() -> None:
    assert {code.value: HTTP_STATUS[code] for code in ErrorCode} == {
        "0": 200,
        "10": 400,
        "11": 404,
        "15": 401,
        "18": 422,
        "19": 403,
        "20": 500,
        "21": 400,
        "22": 422,
        "23": 422,
    }
    assert ProtocolError(ErrorCode.SENDER_NOT_SERVED, "x").http_status == 403


def test_description_is_percent_encoded_utf8() -> None:
    text = "Đã tiếp nhận; chuyển Phòng Hành chính 100%"
    encoded = encode_description(text)
    assert encoded.isascii() and " " not in encoded and ";" not in encoded
    assert decode_description(encoded) == text
    refused(ErrorCode.INVALID_REQUEST, lambda: decode_description("%C3%28"))


# --- the client's reading of answers ---------------------------------------------------------------


async def call_with_answer(response: httpx.Response) -> AxisError | list[AxisAgency]:
    """What `AxisClient.agencies()` makes of `response`: its rows or the AxisError it raises."""
    client = AxisClient("http://axis", SYSTEM, SECRET, transport=httpx.MockTransport(lambda _: response))
    try:
        return await client.agencies()
    except AxisError as error:
        return error
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    ("response", "transient"),
    [
        (httpx.Response(502, text="<html>Bad gateway</html>"), True),
        (httpx.Response(200, text="<html>portal login</html>"), False),
        (httpx.Response(404, json={"message": "no route"}), False),
        (httpx.Response(200, json={"status": "OK", "ErrorCode": "0", "data": {"not": "a list"}}), False),
        (httpx.Response(200, json={"status": "OK", "ErrorCode": "0", "data": [{"id": 1}]}), False),
        (httpx.Response(500, json={"status": "FAIL", "ErrorCode": "20", "ErrorDesc": "down"}), True),
        (httpx.Response(200, json={"status": "FAIL", "ErrorCode": "20", "ErrorDesc": "down"}), True),
        (httpx.Response(200, json={"status": "FAIL", "ErrorCode": "21", "ErrorDesc": "hash"}), True),
        (httpx.Response(401, json={"status": "FAIL", "ErrorCode": "15", "ErrorDesc": "secret"}), True),
        (httpx.Response(200, json={"status": "FAIL", "ErrorCode": "18", "ErrorDesc": "unknown"}), False),
        (httpx.Response(422, json={"status": "FAIL", "ErrorCode": "22", "ErrorDesc": "bad"}), False),
    ],
    ids=[
        "html 502",
        "html 200",
        "json 404",
        "data not a list",
        "row without code",
        "20 as 500",
        "20 as 200",
        "21",
        "15",
        "18",
        "22",
    ],
)
async def test_the_client_classifies_failures(response: httpx.Response, transient: bool) -> None:
    error = await call_with_answer(response)
    assert isinstance(error, AxisError)
    assert error.transient is transient
    assert error.http_status == response.status_code
    assert SECRET not in str(error)


async def test_the_client_reads_numeric_ids_and_nulls() -> None:
    body = {
        "status": "OK",
        "ErrorCode": "0",
        "data": [{"id": 42, "code": "000.00.00.G22", "pid": None, "name": "Văn phòng Chính phủ"}],
    }
    answer = await call_with_answer(httpx.Response(200, json=body))
    assert isinstance(answer, list)
    [agency] = answer
    assert (agency.id, agency.code, agency.pid, agency.mail, agency.old_code) == (
        "42",
        "000.00.00.G22",
        "",
        "",
        "",
    )


async def test_no_connection_is_a_transient_axis_error_without_the_secret() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = AxisClient("http://axis", SYSTEM, SECRET, transport=httpx.MockTransport(refuse))
    with pytest.raises(AxisError) as caught:
        await client.received()
    await client.aclose()
    error = caught.value
    assert (error.transient, error.http_status, error.error_code) == (True, None, "")
    assert "cannot reach http://axis" in str(error)
    assert SECRET not in str(error) and SECRET not in repr(client)


async def test_each_call_is_signed_afresh() -> None:
    seen: list[SignedRequest] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(read_request(request.headers))
        return httpx.Response(200, json={"status": "OK", "ErrorCode": "0", "ErrorDesc": "", "data": []})

    async with AxisClient("http://axis/vxp", SYSTEM, SECRET, transport=httpx.MockTransport(answer)) as client:
        for _ in range(5):
            await client.received()
    assert len({request.signature for request in seen}) == 5
    assert [request.timestamp_ms for request in seen] == sorted({request.timestamp_ms for request in seen})
