"""The hub's seal: what sealing adds, that stock tools verify it, and that no change goes unnoticed."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree
from support.signing import (
    HUB_CODE,
    RSA_SHA1,
    SENDER,
    SHA1,
    edxml_document,
    hub_certificate,
    identity_valid,
    signature_template,
    signxml_sign,
    write_key_files,
    xmlsec1,
    xmlsec1_sign,
    xmlsec1_verifies,
)

from app.edxml.model import DSIG_NAMESPACE, NAMESPACE
from app.kit.clock import VIETNAM
from app.sealing.keys import KeyAlgorithm, SigningIdentity, certificate_fingerprint
from app.sealing.seal import HubCertificate, Sealer, SealingError, verify_seal

SAMPLE = Path(__file__).resolve().parents[2] / "schemas" / "samples" / "sample.edxml"
E = f"{{{NAMESPACE}}}"
DS = f"{{{DSIG_NAMESPACE}}}"
NSMAP = {"e": NAMESPACE, "ds": DSIG_NAMESPACE}


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def local(element: etree._Element) -> str:
    return etree.QName(element).localname


def header_of(root: etree._Element) -> etree._Element:
    header = root.find(f"{E}edXMLEnvelope/{E}edXMLHeader")
    assert header is not None
    return header


def serialize(root: etree._Element) -> bytes:
    data: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return data


# What sealing adds


def test_seal_appends_the_hub_trace_header_after_the_others(ec_sealer: Sealer, document: bytes) -> None:
    at = datetime(2026, 11, 27, 20, 0, 5, 123456, tzinfo=UTC)
    root = etree.fromstring(ec_sealer.seal(document, hub_code=HUB_CODE, at=at))
    trace_list = header_of(root).find(f"{E}TraceHeaderList")
    assert trace_list is not None
    assert [local(child) for child in trace_list] == ["TraceHeader", "TraceHeader", "Bussiness"]
    sender, hub = trace_list.findall(f"{E}TraceHeader")
    assert sender.findtext(f"{E}OrganId") == SENDER
    assert hub.findtext(f"{E}OrganId") == HUB_CODE
    assert hub.findtext(f"{E}Timestamp") == "2026/11/28 03:00:05"  # Vietnam time, UTC+7
    assert hub.prefix == "edXML"
    assert [c.prefix for c in hub] == ["edXML", "edXML"]


def test_default_namespace_documents_keep_their_form(ec_sealer: Sealer) -> None:
    sealed = ec_sealer.seal(edxml_document(prefix=None), hub_code=HUB_CODE, at=now())
    root = etree.fromstring(sealed)
    hub = root.findall(f".//{E}TraceHeader")[-1]
    assert hub.prefix is None
    assert b"ns0" not in sealed
    assert sealed.count(f'xmlns="{NAMESPACE}"'.encode()) == 1
    assert verify_seal(sealed, [hub_certificate(ec_sealer)]).valid


def test_missing_trace_header_list_is_created_after_the_message_header(ec_sealer: Sealer) -> None:
    sealed = ec_sealer.seal(edxml_document(trace_list=False), hub_code=HUB_CODE, at=now())
    header = header_of(etree.fromstring(sealed))
    assert [local(child) for child in header] == ["MessageHeader", "TraceHeaderList", "Signature"]
    assert [t.findtext(f"{E}OrganId") for t in header.iterfind(f"{E}TraceHeaderList/{E}TraceHeader")] == [
        HUB_CODE
    ]
    assert verify_seal(sealed, [hub_certificate(ec_sealer)]).valid


@pytest.mark.parametrize(
    ("sealer_name", "method"),
    [
        ("ec_sealer", "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"),
        ("rsa_sealer", "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"),
    ],
)
def test_the_seal_is_a_standard_enveloped_signature_right_after_trace_header_list(
    request: pytest.FixtureRequest, document: bytes, sealer_name: str, method: str
) -> None:
    sealer: Sealer = request.getfixturevalue(sealer_name)
    root = etree.fromstring(sealer.seal(document, hub_code=HUB_CODE, at=now()))
    header = header_of(root)
    assert [local(child) for child in header] == ["MessageHeader", "TraceHeaderList", "Signature"]
    signature = header[2]
    assert signature.tag == f"{DS}Signature"
    assert signature.prefix == "ds"
    assert next(root.iter(f"{DS}Signature")) is signature
    assert signature.get("Id") is None  # signxml's placeholder marker is gone
    signed_info = signature.find("ds:SignedInfo", NSMAP)
    assert signed_info is not None
    assert signed_info.find("ds:SignatureMethod", NSMAP).get("Algorithm") == method  # type: ignore[union-attr]
    assert signed_info.find("ds:CanonicalizationMethod", NSMAP).get("Algorithm") == (  # type: ignore[union-attr]
        "http://www.w3.org/2001/10/xml-exc-c14n#"
    )
    (reference,) = signed_info.findall("ds:Reference", NSMAP)
    assert reference.get("URI") == ""
    assert [t.get("Algorithm") for t in reference.iterfind("ds:Transforms/ds:Transform", NSMAP)] == [
        "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
        "http://www.w3.org/2001/10/xml-exc-c14n#",
    ]
    assert reference.find("ds:DigestMethod", NSMAP).get("Algorithm") == (  # type: ignore[union-attr]
        "http://www.w3.org/2001/04/xmlenc#sha256"
    )
    carried = signature.findtext("ds:KeyInfo/ds:X509Data/ds:X509Certificate", namespaces=NSMAP)
    assert carried is not None
    assert "".join(carried.split()) in "".join(sealer.identity.certificate_pem().split())


def test_sealed_document_is_still_a_valid_edxml_document(ec_sealer: Sealer, document: bytes) -> None:
    from app.edxml.schema import Kind, validate

    assert validate(etree.fromstring(document), Kind.DOCUMENT) == []
    sealed = etree.fromstring(ec_sealer.seal(document, hub_code=HUB_CODE, at=now()))
    assert validate(sealed, Kind.DOCUMENT) == []


def test_the_official_sample_seals_and_verifies(ec_sealer: Sealer, workdir: Path) -> None:
    if not SAMPLE.exists():
        pytest.skip("schemas/samples/sample.edxml is not written yet")
    from app.edxml.schema import Kind, validate

    sealed = ec_sealer.seal(SAMPLE.read_bytes(), hub_code=HUB_CODE, at=now())
    assert validate(etree.fromstring(sealed), Kind.DOCUMENT) == []
    assert verify_seal(sealed, [hub_certificate(ec_sealer)]).valid
    _, cert = write_key_files(workdir, ec_sealer.identity)
    assert xmlsec1_verifies(sealed, cert, workdir)


def test_seal_refuses_what_is_not_an_edxml_document(ec_sealer: Sealer) -> None:
    with pytest.raises(SealingError, match="edXMLHeader"):
        ec_sealer.seal(b"<other/>", hub_code=HUB_CODE, at=now())
    with pytest.raises(SealingError, match="well-formed"):
        ec_sealer.seal(b"<edXML", hub_code=HUB_CODE, at=now())
    with pytest.raises(SealingError, match="DTD"):
        ec_sealer.seal(b'<!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>', hub_code=HUB_CODE, at=now())
    with pytest.raises(ValueError, match="timezone"):
        ec_sealer.seal(edxml_document(), hub_code=HUB_CODE, at=datetime(2026, 1, 1))


def test_seal_refuses_two_trace_header_lists(ec_sealer: Sealer) -> None:
    """Otherwise a second list could carry a TraceHeader that a reader takes for the hub's."""
    second = "<edXML:TraceHeaderList><edXML:TraceHeader><edXML:OrganId>X</edXML:OrganId></edXML:TraceHeader>"
    with pytest.raises(SealingError, match="2 TraceHeaderList"):
        ec_sealer.seal(
            edxml_document(header_extra=second + "</edXML:TraceHeaderList>"), hub_code=HUB_CODE, at=now()
        )


