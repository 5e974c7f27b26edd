"""Paths into documents: prefix-free, indexed where a name repeats, whatever libxml2 wrote."""

from __future__ import annotations

import pytest
from lxml import etree

from app.edxml.paths import element_path, from_libxml2, without_prefixes

N = "http://www.mic.gov.vn/TBT/QCVN_102_2016"

PREFIXED = f"""<e:edXML xmlns:e="{N}"><e:edXMLEnvelope><e:edXMLHeader><e:MessageHeader>
<e:From><e:OrganId>A</e:OrganId></e:From><!-- c --><e:To><e:OrganId>B</e:OrganId></e:To>
<e:To><e:OrganId>C</e:OrganId></e:To></e:MessageHeader></e:edXMLHeader></e:edXMLEnvelope></e:edXML>"""
DEFAULT = PREFIXED.replace("e:", "").replace("xmlns:e=", "xmlns=")
MIXED = (
    PREFIXED.replace("<e:MessageHeader>", f'<MessageHeader xmlns="{N}">')
    .replace("</e:MessageHeader>", "</MessageHeader>")
    .replace("<e:To>", "<To>")
    .replace("</e:To>", "</To>")
)

SECOND_TO = "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/To[2]/OrganId"


@pytest.mark.parametrize("source", [PREFIXED, DEFAULT, MIXED], ids=["prefixed", "default", "mixed"])
def test_schema_error_paths_translate_to_the_same_path(source: str) -> None:
    root = etree.fromstring(source.encode())
    element = root.findall(f".//{{{N}}}OrganId")[2]
    libxml2_path = element.getroottree().getpath(element)  # the same form libxml2 gives errors

    assert from_libxml2(root, libxml2_path) == SECOND_TO
    assert element_path(element) == SECOND_TO


def test_the_libxml2_forms_really_differ() -> None:
    """Guards the test above: default-namespace paths are all `*[n]`."""
    forms = set()
    for source in (PREFIXED, DEFAULT, MIXED):
        root = etree.fromstring(source.encode())
        element = root.findall(f".//{{{N}}}OrganId")[2]
        forms.add(element.getroottree().getpath(element))
    assert len(forms) == 3
    assert any("*" in form for form in forms)


def test_single_elements_have_no_index() -> None:
    root = etree.fromstring(PREFIXED.encode())
    assert element_path(root.find(f".//{{{N}}}From/{{{N}}}OrganId")) == (
        "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/From/OrganId"
    )


@pytest.mark.parametrize("path", [None, "", "/other/x", "/e:edXML/e:nothing[3]", "not a path"])
def test_unknown_paths_fall_back_to_dropping_prefixes(path: str | None) -> None:
    root = etree.fromstring(PREFIXED.encode())
    assert ":" not in from_libxml2(root, path)


def test_without_prefixes() -> None:
    assert without_prefixes("/e:edXML/*[1]/e:To[2]") == "/edXML/*[1]/To[2]"
