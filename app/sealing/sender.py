"""The sender's own signature (chữ ký số của cơ quan gửi) on the document it submits, and the
agency's policy about it.

Only signatures that are children of edXMLHeader count. A standard `ds:Signature` is checked against
the certificates the agency registered with the hub (pinned: no chain to any CA is trusted), at the
time of intake, under the same profile as the hub's seal: one Reference covering the whole document
(`URI=""`, enveloped-signature transform), SHA-2 only. Because the signature covers the whole
document, the bytes the intake goes on with are exactly what the sender signed; a signature over
part of the document (an Id reference) is refused, which also shuts out signature wrapping.

The edXML-namespace `Signature` of the official sample (RSA-SHA1, no standard namespace) is recorded
as present but never as valid (edxml.md §1.4).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from cryptography import x509

from app.edxml.model import SignatureKind
from app.i18n import N_
from app.kit.cpu import off_loop
from app.kit.errors import InvalidDocument, Problem
from app.models import SignaturePolicy
from app.sealing.keys import KeyMaterialError, certificate_fingerprint, check_current
from app.sealing.seal import (
    CHECK_ERRORS,
    DS_SIGNATURE,
    EDXML_SIGNATURE,
    SHA2_DIGESTS,
    SHA2_SIGNATURE_METHODS,
    SIGNATURE_CONFIG,
    UnreadableXML,
    edxml_header,
    failure_reason,
    key_info_certificates,
    parse_document,
    signature_profile_problem,
    verify_pinned,
)

SIGNATURE_PATH = "/edXML/edXMLEnvelope/edXMLHeader/Signature"
NOT_VERIFIABLE = "present, not verifiable by standard tools"


@dataclass(frozen=True, slots=True)
class SenderSignatureCheck:
    """What the sender's signature is and whether it holds. `valid` is None when there is nothing
    that can be verified (absent, or the edXML-namespace variant)."""

    kind: SignatureKind
    valid: bool | None
    reason: str
    fingerprint: str | None = None


def verify_sender_signature(
    data: bytes, certificates: Sequence[x509.Certificate], *, now: datetime
) -> SenderSignatureCheck:
    """Check the signature in edXMLHeader against the sender's registered certificates at `now`."""
    try:
        root = parse_document(data)
    except UnreadableXML as error:
        return SenderSignatureCheck(SignatureKind.ABSENT, None, str(error))
    header = edxml_header(root)
    if header is None:
        return SenderSignatureCheck(SignatureKind.ABSENT, None, "no edXMLHeader")
    signatures = header.findall(DS_SIGNATURE)
    if not signatures:
        if header.find(EDXML_SIGNATURE) is not None:
            return SenderSignatureCheck(SignatureKind.EDXML_VARIANT, None, NOT_VERIFIABLE)
        return SenderSignatureCheck(SignatureKind.ABSENT, None, "no signature")

    def invalid(reason: str, fingerprint: str | None = None) -> SenderSignatureCheck:
        return SenderSignatureCheck(SignatureKind.XMLDSIG, False, reason, fingerprint)

    if len(signatures) > 1:
        return invalid(
            f"edXMLHeader holds {len(signatures)} ds:Signature elements; one sender signature is supported"
        )
    signature = signatures[0]
    problem = signature_profile_problem(signature, methods=SHA2_SIGNATURE_METHODS, digests=SHA2_DIGESTS)
    if problem is not None:
        return invalid(problem)

    carried = key_info_certificates(signature)
    if not carried:
        return invalid("the signature carries no readable X509Certificate in KeyInfo")
    registered = {certificate_fingerprint(c): c for c in certificates}
    fingerprint = next((f for f in map(certificate_fingerprint, carried) if f in registered), None)
    if fingerprint is None:
        return invalid(
            "signed with a certificate that is not registered for the sender "
            f"(SHA-256 {certificate_fingerprint(carried[0])})",
            certificate_fingerprint(carried[0]),
        )
    certificate = registered[fingerprint]
    try:
        check_current(certificate, now)
    except KeyMaterialError as error:
        return invalid(str(error), fingerprint)
    try:
        verify_pinned(data, certificate, config=replace(SIGNATURE_CONFIG, verification_time=now))
    except CHECK_ERRORS as error:
        return invalid(failure_reason(error), fingerprint)
    return SenderSignatureCheck(SignatureKind.XMLDSIG, True, "valid", fingerprint)


def check_policy(check: SenderSignatureCheck, policy: SignaturePolicy) -> Problem | None:
    """The problem that makes the intake refuse the document (422), or None. An invalid signature is
    always refused; a missing or unverifiable one only when the agency's policy requires one."""
    if check.valid is False:
        message = f"the sender's signature is not valid: {check.reason}"
        return Problem(SIGNATURE_PATH, "signature-invalid", message)
    if SignaturePolicy(policy) is not SignaturePolicy.REQUIRED or check.valid:
        return None
    if check.kind is SignatureKind.EDXML_VARIANT:
        return Problem(
            SIGNATURE_PATH,
            "signature-unverifiable",
            "this agency must sign its documents; the edXML-namespace Signature cannot be verified with "
            "standard tools: sign with a standard XML signature (ds:Signature) in edXMLHeader",
        )
    return Problem(
        SIGNATURE_PATH,
        "signature-required",
        "this agency must sign its documents: no standard XML signature (ds:Signature) in edXMLHeader",
    )


#: Who signed what the hub is sealing: a document's sender, or a status message's reporter.
_REFUSALS = {
    "sender": N_("the sender's signature does not satisfy the hub"),
    "reporter": N_("the reporter's signature does not satisfy the hub"),
}


async def judged(
    body: bytes,
    kind: SignatureKind,
    certificates: Sequence[x509.Certificate],
    policy: SignaturePolicy,
    *,
    who: str,
    from_axis: bool,
    at: datetime,
) -> SenderSignatureCheck:
    """The author's signature (`who`: "sender" or "reporter") against its agency's policy; raises
    InvalidDocument when it does not satisfy the hub. A message signed outside the province by an
    agency that registered no certificate here is kept and not judged. A signature to verify is
    verified in a worker thread; the other cases cost nothing and stay on the loop."""
    if kind is SignatureKind.ABSENT:
        signature = SenderSignatureCheck(SignatureKind.ABSENT, None, "no signature")
    elif from_axis and not certificates:
        reason = f"came through the national axis; no certificate of the {who} is registered"
        signature = SenderSignatureCheck(kind, None, reason)
    else:
        signature = await off_loop(verify_sender_signature, body, certificates, now=at)
    if problem := check_policy(signature, policy):
        raise InvalidDocument(_REFUSALS[who], [problem])
    return signature
