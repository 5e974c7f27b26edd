"""The database: one async engine per process, the declarative base, and portable column types.

The same models and migrations serve SQLite (embedded default) and PostgreSQL (production).

SQLite allows one writer at a time. Write transactions (`Database.transaction()`) start with
`BEGIN IMMEDIATE` and, within the process, queue on an asyncio lock: a waiting writer is handed the
database as soon as it is free, instead of sleeping in SQLite's busy handler (whose back-off reaches
100 ms a try) or failing when a read lock cannot be upgraded.

Reading sessions (`Database.reading()`) never write. On PostgreSQL they run in autocommit, so a
lookup costs one round trip instead of three (BEGIN, SELECT, ROLLBACK); on SQLite they begin deferred
and, in WAL mode, never wait for a writer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import BigInteger, DateTime, Integer, MetaData, Table, event
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them without an offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def table_of(model: type[Base]) -> Table:
    """A model's table, for Core statements (bulk INSERTs and UPDATEs without the ORM's overhead)."""
    return cast(Table, model.__table__)


# SQLite only auto-increments an INTEGER PRIMARY KEY.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


def create_engine(url: str, *, pool_size: int = 20) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})
        _configure_sqlite(engine)
        return engine
    # No pre-ping: it costs a round trip on every checkout. After a server restart the pool is
    # invalidated by the first failing statement instead. Connections are kept (not churned) as
    # long as concurrency stays within pool_size.
    return create_async_engine(url, pool_size=pool_size, max_overflow=10, pool_recycle=1800)


_WRITE_OPTION = "lienthong_write"


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=30000"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        writing = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")


class Database:
    """The engine and the session factory of one process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        reader = (
            self.engine
            if url.startswith("sqlite")
            else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        self._reading = async_sessionmaker(reader, expire_on_commit=False)
        self._sqlite_writer = asyncio.Lock() if url.startswith("sqlite") else None

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose work is committed on success and rolled back on any exception.

        Never open one inside another in the same task: on SQLite the second would wait for the first."""
        if self._sqlite_writer is None:
            async with self.sessionmaker() as session, session.begin():
                yield session
            return
        async with self._sqlite_writer, self.sessionmaker() as session, session.begin():
            await session.connection(execution_options={_WRITE_OPTION: True})
            yield session

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A session for lookups only: nothing written through it is kept."""
        async with self._reading() as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