def test_seal_refuses_a_signature_placed_before_its_own(ec_sealer: Sealer, document: bytes) -> None:
    root = etree.fromstring(document)
    message_header = header_of(root).find(f"{E}MessageHeader")
    assert message_header is not None
    etree.SubElement(message_header, f"{DS}Signature", nsmap={"ds": DSIG_NAMESPACE})
    with pytest.raises(SealingError, match="first signature") as refused:
        ec_sealer.seal(serialize(root), hub_code=HUB_CODE, at=now())
    assert refused.value.status == 422
    assert [p.path for p in refused.value.errors] == [
        "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/Signature"
    ]


# Verification


@pytest.mark.parametrize("sealer_name", ["ec_sealer", "rsa_sealer"])
def test_verify_seal_names_the_key_and_the_time(
    request: pytest.FixtureRequest, document: bytes, ec_sealer: Sealer, rsa_sealer: Sealer, sealer_name: str
) -> None:
    sealer: Sealer = request.getfixturevalue(sealer_name)
    at = now()
    check = verify_seal(
        sealer.seal(document, hub_code=HUB_CODE, at=at),
        [hub_certificate(ec_sealer), hub_certificate(rsa_sealer)],
    )
    assert check.valid, check.reason
    assert check.reason == "valid"
    assert check.key_id == sealer.key_id
    assert check.fingerprint == sealer.fingerprint
    assert check.signed_at == at.astimezone(VIETNAM)
    assert check.subject is not None
    assert f"Liên Thông hub {HUB_CODE}" in check.subject


