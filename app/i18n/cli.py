"""The command line speaks the operator's language: Vietnamese by default, English with
`LIENTHONG_LANGUAGE=en` (or, with the setting empty, a locale such as `LANG=en_US.UTF-8`).

Translated when the command runs, from the same catalogue as the console, with no change to the
commands themselves:
- every help text of the command tree (the docstrings, `help=` of groups and options), looked up as
  they are written: `localise` walks the click tree that typer builds and replaces each text by its
  translation; `help_texts` lists them for the catalogue (`python -m app.i18n` extracts them);
- click's and typer's own words ("Usage:", "Options", "Show this message and exit.", the usage
  errors), through the `_` those libraries call;
- a refusal a command prints (`lienthong: …`, app.kit.cli.fail) is the HubError's detail in the
  language (app.kit.problem_messages); a command writes its messages with
  `gettext(message, operator_locale())`, dates and numbers with format_date/format_number.
What a program reads is never translated: `--json` output, tokens and secrets on the last line,
identifiers, codes and English log lines.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from typer import _click as click
from typer.core import TyperGroup

from app.i18n import DEFAULT_LOCALE, LOCALES, N_, normalise, translations

#: click's and typer's own words an operator reads, marked for the catalogue (their msgids are the
#: libraries' English text exactly).
LIBRARY_MESSAGES = (
    N_("Usage: "),
    N_("Options"),
    N_("Commands"),
    N_("Arguments"),
    N_("Error"),
    N_("Show this message and exit."),
    N_("[default: {}]"),
    N_("[required]"),
    N_("[env var: {}]"),
    N_("default: {default}"),
    N_("required"),
    N_("Aborted!"),
    N_("Aborted."),
    N_("Try [blue]'{command_path} {help_option}'[/] for help."),
    N_("Missing command."),
    N_("No such command {name!r}."),
)
# typer's modules whose `_` (gettext) is called while help and errors are printed. The click that
# typer vendors (typer._click) writes its usage errors ("Missing argument", "No such option") as
# plain English strings: those stay English.
_LIBRARY_MODULES = ("typer.core", "typer.rich_utils")
# typer.rich_utils translates these at import; they are read when help is printed.
_RICH_CONSTANTS = {
    "DEFAULT_STRING": "[default: {}]",
    "ENVVAR_STRING": "[env var: {}]",
    "REQUIRED_LONG_STRING": "[required]",
    "ARGUMENTS_PANEL_TITLE": "Arguments",
    "OPTIONS_PANEL_TITLE": "Options",
    "COMMANDS_PANEL_TITLE": "Commands",
    "ERRORS_PANEL_TITLE": "Error",
    "ABORTED_TEXT": "Aborted.",
    "RICH_HELP": "Try [blue]'{command_path} {help_option}'[/] for help.",
}


def cli_locale() -> str:
    """The operator's language: the `language` setting, else the system locale, else Vietnamese."""
    from pydantic import ValidationError

    from app.config import Settings, system_language

    try:
        configured = Settings().language  # read afresh: the environment of this run
    except ValidationError:  # main() reports a bad setting; the help is still shown
        configured = ""
    for candidate in (configured, system_language()):
        if candidate:
            code = candidate.strip().lower().replace("_", "-").split("-")[0].split(".")[0]
            if code in LOCALES:
                return code
    return DEFAULT_LOCALE


#: The language of the command being run (LocalisedGroup sets it). Deliberately not
#: app.i18n.current_locale: `lienthong serve` runs the server in this process, whose requests
#: choose their own language.
_running: ContextVar[str | None] = ContextVar("lienthong_language", default=None)


def operator_locale() -> str:
    """The language to write to the operator in: `gettext(message, operator_locale())`."""
    return _running.get() or cli_locale()


def _commands(command: click.Command) -> Iterator[click.Command]:
    yield command
    if isinstance(command, TyperGroup):
        for child in command.commands.values():
            yield from _commands(child)


def _texts(command: click.Command) -> Iterator[tuple[Any, str, str]]:
    """(object, attribute, text) of every help text of the command and its parameters."""
    for attribute in ("help", "short_help", "epilog"):
        text = getattr(command, attribute, None)
        if text:
            yield command, attribute, text
    for parameter in command.params:
        text = getattr(parameter, "help", None)
        if text:
            yield parameter, "help", text


def help_texts(root: click.Command) -> list[str]:
    """Every help text of the tree, in English as written (for the catalogue and its test)."""
    seen: dict[str, None] = {}
    for command in _commands(root):
        for _owner, _attribute, text in _texts(command):
            seen.setdefault(text, None)
    return list(seen)


def localise(root: click.Command, locale: str) -> None:
    """Replace every help text of the tree by its translation (in place: typer builds the tree
    afresh for each run)."""
    catalogue = translations(normalise(locale))
    for command in _commands(root):
        for owner, attribute, text in list(_texts(command)):
            setattr(owner, attribute, catalogue.gettext(text))


@contextmanager
def libraries_speak(locale: str) -> Iterator[None]:
    """click's and typer's own words in `locale` for the block."""
    catalogue = translations(normalise(locale))
    saved: list[tuple[object, str, object]] = []
    try:
        for name in _LIBRARY_MODULES:
            module = importlib.import_module(name)
            if hasattr(module, "_"):
                saved.append((module, "_", module._))
                module._ = catalogue.gettext  # type: ignore[attr-defined]
        decorators = importlib.import_module("typer._click.decorators")
        formatting = importlib.import_module("typer._click.formatting")
        saved.append((decorators, "help_option", decorators.help_option))
        decorators.help_option = _translated_help_option(decorators.help_option, catalogue.gettext)  # type: ignore[attr-defined]
        formatter = formatting.HelpFormatter
        saved.append((formatter, "write_usage", formatter.write_usage))
        formatter.write_usage = _translated_usage(formatter.write_usage, catalogue.gettext("Usage: "))
        rich = importlib.import_module("typer.rich_utils")
        for constant, message in _RICH_CONSTANTS.items():
            if hasattr(rich, constant):
                saved.append((rich, constant, getattr(rich, constant)))
                setattr(rich, constant, catalogue.gettext(message))
        yield
    finally:
        for owner, attribute, value in reversed(saved):
            setattr(owner, attribute, value)


def _translated_help_option(original: Any, gettext: Any) -> Any:
    """typer._click's help_option, its help text translated (get_help_option imports it by name)."""

    def help_option(param_decls: list[str]) -> Any:
        decorate = original(param_decls)

        def apply(command: Any) -> Any:
            result = decorate(command)
            command.params[-1].help = gettext("Show this message and exit.")
            return result

        return apply

    return help_option


def _translated_usage(original: Any, prefix: str) -> Any:
    usage = prefix

    def write_usage(self: Any, prog: str, args: str = "", prefix: str | None = None) -> None:
        original(self, prog, args, usage if prefix is None else prefix)

    return write_usage


class LocalisedGroup(TyperGroup):
    """The root command of `lienthong`: runs the whole command in the operator's language."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        locale = cli_locale()
        localise(self, locale)
        token = _running.set(locale)
        try:
            with libraries_speak(locale):
                return super().main(*args, **kwargs)
        finally:
            _running.reset(token)
