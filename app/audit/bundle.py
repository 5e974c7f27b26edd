"""Evidence bundles (hồ sơ chứng cứ): everything about one document that a third party needs to
check, offline and years later, what the hub received, what it forwarded, and every step it logged.

A bundle is a ZIP holding:

- `received.edxml`, `sealed.edxml`: the bytes as received and as sealed and forwarded (absent once
  retention purged them: the log entries still carry their SHA-256);
- `document.json`: the document's metadata and both digests;
- `certificates/hub-<fingerprint>.pem` (the certificate that sealed it) and
  `certificates/sender-<fingerprint>.pem` (the sender's registered certificates, if any);
- `log/entries.jsonl`: every log entry about the document, one per line, each line exactly its
  canonical bytes (app/audit/canonical.py), so SHA-256(0x00 || line) is its leaf hash;
- `log/proofs.jsonl`: line for line, `{"leaf_index", "size", "hashes"}`: the RFC 9162 inclusion proof
  of that entry in the checkpoint (`leaf_index` null for an entry not yet covered by one);
- `checkpoint.txt`: the signed checkpoint the proofs lead to, `checkpoint.tsr` its RFC 3161 timestamp
  token when there is one; `log-key.txt`: the Ed25519 key that signs checkpoints;
- `manifest.txt`: a signed note, by the same log key, listing the SHA-256 of every other file, so a
  change to any byte of any file is named; `README.md`: how to check it all, in Vietnamese and
  English.

`verify_bundle` needs nothing but the ZIP (and, better, the log key the auditor already trusts).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding
from rfc3161_client import VerificationError, VerifierBuilder, decode_timestamp_response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import merkle
from app.audit.canonical import canonical_bytes, dumps, timestamp
from app.audit.keys import ensure_log_key
from app.audit.note import (
    NoteError,
    key_id,
    parse_verifier_key,
    sign_note,
    verify_checkpoint,
)
from app.audit.service import document_trail
from app.audit.tree import inclusion_proof, latest_checkpoint
from app.kit.errors import ServiceUnavailable
from app.models import AgencyCertificate, Document, LogKey, Payload, SigningKey
from app.sealing.keys import certificate_fingerprint, load_certificates_pem
from app.sealing.seal import HubCertificate, verify_seal

FORMAT = "lienthong-evidence/1"
README = Path(__file__).with_name("bundle_readme.md")
MANIFEST = "manifest.txt"


def manifest_text(origin: str, document_id: str, checkpoint_size: int, files: dict[str, bytes]) -> str:
    lines = [
        f"{origin} evidence",
        f"format {FORMAT}",
        f"document {document_id}",
        f"checkpoint {checkpoint_size}",
    ]
    lines += [f"{hashlib.sha256(data).hexdigest()} {name}" for name, data in sorted(files.items())]
    return "\n".join(lines) + "\n"


async def build_bundle(session: AsyncSession, document_id: str, *, master_key: bytes | None = None) -> bytes:
    """The bundle of one document, proofs up to the latest checkpoint, as ZIP bytes."""
    document = await session.get(Document, document_id)
    assert document is not None
    checkpoint = await latest_checkpoint(session)
    if checkpoint is None or master_key is None:
        raise ServiceUnavailable("the transparency log has no checkpoint yet; try again in a few seconds")
    key_row = await session.scalar(select(LogKey).where(LogKey.active.is_(True)))
    assert key_row is not None
    signer = await ensure_log_key(session, master_key, key_row.name)
    files: dict[str, bytes] = {}

    payloads = {
        row.sha256: row
        for row in await session.scalars(
            select(Payload).where(Payload.sha256.in_([document.original_sha256, document.sealed_sha256]))
        )
    }
    purged = any(p.purged_at is not None for p in payloads.values())
    if not purged:
        files["received.edxml"] = payloads[document.original_sha256].content
        files["sealed.edxml"] = payloads[document.sealed_sha256].content
    files["document.json"] = dumps(
        {
            "id": document.id,
            "kind": document.kind,
            "document_id": document.edxml_document_id,
            "sender": document.sender_code,
            "subject": document.subject,
            "code_number": document.code_number,
            "code_notation": document.code_notation,
            "received_at": timestamp(document.received_at),
            "original_sha256": document.original_sha256,
            "sealed_sha256": document.sealed_sha256,
            "seal_key_id": document.seal_key_id,
            "payloads_purged": purged,
        }
    )
    if document.seal_key_id:
        key = await session.get(SigningKey, document.seal_key_id)
        if key is not None:
            for cert in load_certificates_pem(key.certificate_pem + (key.chain_pem or "")):
                files[f"certificates/hub-{certificate_fingerprint(cert)}.pem"] = _pem(cert)
    for row in await session.scalars(
        select(AgencyCertificate).where(AgencyCertificate.agency_code == document.sender_code)
    ):
        files[f"certificates/sender-{row.fingerprint_sha256}.pem"] = row.certificate_pem.encode("ascii")

    entries: list[bytes] = []
    proofs: list[bytes] = []
    for entry in await document_trail(session, document.id):
        entries.append(canonical_bytes(entry.log, entry.fields))
        index = entry.leaf_index
        if index is None or index >= checkpoint.size:
            proofs.append(dumps({"leaf_index": None, "size": None, "hashes": []}))
            continue
        hashes = await inclusion_proof(session, index, checkpoint.size)
        proofs.append(dumps({"leaf_index": index, "size": checkpoint.size, "hashes": _b64(hashes)}))
    files["log/entries.jsonl"] = b"".join(line + b"\n" for line in entries)
    files["log/proofs.jsonl"] = b"".join(line + b"\n" for line in proofs)
    files["checkpoint.txt"] = checkpoint.note.encode("utf-8")
    if checkpoint.timestamp_token:
        files["checkpoint.tsr"] = checkpoint.timestamp_token
    files["log-key.txt"] = (signer.verifier + "\n").encode("ascii")
    files["README.md"] = README.read_bytes()
    manifest = sign_note(
        manifest_text(signer.name, document.id, checkpoint.size, files), signer.name, signer.private_key
    )
    return _zip({**files, MANIFEST: manifest.encode("utf-8")})


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(Encoding.PEM)


def _b64(hashes: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode("ascii") for h in hashes]


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=(2000, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[name])
    return buffer.getvalue()


@dataclass
class BundleReport:
    document_id: str | None = None
    checkpoint_size: int | None = None
    entries: int = 0
    proven: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.problems


def _verify_manifest(note: str, verifier: str) -> tuple[dict[str, str], dict[str, str]]:
    """(header fields, {file: sha256}) of a manifest signed by the log key; NoteError otherwise."""
    name, public = parse_verifier_key(verifier)
    text, separator, signatures = note.partition("\n\n")
    if not separator or not signatures.endswith("\n"):
        raise NoteError("the manifest is not a signed note")
    text += "\n"
    wanted = key_id(name, public)
    for line in signatures[:-1].split("\n"):
        try:
            signer, encoded = line.removeprefix("— ").split(" ")
            blob = base64.b64decode(encoded, validate=True)
        except (ValueError, binascii.Error):
            raise NoteError("unreadable signature line in the manifest") from None
        if line.startswith("— ") and signer == name and blob[:4] == wanted:
            try:
                Ed25519PublicKey.from_public_bytes(public).verify(blob[4:], text.encode("utf-8"))
            except InvalidSignature:
                raise NoteError("the manifest's signature does not verify") from None
            break
    else:
        raise NoteError(f"the manifest carries no signature by {name}")
    lines = text.split("\n")[:-1]
    if len(lines) < 4 or lines[0] != f"{name} evidence":
        raise NoteError("the manifest does not start with the log's name")
    header: dict[str, str] = {}
    digests: dict[str, str] = {}
    for line in lines[1:4]:
        label, _, value = line.partition(" ")
        header[label] = value
    for line in lines[4:]:
        digest, _, path = line.partition(" ")
        digests[path] = digest
    if header.get("format") != FORMAT:
        raise NoteError(f"unknown bundle format {header.get('format')!r}")
    return header, digests


def _canonical_json(data: bytes, what: str) -> Any:
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise NoteError(f"{what} is not JSON") from None
    if dumps(value) != data:
        raise NoteError(f"{what} is not in canonical form (canonical.py)")
    return value


def verify_bundle(
    data: bytes, *, trusted_key: str | None = None, tsa_roots: Sequence[x509.Certificate] = ()
) -> BundleReport:
    """Check an evidence bundle with nothing else: every file against the signed manifest, every
    entry against the signed checkpoint, the bytes against the digests the log recorded, the seal
    against the hub's certificate. Problems name the file (and line) concerned."""
    report = BundleReport()
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = [info.filename for info in archive.infolist()]
        files = {name: archive.read(name) for name in names}
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        report.problems.append(f"the ZIP cannot be read: {error}")
        return report
    if len(set(names)) != len(names):
        report.problems.append("the ZIP holds two files of the same name")
        return report
    if "log-key.txt" not in files or MANIFEST not in files:
        report.problems.append("log-key.txt or manifest.txt is missing")
        return report
    try:
        verifier = files["log-key.txt"].decode("ascii")
        if not verifier.endswith("\n") or verifier.count("\n") != 1:
            raise NoteError("log-key.txt is not one line")
        parse_verifier_key(verifier)
    except (NoteError, UnicodeDecodeError) as error:
        report.problems.append(f"log-key.txt: {error}")
        return report
    if trusted_key is not None and verifier.strip() != trusted_key.strip():
        report.problems.append("log-key.txt: not the log key you trust")
    try:
        header, digests = _verify_manifest(files[MANIFEST].decode("utf-8"), verifier)
    except (NoteError, UnicodeDecodeError) as error:
        report.problems.append(f"{MANIFEST}: {error}")
        return report
    report.document_id = header.get("document")
    for name in sorted(set(files) - {MANIFEST} | set(digests)):
        if name not in files:
            report.problems.append(f"{name}: missing (listed in the manifest)")
        elif name not in digests:
            report.problems.append(f"{name}: not listed in the manifest")
        elif hashlib.sha256(files[name]).hexdigest() != digests[name]:
            report.problems.append(f"{name}: changed (its SHA-256 is not the one in the manifest)")
    _verify_contents(files, verifier, header, report)
    if "checkpoint.tsr" in files and "checkpoint.txt" in files:
        _verify_timestamp(files["checkpoint.tsr"], files["checkpoint.txt"], tsa_roots, report)
    return report


