"""Problem messages in the caller's language, translated when the answer is written, not where the
error is raised: the modules that raise keep writing English, and codes and paths never change.

How a problem's `message` is chosen for a locale other than English (`problem_message`):
 1. a message built with `Problem.of(path, code, N_("… {name} …"), name=value)` is translated in
    full, its parameters put back into the translated template;
 2. a message that is itself in the catalogue (a constant written `N_("…")` where it is raised) is
    translated as it is;
 3. otherwise the code's own message below (`CODE_MESSAGES`): a sentence without the particulars,
    which the problem's `path` locates; the English message is kept after it in brackets when it
    carries particulars (values, codes) the generic sentence does not say;
 4. a code not listed (validation types of pydantic not listed here) keeps the English message.
`detail` follows rules 1–2 (`HubError(N_("… {name} …"), params={...})` or `HubError(N_("…"))`); a
detail built from an f-string stays English. `title` is always translated (every HubError kind).

The rule for new code: a new problem code gets its line in CODE_MESSAGES (the test
tests/i18n/test_problem_messages.py walks every code raised in app/ and fails without it); a new
detail or message is written with N_ and, when it has particulars, with named parameters; then
`python -m app.i18n` and the Vietnamese in app/i18n/locales/vi/LC_MESSAGES/messages.po.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.i18n import N_, SOURCE_LOCALE, gettext

if TYPE_CHECKING:
    from app.kit.errors import HubError, Problem

#: Every problem code the hub raises, with a message that needs no particulars (English; translated
#: through the catalogue).
CODE_MESSAGES: dict[str, str] = {
    # the edXML package itself (app.edxml)
    "not-well-formed": N_("The file is not well-formed XML"),
    "forbidden-dtd": N_("A DOCTYPE declaration (DTD) is not accepted"),
    "forbidden-entity": N_("An entity reference is not accepted"),
    "too-many-elements": N_("The document has too many elements"),
    "too-many-problems": N_("More problems are not listed"),
    "wrong-namespace": N_("The root element must be edXML in the edXML namespace"),
    "schema": N_("The document does not follow the edXML schema here"),
    "repeated-element": N_("This element may appear only once here"),
    "bad-base64": N_("The attachment's content (ContentTransferEncoded) is not valid base64"),
    "required": N_("This element is required and must not be empty"),
    "bad-date": N_("This is not a date written yyyy/MM/dd"),
    "bad-timestamp": N_("This is not a timestamp written yyyy/MM/dd HH:mm:ss"),
    "bad-status-code": N_("This is not a processing status code (01…16)"),
    "bad-agency-code": N_(
        "This is not an agency identification code: at most 35 characters, dot-separated groups of "
        "0-9 and A-Z"
    ),
    "duplicate-recipient": N_("This agency is already a recipient of the document"),
    "too-long": N_("The document code (DocumentId) is too long"),
    "document-id-sender-mismatch": N_(
        "The document code (DocumentId) names another agency than the sender (From/OrganId)"
    ),
    "future-date": N_("The promulgation date is after today (Vietnam time)"),
    "duplicate-reference": N_("This attachment is referenced twice"),
    "missing-attachment": N_("The attachment listed in edXMLManifest is not in the package"),
    "duplicate-attachment": N_("Two attachments have the same content id"),
    "unreferenced-attachment": N_("The attachment is not listed in edXMLManifest"),
    "status-message-not-document": N_(
        "The package is a status message: send status messages to /api/v1/statuses"
    ),
    "document-not-status-message": N_(
        "The package is not a status message: send documents to /api/v1/documents"
    ),
    # the agency directory and routing (app.documents, app.statuses)
    "unknown-agency": N_("This agency identification code is not in the agency directory"),
    "agency-suspended": N_("This agency is suspended"),
    "agency-closed": N_("This agency's code is closed"),
    "no-route": N_("No routing rule reaches this agency"),
    "no-local-recipient": N_("None of the recipients is an agency of this province"),
    "sender-is-local": N_("This agency belongs to the province: it sends through the hub"),
    "sender-not-caller": N_("From/OrganId must be your own agency identification code"),
    "duplicate-document-id": N_("A document with this document code (DocumentId) was already sent"),
    "unknown-document": N_("No such document passed through this hub"),
    "sender-only-status": N_("Only the document's sender sends this processing status"),
    "recipient-only-status": N_("Only a recipient of the document sends this processing status"),
    # signatures and the hub's seal (app.sealing)
    "signature-invalid": N_("The digital signature is not valid"),
    "signature-unverifiable": N_(
        "The digital signature cannot be verified: sign with a standard XML signature (ds:Signature) "
        "in edXMLHeader"
    ),
    "signature-required": N_(
        "This agency must sign its documents: no standard XML signature (ds:Signature) in edXMLHeader"
    ),
    "cannot-seal": N_("The hub cannot seal this document"),
    # request parameters (FastAPI/pydantic validation types the hub's endpoints meet)
    "missing": N_("This field is required"),
    "extra_forbidden": N_("This field is not expected"),
    "string_type": N_("A text value is expected"),
    "string_too_short": N_("The text is too short"),
    "string_too_long": N_("The text is too long"),
    "string_pattern_mismatch": N_("The text does not have the expected form"),
    "int_parsing": N_("A whole number is expected"),
    "int_type": N_("A whole number is expected"),
    "bool_parsing": N_("true or false is expected"),
    "greater_than_equal": N_("The number is too small"),
    "greater_than": N_("The number is too small"),
    "less_than_equal": N_("The number is too large"),
    "less_than": N_("The number is too large"),
    "enum": N_("The value is not one of those allowed"),
    "literal_error": N_("The value is not one of those allowed"),
    "datetime_parsing": N_("A date and time is expected"),
    "datetime_from_date_parsing": N_("A date and time is expected"),
    "date_parsing": N_("A date is expected"),
    "json_invalid": N_("The body is not valid JSON"),
    "model_attributes_type": N_("An object is expected"),
    "dict_type": N_("An object is expected"),
    "list_type": N_("A list is expected"),
    "value_error": N_("The value is not valid"),
    "invalid": N_("The value is not valid"),
    # the request itself, at the HTTP edge (app.kit.edge, app.kit.http, app.kit.errors)
    "content-encoding": N_("Compressed request bodies are not accepted: send the body uncompressed"),
    "nul-character": N_("The request's path or query holds a NUL character"),
    "unstorable-value": N_(
        "A value in the request cannot be stored (a NUL character, or a number out of range)"
    ),
    "encoding-mismatch": N_("The encoding the document declares is not the one it is written in"),
    "forbidden-xinclude": N_("XInclude is not accepted"),
    # the console's and the CLI's administration (app.agencies, app.routing, app.delivery)
    "empty": N_("Nothing to change: send at least one field"),
    "invalid-code": N_("This is not a valid agency identification code"),
    "invalid-successor": N_("The successor must be an active agency other than this one"),
    "invalid-pattern": N_("This is not a valid agency code pattern (like *.H62, *.30.H62 or *)"),
    "unknown-connector": N_("This connector does not exist"),
}

#: The `title` of every HubError kind, marked here for the catalogue rather than where the kinds are
#: declared (the test walks every HubError subclass and fails on a title without Vietnamese).
TITLES = (
    N_("Internal error"),
    N_("Bad request"),
    N_("Missing or invalid credential"),
    N_("Not allowed for this credential"),
    N_("Not found"),
    N_("Conflict"),
    N_("Temporarily unavailable"),
    N_("Request body too large"),
    N_("Body is not XML"),
    N_("The document is not valid"),
    N_("The hub has no signing key"),
    N_("Log in to the console"),
    N_("Method not allowed"),
    N_("The request was not received in time"),
    N_("Request headers too large"),
    N_("Too many requests"),
    N_("Under maintenance"),
)

#: The constant details callers meet most, marked here rather than where they are raised (other
#: modules keep their text as it is): a detail equal to one of these is translated. The test
#: checks each still occurs in app/; a new constant detail is better marked N_ where it is raised.
COMMON_DETAILS = (
    N_("send 'Authorization: Bearer <token>'"),
    N_("the token is unknown, revoked or expired"),
    N_("send 'Authorization: Bearer <token>' or log into the console"),
    N_("the form's CSRF token is missing or wrong: reload the page and try again"),
    N_("documents with a DTD or entity references are not accepted"),
    N_("documents with entity references are not accepted"),
    N_("this is a status message, not a document"),
    N_("this is a document, not a status message"),
    N_("not an edXML message"),
    N_("the document is too costly to check"),
    N_("the sender's signature does not satisfy the hub"),
    N_(
        "another document with this DocumentId was already accepted; a new document needs a new "
        "DocumentId (a revoke, update or replace sets BussinessDocType 1, 2 or 3)"
    ),
    N_("the status message answers no document known here"),
    N_("only the document's sender may recall it"),
    N_("a sender reports no progress on its own document"),
    N_("a status message from the national axis cannot come from an agency of this province"),
    N_("the status message cannot be carried"),
)


def _translated(message: str, locale: str) -> str | None:
    translated = gettext(message, locale)
    return translated if translated != message else None


def problem_message(problem: Problem, locale: str) -> str:
    """The problem's message in `locale` (rules in the module docstring)."""
    if locale == SOURCE_LOCALE:
        return problem.message
    if problem.template:
        template = _translated(problem.template, locale)
        if template is not None:
            return template.format(**dict(problem.params))
    whole = _translated(problem.message, locale)
    if whole is not None:
        return whole
    generic = CODE_MESSAGES.get(problem.code)
    if generic is None:
        return problem.message
    sentence = gettext(generic, locale)
    if problem.message and problem.message != generic:
        return f"{sentence} ({problem.message})"
    return sentence


def detail_message(error: HubError, locale: str) -> str:
    if locale == SOURCE_LOCALE:
        return error.detail
    if error.detail_template:
        template = _translated(error.detail_template, locale)
        if template is not None:
            return template.format(**error.detail_params)
    return gettext(error.detail, locale)


def title_message(error: HubError, locale: str) -> str:
    return gettext(error.title, locale)
