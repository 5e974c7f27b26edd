"""Paths into a document, as the hub reports them: XPath-like, local names without prefixes, and a
1-based index on a step when its element has siblings of the same name (same namespace), e.g.
`/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/To[2]/OrganId`.

Producers choose prefixes freely, so a path never shows one; libxml2's own paths do (and fall back to
`*[n]` for default-namespace elements), so `from_libxml2` walks the tree to find the element it names.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import islice

from lxml import etree

_STEP = re.compile(r"(?:(?P<prefix>[^:\[\]/]+):)?(?P<name>[^:\[\]/]+)(?:\[(?P<index>[0-9]+)\])?")


def local_name(element: etree._Element) -> str:
    tag = element.tag
    assert isinstance(tag, str)
    return tag.rpartition("}")[2]


def step(element: etree._Element) -> str:
    """The last step of an element's path: its local name, indexed if the name repeats."""
    name = local_name(element)
    before = sum(1 for _ in element.itersiblings(element.tag, preceding=True))
    if before == 0 and next(element.itersiblings(element.tag), None) is None:
        return name
    return f"{name}[{before + 1}]"


def element_path(element: etree._Element) -> str:
    steps: list[str] = []
    node: etree._Element | None = element
    while node is not None:
        steps.append(step(node))
        node = node.getparent()
    return "/" + "/".join(reversed(steps))


def from_libxml2(root: etree._Element, libxml2_path: str | None) -> str:
    """Translate a path from an lxml error (`/edXML:edXML/*[1]/edXML:To[2]`) into the hub's form."""
    if not libxml2_path:
        return "/"
    element = _find(root, libxml2_path)
    if element is not None:
        return element_path(element)
    return without_prefixes(libxml2_path)


def without_prefixes(libxml2_path: str | None) -> str:
    """A libxml2 path with its prefixes dropped, when finding its element is not possible or worth it;
    default-namespace steps stay `*[n]`."""
    return re.sub(r"(?<=/)[^/:\[\]]+:", "", libxml2_path or "/")


def _find(root: etree._Element, libxml2_path: str) -> etree._Element | None:
    steps = libxml2_path.split("/")
    if len(steps) < 2 or steps[0] != "":
        return None
    node: etree._Element | None = None
    for text in steps[1:]:
        match = _STEP.fullmatch(text)
        if match is None:
            return None
        candidates: Iterator[etree._Element] = iter([root]) if node is None else node.iterchildren("{*}*")
        if match["name"] != "*":
            name, prefix = match["name"], match["prefix"]
            candidates = (c for c in candidates if local_name(c) == name and c.prefix == prefix)
        # libxml2 counts only the siblings its step matches, as the filter above does.
        node = next(islice(candidates, int(match["index"] or 1) - 1, None), None)
        if node is None:
            return None
    return node