def _verify_timestamp(
    token: bytes, note: bytes, roots: Sequence[x509.Certificate], report: BundleReport
) -> None:
    """The RFC 3161 token must be over this checkpoint; with the TSA's root, its signature too."""
    try:
        response = decode_timestamp_response(token)
        info = response.tst_info
        if info.message_imprint.message != hashlib.sha256(note).digest():
            report.problems.append("checkpoint.tsr: it timestamps another text than checkpoint.txt")
            return
        if roots:
            VerifierBuilder(roots=list(roots)).build().verify_message(response, note)
            report.notes.append(
                f"checkpoint.txt was timestamped by the TSA at {info.gen_time:%Y-%m-%d %H:%M:%S}Z"
            )
        else:
            report.notes.append(
                f"checkpoint.tsr says {info.gen_time:%Y-%m-%d %H:%M:%S}Z "
                "(give the TSA's root to check its signature)"
            )
    except (ValueError, VerificationError) as error:
        report.problems.append(f"checkpoint.tsr: not a valid timestamp: {error}")


def _verify_contents(
    files: dict[str, bytes], verifier: str, header: dict[str, str], report: BundleReport
) -> None:
    """The checks that do not rest on the manifest: proofs, digests, the seal."""
    try:
        checkpoint = verify_checkpoint(files["checkpoint.txt"].decode("utf-8"), verifier)
    except (KeyError, NoteError, UnicodeDecodeError) as error:
        report.problems.append(f"checkpoint.txt: {error}")
        return
    report.checkpoint_size = checkpoint.size
    if header.get("checkpoint") != str(checkpoint.size):
        report.problems.append("checkpoint.txt: not the checkpoint the manifest names")
    try:
        document = _canonical_json(files["document.json"], "document.json")
    except (KeyError, NoteError) as error:
        report.problems.append(f"document.json: {error}")
        return
    entry_lines = files.get("log/entries.jsonl", b"").split(b"\n")
    proof_lines = files.get("log/proofs.jsonl", b"").split(b"\n")
    if entry_lines[-1] or proof_lines[-1] or len(entry_lines) != len(proof_lines):
        report.problems.append("log/entries.jsonl, log/proofs.jsonl: not one proof line per entry line")
        return
    logged_digests: set[str] = set()
    sealed_digests: set[str] = set()
    for number, (line, proof_line) in enumerate(
        zip(entry_lines[:-1], proof_lines[:-1], strict=True), start=1
    ):
        report.entries += 1
        try:
            entry = _canonical_json(line, f"log/entries.jsonl line {number}")
            proof = _canonical_json(proof_line, f"log/proofs.jsonl line {number}")
        except NoteError as error:
            report.problems.append(str(error))
            continue
        if proof.get("leaf_index") is None:
            report.notes.append(f"log/entries.jsonl line {number}: not yet covered by a checkpoint")
        else:
            try:
                hashes = [base64.b64decode(h, validate=True) for h in proof["hashes"]]
                if proof["size"] != checkpoint.size:
                    raise merkle.ProofError("the proof is for another tree size")
                merkle.verify_inclusion(
                    proof["leaf_index"], checkpoint.size, merkle.leaf_hash(line), hashes, checkpoint.root
                )
            except (merkle.ProofError, binascii.Error, KeyError, TypeError) as error:
                report.problems.append(
                    f"log/entries.jsonl line {number} (leaf {proof.get('leaf_index')}): "
                    f"not in the signed log: {error}"
                )
                continue
            report.proven += 1
        stored = isinstance(entry, dict) and entry.get("event") == "stored" and entry.get("sha256")
        if stored and entry.get("document_id") == document.get("id"):
            logged_digests.add(entry["sha256"])
            sealed_digests.add(str((entry.get("detail") or {}).get("sealed_sha256")))
    if document.get("original_sha256") not in logged_digests:
        report.problems.append("document.json: its original_sha256 is not the digest the log recorded")
    if document.get("sealed_sha256") not in sealed_digests:
        report.problems.append("document.json: its sealed_sha256 is not the digest the log recorded")
    for name, digest_field in (("received.edxml", "original_sha256"), ("sealed.edxml", "sealed_sha256")):
        if name in files:
            if hashlib.sha256(files[name]).hexdigest() != document.get(digest_field):
                report.problems.append(f"{name}: its SHA-256 is not the one the log recorded")
        elif not document.get("payloads_purged"):
            report.problems.append(f"{name}: missing")
    if "sealed.edxml" in files:
        _verify_seal(files, report)
    else:
        report.notes.append(
            "the payloads were purged by retention: their digests are proven, not their bytes"
        )


def _verify_seal(files: dict[str, bytes], report: BundleReport) -> None:
    known: list[HubCertificate] = []
    for name, data in files.items():
        if name.startswith("certificates/hub-"):
            try:
                certificates = load_certificates_pem(data)
            except ValueError as error:
                report.problems.append(f"{name}: {error}")
                continue
            known += [
                HubCertificate(certificate_fingerprint(c), c, certificate_fingerprint(c))
                for c in certificates
            ]
    check = verify_seal(files["sealed.edxml"], known)
    if not check.valid:
        report.problems.append(f"sealed.edxml: the hub's seal is not valid: {check.reason}")
