"""Reading edXML that comes from outside: the one hardened XML parser, then the message read in full.

`read_message` and its two narrower forms parse, check the root, tell a document from a status
message, validate against the hub's XSD, extract the values and apply the format's rules, and report
every problem found in one `InvalidDocument`. Bytes that are not XML at all are a 415.

Hardening: no DTD (internal or external), no entity references, no XInclude, nothing fetched from
the network or the file system. Text nodes may exceed libxml2's 10 MB default, as 20 MB attachments
travel inline as base64 (libxml2 still refuses entity amplification with huge_tree on). The body
size is capped before parsing, by the HTTP layer. UTF-16 whose declaration names another encoding
is refused.

Cost limits, not only size limits: the bytes are fed to the parser in slices and every element is
checked as it is read, so a hostile document is refused after the slice that proves it hostile, not
after its whole tree is built (50 MB of `<a/>` would otherwise cost about 1.5 GB and five seconds).
Checked while parsing: the number of elements, children of one element, depth, attributes
per element, namespace declarations, and the length of names and attribute values. The element
count matters because libxml2 computes a path for every schema error (quadratic in siblings);
attributes and namespace declarations because canonicalisation, which sealing and verifying run, is
quadratic in them (50,000 attributes on one element cost 4.5 s of sealing, holding the GIL). A
document of one slice (64 KiB) is parsed first and its tree looked over instead, the same limits
counted at least as strictly; only one that may pass a limit goes through the slice-by-slice check,
which then gives the answer a larger document would get.

Memory: the read functions keep attachments of 1 MiB or more out of the tree (`app.edxml.lifting`),
so that a 48 MB document is held once, as the body, while it is read and sealed.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Mapping
from datetime import date
from typing import NamedTuple, TypeVar

from lxml import etree

from app.edxml import extract, rules, schema
from app.edxml.formats import vietnam_today
from app.edxml.lifting import NOTHING_LIFTED, Lifted, lift, placed
from app.edxml.model import NAMESPACE, EdxmlDocument, StatusMessage
from app.edxml.paths import element_path
from app.i18n import N_
from app.kit.errors import InvalidDocument, Problem, UnsupportedMediaType

M = TypeVar("M")
ROOT = "{" + NAMESPACE + "}edXML"
MAX_ELEMENTS = 20_000  # ~2,000 recipients with full details; a real message has a few hundred
MAX_CHILDREN = 2_000  # of any one element
MAX_PROBLEMS = 100  # listed in one answer; more are summarised
MAX_DEPTH = 64  # an edXML message with its signatures nests about a dozen deep
MAX_ATTRIBUTES = 64  # on one element; edXML and XMLDSig use one or two
MAX_ALL_ATTRIBUTES = 20_000  # in the whole document: each costs memory and canonicalisation time
MAX_NAMESPACES = 64  # declarations in the whole document; real messages declare two to five
MAX_NAME_CHARS = 256  # of an element or attribute name, namespace included
MAX_ATTRIBUTE_CHARS = 16 * 1024  # of one attribute value (edXML keeps its data in text, not attributes)
FEED_BYTES = 64 * 1024  # the slice fed to the parser between two checks
XINCLUDE = "{http://www.w3.org/2001/XInclude}"
_UTF16_STARTS = (
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
    (b"<\x00?\x00", "utf-16-le"),
    (b"\x00<\x00?", "utf-16-be"),
)
_DECLARED_ENCODING = re.compile(r"""\ufeff?<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")

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
    _check_declared_encoding(data)
    # A document of one slice is parsed first and its tree looked over (`_may_be_too_costly`), five
    # times cheaper than the prescan's callbacks; the prescan then runs only where a limit may be
    # passed or the bytes are not well-formed, and says which limit and where: the same answers as
    # for any document, in the same order.
    one_slice = len(data) <= FEED_BYTES and _ascii_compatible(data)
    if not one_slice:
        _prescan(data)
    try:
        root = etree.fromstring(data, hardened_parser())
    except etree.XMLSyntaxError as error:
        if one_slice:
            _prescan(data)  # a limit passed before the error is what the sender is told
        raise _syntax_error(error) from None
    if one_slice and _may_be_too_costly(root, data):
        _prescan(data)
    problems = _forbidden_constructs(root)
    if problems:
        raise InvalidDocument("documents with a DTD or entity references are not accepted", problems)
    return root