@pytest.mark.parametrize("sealer_name", ["ec_sealer", "rsa_sealer"])
def test_xmlsec1_verifies_the_seal_given_the_hub_certificate(
    request: pytest.FixtureRequest,
    document: bytes,
    other_identity: SigningIdentity,
    workdir: Path,
    sealer_name: str,
) -> None:
    sealer: Sealer = request.getfixturevalue(sealer_name)
    sealed = sealer.seal(document, hub_code=HUB_CODE, at=now())
    _, cert = write_key_files(workdir, sealer.identity, "hub")
    path = workdir / "sealed.edxml"
    path.write_bytes(sealed)
    result = xmlsec1("--verify", "--trusted-pem", cert, path)
    assert result.returncode == 0, result.stderr
    assert "SignedInfo References (ok/all): 1/1" in result.stderr
    # Trusting another certificate instead, xmlsec1 refuses: the check above means something.
    _, other = write_key_files(workdir, other_identity, "other")
    assert xmlsec1("--verify", "--trusted-pem", other, path).returncode != 0


def test_a_seal_by_an_unknown_key_is_refused(
    ec_sealer: Sealer, rsa_sealer: Sealer, other_identity: SigningIdentity, document: bytes
) -> None:
    forger = Sealer(other_identity, key_id="forger")
    check = verify_seal(forger.seal(document, hub_code=HUB_CODE, at=now()), [hub_certificate(ec_sealer)])
    assert not check.valid
    assert "not one of this hub's" in check.reason
    assert check.fingerprint == forger.fingerprint
    # The hub's certificate swapped into KeyInfo does not help: the signature is not its key's.
    sealed = etree.fromstring(forger.seal(document, hub_code=HUB_CODE, at=now()))
    carried = sealed.find(".//ds:X509Certificate", NSMAP)
    assert carried is not None
    carried.text = "".join(ec_sealer.identity.certificate_pem().splitlines()[1:-1])
    check = verify_seal(serialize(sealed), [hub_certificate(ec_sealer)])
    assert not check.valid
    assert "signature value does not match" in check.reason


def test_an_unsealed_document_has_no_seal(ec_sealer: Sealer, document: bytes) -> None:
    check = verify_seal(document, [hub_certificate(ec_sealer)])
    assert not check.valid
    assert "no seal" in check.reason
    assert not verify_seal(b"not xml", [hub_certificate(ec_sealer)]).valid


def test_a_sha1_seal_is_refused_even_when_xmlsec1_accepts_it(ec_sealer: Sealer, workdir: Path) -> None:
    rsa_hub = identity_valid(-1, 30)
    trace = (
        f"<edXML:TraceHeaderList><edXML:TraceHeader><edXML:OrganId>{HUB_CODE}</edXML:OrganId>"
        f"<edXML:Timestamp>{now().astimezone(VIETNAM):%Y/%m/%d %H:%M:%S}</edXML:Timestamp>"
        "</edXML:TraceHeader></edXML:TraceHeaderList>"
    )
    template = edxml_document(trace_list=False, header_extra=trace + signature_template(RSA_SHA1, SHA1))
    signed = xmlsec1_sign(template, rsa_hub, workdir)
    _, cert = write_key_files(workdir, rsa_hub, "sha1-hub")
    assert xmlsec1_verifies(signed, cert, workdir)
    known = HubCertificate("sha1", rsa_hub.certificate, certificate_fingerprint(rsa_hub.certificate))
    check = verify_seal(signed, [known])
    assert not check.valid
    assert check.reason == "SHA-1 is not accepted"


