"""Text fields of request bodies: refused with a 400 if PostgreSQL could not store them (a NUL
character, a lone surrogate), instead of failing in the database."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator


def _storable(value: str) -> str:
    if "\x00" in value:
        raise ValueError("contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("is not valid Unicode text (a lone surrogate)") from None
    return value


StorableText = Annotated[str, AfterValidator(_storable)]
