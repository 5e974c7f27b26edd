"""The signing scheme and the answers of docs/axis-protocol.md, as the official SDK speaks it
(shared/reference/vxp-sdk.md): the test vector, Java's HashMap order and Gson's escaping (each checked
against the independent conformance client in tests/support/vxp_client.py), what a server accepts,
every refusal, and how the hub's client signs and reads answers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.datastructures import Headers
from support.vxp_client import JavaHashMap, SdkService, gson_string, sdk_hash_file

from app.axis.client import AxisAgency, AxisClient, AxisError
from app.axis.protocol import (
    HTTP_STATUS,
    PREFIX,
    ErrorCode,
    ProtocolError,
    ascii_json,
    check_fresh,
    decode_description,
    encode_description,
    failure,
    file_hash,
    gson_json,
    java_hash_map_order,
    ok,
    parse_sdk_timestamp,
    read_request,
    sdk_timestamp,
    sign,
    verify,
)

SYSTEM = "000.00.00.G14"
SECRET = "testsecret"
HCM = ZoneInfo("Asia/Ho_Chi_Minh")
MOMENT = datetime(2024, 3, 5, 14, 25, 30, 123_000, tzinfo=HCM)
TIMESTAMP = "05032024T142530+0123"
VECTOR_JSON = (
    '{"XroadVnpt-systemid":"000.00.00.G14","XroadVnpt-servicetype":"eDoc","XroadVnpt-messagetype":"edoc",'
    '"XroadVnpt-timestamp":"05032024T142530+0123","XroadVnpt-Content-Type":"application/json"}'
)
VECTOR_HASH = "73600b6fe11ad5aa57a3439a9204d65df68945cd997787775758b8d28364074c"
LIST_PARAMS = {"servicetype": "eDoc", "messagetype": "edoc"}


def signed(params: dict[str, str] | None = None, *, timestamp: str = TIMESTAMP) -> dict[str, str]:
    return sign(SYSTEM, SECRET, params if params is not None else {"docId": "abc123"}, timestamp=timestamp)


def refused(code: ErrorCode, action: Callable[[], object]) -> str:
    """The description of the ProtocolError `action` raises with `code`."""
    with pytest.raises(ProtocolError) as caught:
        action()
    assert caught.value.code is code, caught.value.description
    return caught.value.description


def as_received(headers: dict[str, str] | list[tuple[str, str]]) -> Headers:
    """The headers as a server sees them (starlette: names lower-cased, repeats kept, Latin-1)."""
    items = headers.items() if isinstance(headers, dict) else headers
    return Headers(raw=[(name.lower().encode("latin-1"), value.encode("utf-8")) for name, value in items])


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


# --- the SDK's ways of writing things ---------------------------------------------------------------


def test_the_test_vector() -> None:
    assert sdk_timestamp(MOMENT) == TIMESTAMP
    headers = sign(SYSTEM, SECRET, LIST_PARAMS, timestamp=TIMESTAMP)
    assert list(headers.items()) == [
        ("XroadVnpt-systemid", SYSTEM),
        ("XroadVnpt-servicetype", "eDoc"),
        ("XroadVnpt-messagetype", "edoc"),
        ("XroadVnpt-timestamp", TIMESTAMP),
        ("XroadVnpt-Content-Type", "application/json"),
        ("Content-Type", "application/json"),
        ("XroadVnpt-sign-header-key", "systemid;servicetype;messagetype;timestamp;Content-Type"),
        ("XroadVnpt-sign-header", VECTOR_JSON),
        ("XroadVnpt-hash-header", VECTOR_HASH),
        ("User-Agent", "JAVASDKAgent/1.0.0 XRoad/VPCP"),
        ("XroadVnpt-version", "3.0.201608"),
    ]


def test_the_conformance_client_reproduces_the_test_vector() -> None:
    service = SdkService("http://hub/vxp", SYSTEM, SECRET, now=MOMENT)
    service.params.put("Content-Type", "application/json")
    for key, value in LIST_PARAMS.items():
        service.params.put(key, value)
    assert service.headers() == list(sign(SYSTEM, SECRET, LIST_PARAMS, timestamp=TIMESTAMP).items())


async def test_the_hub_s_client_sends_the_test_vector_s_exact_headers() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"status": "OK", "ErrorCode": "0", "ErrorDesc": "", "data": []})

    client = AxisClient(
        "http://axis",
        SYSTEM,
        SECRET,
        transport=httpx.MockTransport(answer),
        time_zone=HCM,
        clock=lambda: MOMENT,
    )
    async with client:
        assert await client.received() == []
    [request] = seen
    sent = [
        (name, value)
        for name, value in request.headers.multi_items()
        if name.lower().startswith("xroadvnpt-")
    ]
    assert sent == [
        (n.lower(), v)
        for n, v in sign(SYSTEM, SECRET, LIST_PARAMS, timestamp=TIMESTAMP).items()
        if n.startswith("XroadVnpt-")
    ]
    assert request.headers["XroadVnpt-sign-header"] == VECTOR_JSON
    assert request.headers["XroadVnpt-hash-header"] == VECTOR_HASH
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == "JAVASDKAgent/1.0.0 XRoad/VPCP"
    assert (request.method, request.url.path, request.content) == ("POST", "/getReceivedEdocList", b"")


@pytest.mark.parametrize(
    ("keys", "order"),
    [
        ([], "systemid;timestamp;Content-Type"),
        (["servicetype", "messagetype"], "systemid;servicetype;messagetype;timestamp;Content-Type"),
        (
            ["servicetype", "messagetype", "docId"],
            "systemid;servicetype;messagetype;docId;timestamp;Content-Type",
        ),
        (
            ["from", "servicetype", "messagetype", "hash-file"],
            "systemid;servicetype;messagetype;hash-file;from;timestamp;Content-Type",
        ),
        (
            ["from", "to", "servicetype", "messagetype", "hash-file"],
            "systemid;servicetype;messagetype;hash-file;from;to;timestamp;Content-Type",
        ),
        (["docId", "filePath"], "systemid;docId;filePath;timestamp;Content-Type"),
        (["docid", "status"], "systemid;docid;timestamp;Content-Type;status"),
        (["docId", "status"], "systemid;docId;timestamp;Content-Type;status"),
    ],
)
def test_the_observed_sdk_key_orders(keys: list[str], order: str) -> None:
    """vxp-sdk.md §1's table: the SDK puts timestamp and systemid, then Content-Type, then the keys."""
    assert ";".join(java_hash_map_order(["timestamp", "systemid", "Content-Type", *keys])) == order
    headers = sign(SYSTEM, SECRET, dict.fromkeys(keys, "x"), timestamp=TIMESTAMP)
    assert headers["XroadVnpt-sign-header-key"] == order


