"""The hub's own XML signer (lxml's exclusive c14n and `cryptography` on the parsed tree) against
signxml's signer, signxml's verifier and xmlsec1, over documents of many shapes."""

from __future__ import annotations

import base64
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from lxml import etree
from support.signing import HUB_CODE, edxml_document, hub_certificate, write_key_files, xmlsec1

from app.edxml import lifting
from app.edxml.model import DSIG_NAMESPACE, NAMESPACE
from app.sealing import seal
from app.sealing.keys import SigningIdentity
from app.sealing.seal import Sealer, parse_document, verify_seal

SAMPLE = Path(__file__).resolve().parents[2] / "schemas" / "samples" / "sample.edxml"

# Characters XML 1.0 allows, including the three whitespace controls and characters outside the BMP.
xml_text = st.text(
    st.characters(
        codec="utf-8",
        exclude_categories=("Cs",),
        exclude_characters="\ufffe\uffff",
    ).filter(lambda c: c in "\t\n\r" or ord(c) >= 0x20),
    max_size=40,
)
prefixes = st.from_regex(r"[a-z][a-z0-9]{0,5}", fullmatch=True).filter(
    lambda p: not p.startswith("xml") and p != "ds"
)
namespace_uris = st.sampled_from(["urn:x-lienthong:ext", "http://example.org/a", "urn:oid:1.2.704", "urn:b"])


def now() -> datetime:
    """A seal time within the session's certificates' validity (they start a few minutes back)."""
    return datetime.now(UTC).replace(microsecond=0)


def text_node(value: str) -> str:
    # A carriage return survives parsing only as a character reference.
    return escape(value).replace("\r", "&#13;")


def attribute(value: str) -> str:
    # Whitespace controls in attribute values survive attribute normalisation only as references.
    quoted = quoteattr(value)
    return quoted.replace("\t", "&#9;").replace("\n", "&#10;").replace("\r", "&#13;")


ATTACHMENTS = st.lists(st.binary(max_size=3000), max_size=3)


@st.composite
def documents(draw: st.DrawFn, files: st.SearchStrategy[list[bytes]] = ATTACHMENTS) -> bytes:
    """An edXML document message: the edXML namespace under a drawn prefix or as the default one,
    unused and foreign namespaces declared here and there, attributes and text with any XML
    character, foreign extension elements, comments, and 0–3 inline attachments (base64 on one
    line or wrapped at 76 columns)."""
    prefix = draw(st.one_of(st.none(), st.just("edXML"), prefixes))
    p = f"{prefix}:" if prefix else ""
    declarations = [f'xmlns:{prefix}="{NAMESPACE}"' if prefix else f'xmlns="{NAMESPACE}"']
    extra = draw(st.dictionaries(prefixes.filter(lambda x: x != prefix), namespace_uris, max_size=3))
    declarations += [f'xmlns:{name}="{uri}"' for name, uri in extra.items()]
    if draw(st.booleans()):
        declarations.append(f'xmlns:ds="{DSIG_NAMESPACE}"')  # declared early, used only by the seal
    foreign_prefix = draw(prefixes.filter(lambda x: x != prefix))
    foreign_uri = draw(namespace_uris)
    foreign = (
        f"<{foreign_prefix}:Note xmlns:{foreign_prefix}={attribute(foreign_uri)} "
        f"{foreign_prefix}:kind={attribute(draw(xml_text))} plain={attribute(draw(xml_text))}>"
        f"{text_node(draw(xml_text))}<!--{draw(st.from_regex(r'[a-z ]{0,12}', fullmatch=True))}-->"
        f"</{foreign_prefix}:Note>"
    )
    attachments = draw(files)
    wrapped = draw(st.booleans())

    def encoded(content: bytes) -> str:
        data = base64.b64encode(content).decode()
        return "\n".join(data[i : i + 76] for i in range(0, len(data), 76)) if wrapped else data

    references = "".join(
        f"<{p}Reference><{p}ContentId>cid:a{i}</{p}ContentId></{p}Reference>" for i in range(len(attachments))
    )
    encoded_attachments = "".join(
        f"<{p}Attachment><{p}ContentId>a{i}</{p}ContentId>"
        f"<{p}ContentTransferEncoded>{encoded(content)}</{p}ContentTransferEncoded></{p}Attachment>"
        for i, content in enumerate(attachments)
    )
    leading_comment = "<!-- trước gốc -->\n" if draw(st.booleans()) else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
{leading_comment}<{p}edXML {" ".join(declarations)}>
  <{p}edXMLEnvelope>
    <{p}edXMLHeader>
      <{p}MessageHeader>
        <{p}From><{p}OrganId>000.00.01.H62</{p}OrganId><{p}OrganName>{text_node(draw(xml_text))}</{p}OrganName></{p}From>
        <{p}To><{p}OrganId>000.00.02.H62</{p}OrganId></{p}To>
        <{p}Subject lang={attribute(draw(xml_text))}>{text_node(draw(xml_text))}</{p}Subject>
      </{p}MessageHeader>
      <{p}TraceHeaderList><{p}TraceHeader><{p}OrganId>000.00.01.H62</{p}OrganId>
        <{p}Timestamp>2026/11/27 09:29:00</{p}Timestamp></{p}TraceHeader></{p}TraceHeaderList>
    </{p}edXMLHeader>
    <{p}edXMLBody>
      <{p}edXMLManifest version={attribute(draw(xml_text))}>{references}</{p}edXMLManifest>
      {foreign}
    </{p}edXMLBody>
  </{p}edXMLEnvelope>
  <{p}AttachmentEncoded>{encoded_attachments}</{p}AttachmentEncoded>
