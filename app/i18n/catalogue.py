"""Keeping the catalogues in step with the code: extraction from Python and Jinja2 templates, and
merging into the .po files. Used by `python -m app.i18n` and by the catalogue test."""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po, write_po

from app.i18n import DOMAIN

APP_DIR = Path(__file__).resolve().parents[1]
METHODS = [("**/templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")]
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n", "trimmed": "true"}}
KEYWORDS = {**DEFAULT_KEYWORDS, "N_": None}


def extract(root: Path = APP_DIR) -> Catalog:
    """Every message marked in the code under `root`."""
    catalog = Catalog(domain=DOMAIN, project="lienthong", charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(
        root, METHODS, keywords=KEYWORDS, options_map=OPTIONS, comment_tags=("Translators:",)
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    if root == APP_DIR:
        for text in command_line_help():
            catalog.add(text, None, [("cli.py", 0)], auto_comments=["lienthong --help"])
    return catalog


def command_line_help() -> list[str]:
    """The help texts of `lienthong` and every subcommand (docstrings and help=, in English)."""
    import typer.main

    from app.cli import cli
    from app.i18n.cli import help_texts

    return help_texts(typer.main.get_command(cli))


def read(path: Path, locale: str) -> Catalog:
    with path.open("rb") as file:
        return read_po(file, locale=locale, domain=DOMAIN)


def update(path: Path, template: Catalog, locale: str) -> tuple[int, int]:
    """Merge `template` into the catalogue at `path` (created if missing). Returns (new messages,
    messages without a translation)."""
    if path.exists():
        catalog = read(path, locale)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        catalog = Catalog(locale=locale, domain=DOMAIN, project="lienthong", charset="utf-8")
    before = {m.id for m in catalog if m.id}
    catalog.update(template, no_fuzzy_matching=True)
    catalog.obsolete.clear()
    with path.open("wb") as file:
        write_po(file, catalog, width=100, omit_header=False, sort_output=False, include_previous=False)
    added = sum(1 for m in catalog if m.id and m.id not in before)
    untranslated = sum(1 for m in catalog if m.id and not _translated(m.string))
    return added, untranslated


def _translated(string: object) -> bool:
    if isinstance(string, tuple | list):
        return all(bool(s) for s in string)
    return bool(string)