@given(st.lists(st.text(min_size=1, max_size=12), max_size=40))
def test_hash_map_order_agrees_with_the_conformance_client(keys: list[str]) -> None:
    reference = JavaHashMap()
    for key in keys:
        reference.put(key, "")
    assert java_hash_map_order(keys) == [key for key, _ in reference.entries()]


@given(st.text(max_size=30))
def test_gson_escaping_agrees_with_the_conformance_client(text: str) -> None:
    assert gson_json([("k", text)]) == "{" + gson_string("k") + ":" + gson_string(text) + "}"


def test_gson_escapes_only_what_gson_escapes() -> None:
    text = "a\"b\\c\n\t\x01<>&='/Việt\u2028"
    assert gson_json([("k", text)]) == '{"k":"a\\"b\\\\c\\n\\t\\u0001<>&=\'/Việt\\u2028"}'


def test_hash_file_drops_zero_padding() -> None:
    content = b"x" * 5855
    digest = hashlib.sha256(content).digest()
    assert file_hash(content) == "".join(f"{byte:x}" for byte in digest) == sdk_hash_file(content)
    assert len(file_hash(content)) < 64  # this file's digest has bytes below 0x10
    # SHA-256("abc") = ba7816bf 8f01cfea … b00361a3 … f20015ad: 01, 03 and 00 lose their leading zero
    assert file_hash(b"abc") == "ba7816bf8f1cfea414140de5dae2223b0361a396177a9cb410ff61f2015ad"