def _check_declared_encoding(data: bytes) -> None:
    """UTF-16 bytes (with or without a byte-order mark) whose declaration names another encoding are
    refused: libxml2 would read them as UTF-16 anyway, and the stored original would lie about itself."""
    for marks, codec in _UTF16_STARTS:
        if data.startswith(marks):
            match = _DECLARED_ENCODING.match(data[:400].decode(codec, errors="ignore"))
            if match and not match[1].upper().replace("_", "-").startswith("UTF-16"):
                message = f"the document declares encoding {match[1]} but is written in UTF-16"
                raise UnsupportedMediaType(message, [Problem("/", "encoding-mismatch", message)])
            return


def _prescan(data: bytes) -> None:
    """Enforce the cost limits in one pass that builds no tree, fed in slices: a hostile document is
    refused after the slice that proves it. Bytes that are not well-formed are left to the real parse,
    which stops at the same place and says why."""
    parser = etree.XMLParser(
        target=_Budget(), resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True
    )
    try:
        for start in range(0, len(data), FEED_BYTES):
            parser.feed(data[start : start + FEED_BYTES])
        parser.close()
    except etree.XMLSyntaxError:
        return


def _ascii_compatible(data: bytes) -> bool:
    """Whether the bytes spell ASCII as ASCII (UTF-8 and the single-byte encodings), so that
    counting `xmlns` in them counts namespace declarations; not UTF-16 or UTF-32."""
    head = data[:4]
    return b"\x00" not in head and not head.startswith((b"\xff\xfe", b"\xfe\xff"))


def _may_be_too_costly(root: etree._Element, data: bytes) -> bool:
    """Whether a parsed document may pass one of `_Budget`'s limits: never False when it does (it
    counts at least what the prescan counts: every `xmlns` in the bytes, children of any kind),
    sometimes True when it does not."""
    if data.count(b"xmlns") > MAX_NAMESPACES:
        return True
    elements = attributes = depth = 0
    for event, element in etree.iterwalk(root, events=("start", "end")):
        if event == "end":
            depth -= 1
            continue
        depth += 1
        elements += 1
        tag, attrib = element.tag, element.attrib
        if not isinstance(tag, str):  # an entity reference: `_forbidden_constructs` refuses it
            continue
        attributes += len(attrib)
        if (
            depth > MAX_DEPTH
            or len(element) > MAX_CHILDREN
            or len(tag) > MAX_NAME_CHARS
            or tag.startswith(XINCLUDE)
            or len(attrib) > MAX_ATTRIBUTES
            or any(len(k) > MAX_NAME_CHARS or len(v) > MAX_ATTRIBUTE_CHARS for k, v in attrib.items())
        ):
            return True
    return elements > MAX_ELEMENTS or attributes > MAX_ALL_ATTRIBUTES


class ParsedTree(NamedTuple):
    """A message's tree, and the long texts kept out of it (`app.edxml.lifting`): whoever reads or
    writes the tree's attachments takes them from `lifted`."""

    root: etree._Element
    lifted: Lifted


def read_message(data: bytes, *, today: date | None = None) -> EdxmlDocument | StatusMessage:
    """A document or a status message, whichever the bytes carry. `today` (default: today in
    Vietnam) is what a promulgation date may not be after."""
    day = today or vietnam_today()

    def either(tree: ParsedTree) -> EdxmlDocument | StatusMessage:
        return _status(tree, day) if extract.status_element(tree.root) is not None else _document(tree, day)

    return _read(data, either)[0]


def read_document(data: bytes, *, today: date | None = None) -> EdxmlDocument:
    """A document message (gói tin văn bản); a status message is refused with a pointer to where
    it belongs."""
    return read_document_tree(data, today=today)[0]


def read_document_tree(data: bytes, *, today: date | None = None) -> tuple[EdxmlDocument, ParsedTree]:
    """`read_document`, and the tree it was read from, unchanged but for the texts kept out of it:
    the intake seals that tree rather than parsing the bytes a second time."""
    day = today or vietnam_today()

    def document(tree: ParsedTree) -> EdxmlDocument:
        status = extract.status_element(tree.root)
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
        return _document(tree, day)

    return _read(data, document)


def read_status(data: bytes, *, today: date | None = None) -> StatusMessage:
    """A status message (gói tin trạng thái); a document is refused with a pointer to where it
    belongs. `today` as for read_message, for the date of the document the status is about."""
    return read_status_tree(data, today=today)[0]


def read_status_tree(data: bytes, *, today: date | None = None) -> tuple[StatusMessage, ParsedTree]:
    """`read_status`, and the tree it was read from, unchanged (see `read_document_tree`)."""
    day = today or vietnam_today()

    def status(tree: ParsedTree) -> StatusMessage:
        if extract.status_element(tree.root) is None:
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
        return _status(tree, day)

    return _read(data, status)


