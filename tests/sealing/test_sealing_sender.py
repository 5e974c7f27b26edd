"""The sender's own signature: verified against its registered certificates, and its policy."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from lxml import etree
from signxml.algorithms import DigestAlgorithm, SignatureMethod
from support.signing import (
    ECDSA_SHA256,
    RSA_SHA1,
    RSA_SHA256,
    SHA1,
    SHA256,
    edxml_document,
    identity_valid,
    signature_template,
    signxml_sign,
    write_key_files,
    xmlsec1,
    xmlsec1_sign,
)

from app.edxml.model import DSIG_NAMESPACE, NAMESPACE, SignatureKind
from app.models import SignaturePolicy
from app.sealing.keys import KeyAlgorithm, SigningIdentity
from app.sealing.sender import (
    NOT_VERIFIABLE,
    SIGNATURE_PATH,
    SenderSignatureCheck,
    check_policy,
    verify_sender_signature,
)

E = f"{{{NAMESPACE}}}"
DS = f"{{{DSIG_NAMESPACE}}}"

EDXML_VARIANT = """<edXML:Signature>
  <edXML:SignedInfo>
    <edXML:CanonicalizationMethod Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"/>
    <edXML:SignatureMethod Algorithm="http://www.w3.org/2000/09/xmldsig#rsa-sha1"/>
    <edXML:Reference URI="">
      <edXML:Transforms>
        <edXML:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>
      </edXML:Transforms>
      <edXML:DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/>
      <edXML:DigestValue>2jmj7l5rSw0yVb/vlWAYkK/YBwk=</edXML:DigestValue>
    </edXML:Reference>
  </edXML:SignedInfo>
  <edXML:SignatureValue>AAAA</edXML:SignatureValue>
  <edXML:KeyInfo><edXML:X509Data><edXML:X509Certificate>AAAA</edXML:X509Certificate></edXML:X509Data></edXML:KeyInfo>
