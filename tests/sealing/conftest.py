"""Fixtures for the sealing tests: keys generated once per session, sealers, and a throw-away
SQLite database with two agencies."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from support.signing import HUB_CODE, RECIPIENT, SENDER, edxml_document

from app.config import Settings
from app.kit.db import Base, Database
from app.models import Agency
from app.sealing.keys import KeyAlgorithm, SigningIdentity, generate_development_identity
from app.sealing.seal import Sealer


@pytest.fixture(scope="session")
def document() -> bytes:
    return edxml_document()


@pytest.fixture(scope="session")
def ec_identity() -> SigningIdentity:
    return generate_development_identity(HUB_CODE, algorithm=KeyAlgorithm.ECDSA_P256)


@pytest.fixture(scope="session")
def rsa_identity() -> SigningIdentity:
    return generate_development_identity(HUB_CODE, algorithm=KeyAlgorithm.RSA_2048)


@pytest.fixture(scope="session")
def ec_sealer(ec_identity: SigningIdentity) -> Sealer:
    return Sealer(ec_identity, key_id="key-ec")


@pytest.fixture(scope="session")
def rsa_sealer(rsa_identity: SigningIdentity) -> Sealer:
    return Sealer(rsa_identity, key_id="key-rsa")


@pytest.fixture(scope="session")
def agency_identity() -> SigningIdentity:
    """The sender agency's own signing key (RSA, as CA-issued keys usually are)."""
    return generate_development_identity(SENDER, algorithm=KeyAlgorithm.RSA_2048)


@pytest.fixture(scope="session")
def other_identity() -> SigningIdentity:
    """A key nobody registered."""
    return generate_development_identity("000.00.09.H62", algorithm=KeyAlgorithm.ECDSA_P256)


# Database


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/t.db")
    async with database.engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    async with database.transaction() as session:
        session.add_all(
            [
                Agency(code=SENDER, name="Văn phòng UBND tỉnh"),
                Agency(code=RECIPIENT, name="Sở Nội vụ"),
            ]
        )
    yield database
    await database.dispose()


@pytest.fixture
def hub_settings(tmp_path: Path, database: Database) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=tmp_path / "data",
        database_url=database.url,
        hub_code=HUB_CODE,
        master_key="",
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "work"
    path.mkdir()
    yield path
