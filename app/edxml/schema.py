"""The hub's XSDs for edXML (schemas/edxml-document.xsd, schemas/edxml-status.xsd) and the turning of
every schema error into a Problem with a prefix-free path.

Each schema is built once: by the gateway at start-up (`load`), otherwise on first use, under a lock.
lxml's schema construction is not safe in two threads at once: a gateway whose first requests built
them in worker threads once failed with "xmlSchemaParse: internal error" and could build none after
it, refusing every document with a 500. A schema object keeps the errors of its last run in one
shared log, so runs are serialised by the same lock; a run takes a fraction of a millisecond for a
typical document.
"""

from __future__ import annotations

import threading
from enum import StrEnum
from functools import cache
from pathlib import Path

from lxml import etree

from app.edxml import paths
from app.edxml.model import NAMESPACE
from app.kit.errors import Problem

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"


class Kind(StrEnum):
    DOCUMENT = "document"
    STATUS = "status"


EXACT_PATHS = 100

_lock = threading.Lock()


@cache
def schema(kind: Kind) -> etree.XMLSchema:
    """The XSD for one kind of message, loaded from our own files (which include each other)."""
    source = etree.parse(str(SCHEMA_DIR / f"edxml-{kind}.xsd"), etree.XMLParser(no_network=True))
    return etree.XMLSchema(source)


def load() -> None:
    """Build every schema now (at start-up, before requests come)."""
    with _lock:
        for kind in Kind:
            schema(kind)


def validate(root: etree._Element, kind: Kind) -> list[Problem]:
    """Every schema error in the document, in document order; empty when it is valid."""
    with _lock:
        checker = schema(kind)
        if checker.validate(root):
            return []
        errors = [(error.path, error.message) for error in checker.error_log]
    return [
        Problem(
            # Finding the element costs a walk along its siblings: beyond the first errors, which are
            # the ones a sender reads, the path is only cleaned of its prefixes.
            path=paths.from_libxml2(root, path) if i < EXACT_PATHS else paths.without_prefixes(path),
            code="schema",
            message=_readable(message),
        )
        for i, (path, message) in enumerate(errors)
    ]


def _readable(message: str) -> str:
    return message.replace("{" + NAMESPACE + "}", "").replace("##other*", "elements of other namespaces")
