"""The master key and the encryption of secrets at rest."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from app.config import Environment, Settings
from app.kit.secrets import (
    MASTER_KEY_BYTES,
    SecretError,
    decrypt,
    encrypt,
    load_master_key,
    new_master_key,
)

KEY = bytes(range(32))


def test_round_trip_with_the_same_purpose() -> None:
    sealed = encrypt(KEY, b"private key bytes", purpose="signing-key:abc")
    assert decrypt(KEY, sealed, purpose="signing-key:abc") == b"private key bytes"
    assert b"private key bytes" not in sealed


def test_each_encryption_uses_a_fresh_nonce() -> None:
    first = encrypt(KEY, b"same", purpose="p")
    second = encrypt(KEY, b"same", purpose="p")
    assert first[:12] != second[:12]
    assert first != second


@pytest.mark.parametrize(
    ("key", "purpose", "alter"),
    [
        (bytes(32), "p", False),  # another master key
        (KEY, "q", False),  # another purpose: a blob moved to another use
        (KEY, "p", True),  # a flipped bit
    ],
)
def test_decrypt_refuses_wrong_key_purpose_or_altered_bytes(key: bytes, purpose: str, alter: bool) -> None:
    sealed = bytearray(encrypt(KEY, b"secret", purpose="p"))
    if alter:
        sealed[-1] ^= 1
    with pytest.raises(SecretError):
        decrypt(key, bytes(sealed), purpose=purpose)


def test_truncated_ciphertext_is_refused() -> None:
    with pytest.raises(SecretError, match="truncated"):
        decrypt(KEY, b"short", purpose="p")


def test_configured_master_key_is_used(tmp_path: Path) -> None:
    text = new_master_key()
    settings = Settings(_env_file=None, data_dir=tmp_path, master_key=text)
    assert load_master_key(settings) == base64.urlsafe_b64decode(text)
    assert not (tmp_path / "master.key").exists()


def test_unpadded_master_key_is_accepted(tmp_path: Path) -> None:
    text = new_master_key().rstrip("=")
    assert (
        len(load_master_key(Settings(_env_file=None, data_dir=tmp_path, master_key=text))) == MASTER_KEY_BYTES
    )


@pytest.mark.parametrize("text", ["not base64 at all!", base64.urlsafe_b64encode(b"short").decode()])
def test_bad_master_key_is_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(SecretError):
        load_master_key(Settings(_env_file=None, data_dir=tmp_path, master_key=text))


def test_development_generates_a_private_key_file_once(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", master_key="")
    first = load_master_key(settings)
    path = tmp_path / "data" / "master.key"
    assert len(first) == MASTER_KEY_BYTES
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_master_key(settings) == first


def test_production_without_master_key_is_refused(tmp_path: Path) -> None:
    # Settings itself refuses this; a settings object built around that check must still not
    # get a generated key.
    settings = Settings.model_construct(environment=Environment.PRODUCTION, data_dir=tmp_path, master_key="")
    with pytest.raises(SecretError):
        load_master_key(settings)
    assert not (tmp_path / "master.key").exists()