def _read(data: bytes, read: Callable[[ParsedTree], M]) -> tuple[M, ParsedTree]:
    """`read` applied to the tree of `data`, built with its long attachments lifted out where that is
    exact, else (and for a message that is refused) from the bytes as they came, so that every
    error names the lines and columns the sender wrote."""
    small, lifted = lift(data)
    if lifted:
        with contextlib.suppress(InvalidDocument, UnsupportedMediaType):
            tree = ParsedTree(_edxml_root(small), lifted)
            if placed(tree.root, lifted):
                return read(tree), tree
    tree = ParsedTree(_edxml_root(data), NOTHING_LIFTED)
    return read(tree), tree


def _document(tree: ParsedTree, today: date) -> EdxmlDocument:
    schema_problems = schema.validate(tree.root, schema.Kind.DOCUMENT)
    document, problems = extract.document(tree.root, tree.lifted)
    _raise_if_any(schema_problems, [*problems, *rules.document_problems(document, today=today)])
    return document


def _status(tree: ParsedTree, today: date) -> StatusMessage:
    schema_problems = schema.validate(tree.root, schema.Kind.STATUS)
    status, problems = extract.status(tree.root)
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


def _too_costly(path: str, code: str, message: str) -> InvalidDocument:
    return InvalidDocument("the document is too costly to check", [Problem(path, code, message)])


class _Budget:
    """The parser target of `_prescan`: counts what the parser reads and refuses what costs too much."""

    def __init__(self) -> None:
        self.elements = 0
        self.attributes = 0
        self.namespaces = 0
        # Per open element, outermost first: its path step, its children's count, and how many of
        # its children had each name (for the index of the next one in a path).
        self.open: list[tuple[str, list[int], dict[str, int]]] = []

    def start_ns(self, _prefix: str | None, _uri: str) -> None:
        self.namespaces += 1
        if self.namespaces > MAX_NAMESPACES:
            message = f"more than {MAX_NAMESPACES} namespace declarations"
            raise _too_costly("/", "too-many-namespaces", message)

    def start(self, tag: str, attributes: Mapping[str, str], _nsmap: object = None) -> None:
        self.elements += 1
        if self.elements > MAX_ELEMENTS:
            raise _too_costly("/", "too-many-elements", f"more than {MAX_ELEMENTS} elements")
        if len(self.open) >= MAX_DEPTH:
            raise _too_costly(self._path(), "too-deep", f"elements nested more than {MAX_DEPTH} deep")
        if len(tag) > MAX_NAME_CHARS:
            message = f"an element name longer than {MAX_NAME_CHARS} characters"
            raise _too_costly(self._path(), "name-too-long", message)
        name = tag.rpartition("}")[2]
        if tag.startswith(XINCLUDE):
            # Never processed here, but a receiver that processes it would fetch what it names.
            message = "XInclude elements are not accepted: attach files as AttachmentEncoded"
            raise InvalidDocument(
                "documents with XInclude are not accepted",
                [Problem(self._path(), "forbidden-xinclude", message)],
            )
        step = name
        if self.open:
            _, children, names = self.open[-1]
            children[0] += 1
            if children[0] > MAX_CHILDREN:
                message = f"more than {MAX_CHILDREN} children in one element"
                raise _too_costly(self._path(), "too-many-elements", message)
            names[tag] = names.get(tag, 0) + 1
            if names[tag] > 1:
                step = f"{name}[{names[tag]}]"
        self.open.append((step, [0], {}))
        self.attributes += len(attributes)
        if len(attributes) > MAX_ATTRIBUTES:
            message = f"more than {MAX_ATTRIBUTES} attributes on one element"
            raise _too_costly(self._path(), "too-many-attributes", message)
        if self.attributes > MAX_ALL_ATTRIBUTES:
            raise _too_costly("/", "too-many-attributes", f"more than {MAX_ALL_ATTRIBUTES} attributes")
        for key, value in attributes.items():
            if len(key) > MAX_NAME_CHARS:
                message = f"an attribute name longer than {MAX_NAME_CHARS} characters"
                raise _too_costly(self._path(), "name-too-long", message)
            if len(value) > MAX_ATTRIBUTE_CHARS:
                message = f"an attribute value longer than {MAX_ATTRIBUTE_CHARS} characters"
                raise _too_costly(self._path(), "attribute-too-long", message)

    def end(self, _tag: str) -> None:
        self.open.pop()

    def close(self) -> None:
        return None

    def _path(self) -> str:
        # Deep paths are cut: the first steps say where, the rest would only be long.
        steps = [step for step, _, _ in self.open[:12]]
        return "/" + "/".join(steps) + ("/…" if len(self.open) > 12 else "")
