"""The hub's seal: what the hub appends and signs before it stores and forwards a document, and how
anyone checks it later.

Sealing appends the hub's own TraceHeader (its code and the time, edxml.md §1.2) and signs the whole
document with an enveloped XML signature in the standard `ds:` namespace (RSA-SHA256 or
ECDSA-SHA256, exclusive canonicalisation, the certificate in KeyInfo). The signature is made here on
the tree as parsed, with lxml's exclusive c14n and `cryptography`; signxml's signer, which re-serialises
and re-parses the document, is kept as the reference the tests and bench/sealing.py compare with
(`Sealer.seal_with_signxml`), and signxml's verifier checks every seal. The signature sits in
edXMLHeader right after TraceHeaderList, so it is the first `ds:Signature` of the document: the one
stock tools (`xmlsec1 --verify`) check by default. Its single Reference is `URI=""`: it covers every
byte of content, attachments and any sender signature included.

Sealing and verifying are synchronous and thread-safe: the caller runs them in worker threads. The key
is loaded once (`Sealer` keeps the loaded key object); parsers and signers are kept per thread.

Untrusted bytes are read with the hub's one hardened parser (`app.edxml.parser`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.exceptions import (
    InvalidCertificate,
    InvalidDigest,
    InvalidInput,
    InvalidSignature,
    SignXMLException,
)
from signxml.signer import XMLSigner
from signxml.verifier import SignatureConfiguration, VerifyResult, XMLVerifier

from app.edxml.formats import format_timestamp, is_timestamp
from app.edxml.lifting import LIFTED_CHARS, NOTHING_LIFTED, Lifted, text_pieces
from app.edxml.model import DSIG_NAMESPACE, NAMESPACE
from app.edxml.parser import hardened_parser, parse_xml
from app.edxml.paths import element_path
from app.kit.clock import VIETNAM
from app.kit.errors import HubError, InvalidDocument, Problem
from app.sealing.keys import (
    PrivateKey,
    SigningIdentity,
    certificate_fingerprint,
    certificate_subject,
    is_valid_at,
    load_certificate_pem,
)

DS_SIGNATURE = f"{{{DSIG_NAMESPACE}}}Signature"
EDXML_SIGNATURE = f"{{{NAMESPACE}}}Signature"
EDXML_ROOT = f"{{{NAMESPACE}}}edXML"
HEADER_PATH = f"{{{NAMESPACE}}}edXMLEnvelope/{{{NAMESPACE}}}edXMLHeader"
SIGNATURE_LOCATION = f"./{HEADER_PATH}/"  # signxml: where the signature is expected
_TRACE_HEADER_LIST = f"{{{NAMESPACE}}}TraceHeaderList"
_TRACE_HEADER = f"{{{NAMESPACE}}}TraceHeader"
_MESSAGE_HEADER = f"{{{NAMESPACE}}}MessageHeader"
_STATUS = f"{{{NAMESPACE}}}Status"
_DS = {"ds": DSIG_NAMESPACE}
_PLACEHOLDER_ID = "placeholder"  # signxml replaces a ds:Signature with this Id by the signature

ENVELOPED_TRANSFORM = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
EXC_C14N = CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0.value
CANONICALIZATIONS = frozenset(m.value for m in CanonicalizationMethod)

SHA2_SIGNATURE_METHODS = frozenset(
    {
        SignatureMethod.RSA_SHA256,
        SignatureMethod.RSA_SHA384,
        SignatureMethod.RSA_SHA512,
        SignatureMethod.ECDSA_SHA256,
        SignatureMethod.ECDSA_SHA384,
        SignatureMethod.ECDSA_SHA512,
    }
)
SHA2_DIGESTS = frozenset({DigestAlgorithm.SHA256, DigestAlgorithm.SHA384, DigestAlgorithm.SHA512})

SIGNATURE_CONFIG = SignatureConfiguration(
    require_x509=True,
    location=SIGNATURE_LOCATION,
    expect_references=1,
    signature_methods=SHA2_SIGNATURE_METHODS,
    digest_algorithms=SHA2_DIGESTS,
)


class UnreadableXML(ValueError):
    """Bytes the hub will not read as XML: not well formed, or carrying a DTD or entities."""


class SealingError(InvalidDocument):
    """A document the hub cannot seal (not an edXML document message, or a signature in the way of
    the seal): a 422 with the place in the document."""

    def __init__(self, message: str, path: str = "/edXML/edXMLEnvelope/edXMLHeader") -> None:
        super().__init__(f"the document cannot be sealed: {message}", [Problem(path, "cannot-seal", message)])


def parse_document(data: bytes) -> etree._Element:
    """The root of an untrusted document, read with the hub's one hardened parser."""
    try:
        return parse_xml(data)
    except HubError as error:
        details = "; ".join(problem.message for problem in error.errors[:3])
        raise UnreadableXML(f"{error.detail}: {details}" if details else error.detail) from None