</{p}edXML>
""".encode()


def signxml_accepts(sealed: bytes, sealer: Sealer) -> bool:
    check = verify_seal(sealed, [hub_certificate(sealer)])
    return check.valid and check.reason == "valid"


def xmlsec1_accepts(sealed: bytes, identity: SigningIdentity, directory: Path) -> bool:
    _, cert = write_key_files(directory, identity, "hub")
    path = directory / "sealed.xml"
    path.write_bytes(sealed)
    result = xmlsec1("--verify", "--trusted-pem", cert, path)
    return result.returncode == 0 and "SignedInfo References (ok/all): 1/1" in result.stderr


def test_with_an_rsa_key_the_seal_is_byte_for_byte_signxml_s(rsa_sealer: Sealer) -> None:
    at = now()
    # RSA PKCS#1 v1.5 is deterministic: the same document, time and key give the same bytes only if
    # the digest, the SignedInfo, the placement and the serialisation are all the same.
    for original in (edxml_document(), edxml_document(prefix=None), SAMPLE.read_bytes()):
        ours = rsa_sealer.seal(original, hub_code=HUB_CODE, at=at)
        assert ours == rsa_sealer.seal_with_signxml(original, hub_code=HUB_CODE, at=at)
        assert signxml_accepts(ours, rsa_sealer)


def test_sealing_a_parsed_tree_gives_the_bytes_of_sealing_the_document(rsa_sealer: Sealer) -> None:
    at = now()
    original = SAMPLE.read_bytes()
    from_tree = rsa_sealer.seal_tree(parse_document(original), hub_code=HUB_CODE, at=at)
    assert from_tree == rsa_sealer.seal(original, hub_code=HUB_CODE, at=at)


def test_an_ecdsa_signature_value_is_r_and_s_of_the_curve_s_size(ec_sealer: Sealer) -> None:
    at = now()
    sealed = ec_sealer.seal(edxml_document(), hub_code=HUB_CODE, at=at)
    value = etree.fromstring(sealed).findtext(f".//{{{DSIG_NAMESPACE}}}SignatureValue")
    assert value is not None
    assert len(base64.b64decode(value)) == 64  # P-256: two 32-byte integers, not DER
    assert signxml_accepts(sealed, ec_sealer)


def test_a_seal_over_content_changed_afterwards_is_refused(ec_sealer: Sealer) -> None:
    at = now()
    sealed = ec_sealer.seal(edxml_document(), hub_code=HUB_CODE, at=at)
    assert signxml_accepts(sealed, ec_sealer)
    tampered = sealed.replace(b"<edXML:CodeNumber>12<", b"<edXML:CodeNumber>13<")
    assert tampered != sealed
    assert not signxml_accepts(tampered, ec_sealer)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(original=documents())
def test_every_seal_verifies_with_signxml_and_equals_signxml_s_under_rsa(
    original: bytes, rsa_sealer: Sealer, ec_sealer: Sealer
) -> None:
    at = now()
    ours = rsa_sealer.seal(original, hub_code=HUB_CODE, at=at)
    assert ours == rsa_sealer.seal_with_signxml(original, hub_code=HUB_CODE, at=at)
    assert signxml_accepts(ours, rsa_sealer)
    assert signxml_accepts(ec_sealer.seal(original, hub_code=HUB_CODE, at=at), ec_sealer)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(original=documents(), use_rsa=st.booleans())
def test_xmlsec1_verifies_seals_of_documents_of_any_shape(
    original: bytes, use_rsa: bool, rsa_sealer: Sealer, ec_sealer: Sealer
) -> None:
    at = now()
    sealer = rsa_sealer if use_rsa else ec_sealer
    sealed = sealer.seal(original, hub_code=HUB_CODE, at=at)
    reference = sealer.seal_with_signxml(original, hub_code=HUB_CODE, at=at)
    with tempfile.TemporaryDirectory() as directory:
        assert xmlsec1_accepts(sealed, sealer.identity, Path(directory))
        assert xmlsec1_accepts(reference, sealer.identity, Path(directory))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(original=documents())
def test_texts_written_in_by_the_hub_give_signxml_s_bytes(original: bytes, rsa_sealer: Sealer) -> None:
    """Long texts (inline attachments) are taken out of the tree and written into the output by the
    hub (`LIFTED_CHARS`); lowered here to 8 characters, so that names, subjects and attachments
    of every kind are: the seal must still be signxml's, byte for byte."""
    at = now()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(seal, "LIFTED_CHARS", 8)
        ours = rsa_sealer.seal(original, hub_code=HUB_CODE, at=at)
    assert ours == rsa_sealer.seal_with_signxml(original, hub_code=HUB_CODE, at=at)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    original=documents(st.lists(st.binary(min_size=60, max_size=3000), min_size=1, max_size=3)),
    crlf=st.booleans(),
)
def test_texts_lifted_before_parsing_give_signxml_s_bytes(
    original: bytes, crlf: bool, rsa_sealer: Sealer
) -> None:
    """Long runs of base64 are kept out of the tree before parsing (`app.edxml.lifting`; lowered here
    to 16 characters, above the template's indentation, below every attachment drawn, whose 80
    characters or more wrap when the document wraps them): when each is an attachment's text, the
    seal of the tree and the runs is signxml's seal of the whole document, byte for byte, also with
    CR LF line ends inside the runs."""
    at = now()
    if crlf:  # line ends as software on Windows writes them, base64 lines included
        original = original.replace(b"\n", b"\r\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(lifting, "LIFTED_CHARS", 16)
        small, lifted = lifting.lift(original)
    root = parse_document(small)
    assume(lifted and lifting.placed(root, lifted))
    ours = rsa_sealer.seal_tree(root, hub_code=HUB_CODE, at=at, lifted=lifted)
    assert ours == rsa_sealer.seal_with_signxml(original, hub_code=HUB_CODE, at=at)


def test_xmlsec1_verifies_the_seal_of_a_document_with_a_large_attachment(
    rsa_sealer: Sealer, tmp_path: Path
) -> None:
    content = base64.encodebytes(bytes(range(256)) * 12_000)  # 3 MB, in 76-column lines
    original = SAMPLE.read_bytes()
    start = original.index(b"<edXML:ContentTransferEncoded>") + len(b"<edXML:ContentTransferEncoded>")
    original = original[:start] + content + original[original.index(b"</edXML:ContentTransferEncoded>") :]
    sealed = rsa_sealer.seal(original, hub_code=HUB_CODE, at=now())
    assert content in sealed
    assert signxml_accepts(sealed, rsa_sealer)
    assert xmlsec1_accepts(sealed, rsa_sealer.identity, tmp_path)
