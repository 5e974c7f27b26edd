"""Seals and seal verifications per second for a ~6 KB edXML document, key loaded once.

    .venv/bin/python bench/sealing.py [--seconds 3] [--threads 1,2,4]

For each key type (ECDSA P-256, RSA-2048) and thread count, runs `Sealer.seal` and then
`verify_seal` on the sealed result as fast as possible for the given time and prints a table.
The threads share one Sealer, as the gateway's worker threads do.
"""

from __future__ import annotations

import argparse
import base64
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

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


def rate(work: Callable[[], object], *, seconds: float, threads: int) -> float:
    """Operations per second of `work`, called from `threads` threads for about `seconds`."""
    deadline = time.perf_counter() + seconds

    def loop() -> int:
        done = 0
        while time.perf_counter() < deadline:
            work()
            done += 1
        return done

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        total = sum(pool.map(lambda _: loop(), range(threads)))
    return total / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--threads", default="1,2")
    args = parser.parse_args()
    original = document()
    print(f"document: {len(original)} bytes; {os.cpu_count()} CPUs; {args.seconds:g} s per measurement")
    print(f"{'key':<12} {'threads':>7} {'seals/s':>9} {'verifications/s':>16} {'sealed size':>12}")
    for algorithm in KeyAlgorithm:
        identity = generate_development_identity(HUB_CODE, algorithm=algorithm)
        sealer = Sealer(identity, key_id="bench")
        known = [HubCertificate("bench", identity.certificate, identity.fingerprint)]
        sealed = sealer.seal(original, hub_code=HUB_CODE, at=datetime.now(UTC))
        assert verify_seal(sealed, known).valid
        for threads in (int(t) for t in args.threads.split(",")):
            seals = rate(
                lambda s=sealer: s.seal(original, hub_code=HUB_CODE, at=datetime.now(UTC)),
                seconds=args.seconds,
                threads=threads,
            )
            checks = rate(lambda s=sealed, k=known: verify_seal(s, k), seconds=args.seconds, threads=threads)
            print(f"{algorithm.value:<12} {threads:>7} {seals:>9.0f} {checks:>16.0f} {len(sealed):>12}")


if __name__ == "__main__":
    main()