def test_sdk_timestamps_read_in_the_hub_s_zone() -> None:
    assert parse_sdk_timestamp(TIMESTAMP, HCM) == MOMENT
    assert parse_sdk_timestamp(TIMESTAMP, HCM) == datetime(2024, 3, 5, 7, 25, 30, 123_000, tzinfo=UTC)
    for wrong in ("1790000000000", "2024-03-05T14:25:30", "32032024T142530+0123", "05032024T142530+1000"):
        assert parse_sdk_timestamp(wrong, HCM) is None


# --- a server reads what the SDK sends --------------------------------------------------------------


def test_a_signed_request_reads_back_and_verifies() -> None:
    request = read_request(as_received(signed()))
    assert (request.system_id, request.timestamp) == (SYSTEM, TIMESTAMP)
    assert dict(request.params) == {
        "systemid": SYSTEM,
        "docId": "abc123",
        "timestamp": TIMESTAMP,
        "Content-Type": "application/json",
    }
    assert request.param("DOCID") == request.param("docId") == "abc123"
    assert request.param("status") is None
    verify(request, SECRET)


def test_any_key_order_is_verified_as_received() -> None:
    values = json.loads(signed()[PREFIX + "sign-header"])
    reordered = json.dumps(dict(reversed(values.items())), separators=(",", ":"))
    names = ";".join(reversed(signed()[PREFIX + "sign-header-key"].split(";")))
    request = read_request(resigned(signed(), reordered, key=names))
    verify(request, SECRET)


def test_a_reused_sdk_object_s_leftovers_and_both_spellings_of_docid() -> None:
    service = SdkService("http://hub/vxp", SYSTEM, SECRET, now=MOMENT)
    for key, value in (("Content-Type", "application/json"), ("docId", "A1"), ("filePath", "C:/edoc")):
        service.params.put(key, value)
    service.params.put("docid", "A1")
    service.params.put("status", "done")
    request = read_request(as_received(service.headers()))
    verify(request, SECRET)
    assert request.param("docId") == "A1"
    service.params.put("docid", "B2")  # this call's document, while docId is left from an earlier one
    request = read_request(as_received(service.headers()))
    verify(request, SECRET)
    description = refused(ErrorCode.INVALID_REQUEST, lambda: request.param("docid"))
    assert "XroadVnpt-docId='A1'" in description and "XroadVnpt-docid='B2'" in description
    # An operation that reads takes the spelling the SDK uses for it (getEdoc's docId).
    assert request.param("docId", spelled=True) == "A1"
    assert request.param("docid", spelled=True) == "B2"


def test_non_ascii_values_are_signed_over_their_utf8_bytes() -> None:
    service = SdkService("http://hub/vxp", SYSTEM, SECRET, now=MOMENT)
    service.params.put("Content-Type", "application/json")
    service.params.put("note", 'Văn bản "gấp" <số 1>')
    request = read_request(as_received(service.headers()))
    verify(request, SECRET)
    assert request.param("note") == 'Văn bản "gấp" <số 1>'


def test_version_may_be_unsigned_other_headers_are_not_the_scheme_s_business() -> None:
    headers = {**signed(), "X-Request-Id": "1"}
    assert PREFIX + "version" in headers and "version" not in headers[PREFIX + "sign-header-key"]
    read_request(headers)