</edXML:Signature>"""


def now() -> datetime:
    return datetime.now(UTC)


def check(data: bytes, certificates: list[x509.Certificate]) -> SenderSignatureCheck:
    return verify_sender_signature(data, certificates, now=now())


def serialize(root: etree._Element) -> bytes:
    data: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return data


# No signature, or the edXML-namespace variant


def test_an_unsigned_document_is_absent_and_passes_an_optional_policy(document: bytes) -> None:
    result = check(document, [])
    assert result.kind is SignatureKind.ABSENT
    assert result.valid is None
    assert check_policy(result, SignaturePolicy.OPTIONAL) is None
    problem = check_policy(result, SignaturePolicy.REQUIRED)
    assert problem is not None
    assert problem.path == SIGNATURE_PATH
    assert problem.code == "signature-required"


def test_the_edxml_namespace_variant_is_present_but_never_valid(agency_identity: SigningIdentity) -> None:
    result = check(edxml_document(header_extra=EDXML_VARIANT), [agency_identity.certificate])
    assert result.kind is SignatureKind.EDXML_VARIANT
    assert result.valid is None
    assert result.reason == NOT_VERIFIABLE == "present, not verifiable by standard tools"
    assert check_policy(result, SignaturePolicy.OPTIONAL) is None
    problem = check_policy(result, SignaturePolicy.REQUIRED)
    assert problem is not None
    assert problem.code == "signature-unverifiable"


def test_only_signatures_in_edxml_header_count(agency_identity: SigningIdentity, document: bytes) -> None:
    signed = etree.fromstring(signxml_sign(document, agency_identity))
    header = signed.find(f"{E}edXMLEnvelope/{E}edXMLHeader")
    assert header is not None
    signature = header.find(f"{DS}Signature")
    assert signature is not None
    signed.append(signature)  # moved to the end of the root element
    assert check(serialize(signed), [agency_identity.certificate]).kind is SignatureKind.ABSENT


# Standard signatures that are accepted


def test_a_signature_by_a_registered_key_is_valid(agency_identity: SigningIdentity, document: bytes) -> None:
    result = check(signxml_sign(document, agency_identity), [agency_identity.certificate])
    assert result.kind is SignatureKind.XMLDSIG
    assert result.valid is True, result.reason
    assert result.fingerprint == agency_identity.fingerprint
    assert check_policy(result, SignaturePolicy.REQUIRED) is None
    assert check_policy(result, SignaturePolicy.OPTIONAL) is None


@pytest.mark.parametrize(
    ("algorithm", "method"), [(KeyAlgorithm.RSA_2048, RSA_SHA256), (KeyAlgorithm.ECDSA_P256, ECDSA_SHA256)]
)
def test_documents_signed_with_xmlsec1_by_a_registered_key_are_accepted(
    workdir: Path, algorithm: KeyAlgorithm, method: str
) -> None:
    agency = identity_valid(-1, 365, algorithm)
    template = edxml_document(header_extra=signature_template(method, SHA256))
    signed = xmlsec1_sign(template, agency, workdir)
    _, cert = write_key_files(workdir, agency, "agency")
    assert xmlsec1("--verify", "--trusted-pem", cert, workdir / "signed.xml").returncode == 0
    result = check(signed, [agency.certificate])
    assert (result.kind, result.valid) == (SignatureKind.XMLDSIG, True), result.reason
    assert result.fingerprint == agency.fingerprint


def test_any_of_several_registered_certificates_may_sign(
    agency_identity: SigningIdentity, other_identity: SigningIdentity, document: bytes
) -> None:
    result = check(
        signxml_sign(document, agency_identity), [other_identity.certificate, agency_identity.certificate]
    )
    assert result.valid is True


# Standard signatures that are refused, with the reason


def _refused(result: SenderSignatureCheck, reason: str) -> None:
    assert result.kind is SignatureKind.XMLDSIG
    assert result.valid is False
    assert reason in result.reason
    problem = check_policy(result, SignaturePolicy.OPTIONAL)  # invalid is refused whatever the policy
    assert problem is not None
    assert problem.code == "signature-invalid"
    assert problem.path == SIGNATURE_PATH
    assert reason in problem.message


def test_a_key_not_registered_for_the_sender_is_refused(
    agency_identity: SigningIdentity, other_identity: SigningIdentity, document: bytes
) -> None:
    result = check(signxml_sign(document, other_identity), [agency_identity.certificate])
    _refused(result, "not registered for the sender")
    assert result.fingerprint == other_identity.fingerprint
    _refused(check(signxml_sign(document, other_identity), []), "not registered for the sender")


def test_an_expired_certificate_is_refused(document: bytes) -> None:
    expired = identity_valid(-30, -1)
    _refused(check(signxml_sign(document, expired), [expired.certificate]), "expired")


def test_a_certificate_not_yet_valid_is_refused(document: bytes) -> None:
    future = identity_valid(2, 30)
    _refused(check(signxml_sign(document, future), [future.certificate]), "not valid before")


def test_sha1_is_refused(workdir: Path, agency_identity: SigningIdentity, document: bytes) -> None:
    by_xmlsec1 = xmlsec1_sign(
        edxml_document(header_extra=signature_template(RSA_SHA1, SHA1)), agency_identity, workdir
    )
    _refused(check(by_xmlsec1, [agency_identity.certificate]), "SHA-1 is not accepted")
    sha1_digest = signxml_sign(document, agency_identity, digest=DigestAlgorithm.SHA1)
    _refused(check(sha1_digest, [agency_identity.certificate]), "SHA-1 is not accepted")
    sha1_method = signxml_sign(document, agency_identity, method=SignatureMethod.RSA_SHA1)
    _refused(check(sha1_method, [agency_identity.certificate]), "SHA-1 is not accepted")


def test_a_changed_document_is_refused(agency_identity: SigningIdentity, document: bytes) -> None:
    signed = signxml_sign(document, agency_identity)
    changed = signed.replace("Sở Nội vụ".encode(), "Sở Tài chính".encode())
    assert changed != signed
    _refused(check(changed, [agency_identity.certificate]), "changed after it was signed")


def test_a_changed_signature_value_is_refused(agency_identity: SigningIdentity, document: bytes) -> None:
    root = etree.fromstring(signxml_sign(document, agency_identity))
    value = root.find(f".//{DS}SignatureValue")
    assert value is not None and value.text is not None
    value.text = ("B" if value.text[0] != "B" else "C") + value.text[1:]
    _refused(check(serialize(root), [agency_identity.certificate]), "signature value does not match")


def test_two_signatures_in_the_header_are_refused(agency_identity: SigningIdentity, document: bytes) -> None:
    root = etree.fromstring(signxml_sign(document, agency_identity))
    header = root.find(f"{E}edXMLEnvelope/{E}edXMLHeader")
    assert header is not None
    signature = header.find(f"{DS}Signature")
    assert signature is not None
    header.append(copy.deepcopy(signature))
    _refused(check(serialize(root), [agency_identity.certificate]), "2 ds:Signature")


def test_a_signature_without_certificate_is_refused(
    agency_identity: SigningIdentity, document: bytes
) -> None:
    root = etree.fromstring(signxml_sign(document, agency_identity))
    key_info = root.find(f".//{DS}KeyInfo")
    assert key_info is not None
    key_info.getparent().remove(key_info)  # type: ignore[union-attr]
    _refused(check(serialize(root), [agency_identity.certificate]), "no readable X509Certificate")


# Signature wrapping: a signed element moved, an unsigned one in its place


def test_a_partial_signature_is_refused_and_so_is_its_wrapping(agency_identity: SigningIdentity) -> None:
    """The sender signs only its edXMLEnvelope (Reference URI="#env"). The attacker moves that signed
    envelope into the signature's ds:Object and puts a forged, unsigned envelope in its place. A
    verifier that followed the Id would find the signed original and accept the forged document."""
    root = etree.fromstring(edxml_document())
    envelope = root.find(f"{E}edXMLEnvelope")
    assert envelope is not None
    envelope.set("Id", "env")
    partial = signxml_sign(serialize(root), agency_identity, reference_uri="#env")
    _refused(check(partial, [agency_identity.certificate]), "cover the whole document")

    wrapped = etree.fromstring(partial)
    signed_envelope = wrapped.find(f"{E}edXMLEnvelope")
    assert signed_envelope is not None
    signature = signed_envelope.find(f"{E}edXMLHeader/{DS}Signature")
    assert signature is not None
    forged = copy.deepcopy(signed_envelope)
    del forged.attrib["Id"]
    subject = forged.find(f".//{E}Subject")
    assert subject is not None
    subject.text = "Giả mạo"
    forged_signature = forged.find(f"{E}edXMLHeader/{DS}Signature")
    assert forged_signature is not None
    signed_envelope.find(f"{E}edXMLHeader").remove(  # type: ignore[union-attr]
        signed_envelope.find(f"{E}edXMLHeader/{DS}Signature")  # type: ignore[arg-type]
    )
    etree.SubElement(forged_signature, f"{DS}Object").append(signed_envelope)
    wrapped.insert(0, forged)
    result = check(serialize(wrapped), [agency_identity.certificate])
    _refused(result, "cover the whole document")


def test_whole_document_signature_moved_into_object_is_refused(
    agency_identity: SigningIdentity, document: bytes
) -> None:
    """The same attack on a whole-document signature: the signed content moved into ds:Object, a
    forged one in its place. The digest no longer matches."""
    signed = etree.fromstring(signxml_sign(document, agency_identity))
    envelope = signed.find(f"{E}edXMLEnvelope")
    assert envelope is not None
    original = copy.deepcopy(envelope)
    subject = envelope.find(f".//{E}Subject")
    assert subject is not None
    subject.text = "Giả mạo"
    signature = envelope.find(f"{E}edXMLHeader/{DS}Signature")
    assert signature is not None
    etree.SubElement(signature, f"{DS}Object").append(original)
    _refused(check(serialize(signed), [agency_identity.certificate]), "changed after it was signed")


def test_verification_uses_the_time_given(agency_identity: SigningIdentity, document: bytes) -> None:
    signed = signxml_sign(document, agency_identity)
    later = agency_identity.certificate.not_valid_after_utc + timedelta(days=1)
    result = verify_sender_signature(signed, [agency_identity.certificate], now=later)
    assert result.valid is False
    assert "expired" in result.reason
