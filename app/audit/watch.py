"""An auditor's watch over a hub's checkpoints (`lienthong audit watch`): keep a copy of every
checkpoint seen and accept a new one only with a consistency proof that it extends the last. A hub
that rewrites its history is caught by anyone holding an older checkpoint."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import httpx

from app.audit import merkle
from app.audit.note import NoteError, parse_verifier_key, verify_checkpoint
from app.kit.clock import utcnow


class Refused(Exception):
    """The hub's new checkpoint does not extend the one kept: its history was rewritten."""


class Unreachable(Exception):
    """The hub could not be asked, or answered something unreadable."""


def audit_base(url: str) -> str:
    """`…/api/v1/audit` from the hub's base URL or any URL under it."""
    url = url.rstrip("/")
    for suffix in ("/checkpoint", "/api/v1/audit"):
        url = url.removesuffix(suffix)
    return url + "/api/v1/audit"


async def check(
    client: httpx.AsyncClient, url: str, kept: dict[str, Any], *, log_key: str | None = None
) -> tuple[dict[str, Any], str]:
    """The new state to keep and a one-line summary; Refused or Unreachable otherwise."""
    base = audit_base(url)
    try:
        key = log_key or kept.get("log_key") or (await _get(client, f"{base}/log-key")).strip()
        if kept.get("log_key") and key != kept["log_key"]:
            raise Refused("the log key is not the one this state trusts")
        parse_verifier_key(key)
        note = await _get(client, f"{base}/checkpoint")
        try:
            checkpoint = verify_checkpoint(note, key)
        except NoteError as error:
            raise Refused(f"the checkpoint is not signed by the log key: {error}") from None
        history: list[dict[str, Any]] = list(kept.get("checkpoints", []))
        last = history[-1] if history else None
        if last is not None:
            old_size, old_root = last["size"], base64.b64decode(last["root"])
            if checkpoint.size < old_size:
                raise Refused(f"the hub's tree shrank from {old_size} to {checkpoint.size} entries")
            proof: list[bytes] = []
            if old_size < checkpoint.size:
                answer = await client.get(
                    f"{base}/proofs/consistency", params={"from": old_size, "to": checkpoint.size}
                )
                if answer.status_code != 200:
                    raise Refused(f"no consistency proof from {old_size} to {checkpoint.size}")
                proof = [base64.b64decode(h, validate=True) for h in answer.json()["hashes"]]
            try:
                merkle.verify_consistency(old_size, checkpoint.size, old_root, checkpoint.root, proof)
            except merkle.ProofError as error:
                raise Refused(
                    f"the checkpoint of size {checkpoint.size} rewrites the history of size "
                    f"{old_size}: {error}"
                ) from None
    except (httpx.HTTPError, NoteError, ValueError, KeyError, binascii.Error) as error:
        raise Unreachable(f"cannot check {base}: {error}") from None
    if last is None or checkpoint.size != last["size"]:
        history.append(
            {
                "size": checkpoint.size,
                "root": base64.b64encode(checkpoint.root).decode("ascii"),
                "note": note,
                "seen_at": utcnow().isoformat(),
            }
        )
    summary = "first checkpoint kept" if last is None else f"consistent with size {last['size']}"
    return {"log_key": key, "checkpoints": history}, f"checkpoint of size {checkpoint.size}: {summary}"


async def _get(client: httpx.AsyncClient, url: str) -> str:
    answer = await client.get(url)
    answer.raise_for_status()
    return answer.text
