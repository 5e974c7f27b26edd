"""Helpers for the sealing tests: a small edXML document, signing like a sender would (signxml or
xmlsec1), calling xmlsec1. Fixtures are in conftest.py."""

from __future__ import annotations

import base64
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.signer import SignatureReference, XMLSigner

from app.edxml.model import DSIG_NAMESPACE, NAMESPACE
from app.sealing.keys import KeyAlgorithm, SigningIdentity, generate_development_identity
from app.sealing.seal import HubCertificate, Sealer

HUB_CODE = "000.00.00.H62"
SENDER = "000.00.01.H62"
RECIPIENT = "000.00.02.H62"
ATTACHMENT = "Công văn số 12/UBND-VP: nội dung tệp đính kèm.".encode()
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"


def edxml_document(
    *,
    subject: str = "V/v triển khai liên thông văn bản điện tử",
    header_extra: str = "",
    attachment: bytes = ATTACHMENT,
    trace_list: bool = True,
    prefix: str | None = "edXML",
) -> bytes:
    """A small edXML document message; `header_extra` is placed at the end of edXMLHeader."""
    p = f"{prefix}:" if prefix else ""
    declaration = f'xmlns:{prefix}="{NAMESPACE}"' if prefix else f'xmlns="{NAMESPACE}"'
    traces = (
        f"<{p}TraceHeaderList>"
        f"<{p}TraceHeader><{p}OrganId>{SENDER}</{p}OrganId>"
        f"<{p}Timestamp>2026/11/27 09:29:00</{p}Timestamp></{p}TraceHeader>"
        f"<{p}Bussiness><{p}BussinessDocType>0</{p}BussinessDocType><{p}Paper>0</{p}Paper></{p}Bussiness>"
        f"</{p}TraceHeaderList>"
        if trace_list
        else ""
    )
    content = base64.b64encode(attachment).decode()
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<{p}edXML {declaration}>
  <{p}edXMLEnvelope>
    <{p}edXMLHeader>
      <{p}MessageHeader>
        <{p}From><{p}OrganId>{SENDER}</{p}OrganId><{p}OrganName>Văn phòng UBND tỉnh</{p}OrganName></{p}From>
        <{p}To><{p}OrganId>{RECIPIENT}</{p}OrganId><{p}OrganName>Sở Nội vụ</{p}OrganName></{p}To>
        <{p}DocumentId>{SENDER},2026/11/27,12/UBND-VP</{p}DocumentId>
        <{p}Code><{p}CodeNumber>12</{p}CodeNumber><{p}CodeNotation>UBND-VP</{p}CodeNotation></{p}Code>
        <{p}PromulgationInfo><{p}Place>Vĩnh Yên</{p}Place>
          <{p}PromulgationDate>2026/11/27</{p}PromulgationDate></{p}PromulgationInfo>
        <{p}Subject>{subject}</{p}Subject>
      </{p}MessageHeader>
      {traces}{header_extra}
    </{p}edXMLHeader>
    <{p}edXMLBody>
      <{p}edXMLManifest version="1.0">
        <{p}Reference><{p}ContentId>cid:att1</{p}ContentId><{p}ContentType>text/plain</{p}ContentType>
          <{p}AttachmentName>congvan.txt</{p}AttachmentName></{p}Reference>
      </{p}edXMLManifest>
    </{p}edXMLBody>
  </{p}edXMLEnvelope>
  <{p}AttachmentEncoded>
    <{p}Attachment><{p}ContentId>att1</{p}ContentId><{p}AttachmentName>congvan.txt</{p}AttachmentName>
      <{p}ContentType>text/plain</{p}ContentType>
      <{p}ContentTransferEncoded>{content}</{p}ContentTransferEncoded></{p}Attachment>
  </{p}AttachmentEncoded>
