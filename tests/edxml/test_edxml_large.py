"""A 20 MB attachment travels inline as ~27 MB of base64: beyond libxml2's default 10 MB text limit."""

from __future__ import annotations

import resource
import time
from dataclasses import replace

import pytest
from support.edxml import SPEC, TODAY

from app.edxml import Style, build_document, read_document

SIZE = 20 * 1024 * 1024


@pytest.mark.slow
@pytest.mark.parametrize("wrap", [False, True], ids=["one line", "76-character lines"])
def test_a_20_mb_attachment_is_accepted(wrap: bool) -> None:
    content = bytes(range(256)) * (SIZE // 256)
    data = build_document(
        replace(SPEC, attachments=[("Hồ sơ quét.pdf", "application/pdf", content)]), Style(wrap_base64=wrap)
    )
    del content
    assert len(data) > 27_000_000

    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    document = read_document(data, today=TODAY)
    elapsed = time.perf_counter() - started
    growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024

    [attachment] = document.attachments
    assert (attachment.name, attachment.size) == ("Hồ sơ quét.pdf", SIZE)
    # Generous bounds that still catch a copy per line or a decode that is kept.
    assert elapsed < 10
    assert growth_mb < 400