# --- refusals: structure ----------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["sign-header-key", "sign-header", "hash-header"])
def test_a_missing_signing_header_is_15(header: str) -> None:
    headers = signed()
    del headers[PREFIX + header]
    assert "is missing" in refused(ErrorCode.BAD_CREDENTIALS, lambda: read_request(headers))


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("hash-header", "not-hex"),
        ("hash-header", VECTOR_HASH.upper()),
        ("sign-header", "not json"),
        ("sign-header", '[["XroadVnpt-systemid","x"]]'),
        ("sign-header", '{"XroadVnpt-systemid":"a","XroadVnpt-timestamp":1}'),
        ("sign-header", '{"XroadVnpt-systemid":"a","XroadVnpt-systemid":"b"}'),
        ("sign-header-key", "systemid;;timestamp;docId"),
        ("sign-header-key", "systemid;docId;timestamp;Content-Type;docId"),
    ],
)
def test_a_malformed_signing_header_is_15(header: str, value: str) -> None:
    headers = signed()
    headers[PREFIX + header] = value
    refused(ErrorCode.BAD_CREDENTIALS, lambda: read_request(headers))


def test_unprefixed_json_keys_are_15_and_say_so() -> None:
    """The earlier misreading: `{"systemid": …}`. The SDK prefixes every key."""
    values = {
        key.removeprefix(PREFIX): value for key, value in json.loads(signed()[PREFIX + "sign-header"]).items()
    }
    changed = resigned(signed(), json.dumps(values, separators=(",", ":")))
    assert "prefix" in refused(ErrorCode.BAD_CREDENTIALS, lambda: read_request(changed))


def test_a_millisecond_timestamp_is_15() -> None:
    """The earlier misreading, removed: milliseconds since the epoch."""
    headers = signed(timestamp="1790000000000")
    assert "ddMMyyyy'T'HHmmss+SSSS" in refused(ErrorCode.BAD_CREDENTIALS, lambda: read_request(headers))


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
    assert "does not match" in refused(ErrorCode.BAD_CREDENTIALS, lambda: verify(request, SECRET))


def test_an_unsigned_parameter_header_is_15() -> None:
    headers = signed()
    headers[PREFIX + "status"] = "done"
    assert "XroadVnpt-status is not signed" in refused(
        ErrorCode.BAD_CREDENTIALS, lambda: read_request(headers)
    )


def test_an_extra_copy_of_a_signed_header_is_15() -> None:
    raw = [*signed().items(), (PREFIX + "docid", "another-document")]
    refused(ErrorCode.BAD_CREDENTIALS, lambda: read_request(as_received(raw)))


def test_a_signed_header_that_is_not_sent_is_15() -> None:
    headers = signed()
    del headers[PREFIX + "docId"]
    assert "not sent" in refused(ErrorCode.BAD_CREDENTIALS, lambda: read_request(headers))


def test_json_and_sign_header_key_naming_different_keys_is_15() -> None:
    headers = signed()
    headers[PREFIX + "sign-header-key"] = "systemid;timestamp;Content-Type"
    assert "different" in refused(ErrorCode.BAD_CREDENTIALS, lambda: read_request(headers))


@pytest.mark.parametrize("unsigned", ["systemid", "timestamp"])
def test_systemid_and_timestamp_must_be_signed(unsigned: str) -> None:
    headers = signed()
    values = json.loads(headers[PREFIX + "sign-header"])
    del values[PREFIX + unsigned]
    key = ";".join(name.removeprefix(PREFIX) for name in values)
    changed = resigned(headers, json.dumps(values, separators=(",", ":")), key=key)
    del changed[PREFIX + unsigned]
    assert f"{unsigned} is not signed" in refused(ErrorCode.BAD_CREDENTIALS, lambda: read_request(changed))


def test_a_wrong_secret_is_15_and_says_nothing_of_the_right_one() -> None:
    request = read_request(signed())
    description = refused(ErrorCode.BAD_CREDENTIALS, lambda: verify(request, "wrong"))
    expected = hmac.new(b"wrong", request.signed_json.encode(), hashlib.sha256).hexdigest()
    assert SECRET not in description and expected not in description and request.signature not in description