</{p}edXML>
""".encode()


def hub_certificate(sealer: Sealer) -> HubCertificate:
    return HubCertificate(sealer.key_id, sealer.identity.certificate, sealer.fingerprint)


# Files and xmlsec1


def write_key_files(directory: Path, identity: SigningIdentity, name: str = "signer") -> tuple[Path, Path]:
    key = directory / f"{name}.key.pem"
    cert = directory / f"{name}.cert.pem"
    key.write_bytes(
        identity.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    cert.write_text(identity.certificate_pem())
    return key, cert


def xmlsec1(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["xmlsec1", *map(str, args)], capture_output=True, text=True, timeout=60, check=False
    )


def xmlsec1_verifies(data: bytes, cert: Path, directory: Path) -> bool:
    path = directory / "candidate.xml"
    path.write_bytes(data)
    return xmlsec1("--verify", "--trusted-pem", cert, path).returncode == 0


def signature_template(
    method: str = RSA_SHA256,
    digest: str = SHA256,
    *,
    uri: str = "",
    transforms: tuple[str, ...] = (ENVELOPED, EXC_C14N),
) -> str:
    """An XMLDSig template for `xmlsec1 --sign`: empty DigestValue/SignatureValue, empty X509Data
    for xmlsec1 to fill with the signer's certificate."""
    transform_xml = "".join(f'<ds:Transform Algorithm="{t}"/>' for t in transforms)
    return (
        f'<ds:Signature xmlns:ds="{DSIG_NAMESPACE}"><ds:SignedInfo>'
        f'<ds:CanonicalizationMethod Algorithm="{EXC_C14N}"/><ds:SignatureMethod Algorithm="{method}"/>'
        f'<ds:Reference URI="{uri}"><ds:Transforms>{transform_xml}</ds:Transforms>'
        f'<ds:DigestMethod Algorithm="{digest}"/><ds:DigestValue/></ds:Reference></ds:SignedInfo>'
        "<ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature>"
    )


def xmlsec1_sign(template: bytes, identity: SigningIdentity, directory: Path) -> bytes:
    """Sign an edXML document that holds a signature template, as agency software with xmlsec1
    would."""
    key, cert = write_key_files(directory, identity, "sender")
    source, output = directory / "template.xml", directory / "signed.xml"
    source.write_bytes(template)
    result = xmlsec1("--sign", "--privkey-pem", f"{key},{cert}", "--output", output, source)
    assert result.returncode == 0, result.stderr
    return output.read_bytes()


class _AnyDigestSigner(XMLSigner):
    """signxml refuses SHA-1 when signing; the tests need such signatures to see them refused."""

    def check_deprecated_methods(self) -> None:
        return None


def signxml_sign(
    data: bytes,
    identity: SigningIdentity,
    *,
    method: SignatureMethod | None = None,
    digest: DigestAlgorithm = DigestAlgorithm.SHA256,
    reference_uri: str | None = None,
) -> bytes:
    """Sign like a sender: a ds:Signature at the end of edXMLHeader."""
    root = etree.fromstring(data)
    header = root.find(f"{{{NAMESPACE}}}edXMLEnvelope/{{{NAMESPACE}}}edXMLHeader")
    assert header is not None
    etree.SubElement(header, f"{{{DSIG_NAMESPACE}}}Signature", nsmap={"ds": DSIG_NAMESPACE}, Id="placeholder")
    if method is None:
        rsa_key = isinstance(identity.private_key, rsa.RSAPrivateKey)
        method = SignatureMethod.RSA_SHA256 if rsa_key else SignatureMethod.ECDSA_SHA256
    signer = _AnyDigestSigner(
        signature_algorithm=method,
        digest_algorithm=digest,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    references = None if reference_uri is None else [SignatureReference(URI=reference_uri)]
    signed = signer.sign(
        root,
        key=identity.private_key,
        cert=[identity.certificate],
        reference_uri=references,
    )
    result: bytes = etree.tostring(signed, xml_declaration=True, encoding="UTF-8")
    return result


def identity_valid(
    days_from: int, days_to: int, algorithm: KeyAlgorithm = KeyAlgorithm.RSA_2048
) -> SigningIdentity:
    """A key whose certificate is valid from `days_from` to `days_to` days from now."""
    now = datetime.now(UTC)
    return generate_development_identity(
        SENDER,
        algorithm=algorithm,
        now=now + timedelta(days=days_from),
        validity=timedelta(days=days_to - days_from),
    )
