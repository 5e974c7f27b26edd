"""Reading edXML that comes from outside: the one hardened XML parser, then the message read in full.

`read_message` and its two narrower forms parse, check the root, tell a document from a status
message, validate against the hub's XSD, extract the values and apply the format's rules, and report
every problem found in one `InvalidDocument`. Bytes that are not XML at all are a 415.

Hardening: no DTD (internal or external), no entity references, nothing fetched from the network or
the file system. Text nodes may exceed libxml2's 10 MB default, as 20 MB attachments travel inline
as base64 (libxml2 still refuses entity amplification with huge_tree on). The body size is capped
before parsing, by the HTTP layer; the element count is capped here, because libxml2 computes a path
for every schema error, which is quadratic in the number of siblings.
"""

from __future__ import annotations

from datetime import date

from lxml import etree

from app.edxml import extract, rules, schema
from app.edxml.formats import vietnam_today
from app.edxml.model import NAMESPACE, EdxmlDocument, StatusMessage
from app.edxml.paths import element_path
from app.i18n import N_
from app.kit.errors import InvalidDocument, Problem, UnsupportedMediaType

ROOT = "{" + NAMESPACE + "}edXML"
MAX_ELEMENTS = 20_000  # ~2,000 recipients with full details; a real message has a few hundred
MAX_CHILDREN = 2_000  # of any one element
MAX_PROBLEMS = 100  # listed in one answer; more are summarised

_FORMAT_CODES = frozenset({"bad-date", "bad-timestamp"})
_ENTITY_ERRORS = frozenset({etree.ErrorTypes.ERR_UNDECLARED_ENTITY, etree.ErrorTypes.ERR_ENTITY_LOOP})