def edxml_header(root: etree._Element) -> etree._Element | None:
    if root.tag != EDXML_ROOT:
        return None
    return root.find(HEADER_PATH)


def signature_profile_problem(
    signature: etree._Element, *, methods: frozenset[SignatureMethod], digests: frozenset[DigestAlgorithm]
) -> str | None:
    """What is wrong with a ds:Signature's SignedInfo for the hub, or None. The profile: one
    Reference to the whole document (`URI=""`) with the enveloped-signature transform and nothing but
    canonicalisation after it, SHA-2 algorithms from the given sets, never SHA-1.

    Read from the untrusted tree to give a precise reason; the signature check that follows proves the
    SignedInfo read here is the one that was signed."""
    signed_info = signature.find("ds:SignedInfo", _DS)
    if signed_info is None:
        return "the signature has no SignedInfo"
    method = signed_info.find("ds:SignatureMethod", _DS)
    method_uri = "" if method is None else method.get("Algorithm", "")
    references = signed_info.findall("ds:Reference", _DS)
    digest_uris = [_digest_uri(r) for r in references]
    if any("sha1" in uri.lower() for uri in (method_uri, *digest_uris)):
        return "SHA-1 is not accepted"
    if method_uri not in {m.value for m in methods}:
        return f"the signature algorithm {method_uri or '(none)'} is not accepted"
    if any(uri not in {d.value for d in digests} for uri in digest_uris):
        return f"the digest algorithm {', '.join(digest_uris)} is not accepted"
    c14n = signed_info.find("ds:CanonicalizationMethod", _DS)
    if c14n is None or c14n.get("Algorithm") not in CANONICALIZATIONS:
        return "the SignedInfo canonicalization method is missing or not supported"
    if len(references) != 1:
        return f"the signature must have exactly one Reference, not {len(references)}"
    reference = references[0]
    if reference.get("URI") != "":
        return 'the signature must cover the whole document (a single Reference with URI="")'
    transforms = [t.get("Algorithm", "") for t in reference.findall("ds:Transforms/ds:Transform", _DS)]
    if not transforms or transforms[0] != ENVELOPED_TRANSFORM or not set(transforms[1:]) <= CANONICALIZATIONS:
        return "the Reference must apply the enveloped-signature transform and then only canonicalization"
    return None


def _digest_uri(reference: etree._Element) -> str:
    method = reference.find("ds:DigestMethod", _DS)
    return "" if method is None else method.get("Algorithm", "")


def key_info_certificates(signature: etree._Element) -> list[x509.Certificate]:
    """The certificates a signature carries in KeyInfo/X509Data, unreadable ones skipped."""
    certificates = []
    for element in signature.iterfind("ds:KeyInfo/ds:X509Data/ds:X509Certificate", _DS):
        try:
            der = base64.b64decode("".join((element.text or "").split()), validate=True)
            certificates.append(x509.load_der_x509_certificate(der))
        except (binascii.Error, ValueError):
            continue
    return certificates


def verify_pinned(
    data: bytes, certificate: x509.Certificate, *, config: SignatureConfiguration
) -> VerifyResult:
    """signxml's check of the signature at `config.location` against one pinned certificate.
    Raises the signxml (or lxml schema) error on failure; a new verifier per call keeps it
    thread-safe."""
    result = XMLVerifier().verify(data, x509_cert=certificate, parser=hardened_parser(), expect_config=config)
    assert isinstance(result, VerifyResult)  # expect_references=1 gives one result
    return result


