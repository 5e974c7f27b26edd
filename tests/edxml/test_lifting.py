"""Long attachment texts are kept out of the parsed tree (`app.edxml.lifting`): the document read is
the one reading the bytes whole gives, a refusal says the same, and whatever is not exactly an
attachment's text is read whole. (The seal of a lifted tree: tests/sealing/test_sealing_signer.py.)"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterator
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from support.edxml import SPEC, TODAY

from app.edxml import Style, build_document, lifting, read_document_tree
from app.kit.errors import HubError


@pytest.fixture
def short_texts() -> Iterator[None]:
    """Every text of 16 base64 characters or more is lifted (1 MiB in the hub): attachments of 10
    bytes or more, not the sample's indentation or dates."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(lifting, "LIFTED_CHARS", 16)
        yield


def read_whole(data: bytes) -> object:
    """The document, or the refusal, when nothing is lifted: the reference."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(lifting, "LIFTED_CHARS", len(data) + 1)
        return read_or_refusal(data)[0]


def read_or_refusal(data: bytes) -> tuple[object, int]:
    """The document and how many texts were kept out of its tree, or the refusal as answered."""
    try:
        document, tree = read_document_tree(data, today=TODAY)
    except HubError as error:
        return error.to_problem(), 0
    return document, len(tree.lifted)


def with_attachments(contents: list[bytes], *, wrap: bool) -> bytes:
    attachments = [(f"tệp {i}.pdf", "application/pdf", content) for i, content in enumerate(contents)]
    return build_document(replace(SPEC, attachments=attachments), Style(wrap_base64=wrap))


def test_an_attachment_is_a_view_of_the_body_not_a_copy() -> None:
    data = with_attachments([os.urandom(2 * 1024 * 1024)], wrap=True)
    document, tree = read_document_tree(data, today=TODAY)
    [view] = tree.lifted.values()
    assert view.obj is data
    assert len(view) > 2 * 1024 * 1024 and bytes(view) in data
    assert [a.size for a in document.attachments] == [2 * 1024 * 1024]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(contents=st.lists(st.binary(max_size=300), max_size=3), wrap=st.booleans(), crlf=st.booleans())
def test_a_lifted_document_reads_as_the_whole_one(
    contents: list[bytes], wrap: bool, crlf: bool, short_texts: None
) -> None:
    data = with_attachments(contents, wrap=wrap)
    if crlf:  # as software on Windows writes it, base64 lines included
        data = data.replace(b"\n", b"\r\n")
    document, lifted = read_or_refusal(data)
    assert lifted == sum(len(base64.b64encode(content)) >= 16 for content in contents)
    assert document == read_whole(data)


@pytest.mark.parametrize(
    ("where", "edit"),
    [
        (
            "a subject",
            lambda d: re.sub(rb"<edXML:Subject>[^<]*<", b"<edXML:Subject>QUJDREVGR0hJSktMTU5PUFFS<", d),
        ),
        (
            "a comment",
            lambda d: d.replace(b"<edXML:Subject>", b"<!--x>QUJDREVGR0hJSktMTU5PUFFS<x--><edXML:Subject>", 1),
        ),
        (
            "CDATA",
            lambda d: d.replace(
                b"<edXML:Subject>", b"<edXML:Subject><![CDATA[>QUJDREVGR0hJSktMTU5PUFFS<]]>", 1
            ),
        ),
        (
            "a processing instruction",
            lambda d: d.replace(b"<edXML:Subject>", b"<?pi >QUJDREVGR0hJSktMTU5PUFFS<?><edXML:Subject>", 1),
        ),
    ],
)
def test_a_run_that_is_not_an_attachment_s_text_is_read_as_it_came(
    where: str, edit: object, short_texts: None
) -> None:
    data = edit(with_attachments([b"a file of some length"], wrap=False))  # type: ignore[operator]
    assert len(lifting.lift(data)[1]) == 2, f"the attachment and the run in {where} are found"
    document, lifted = read_or_refusal(data)
    assert (document, lifted) == (read_whole(data), 0)


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d.replace(b"</edXML:AttachmentEncoded>", b"</edXML:AttachmentEncoded><broken", 1),
        lambda d: d.replace(b"<edXML:Type>1<", b"<edXML:Type>one<", 1),
        lambda d: d.replace(
            b"<edXML:ContentId>",
            b"<edXML:ContentTransferEncoded>QUJD</edXML:ContentTransferEncoded><edXML:ContentId>",
            1,
        ),
    ],
    ids=["not well-formed after the attachment", "invalid", "a second attachment text"],
)
def test_a_refused_document_is_refused_in_the_words_reading_it_whole_gives(
    edit: object, short_texts: None
) -> None:
    # Wrapped over several lines, so that its marker (on one) would move the lines of what follows.
    data = edit(with_attachments([bytes(300)], wrap=True))  # type: ignore[operator]
    assert lifting.lift(data)[1]
    refusal, _ = read_or_refusal(data)
    assert isinstance(refusal, dict), refusal
    assert refusal == read_whole(data)


def test_nothing_is_lifted_from_a_document_in_another_encoding(short_texts: None) -> None:
    data = with_attachments([b"a file of some length"], wrap=False)
    latin = data.replace(b'encoding="UTF-8"', b'encoding="ISO-8859-1"', 1).replace(
        "Ủy ban".encode(), b"Uy ban"
    )
    assert latin != data
    assert lifting.lift(data)[1]
    assert lifting.lift(latin) == (latin, {})


@given(text=st.text(alphabet="AB\r\n", max_size=40), chars=st.integers(min_value=1, max_value=6))
def test_a_lifted_text_s_line_ends_are_read_as_the_parser_reads_them(text: str, chars: int) -> None:
    """CR LF and a CR alone are LF, wherever the pieces are cut (a CR at the end of one, its LF at
    the start of the next)."""
    element = etree.fromstring(f"<e>{text}</e>".encode())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(lifting, "LIFTED_CHARS", chars)
        pieces = b"".join(lifting.text_pieces(memoryview(text.encode())))
    assert pieces == (element.text or "").encode()
