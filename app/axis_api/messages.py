"""`ErrorDesc` in the caller's language: Vietnamese unless the request's Accept-Language prefers
English, since QLVB software shows ErrorDesc to its clerks as it is. ErrorCode never changes.

A description is translated in full when it was raised as `ProtocolError(code, N_("… {name} …"),
name=value)` or is itself a catalogue message; otherwise it is the ErrorCode's own Vietnamese
sentence with the English description after it in brackets (its particulars: parameter names,
values, codes). A refusal of the hub's own rules (a HubError) is its translated detail and the
translated message of each problem with its path (app.kit.problem_messages).
"""

from __future__ import annotations

from fastapi import Request

from app.axis.protocol import ErrorCode, ProtocolError
from app.i18n import N_, SOURCE_LOCALE, gettext
from app.kit.errors import HubError, problem_locale
from app.kit.problem_messages import detail_message, problem_message

#: /vxp answers in Vietnamese unless Accept-Language asks for English.
VXP_DEFAULT_LOCALE = "vi"

#: Every ErrorCode's own sentence, for a description that has no translation of its own.
ERROR_CODE_MESSAGES: dict[ErrorCode, str] = {
    ErrorCode.OK: N_("Success"),
    ErrorCode.INVALID_REQUEST: N_("The request is not valid"),
    ErrorCode.UNKNOWN_DOCUMENT: N_("No such package"),
    ErrorCode.BAD_CREDENTIALS: N_("The system id, the signature or the source address is not accepted"),
    ErrorCode.UNKNOWN_RECIPIENT: N_("The recipient is not in the agency directory"),
    ErrorCode.SENDER_NOT_SERVED: N_("The sending agency is not served by this system"),
    ErrorCode.SYSTEM_ERROR: N_("System error"),
    ErrorCode.FILE_ERROR: N_("The file is not valid"),
    ErrorCode.NOT_EDXML: N_("The file is not a valid edXML package"),
    ErrorCode.RECIPIENT_LOCKED: N_("The recipient is suspended or closed"),
}


def vxp_locale(request: Request) -> str:
    return problem_locale(request, VXP_DEFAULT_LOCALE)


def _translated(message: str, locale: str) -> str | None:
    translated = gettext(message, locale)
    return translated if translated != message else None


def describe_protocol_error(error: ProtocolError, locale: str) -> str:
    """A refusal's ErrorDesc in `locale`."""
    return describe(error.code, error.description, locale, error.template, error.params)


def describe(
    code: ErrorCode,
    description: str,
    locale: str,
    template: str = "",
    params: dict[str, str] | None = None,
) -> str:
    if locale == SOURCE_LOCALE:
        return description
    if template:
        translated = _translated(template, locale)
        if translated is not None:
            return translated.format(**(params or {}))
    whole = _translated(description, locale)
    if whole is not None:
        return whole
    sentence = gettext(ERROR_CODE_MESSAGES[code], locale)
    return f"{sentence} ({description})" if description else sentence


def describe_hub_error(error: HubError, locale: str, code: ErrorCode) -> str:
    """The hub's refusal with every problem's path and message, in `locale`."""
    detail = detail_message(error, locale)
    if locale != SOURCE_LOCALE and detail == error.detail:
        detail = f"{gettext(ERROR_CODE_MESSAGES[code], locale)} ({error.detail})"
    if not error.errors:
        return detail
    return f"{detail}: " + "; ".join(f"{p.path}: {problem_message(p, locale)}" for p in error.errors)
