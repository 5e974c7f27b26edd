"""CPU time per seal and per seal verification for a ~6 KB edXML document, key loaded once.

    .venv/bin/python bench/sealing.py [--iterations 500] [--rounds 5] [--size 6144]

For each key type (ECDSA P-256, RSA-2048): the CPU milliseconds of one `Sealer.seal` (lxml's
exclusive c14n and `cryptography` on the parsed tree), of one `Sealer.seal_with_signxml` (signxml's
signer, the reference) and of one `verify_seal`, in the same run, interleaved round by round. CPU
time of this process (`time.process_time`), not wall-clock, so that other work on a shared machine
does not count; the median round is reported.
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

from app.edxml.model import NAMESPACE
from app.sealing.keys import KeyAlgorithm, generate_development_identity
from app.sealing.seal import HubCertificate, Sealer, verify_seal

HUB_CODE = "000.00.00.H62"


def document(size: int = 6 * 1024) -> bytes:
    """An edXML document of about `size` bytes, most of it an inline attachment."""
    head = f"""<?xml version="1.0" encoding="UTF-8"?>
<edXML:edXML xmlns:edXML="{NAMESPACE}">
  <edXML:edXMLEnvelope>
    <edXML:edXMLHeader>
      <edXML:MessageHeader>
        <edXML:From><edXML:OrganId>000.00.01.H62</edXML:OrganId>
          <edXML:OrganName>Văn phòng UBND tỉnh</edXML:OrganName></edXML:From>
        <edXML:To><edXML:OrganId>000.00.02.H62</edXML:OrganId>
          <edXML:OrganName>Sở Nội vụ</edXML:OrganName></edXML:To>
        <edXML:DocumentId>000.00.01.H62,2026/11/27,12/UBND-VP</edXML:DocumentId>
        <edXML:Code><edXML:CodeNumber>12</edXML:CodeNumber><edXML:CodeNotation>UBND-VP</edXML:CodeNotation></edXML:Code>
        <edXML:Subject>V/v triển khai liên thông văn bản điện tử</edXML:Subject>
      </edXML:MessageHeader>
      <edXML:TraceHeaderList><edXML:TraceHeader><edXML:OrganId>000.00.01.H62</edXML:OrganId>
        <edXML:Timestamp>2026/11/27 09:29:00</edXML:Timestamp></edXML:TraceHeader></edXML:TraceHeaderList>
    </edXML:edXMLHeader>
    <edXML:edXMLBody><edXML:edXMLManifest version="1.0">
      <edXML:Reference><edXML:ContentId>cid:a</edXML:ContentId></edXML:Reference>
    </edXML:edXMLManifest></edXML:edXMLBody>
  </edXML:edXMLEnvelope>
  <edXML:AttachmentEncoded><edXML:Attachment><edXML:ContentId>a</edXML:ContentId><edXML:ContentTransferEncoded>"""
    tail = """</edXML:ContentTransferEncoded></edXML:Attachment></edXML:AttachmentEncoded>
</edXML:edXML>
"""
    room = max(0, size - len(head.encode()) - len(tail.encode()))
    payload = base64.b64encode(os.urandom(room * 3 // 4)).decode()
    return (head + payload + tail).encode()


def cpu_ms(work: Callable[[], object], iterations: int) -> float:
    """CPU milliseconds (this process, all threads) per call of `work`, over `iterations` calls.
    CPU time, not wall-clock: the machine is shared, and others' work must not count."""
    before = time.process_time()
    for _ in range(iterations):
        work()
    return (time.process_time() - before) * 1000 / iterations


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--iterations", type=int, default=500, help="calls per round and measurement")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the median round is reported")
    parser.add_argument("--size", type=int, default=6 * 1024, help="document size in bytes")
    args = parser.parse_args()
    original = document(args.size)
    print(
        f"document: {len(original)} bytes; CPU ms per call (time.process_time), median of {args.rounds} "
        f"interleaved rounds of {args.iterations} calls"
    )
    print(
        f"{'key':<12} {'seal signxml':>13} {'seal lxml':>10} {'ratio':>6} {'verify':>7} {'sealed size':>12}"
    )
    for algorithm in KeyAlgorithm:
        identity = generate_development_identity(HUB_CODE, algorithm=algorithm)
        sealer = Sealer(identity, key_id="bench")
        known = [HubCertificate("bench", identity.certificate, identity.fingerprint)]
        sealed = sealer.seal(original, hub_code=HUB_CODE, at=datetime.now(UTC))
        assert verify_seal(sealed, known).valid
        assert verify_seal(
            sealer.seal_with_signxml(original, hub_code=HUB_CODE, at=datetime.now(UTC)), known
        ).valid
        operations: dict[str, Callable[[], object]] = {
            "signxml": partial(sealer.seal_with_signxml, original, hub_code=HUB_CODE, at=datetime.now(UTC)),
            "lxml": partial(sealer.seal, original, hub_code=HUB_CODE, at=datetime.now(UTC)),
            "verify": partial(verify_seal, sealed, known),
        }
        rounds: dict[str, list[float]] = {name: [] for name in operations}
        for _ in range(args.rounds):
            # Interleaved, so that a busier moment of the machine weighs on all alike.
            for name, operation in operations.items():
                rounds[name].append(cpu_ms(operation, args.iterations))
        signxml, lxml, verify = (statistics.median(rounds[name]) for name in ("signxml", "lxml", "verify"))
        print(
            f"{algorithm.value:<12} {signxml:>13.3f} {lxml:>10.3f} {signxml / lxml:>6.2f} {verify:>7.3f} "
            f"{len(sealed):>12}"
        )


if __name__ == "__main__":
    main()