def test_documents_sealed_while_the_certificate_was_valid_still_verify_after_it_expired(
    document: bytes,
) -> None:
    expired = identity_valid(-10, -1, KeyAlgorithm.ECDSA_P256)
    sealer = Sealer(expired, key_id="old")
    known = [hub_certificate(sealer)]
    during = verify_seal(sealer.seal(document, hub_code=HUB_CODE, at=now() - timedelta(days=5)), known)
    assert during.valid, during.reason
    after = verify_seal(sealer.seal(document, hub_code=HUB_CODE, at=now()), known)
    assert not after.valid
    assert "not valid at the seal time" in after.reason


# Any change is detected, by xmlsec1 and by verify_seal


def _changed(text: str) -> str:
    """The same text with its first letter or digit replaced by another of the same kind (so base64
    stays base64 and a date stays a date), or with a character added when it has none."""
    for index, char in enumerate(text):
        if char.isdigit():
            return text[:index] + str((int(char) + 1) % 10) + text[index + 1 :]
        if char.isascii() and char.isalpha():
            base = ord("a") if char.islower() else ord("A")
            return text[:index] + chr(base + (ord(char) - base + 1) % 26) + text[index + 1 :]
    return text + "x"


def _single_changes(sealed: bytes) -> Iterator[tuple[str, bytes]]:
    """Every variant of `sealed` with exactly one element text or attribute value changed."""
    originals = list(etree.fromstring(sealed).iter(etree.Element))
    for position, original in enumerate(originals):
        path = original.getroottree().getpath(original)
        changes: list[str | None] = list(original.keys())
        if original.text is not None and original.text.strip():
            changes.insert(0, None)  # None: the element's text
        for attribute in changes:
            root = etree.fromstring(sealed)
            element = list(root.iter(etree.Element))[position]
            if attribute is None:
                element.text = _changed(element.text or "")
                yield f"{path}/text()", serialize(root)
            else:
                element.set(attribute, _changed(element.get(attribute, "")))
                yield f"{path}/@{attribute}", serialize(root)


@pytest.mark.parametrize("sealer_name", ["ec_sealer", "rsa_sealer"])
def test_changing_any_single_value_breaks_the_seal(
    request: pytest.FixtureRequest, document: bytes, workdir: Path, sealer_name: str
) -> None:
    sealer: Sealer = request.getfixturevalue(sealer_name)
    sealed = sealer.seal(document, hub_code=HUB_CODE, at=now())
    known = [hub_certificate(sealer)]
    _, cert = write_key_files(workdir, sealer.identity, "hub")
    # Control: parsing and serialising again without a change keeps the seal valid for both tools.
    untouched = serialize(etree.fromstring(sealed))
    assert verify_seal(untouched, known).valid
    assert xmlsec1_verifies(untouched, cert, workdir)

    variants = dict(_single_changes(sealed))
    covered = " ".join(variants)
    for part in (
        "MessageHeader",
        "TraceHeader",
        "edXMLBody",
        "ContentTransferEncoded",
        "ds:SignatureValue",
        "@URI",
    ):
        assert part in covered, part
    survivors = [where for where, data in variants.items() if verify_seal(data, known).valid]
    assert survivors == []
    accepted_by_xmlsec1 = [where for where, data in variants.items() if xmlsec1_verifies(data, cert, workdir)]
    assert accepted_by_xmlsec1 == []


