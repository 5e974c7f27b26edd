"""`lienthong` speaks the operator's language: every command's help in Vietnamese by default and in
English with LIENTHONG_LANGUAGE=en (or an English locale); machine-readable output unchanged."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from app.cli import cli
from app.config import Settings
from app.i18n import gettext
from app.i18n.cli import cli_locale, help_texts

BOX = re.compile(r"[│╭╮╰╯─┌┐└┘├┤]")


def _flat(text: str) -> str:
    return " ".join(BOX.sub(" ", text).split())


def _paths() -> Iterator[tuple[list[str], typer.main.TyperGroup | object]]:
    """Every command of the tree, as the arguments that reach it."""
    root = typer.main.get_command(cli)
    pending: list[tuple[list[str], object]] = [([], root)]
    while pending:
        path, command = pending.pop()
        yield path, command
        for name, child in getattr(command, "commands", {}).items():
            pending.append(([*path, name], child))


def _help(path: list[str], language: str) -> str:
    result = CliRunner().invoke(
        cli, [*path, "--help"], env={"LIENTHONG_LANGUAGE": language, "COLUMNS": "200"}, prog_name="lienthong"
    )
    assert result.exit_code == 0, result.output
    return _flat(result.output)


def _own_texts(command: object) -> list[str]:
    """The command's help and its options' help (not its subcommands')."""
    texts = [getattr(command, "help", None)]
    texts += [getattr(parameter, "help", None) for parameter in getattr(command, "params", [])]
    return [text for text in texts if text]


def test_every_help_text_has_a_vietnamese_translation() -> None:
    texts = help_texts(typer.main.get_command(cli))
    assert len(texts) > 80
    untranslated = [text for text in texts if gettext(text, "vi") == text]
    assert not untranslated, f"run python -m app.i18n and translate: {untranslated}"


def test_every_command_help_renders_in_vietnamese_and_in_english() -> None:
    paths = list(_paths())
    assert len(paths) > 40  # groups and commands: db, agency, credential, keys, axis, dev, vxp-system, …
    for path, command in paths:
        vietnamese, english = _help(path, "vi"), _help(path, "en")
        assert "Cách dùng: lienthong" in vietnamese and "Tùy chọn" in vietnamese, path
        assert "Hiện hướng dẫn này rồi thoát." in vietnamese, path
        assert "Usage: lienthong" in english and "Show this message and exit." in english, path
        for text in _own_texts(command):
            # the first words are enough: rich wraps long lines and renders a few markup signs
            assert _flat(gettext(text, "vi"))[:40] in vietnamese, (path, text)
            assert _flat(text)[:40] in english, (path, text)
            assert _flat(text)[:40] not in vietnamese, (path, text)


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({}, "vi"),
        ({"LANG": "C.UTF-8"}, "vi"),
        ({"LANG": "en_US.UTF-8"}, "en"),
        ({"LC_ALL": "vi_VN.UTF-8", "LANG": "en_US.UTF-8"}, "vi"),
        ({"LIENTHONG_LANGUAGE": "en", "LANG": "vi_VN.UTF-8"}, "en"),
        ({"LIENTHONG_LANGUAGE": "vi", "LC_ALL": "en_US.UTF-8"}, "vi"),
        ({"LANG": "fr_FR.UTF-8"}, "vi"),
    ],
)
def test_the_language_setting_then_the_locale_then_vietnamese(
    environment: dict[str, str], expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("LIENTHONG_LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert cli_locale() == expected


def test_an_unknown_language_setting_is_refused() -> None:
    with pytest.raises(ValueError):
        Settings(language="fr")


def test_the_installed_command_speaks_vietnamese_by_default(tmp_path: Path) -> None:
    lienthong = Path(sys.executable).with_name("lienthong")
    base = {k: v for k, v in os.environ.items() if k not in ("LIENTHONG_LANGUAGE", "LC_ALL", "LC_MESSAGES")}
    base |= {"LANG": "C.UTF-8", "COLUMNS": "200", "LIENTHONG_DATA_DIR": str(tmp_path)}
    default = subprocess.run([lienthong, "--help"], env=base, capture_output=True, text=True, timeout=120)
    english = subprocess.run(
        [lienthong, "--help"],
        env={**base, "LIENTHONG_LANGUAGE": "en"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert default.returncode == english.returncode == 0, default.stderr + english.stderr
    assert "Liên Thông: trục liên thông văn bản của tỉnh (edXML)." in _flat(default.stdout)
    assert "Liên Thông: the provincial edXML document-exchange hub." in _flat(english.stdout)
    assert "Mã truy cập (bearer token) cho cơ quan và cho người dùng." in _flat(default.stdout)


def test_people_read_vietnamese_and_programs_read_the_same_output(env: Settings) -> None:
    runner = CliRunner()
    vi = {"LIENTHONG_LANGUAGE": "vi"}
    added = runner.invoke(
        cli, ["user", "add", "hoa", "--role", "auditor", "--password-stdin"], "mật-khẩu-đủ-dài-1\n", env=vi
    )
    assert added.exit_code == 0, added.output
    assert added.stdout.strip() == "đã thêm người dùng hoa (auditor)"
    listing = runner.invoke(cli, ["user", "list"], env=vi)
    assert "đăng nhập gần nhất: chưa bao giờ" in listing.stdout
    reset = runner.invoke(cli, ["user", "reset-password", "hoa", "--generate"], env=vi)
    assert reset.exit_code == 0, reset.output
    assert "đã đặt lại mật khẩu của hoa" in reset.stderr
    password = reset.stdout.strip().splitlines()[-1]  # the secret alone on the last line, untranslated
    assert len(password) >= 10 and " " not in password

    created = runner.invoke(cli, ["credential", "create", "--role", "admin", "--holder", "hoa"], env=vi)
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[-1]
    assert token == created.stdout.strip() and " " not in token

    deliveries = runner.invoke(cli, ["delivery", "list", "--json"], env=vi)
    assert deliveries.exit_code == 0, deliveries.output
    assert all(json.loads(line) for line in deliveries.stdout.splitlines())

    refused = runner.invoke(cli, ["credential", "revoke", "no-such-credential"], env=vi)
    assert refused.exit_code == 1 and refused.stderr.startswith("lienthong: ")
    upgraded = runner.invoke(cli, ["db", "upgrade"], env={"LIENTHONG_LANGUAGE": "en"})
    assert upgraded.exit_code == 0, upgraded.output
    assert upgraded.stdout.strip() == "database is up to date"