def hardened_parser() -> etree.XMLParser:
    """The parser for every byte that comes from outside. A new one per use: lxml serialises the
    users of one parser object, and making one costs under a microsecond."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=True,
        remove_blank_text=False,
    )


def parse_xml(data: bytes) -> etree._Element:
    """The root of a well-formed document without DTD or entities.

    Raises UnsupportedMediaType (415) when the bytes are not well-formed XML, and InvalidDocument
    (422) for a DTD, an entity reference or a tree too large to validate.
    """
    try:
        root = etree.fromstring(data, hardened_parser())
    except etree.XMLSyntaxError as error:
        raise _syntax_error(error) from None
    problems = _forbidden_constructs(root)
    if problems:
        raise InvalidDocument("documents with a DTD or entity references are not accepted", problems)
    _check_size(root)
    return root


def read_message(data: bytes, *, today: date | None = None) -> EdxmlDocument | StatusMessage:
    """A document or a status message, whichever the bytes carry. `today` (default: today in
    Vietnam) is what a promulgation date may not be after."""
    root = _edxml_root(data)
    if extract.status_element(root) is not None:
        return _status(root, today or vietnam_today())
    return _document(root, today or vietnam_today())


def read_document(data: bytes, *, today: date | None = None) -> EdxmlDocument:
    """A document message (gói tin văn bản); a status message is refused with a pointer to where
    it belongs."""
    root = _edxml_root(data)
    status = extract.status_element(root)
    if status is not None:
        raise InvalidDocument(
            "this is a status message, not a document",
            [
                Problem(
                    element_path(status),
                    "status-message-not-document",
                    "edXMLHeader holds a Status: send status messages to /api/v1/statuses",
                )
            ],
        )
    return _document(root, today or vietnam_today())


def read_status(data: bytes, *, today: date | None = None) -> StatusMessage:
    """A status message (gói tin trạng thái); a document is refused with a pointer to where it
    belongs. `today` as for read_message, for the date of the document the status is about."""
    root = _edxml_root(data)
    if extract.status_element(root) is None:
        raise InvalidDocument(
            "this is a document, not a status message",
            [
                Problem(
                    f"{rules.HEADER}/Status",
                    "document-not-status-message",
                    "edXMLHeader holds no Status: send documents to /api/v1/documents",
                )
            ],
        )
    return _status(root, today or vietnam_today())


def _document(root: etree._Element, today: date) -> EdxmlDocument:
    schema_problems = schema.validate(root, schema.Kind.DOCUMENT)
    document, problems = extract.document(root)
    _raise_if_any(schema_problems, [*problems, *rules.document_problems(document, today=today)])
    return document


def _status(root: etree._Element, today: date) -> StatusMessage:
    schema_problems = schema.validate(root, schema.Kind.STATUS)
    status, problems = extract.status(root)
    _raise_if_any(schema_problems, [*problems, *rules.status_problems(status, today=today)])
    return status


def _raise_if_any(schema_problems: list[Problem], others: list[Problem]) -> None:
    # A date the schema already refused by its pattern is not reported twice.
    refused = {problem.path for problem in schema_problems}
    problems = schema_problems + [p for p in others if not (p.code in _FORMAT_CODES and p.path in refused)]
    if not problems:
        return
    count = len(problems)
    if count > MAX_PROBLEMS:
        more = Problem("/", "too-many-problems", f"{count - MAX_PROBLEMS} more problems are not listed")
        problems = [*problems[:MAX_PROBLEMS], more]
    template = (
        N_("the edXML message has {count} problem")
        if count == 1
        else N_("the edXML message has {count} problems")
    )
    raise InvalidDocument(template, problems, params={"count": count})


def _edxml_root(data: bytes) -> etree._Element:
    root = parse_xml(data)
    if root.tag != ROOT:
        qname = etree.QName(root)
        namespace = f"namespace {qname.namespace}" if qname.namespace else "no namespace"
        found = f"{qname.localname} in {namespace}"
        raise InvalidDocument(
            "not an edXML message",
            [
                Problem(
                    "/" + qname.localname,
                    "wrong-namespace",
                    f"the root element must be edXML in namespace {NAMESPACE}; found {found}",
                )
            ],
        )
    return root


def _syntax_error(error: etree.XMLSyntaxError) -> UnsupportedMediaType | InvalidDocument:
    line, column = error.position
    where = f"line {line}, column {column}"
    reason = str(error.msg).split(f", line {line}")[0]
    # An entity the parser would not expand (undeclared, looping, amplifying) is a use of entities, not
    # a typo such as a bare "&": answer as for any entity.
    amplifying = error.code == etree.ErrorTypes.ERR_RESOURCE_LIMIT and "entity" in reason.lower()
    if error.code in _ENTITY_ERRORS or amplifying:
        return InvalidDocument(
            "documents with entity references are not accepted",
            [Problem("/", "forbidden-entity", f"{reason} ({where})")],
        )
    return UnsupportedMediaType(
        f"the body is not well-formed XML: {reason} ({where})",
        [Problem("/", "not-well-formed", f"{reason} ({where})")],
    )


def _forbidden_constructs(root: etree._Element) -> list[Problem]:
    problems = []
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        problems.append(Problem("/", "forbidden-dtd", "a DOCTYPE declaration (DTD) is not accepted"))
    for entity in root.iter(etree.Entity):
        parent = entity.getparent()
        path = element_path(parent) if parent is not None else "/"
        problems.append(Problem(path, "forbidden-entity", f"the entity reference {entity} is not accepted"))
        if len(problems) > MAX_PROBLEMS:
            break
    return problems


def _check_size(root: etree._Element) -> None:
    for count, element in enumerate(root.iter(), 1):
        if count > MAX_ELEMENTS:
            raise InvalidDocument(
                "the document is too large to check",
                [Problem("/", "too-many-elements", f"more than {MAX_ELEMENTS} elements")],
            )
        if len(element) > MAX_CHILDREN:
            raise InvalidDocument(
                "the document is too large to check",
                [
                    Problem(
                        element_path(element),
                        "too-many-elements",
                        f"more than {MAX_CHILDREN} children in one element",
                    )
                ],
            )