def test_changing_the_sender_signature_inside_a_sealed_document_breaks_the_seal(
    ec_sealer: Sealer, agency_identity: SigningIdentity, document: bytes
) -> None:
    signed_by_sender = signxml_sign(document, agency_identity)
    sealed = ec_sealer.seal(signed_by_sender, hub_code=HUB_CODE, at=now())
    root = etree.fromstring(sealed)
    hub_seal, sender_signature = header_of(root).findall(f"{DS}Signature")
    assert next(root.iter(f"{DS}Signature")) is hub_seal
    assert verify_seal(sealed, [hub_certificate(ec_sealer)]).valid
    value = sender_signature.find("ds:SignatureValue", NSMAP)
    assert value is not None and value.text is not None
    value.text = _changed(value.text)
    assert not verify_seal(serialize(root), [hub_certificate(ec_sealer)]).valid


# Signature wrapping


def test_signed_content_moved_away_and_replaced_is_refused(
    ec_sealer: Sealer, document: bytes, workdir: Path
) -> None:
    """The classic wrapping: the signed content is moved into the signature's own ds:Object, and a
    forged, unsigned envelope takes its place."""
    sealed = ec_sealer.seal(document, hub_code=HUB_CODE, at=now())
    root = etree.fromstring(sealed)
    envelope = root.find(f"{E}edXMLEnvelope")
    assert envelope is not None
    signature = header_of(root).find(f"{DS}Signature")
    assert signature is not None
    original = copy.deepcopy(envelope)
    subject = envelope.find(f".//{E}Subject")
    assert subject is not None
    subject.text = "Giả mạo: nội dung không được ký"
    wrapper = etree.SubElement(signature, f"{DS}Object")
    wrapper.append(original)
    wrapped = serialize(root)
    check = verify_seal(wrapped, [hub_certificate(ec_sealer)])
    assert not check.valid
    assert "digest mismatch" in check.reason
    _, cert = write_key_files(workdir, ec_sealer.identity, "hub")
    assert not xmlsec1_verifies(wrapped, cert, workdir)


def test_a_forged_signature_placed_first_is_refused(
    ec_sealer: Sealer, other_identity: SigningIdentity, document: bytes
) -> None:
    """A forger seals a forged document with their own key and keeps the hub's seal after it."""
    sealed = etree.fromstring(ec_sealer.seal(document, hub_code=HUB_CODE, at=now()))
    hub_seal = header_of(sealed).find(f"{DS}Signature")
    assert hub_seal is not None
    forged = etree.fromstring(
        Sealer(other_identity, key_id="f").seal(
            edxml_document(subject="Giả mạo"), hub_code=HUB_CODE, at=now()
        )
    )
    header_of(forged).append(hub_seal)
    check = verify_seal(serialize(forged), [hub_certificate(ec_sealer)])
    assert not check.valid
    assert "not one of this hub's" in check.reason


def test_a_signature_ahead_of_the_seal_is_refused(ec_sealer: Sealer, document: bytes) -> None:
    root = etree.fromstring(ec_sealer.seal(document, hub_code=HUB_CODE, at=now()))
    seal = header_of(root).find(f"{DS}Signature")
    assert seal is not None
    message_header = header_of(root).find(f"{E}MessageHeader")
    assert message_header is not None
    message_header.append(copy.deepcopy(seal))
    check = verify_seal(serialize(root), [hub_certificate(ec_sealer)])
    assert not check.valid
    assert "before the seal" in check.reason


# Load


def test_one_sealer_is_safe_to_share_between_threads(ec_sealer: Sealer) -> None:
    documents = [edxml_document(subject=f"Văn bản số {n}") for n in range(64)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        sealed = list(pool.map(lambda d: ec_sealer.seal(d, hub_code=HUB_CODE, at=now()), documents))
        checks = list(pool.map(lambda s: verify_seal(s, [hub_certificate(ec_sealer)]), sealed))
    assert all(c.valid for c in checks), [c.reason for c in checks if not c.valid]
    subjects = [etree.fromstring(s).findtext(f".//{E}Subject") for s in sealed]
    assert subjects == [f"Văn bản số {n}" for n in range(64)]


@pytest.mark.slow
def test_a_large_inline_attachment_seals_and_verifies(ec_sealer: Sealer) -> None:
    large = edxml_document(attachment=bytes(9 * 1024 * 1024))  # base64: a 12 MB text node
    sealed = ec_sealer.seal(large, hub_code=HUB_CODE, at=now())
    assert verify_seal(sealed, [hub_certificate(ec_sealer)]).valid