@pytest.mark.parametrize(
    ("skew", "accepted"),
    [(0, True), (300, True), (301, False), (-300, True), (-301, False)],
    ids=["now", "future edge", "future", "stale edge", "stale"],
)
def test_strict_mode_s_freshness_window_holds_both_ways(skew: int, accepted: bool) -> None:
    request = read_request(signed(timestamp=sdk_timestamp(MOMENT + timedelta(seconds=skew))))
    if accepted:
        check_fresh(request, now=MOMENT, zone=HCM)
        return
    description = refused(ErrorCode.BAD_CREDENTIALS, lambda: check_fresh(request, now=MOMENT, zone=HCM))
    assert ("ahead of" if skew > 0 else "behind") in description and "strict mode" in description


def test_the_zone_decides_what_a_timestamp_means() -> None:
    request = read_request(signed())
    check_fresh(request, now=MOMENT.astimezone(UTC), zone=HCM)
    refused(ErrorCode.BAD_CREDENTIALS, lambda: check_fresh(request, now=MOMENT, zone=UTC))  # 7 h apart


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"systemid": "other"}, "reserved"),
        ({"Timestamp": "1"}, "reserved"),
        ({"content-type": "text/plain"}, "reserved"),
        ({"docId": "a", "DOCID": "b"}, "twice"),
        ({"doc id": "a"}, "not an HTTP header name"),
        ({"docId": "Văn bản"}, "printable ASCII"),
        ({"docId": "a\r\nX-Injected: 1"}, "printable ASCII"),
    ],
)
def test_sign_refuses_what_http_would_not_carry_unchanged(params: dict[str, str], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        sign(SYSTEM, SECRET, params, timestamp=TIMESTAMP)


names = st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,19}", fullmatch=True).filter(
    lambda name: (
        name.lower()
        not in {
            "systemid",
            "timestamp",
            "content-type",
            "version",
            "sign-header-key",
            "sign-header",
            "hash-header",
        }
    )
)
values = st.from_regex(r"([\x21-\x7e]([\x20-\x7e]{0,40}[\x21-\x7e])?)?", fullmatch=True)


@given(st.dictionaries(names, values, max_size=14).filter(lambda d: len({k.lower() for k in d}) == len(d)))
def test_any_parameters_round_trip(params: dict[str, str]) -> None:
    headers = sign(SYSTEM, SECRET, params, timestamp=TIMESTAMP)
    for received in (as_received(headers), httpx.Headers(headers)):
        request = read_request(received)
        verify(request, SECRET)
        assert {name: request.param(name) for name in params} == params


# --- answers ----------------------------------------------------------------------------------------


def test_answers_have_the_sdk_s_shape() -> None:
    assert ok(DocId="abc") == {"status": "OK", "ErrorCode": "0", "ErrorDesc": "", "DocId": "abc"}
    assert failure(ErrorCode.UNKNOWN_RECIPIENT, "not in the directory") == {
        "status": "FAIL",
        "ErrorCode": "18",
        "ErrorDesc": "not in the directory",
    }
    # The SDK reads DocId even from a failed sendEdoc, and throws without it.
    assert failure(ErrorCode.NOT_EDXML, "bad", "sendEdoc")["DocId"] == ""
    assert ascii_json({"ErrorDesc": "Không hợp lệ"}) == b'{"ErrorDesc":"Kh\\u00f4ng h\\u1ee3p l\\u1ec7"}'


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


def test_description_is_percent_encoded_utf8() -> None:
    text = "Đã tiếp nhận; chuyển Phòng Hành chính 100%"
    encoded = encode_description(text)
    assert encoded.isascii() and " " not in encoded and ";" not in encoded
    assert decode_description(encoded) == text
    refused(ErrorCode.INVALID_REQUEST, lambda: decode_description("%C3%28"))


# --- the hub's client -------------------------------------------------------------------------------


async def calls_of(action: Callable[[AxisClient], object], body: dict[str, object]) -> list[httpx.Request]:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"status": "OK", "ErrorCode": "0", "ErrorDesc": "", **body})

    async with AxisClient("http://axis", SYSTEM, SECRET, transport=httpx.MockTransport(answer)) as client:
        await action(client)  # type: ignore[misc]
    return seen


