"""Checkpoints as C2SP signed notes, pure: build, sign, parse and verify them.

A checkpoint (c2sp.org/tlog-checkpoint) is the note text

    <origin>\\n<tree size>\\n<base64 root hash>\\n[time <RFC 3339 UTC>\\n]

followed by an empty line and one signature line per signer (c2sp.org/signed-note):

    — <key name> <base64(key id (4 bytes) || Ed25519 signature (64 bytes))>\\n

The key id is the first 4 bytes of SHA-256(key name || 0x0A || 0x01 || public key); 0x01 is the
signed-note type of Ed25519. The signature is over the note text (every line up to the empty one,
each ending with a newline). The hub's `time` line is an extension line: readers that do not know it
ignore it. A verifier key is written `<name>+<key id, 8 hex digits>+<base64(0x01 || public key)>`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ED25519 = 0x01
SIGNATURE_PREFIX = "— "  # U+2014 EM DASH, then a space


class NoteError(ValueError):
    """A checkpoint that cannot be read or whose signature does not verify, with the reason."""


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    time: datetime | None
    text: str  # the signed note text, exactly

    def body(self) -> bytes:
        return self.text.encode("utf-8")


def public_key_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ED25519]) + public_key).digest()[:4]


def verifier_key(name: str, public_key: bytes) -> str:
    """The public key as signed-note tools take it."""
    encoded = base64.b64encode(bytes([ED25519]) + public_key).decode("ascii")
    return f"{name}+{key_id(name, public_key).hex()}+{encoded}"


def parse_verifier_key(text: str) -> tuple[str, bytes]:
    """(name, raw Ed25519 public key) from `name+hash+base64`; NoteError if malformed."""
    try:
        name, hex_id, encoded = text.strip().split("+", 2)
        raw = base64.b64decode(encoded, validate=True)
    except (ValueError, binascii.Error):
        raise NoteError("the log key is not of the form name+keyid+base64") from None
    if len(raw) != 33 or raw[0] != ED25519:
        raise NoteError("the log key is not an Ed25519 signed-note key")
    if key_id(name, raw[1:]).hex() != hex_id:
        raise NoteError("the log key's id does not match its name and key")
    return name, raw[1:]


def checkpoint_text(origin: str, size: int, root: bytes, time: datetime | None = None) -> str:
    if not origin or "+" in origin or any(c.isspace() for c in origin):
        raise NoteError("a checkpoint origin (the log key's name) is non-empty, without spaces or '+'")
    lines = [origin, str(size), base64.b64encode(root).decode("ascii")]
    if time is not None:
        lines.append("time " + time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    return "\n".join(lines) + "\n"


def sign_note(text: str, name: str, private_key: Ed25519PrivateKey) -> str:
    """The signed note: text, empty line, the signature line."""
    public = public_key_bytes(private_key.public_key())
    signature = private_key.sign(text.encode("utf-8"))
    encoded = base64.b64encode(key_id(name, public) + signature).decode("ascii")
    return f"{text}\n{SIGNATURE_PREFIX}{name} {encoded}\n"


def parse_checkpoint(note: str) -> tuple[Checkpoint, list[tuple[str, bytes]]]:
    """The checkpoint and its signature lines (name, key id || signature); NoteError if malformed.
    Signatures are not checked here: see `verify_checkpoint`."""
    text, separator, signatures = note.partition("\n\n")
    if not separator:
        raise NoteError("the checkpoint has no signature block")
    text += "\n"
    lines = text.split("\n")[:-1]
    if len(lines) < 3:
        raise NoteError("a checkpoint has an origin, a tree size and a root hash")
    origin, size_text, root_text, *extensions = lines
    if not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
        raise NoteError(f"the tree size is not a decimal number: {size_text!r}")
    try:
        root = base64.b64decode(root_text, validate=True)
    except binascii.Error:
        raise NoteError("the root hash is not base64") from None
    if len(root) != 32:
        raise NoteError("the root hash is not 32 bytes")
    time = None
    for line in extensions:
        if not line:
            raise NoteError("empty line in the checkpoint text")
        if line.startswith("time "):
            try:
                time = datetime.strptime(line[5:], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            except ValueError:
                raise NoteError(f"unreadable time line: {line!r}") from None
    found: list[tuple[str, bytes]] = []
    if not signatures.endswith("\n"):
        raise NoteError("the signature block does not end with a newline")
    for line in signatures[:-1].split("\n"):
        if not line.startswith(SIGNATURE_PREFIX):
            raise NoteError("a signature line does not start with an em dash")
        try:
            name, encoded = line[len(SIGNATURE_PREFIX) :].split(" ")
            blob = base64.b64decode(encoded, validate=True)
        except (ValueError, binascii.Error):
            raise NoteError("unreadable signature line") from None
        if len(blob) < 5:
            raise NoteError("a signature is too short")
        found.append((name, blob))
    return Checkpoint(origin, int(size_text), root, time, text), found


def verify_checkpoint(note: str, verifier: str) -> Checkpoint:
    """The checkpoint, if `note` carries a valid signature by the key `verifier` (`name+id+key`)
    and its origin is that key's name; NoteError otherwise."""
    name, public = parse_verifier_key(verifier)
    checkpoint, signatures = parse_checkpoint(note)
    wanted = key_id(name, public)
    for signer, blob in signatures:
        if signer == name and blob[:4] == wanted:
            try:
                Ed25519PublicKey.from_public_bytes(public).verify(blob[4:], checkpoint.body())
            except InvalidSignature:
                raise NoteError(f"the checkpoint's signature by {name} does not verify") from None
            if checkpoint.origin != name:
                raise NoteError(f"the checkpoint's origin {checkpoint.origin!r} is not the key's {name!r}")
            return checkpoint
    raise NoteError(f"the checkpoint carries no signature by {name}")
