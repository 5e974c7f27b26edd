"""Long attachment texts kept out of the parsed tree.

Attachments travel inline, as base64 in ContentTransferEncoded: 36 MB of file is 48 MB of text.
Parsed as it comes, that text is held by the request body, again by libxml2's tree, and again by
every Python string read out of the tree. So before parsing, each long run of base64 characters
that stands between two tags is replaced by a short unique marker and kept as a view of the body
(`lift`); the tree is built from what is left. The reader takes an attachment's size from the view
(`text_of`), and the seal writes the text into its output where the marker stands (`text_pieces`:
the view with its line ends read as the parser reads them, CR LF and a lone CR as LF, since
software on Windows wraps base64 with CR LF).

Exact by construction: the tree read with markers is used only when each marker is the whole text
of a ContentTransferEncoded without children (`placed`), an element the schema types as a plain
string and whose base64 the hub checks itself. A run and its marker are both character data that
needs no escaping, so the two trees differ in that text alone. Anything else (a run in a comment,
in another element, a document that is refused) is read again from the bytes as they came, so an
error names the same line and column it would have named.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Iterator, Mapping
from types import MappingProxyType

from lxml import etree

from app.edxml.model import NAMESPACE

#: Texts this long are kept out of the trees the hub builds and serialises.
LIFTED_CHARS = 1024 * 1024
_ENCODED = "{" + NAMESPACE + "}ContentTransferEncoded"
_DECLARED_ENCODING = re.compile(
    rb"""^(?:\xef\xbb\xbf)?<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']"""
)

#: A marker in the tree -> the bytes of the body it stands for.
Lifted = Mapping[str, memoryview]
NOTHING_LIFTED: Lifted = MappingProxyType({})


def lift(data: bytes) -> tuple[bytes, dict[str, memoryview]]:
    """`data` with each long run of base64 text between two tags replaced by a marker, and the runs
    (as they are in `data`: their line ends are the sender's, see `text_pieces`).
    Nothing is lifted from a short document, or one declared in an encoding other than UTF-8 (where
    the run's bytes might not be its characters)."""
    if len(data) < LIFTED_CHARS or not _utf8(data):
        return data, {}
    view, position = memoryview(data), 0
    pieces: list[bytes | memoryview] = []
    lifted: dict[str, memoryview] = {}
    for start, end in _runs(data):
        marker = f"lienthong-lifted-{uuid.uuid4().hex}"
        pieces += [view[position:start], marker.encode()]
        lifted[marker] = view[start:end]
        position = end
    if not lifted:
        return data, {}
    pieces.append(view[position:])
    return b"".join(pieces), lifted


def placed(root: etree._Element, lifted: Lifted) -> bool:
    """Whether every marker is the whole text of a childless ContentTransferEncoded, once."""
    found = [e.text for e in root.iter(_ENCODED) if len(e) == 0 and e.text in lifted]
    return len(found) == len(lifted) and set(found) == set(lifted)


def text_of(element: etree._Element, lifted: Lifted) -> str | memoryview:
    """The element's text: the lifted bytes when it is a marker, else its text nodes joined."""
    if len(element) == 0 and element.text in lifted:
        return lifted[element.text]
    return "".join(element.itertext())


def text_pieces(view: memoryview) -> Iterator[bytes]:
    """A lifted text as the parser would have read it, LIFTED_CHARS bytes at a time: XML reads
    CR LF, and a CR alone, as LF."""
    carry = b""
    for start in range(0, len(view), LIFTED_CHARS):
        piece = carry + bytes(view[start : start + LIFTED_CHARS])
        carry = b"\r" if piece.endswith(b"\r") else b""  # its LF may open the next piece
        yield piece[: len(piece) - len(carry)].replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if carry:
        yield b"\n"


def _utf8(data: bytes) -> bool:
    declared = _DECLARED_ENCODING.match(data[:400])
    return declared is None or declared[1].upper().replace(b"_", b"-") == b"UTF-8"


def _runs(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each text of at least LIFTED_CHARS base64 characters right after a '>' and
    right before a '<'. One regular expression, linear in the bytes whatever they hold: 75 ms for
    a 48 MB document, 0.3 s for 50 MB of '><'."""
    return [match.span(1) for match in _run_pattern(LIFTED_CHARS).finditer(data)]


@functools.cache
def _run_pattern(chars: int) -> re.Pattern[bytes]:
    return re.compile(rb">([A-Za-z0-9+/= \t\r\n]{%d,})<" % chars)