def failure_reason(error: Exception) -> str:
    """A sentence for a failed signature check."""
    if isinstance(error, InvalidDigest):
        return "the document was changed after it was signed (digest mismatch)"
    if isinstance(error, InvalidCertificate):
        return f"the certificate is not acceptable: {error}"
    if isinstance(error, InvalidSignature):
        return "the signature value does not match the signed information and the certificate"
    if isinstance(error, etree.DocumentInvalid):
        return f"the ds:Signature element is malformed: {error}"
    return f"the signature cannot be checked: {error}"


CHECK_ERRORS = (SignXMLException, etree.LxmlError, ValueError, binascii.Error)


def _signature_method_for(key: PrivateKey) -> SignatureMethod:
    return SignatureMethod.RSA_SHA256 if isinstance(key, rsa.RSAPrivateKey) else SignatureMethod.ECDSA_SHA256


class _Signer(XMLSigner):
    """signxml's signer with the hardened per-thread parser (signxml re-parses what it signs; its
    default parser would refuse the large text nodes of inline attachments)."""

    @property
    def parser(self) -> etree.XMLParser:
        return hardened_parser()


class Sealer:
    """Seals documents with one loaded key; safe to share between threads. Keep one per process."""

    def __init__(self, identity: SigningIdentity, *, key_id: str) -> None:
        self.key_id = key_id
        self.identity = identity
        self.fingerprint = identity.fingerprint
        self.signature_method = _signature_method_for(identity.private_key)
        self._certificates = [identity.certificate, *identity.chain]
        # KeyInfo's certificates as signxml writes them (the PEM body, 64 columns), made once.
        self._certificate_texts = [_pem_body(c) for c in self._certificates]
        self._local = threading.local()

    def seal(self, original: bytes, *, hub_code: str, at: datetime) -> bytes:
        """The sealed document: `original` with the hub's TraceHeader appended and the hub's
        signature inserted. These bytes are what is stored and forwarded, unchanged."""
        return self.seal_tree(_sealable(original), hub_code=hub_code, at=at)

    def seal_tree(
        self, root: etree._Element, *, hub_code: str, at: datetime, lifted: Lifted = NOTHING_LIFTED
    ) -> bytes:
        """`seal` for a document already read with the hub's hardened parser (`parse_document`,
        or `read_document_tree`, whose texts kept out of the tree are `lifted`): the tree is
        changed in place (TraceHeader and signature added) and serialised once. The tree is spent
        afterwards: its large texts (inline attachments) are taken out of it to be written
        straight into the output (`_lift_large_texts`)."""
        if at.tzinfo is None:
            raise ValueError("the seal time must be timezone-aware")
        header = edxml_header(root)
        if header is None:
            raise SealingError("not an edXML message: no edXML/edXMLEnvelope/edXMLHeader", "/")
        trace_list = _append_trace_header(header, hub_code=hub_code, at=at)
        signature, digest_value, signature_value = self._signature_element(header)
        trace_list.addnext(signature)
        _check_first_signature(root, signature)
        # The enveloped-signature transform: the digest is over the document without the signature
        # (which has no tail text, so taking it out leaves every other byte as it will be sent).
        header.remove(signature)
        texts: dict[str, str | memoryview] = {**lifted, **_lift_large_texts(root)}
        digest = hashlib.sha256()
        canonical = etree.tostring(root, method="c14n", exclusive=True, with_comments=False)
        for piece in _spliced(canonical, texts):
            digest.update(piece)
        digest_value.text = base64.b64encode(digest.digest()).decode()
        trace_list.addnext(signature)
        signed_info = signature[0]
        signed_info_c14n = etree.tostring(signed_info, method="c14n", exclusive=True, with_comments=False)
        signature_value.text = base64.b64encode(self._sign(signed_info_c14n)).decode()
        sealed = io.BytesIO()
        for piece in _spliced(etree.tostring(root, xml_declaration=True, encoding="UTF-8"), texts):
            sealed.write(piece)
        return sealed.getvalue()

    def _signature_element(
        self, header: etree._Element
    ) -> tuple[etree._Element, etree._Element, etree._Element]:
        """A ds:Signature in `header` with everything but DigestValue and SignatureValue, in
        signxml's order and form: SignedInfo (exclusive c14n, the signature method, one Reference
        URI="" with the enveloped-signature and exclusive c14n transforms, SHA-256), SignatureValue,
        KeyInfo/X509Data with the certificate and its chain."""
        signature = etree.SubElement(header, DS_SIGNATURE, nsmap=_DS)
        signed_info = etree.SubElement(signature, _ds("SignedInfo"))
        etree.SubElement(signed_info, _ds("CanonicalizationMethod"), Algorithm=EXC_C14N)
        etree.SubElement(signed_info, _ds("SignatureMethod"), Algorithm=self.signature_method.value)
        reference = etree.SubElement(signed_info, _ds("Reference"), URI="")
        transforms = etree.SubElement(reference, _ds("Transforms"))
        etree.SubElement(transforms, _ds("Transform"), Algorithm=ENVELOPED_TRANSFORM)
        etree.SubElement(transforms, _ds("Transform"), Algorithm=EXC_C14N)
        etree.SubElement(reference, _ds("DigestMethod"), Algorithm=DigestAlgorithm.SHA256.value)
        digest_value = etree.SubElement(reference, _ds("DigestValue"))
        signature_value = etree.SubElement(signature, _ds("SignatureValue"))
        x509_data = etree.SubElement(etree.SubElement(signature, _ds("KeyInfo")), _ds("X509Data"))
        for text in self._certificate_texts:
            etree.SubElement(x509_data, _ds("X509Certificate")).text = text
        return signature, digest_value, signature_value

    def _sign(self, signed_info_c14n: bytes) -> bytes:
        key = self.identity.private_key
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(signed_info_c14n, padding.PKCS1v15(), hashes.SHA256())
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        # XML Signature's ECDSA value is r and s as two fixed-size big-endian integers, not DER.
        r, s = decode_dss_signature(key.sign(signed_info_c14n, ec.ECDSA(hashes.SHA256())))
        size = (key.curve.key_size + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")

    def _signer(self) -> XMLSigner:
        signer: XMLSigner | None = getattr(self._local, "signer", None)
        if signer is None:
            signer = _Signer(
                signature_algorithm=self.signature_method,
                digest_algorithm=DigestAlgorithm.SHA256,
                c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
            )
            self._local.signer = signer
        return signer

    def seal_with_signxml(self, original: bytes, *, hub_code: str, at: datetime) -> bytes:
        """The same seal made by signxml's signer (which re-serialises and re-parses the document):
        the reference `seal` is checked against in the tests, and measured against in
        bench/sealing.py. With an RSA key both give the same bytes."""
        if at.tzinfo is None:
            raise ValueError("the seal time must be timezone-aware")
        root = _sealable(original)
        header = edxml_header(root)
        if header is None:
            raise SealingError("not an edXML message: no edXML/edXMLEnvelope/edXMLHeader", "/")
        trace_list = _append_trace_header(header, hub_code=hub_code, at=at)
        _insert_placeholder(root, header, trace_list)
        try:
            signed = self._signer().sign(root, key=self.identity.private_key, cert=self._certificates)
        except InvalidInput as error:
            raise SealingError(str(error)) from None
        sealed: bytes = etree.tostring(signed, xml_declaration=True, encoding="UTF-8")
        return sealed


def _ds(name: str) -> str:
    return f"{{{DSIG_NAMESPACE}}}{name}"


def _pem_body(certificate: x509.Certificate) -> str:
    """The base64 lines of the certificate's PEM form, without the BEGIN/END lines."""
    lines = certificate.public_bytes(Encoding.PEM).decode().splitlines(keepends=True)
    return "".join(lines[1:-1])


_ESCAPED_IN_TEXT = ("&", "<", ">", "\r")  # what c14n and serialisation would not write as it is


def _lift_large_texts(root: etree._Element) -> dict[str, str | memoryview]:
    """Take every long text that needs no escaping out of the tree, leaving a unique marker in its
    place; marker -> text. libxml2 serialises a text node by escaping it into a copy, then into its
    output buffer, then lxml copies that into a bytes object: a 48 MB attachment would be held four
    times at once by each canonicalisation and serialisation. Written in by `_spliced` instead, it
    is held once, as the Python string read here, and its bytes are exactly what libxml2 writes for
    such a text (its UTF-8, in c14n as in serialisation)."""
    lifted: dict[str, str | memoryview] = {}
    for element in root.iter(etree.Element):
        text = element.text
        if text is None or len(text) < LIFTED_CHARS or any(c in text for c in _ESCAPED_IN_TEXT):
            continue
        marker = f"lienthong-lifted-{uuid.uuid4().hex}"
        element.text = marker
        lifted[marker] = text
    return lifted


def _spliced(output: bytes, lifted: Mapping[str, str | memoryview]) -> Iterator[bytes | memoryview]:
    """`output` (the tree serialised or canonicalised) with each marker replaced by its text, in
    pieces of LIFTED_CHARS: the bytes lifted before parsing as the parser reads them, a string
    lifted here encoded."""
    if not lifted:
        yield output
        return
    matches = list(re.finditer("|".join(lifted).encode(), output))
    if len(matches) != len(lifted):  # a marker is a fresh random name: it cannot be in the document
        raise RuntimeError("a lifted text's marker is missing from the output, or repeated")
    position = 0
    for match in matches:
        yield output[position : match.start()]
        text = lifted[match.group().decode()]
        if isinstance(text, memoryview):
            yield from text_pieces(text)
        else:
            for start in range(0, len(text), LIFTED_CHARS):
                yield text[start : start + LIFTED_CHARS].encode()
        position = match.end()
    yield output[position:]


def _sealable(original: bytes) -> etree._Element:
    try:
        return parse_document(original)
    except UnreadableXML as error:
        raise SealingError(str(error), "/") from None


def _append_trace_header(header: etree._Element, *, hub_code: str, at: datetime) -> etree._Element:
    # Elements are created as children of their final parent so that lxml reuses the prefix (or
    # default namespace) the document already declares for edXML, then moved within that parent.
    trace_lists = header.findall(_TRACE_HEADER_LIST)
    if len(trace_lists) > 1:
        # Which list holds the hub's TraceHeader must not be open to interpretation.
        raise SealingError(f"edXMLHeader holds {len(trace_lists)} TraceHeaderList elements; one is expected")
    if trace_lists:
        trace_list = trace_lists[0]
    else:
        trace_list = etree.SubElement(header, _TRACE_HEADER_LIST)
        # After MessageHeader in a document, after Status in a status message.
        message_headers = header.findall(_MESSAGE_HEADER) or header.findall(_STATUS)
        if message_headers:
            message_headers[-1].addnext(trace_list)
        else:
            header.insert(0, trace_list)
    trace = etree.SubElement(trace_list, _TRACE_HEADER)
    etree.SubElement(trace, f"{{{NAMESPACE}}}OrganId").text = hub_code
    etree.SubElement(trace, f"{{{NAMESPACE}}}Timestamp").text = format_timestamp(at)
    previous = trace_list.findall(_TRACE_HEADER)[:-1]
    if previous:
        previous[-1].addnext(trace)
    else:
        trace_list.insert(0, trace)
    return trace_list


def _insert_placeholder(root: etree._Element, header: etree._Element, trace_list: etree._Element) -> None:
    taken = root.find(f".//ds:Signature[@Id='{_PLACEHOLDER_ID}']", _DS)
    if taken is not None:
        raise SealingError(f'a ds:Signature with Id="{_PLACEHOLDER_ID}" is in the way', element_path(taken))
    placeholder = etree.SubElement(header, DS_SIGNATURE, nsmap=_DS, Id=_PLACEHOLDER_ID)
    trace_list.addnext(placeholder)
    _check_first_signature(root, placeholder)


def _check_first_signature(root: etree._Element, signature: etree._Element) -> None:
    first = next(root.iter(DS_SIGNATURE))
    if first is not signature:
        raise SealingError(
            "a ds:Signature comes before edXMLHeader/TraceHeaderList; the hub's seal must be the first "
            "signature of the document",
            element_path(first),
        )


@dataclass(frozen=True, slots=True)
class HubCertificate:
    """One of the hub's certificates, as verification needs it."""

    key_id: str
    certificate: x509.Certificate
    fingerprint: str

    @classmethod
    def from_pem(cls, key_id: str, pem: str) -> HubCertificate:
        certificate = load_certificate_pem(pem)
        return cls(key_id=key_id, certificate=certificate, fingerprint=certificate_fingerprint(certificate))


@dataclass(frozen=True, slots=True)
class SealCheck:
    """The outcome of checking a hub seal; when valid, which key sealed the document and when."""

    valid: bool
    reason: str
    key_id: str | None = None
    fingerprint: str | None = None
    signed_at: datetime | None = None
    subject: str | None = None


def _hub_timestamp(root: etree._Element) -> datetime | None:
    """The Timestamp of the last TraceHeader in TraceHeaderList: the hub's own, appended when it
    sealed (the hub seals only documents with one TraceHeaderList)."""
    header = edxml_header(root)
    trace_list = None if header is None else header.find(_TRACE_HEADER_LIST)
    traces = [] if trace_list is None else trace_list.findall(_TRACE_HEADER)
    if not traces:
        return None
    text = (traces[-1].findtext(f"{{{NAMESPACE}}}Timestamp") or "").strip()
    if not is_timestamp(text):
        return None
    return datetime.strptime(text, "%Y/%m/%d %H:%M:%S").replace(tzinfo=VIETNAM)


def verify_seal(data: bytes, certificates: Sequence[HubCertificate]) -> SealCheck:
    """Check a sealed document against the hub's certificates (current and past). Valid only when
    the first ds:Signature in edXMLHeader is a whole-document signature by one of them, over content
    unchanged since, made while that certificate was valid."""
    try:
        root = parse_document(data)
    except UnreadableXML as error:
        return SealCheck(False, str(error))
    header = edxml_header(root)
    if header is None:
        return SealCheck(False, "not an edXML document message: no edXML/edXMLEnvelope/edXMLHeader")
    signature = header.find(DS_SIGNATURE)
    if signature is None:
        return SealCheck(False, "no seal: edXMLHeader holds no ds:Signature")
    if next(root.iter(DS_SIGNATURE)) is not signature:
        return SealCheck(False, "another ds:Signature comes before the seal in edXMLHeader")
    if problem := signature_profile_problem(signature, methods=SHA2_SIGNATURE_METHODS, digests=SHA2_DIGESTS):
        return SealCheck(False, problem)

    by_fingerprint = {c.fingerprint: c for c in certificates}
    carried = key_info_certificates(signature)
    if not carried:
        return SealCheck(False, "the seal carries no readable X509Certificate in KeyInfo")
    known = next(
        (by_fingerprint[f] for f in map(certificate_fingerprint, carried) if f in by_fingerprint), None
    )
    if known is None:
        return SealCheck(
            False,
            f"the seal's certificate (SHA-256 {certificate_fingerprint(carried[0])}) "
            "is not one of this hub's",
            fingerprint=certificate_fingerprint(carried[0]),
            subject=certificate_subject(carried[0]),
        )
    subject = certificate_subject(known.certificate)

    def invalid(reason: str) -> SealCheck:
        return SealCheck(False, reason, key_id=known.key_id, fingerprint=known.fingerprint, subject=subject)

    claimed_at = _hub_timestamp(root)
    if claimed_at is None:
        return invalid("the last TraceHeader has no readable Timestamp (the seal time)")
    certificate = known.certificate
    if not is_valid_at(certificate, claimed_at):
        return invalid(
            f"the certificate was not valid at the seal time {format_timestamp(claimed_at)} "
            f"(valid {certificate.not_valid_before_utc:%Y-%m-%d} "
            f"to {certificate.not_valid_after_utc:%Y-%m-%d})"
        )
    try:
        # Certificate validity is checked at the claimed seal time, which the signature then covers.
        result = verify_pinned(
            data, certificate, config=replace(SIGNATURE_CONFIG, verification_time=claimed_at)
        )
    except CHECK_ERRORS as error:
        return invalid(failure_reason(error))

    # Only the signed content is trusted from here on: the seal time is read again from it.
    signed_at = None if result.signed_xml is None else _hub_timestamp(result.signed_xml)
    if signed_at != claimed_at:
        return invalid("the seal time read from the signed content differs from the document's")
    return SealCheck(
        True,
        "valid",
        key_id=known.key_id,
        fingerprint=known.fingerprint,
        signed_at=signed_at,
        subject=subject,
    )