@pytest.mark.parametrize(
    ("call", "answer", "path", "order", "content_type", "body"),
    [
        (
            lambda c: c.send_edoc(b"<edXML/>", from_code="000.00.01.H62"),
            {"DocId": "x"},
            "/sendEdoc",
            "systemid;servicetype;messagetype;hash-file;from;timestamp;Content-Type",
            "application/octet-stream",
            b"<edXML/>\r\n",
        ),
        (
            lambda c: c.get_edoc("d1"),
            {"data": base64.b64encode(b"<edXML/>").decode()},
            "/getEdoc",
            "systemid;docId;filePath;timestamp;Content-Type",
            "application/json",
            b"{}",
        ),
        (
            lambda c: c.update_status("d1", "done"),
            {},
            "/updateStatus",
            "systemid;docid;timestamp;Content-Type;status",
            "application/json",
            b"{}",
        ),
        (
            lambda c: c.get_sent_edoc_list("d1"),
            {"data": []},
            "/getSentEdocList",
            "systemid;servicetype;messagetype;docId;timestamp;Content-Type",
            "application/json",
            b"",
        ),
        (
            lambda c: c.agencies(),
            {"data": []},
            "/getAgenciesList",
            "systemid;timestamp;Content-Type",
            "application/json",
            b"",
        ),
        (
            lambda c: c.count_received("status"),
            {"count": 0},
            "/countReceiveStatus",
            "systemid;timestamp;Content-Type",
            "application/json",
            b"{}",
        ),
    ],
    ids=["sendEdoc", "getEdoc", "updateStatus", "getSentEdocList", "getAgenciesList", "countReceiveStatus"],
)
async def test_the_hub_s_client_calls_as_the_sdk_does(
    call: Callable[[AxisClient], object],
    answer: dict[str, object],
    path: str,
    order: str,
    content_type: str,
    body: bytes,
) -> None:
    [request] = await calls_of(call, answer)
    assert request.url.path == path
    assert request.headers["XroadVnpt-sign-header-key"] == order
    assert request.headers["content-type"] == request.headers["XroadVnpt-Content-Type"] == content_type
    assert request.content == body
    verify(read_request(request.headers), SECRET)
    if path == "/sendEdoc":
        assert request.headers["XroadVnpt-hash-file"] == file_hash(b"<edXML/>")


async def test_each_call_is_signed_afresh() -> None:
    seen = await calls_of(lambda client: _five_lists(client), {"data": []})
    assert len({request.headers["XroadVnpt-hash-header"] for request in seen}) == 5
    moments = [parse_sdk_timestamp(request.headers["XroadVnpt-timestamp"], HCM) for request in seen]
    assert moments == sorted(set(moments))  # type: ignore[type-var]


async def _five_lists(client: AxisClient) -> None:
    for _ in range(5):
        await client.received()


async def test_the_client_reads_the_sent_list_in_the_sdk_s_fields() -> None:
    row = {
        "serviceType": "eDoc",
        "receiverDocId": "r1",
        "toCode": "000.00.02.H62",
        "receiveStatus": "03",
        "title": "V/v thử",
        "messageType": "edoc",
        "notation": "12/UBND",
        "receivedTime": "2026/11/20 08:00:00",
        "sentTime": "2026/11/20 07:59:00",
        "sendStatus": "done",
        "sendStatusDesc": "",
        "senderDocId": "s1",
        "fromCode": "000.00.01.H62",
        "receiveStatusDesc": "đã tiếp nhận",
    }
    found: list[object] = []

    async def read(client: AxisClient) -> None:
        found.extend(await client.get_sent_edoc_list("s1"))

    await calls_of(read, {"data": [row]})
    [sent] = found
    assert (sent.to_code, sent.send_status, sent.receive_status, sent.sender_doc_id, sent.document_id) == (  # type: ignore[attr-defined]
        "000.00.02.H62",
        "done",
        "03",
        "s1",
        "",
    )


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
