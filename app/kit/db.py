"""The database: one async engine per process, the declarative base, and portable column types.

The same models and migrations serve SQLite (embedded default) and PostgreSQL (production).

SQLite allows one writer at a time. Write transactions (`Database.transaction()`) start with
`BEGIN IMMEDIATE` and, within the process, queue on an asyncio lock: a waiting writer is handed the
database as soon as it is free, instead of sleeping in SQLite's busy handler (whose back-off reaches
100 ms a try) or failing when a read lock cannot be upgraded.

Reading sessions (`Database.reading()`) never write. On PostgreSQL they run in autocommit, so a
lookup costs one round trip instead of three (BEGIN, SELECT, ROLLBACK); on SQLite they begin deferred
and, in WAL mode, never wait for a writer. For the same reason the intake's inserts into several
tables go to PostgreSQL as one statement (`Database.write_at_once`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, TypeVar, cast

import asyncpg
from sqlalchemy import (
    BigInteger,
    ColumnDefault,
    ColumnElement,
    DateTime,
    Integer,
    MetaData,
    Row,
    Select,
    Table,
    Update,
    any_,
    bindparam,
    event,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy import column as column_clause
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, InterfaceError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, InstrumentedAttribute
from sqlalchemy.sql.base import Executable
from sqlalchemy.types import TypeDecorator, TypeEngine

from app.kit.changes import Changes

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
        if connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
            return  # each statement its own (a migration's rebuild with foreign keys off)
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
        self.changes = Changes.of(url)  # listened to by the gateways only (`Changes.listen`)
        self.changes.watch(self.engine.sync_engine)

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

    async def write_at_once(
        self,
        tables: Sequence[tuple[Table, list[dict[str, Any]]]],
        *,
        first: Callable[[AsyncSession], Awaitable[None]] | None = None,
    ) -> None:
        """Insert rows into several tables, all or none; `first`, if given, writes something else
        before them in the same transaction (a large payload's COPY).

        On PostgreSQL as one statement of data-modifying CTEs, sent in autocommit: a statement is
        atomic by itself, so this is one round trip instead of BEGIN, one INSERT per table and
        COMMIT (foreign keys between the tables are checked at the statement's end, when every
        row exists); with `first`, in a transaction. SQLite has no data-modifying CTEs: there, one
        write transaction."""
        tables = [(table, rows) for table, rows in tables if rows]
        if not self.is_postgres:
            async with self.transaction() as session:
                if first is not None:
                    await first(session)
                for table, rows in tables:
                    await session.execute(insert(table), rows)
            return
        tables = [(table, [_with_defaults(table, row) for row in rows]) for table, rows in tables]
        statement = _insert_all(tuple((table, tuple(tuple(row) for row in rows)) for table, rows in tables))
        parameters = {
            _parameter(table, number, column): value
            for table, rows in tables
            for number, row in enumerate(rows)
            for column, value in row.items()
        }
        if first is None:
            await self.at_once(statement, parameters)
            return
        async with self.transaction() as session:
            await first(session)
            await session.execute(statement, parameters)

    async def at_once(
        self, statement: Executable, parameters: dict[str, Any] | None = None
    ) -> list[Row[Any]]:
        """One statement, atomic by itself, and the rows it returns: on PostgreSQL in autocommit, one
        round trip instead of BEGIN, the statement and COMMIT; on SQLite in a write transaction."""
        if not self.is_postgres:
            async with self.transaction() as session:
                return list(await session.execute(statement, parameters))
        async with self._reading() as session:
            return list(await session.execute(statement, parameters))

    async def dispose(self) -> None:
        await self.engine.dispose()


def _with_defaults(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """The row with the Python-side defaults (scalars, or functions of nothing such as `utcnow`) of
    the columns it leaves out: each INSERT of `_insert_all` names every such column, because
    SQLAlchemy cannot fill them in for two INSERTs into one table in one statement."""
    missing: dict[str, Any] = {}
    for column in table.columns:
        default = cast(ColumnDefault | None, column.default)
        if default is not None and column.key not in row:
            missing[column.key] = default.arg if default.is_scalar else default.arg(None)
    return {**row, **missing}


def _parameter(table: Table, number: int, column: str) -> str:
    """The name of the parameter of `_insert_all` for a column of one of a table's rows."""
    return f"{table.name}_{number}_{column}"


@functools.lru_cache(maxsize=256)
def _insert_all(shape: tuple[tuple[Table, tuple[tuple[str, ...], ...]], ...]) -> Select[Any]:
    """`write_at_once`'s statement for rows of this shape (each table's rows and their columns):
    one single-row INSERT per row, each a CTE, with parameters named by `_parameter`. SQLAlchemy
    gives a multi-row INSERT no cache key, so one per table was compiled again for every document (a
    fifth of the gateway's CPU at 50 documents/s); this one is compiled once per shape."""
    return select(literal(1)).add_cte(
        *(
            insert(table)
            .values(
                {
                    column: bindparam(_parameter(table, number, column), type_=table.c[column].type)
                    for column in columns
                }
            )
            .cte(f"into_{table.name}_{number}")
            for table, rows in shape
            for number, columns in enumerate(rows)
        )
    )


def one_of(
    column: ColumnElement[Any] | InstrumentedAttribute[Any], name: str, *, postgres: bool
) -> ColumnElement[bool]:
    """`column` is one of the values listed in the parameter `name`. On PostgreSQL `= ANY(array)`:
    one statement text whatever the number of values, so the driver prepares it once per connection
    (an expanding IN is a new statement for every length: prepared again, and evicted from the
    driver's cache by the others). Elsewhere an expanding IN."""
    if postgres:
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


RowsUpdate = tuple[Update, "RowsIn", Sequence[Mapping[str, Any]]]
"""A statement that writes from rows (an `UPDATE ... FROM` a `RowsIn`), its `RowsIn` and the rows."""


async def write_many(
    session: AsyncSession,
    *inserts: tuple[Table, Sequence[dict[str, Any]]],
    updates: Sequence[RowsUpdate] = (),
) -> None:
    """Insert rows into one table or several, each table's rows naming the same columns, and run
    `updates` (statements built over `RowsIn` with arrays on PostgreSQL) with their rows. On
    PostgreSQL as one statement, one round trip: per table an `INSERT ... SELECT` from its rows as
    arrays (`RowsIn`), each part a CTE when there are several. Every part sees the same snapshot,
    so no two may write the same rows; foreign keys are checked at the statement's end. The driver
    encodes an array in one go, where an executemany binds and executes row by row, holding the
    event loop meanwhile (the transparency log's rounds: hundreds of leaves and nodes), and the
    statement's shape does not depend on the number of rows, so it is compiled once. Elsewhere an
    executemany per part, the updates first.

    Not for the tables whose rows gateways remember (credentials, agencies, routes): a statement
    that starts with WITH is not counted as a change by app/kit/changes.py."""
    inserts = tuple((table, rows) for table, rows in inserts if rows)
    updates = tuple(part for part in updates if part[2])
    if not inserts and not updates:
        return
    if session.get_bind().dialect.name != "postgresql":
        for statement, source, rows in updates:
            await session.execute(statement, source.parameters(rows))
        for table, rows in inserts:
            await session.execute(insert(table), list(rows))
        return
    statement, sources = _write_unnest(
        tuple(statement for statement, _, _ in updates),
        tuple((table, tuple(rows[0])) for table, rows in inserts),
    )
    parameters: dict[str, Any] = {}
    for _statement, source, rows in updates:
        parameters.update(source.as_arrays(rows))
    for (_table, rows), source in zip(inserts, sources, strict=True):
        parameters.update(source.as_arrays(rows))
    await session.execute(statement, parameters)


class RowsIn:
    """Rows handed to one statement as if they were a table (`rows.c.<column>` in its WHERE and SET):
    on PostgreSQL `unnest` over one array per column, so the statement runs once for the whole batch
    and its shape does not depend on the number of rows; elsewhere one bound parameter per column,
    the statement run once per row (an executemany). Parameters are named `<name>_<column>`."""

    def __init__(self, name: str, columns: Mapping[str, TypeEngine[Any]], *, arrays: bool) -> None:
        self.name, self.arrays, self.columns = name, arrays, tuple(columns)
        if arrays:
            arrays_in = (bindparam(f"{name}_{c}", type_=ARRAY(t)) for c, t in columns.items())
            derived = func.unnest(*arrays_in).table_valued(*(column_clause(c, t) for c, t in columns.items()))
            self.c: Any = derived.render_derived(name=name).c
        else:
            self.c = SimpleNamespace(**{c: bindparam(f"{name}_{c}", type_=t) for c, t in columns.items()})

    def parameters(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]] | list[dict[str, Any]]:
        if self.arrays:
            return self.as_arrays(rows)
        return [{f"{self.name}_{c}": row[c] for c in self.columns} for row in rows]

    def as_arrays(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
        return {f"{self.name}_{c}": [row[c] for row in rows] for c in self.columns}


@functools.lru_cache(maxsize=32)
def _write_unnest(
    updates: tuple[Update, ...], shape: tuple[tuple[Table, tuple[str, ...]], ...]
) -> tuple[Any, list[RowsIn]]:
    """`write_many`'s statement for these updates and tables with these columns, and each table's
    rows."""
    sources = [
        RowsIn(f"rows_{table.name}", {column: table.c[column].type for column in columns}, arrays=True)
        for table, columns in shape
    ]
    inserts = [
        insert(table).from_select(list(columns), select(*(getattr(source.c, c) for c in columns)))
        for (table, columns), source in zip(shape, sources, strict=True)
    ]
    if len(updates) + len(inserts) == 1:
        return [*updates, *inserts][0], sources
    statement = select(literal(1)).add_cte(
        *(part.cte(f"update_{number}") for number, part in enumerate(updates)),
        *(part.cte(f"into_{number}") for number, part in enumerate(inserts)),
    )
    return statement, sources


log = logging.getLogger(__name__)
T = TypeVar("T")

# SQLSTATE classes of a server that is away or going away: connection exception (08), operator
# intervention (57P: shutting down, starting up), insufficient resources (53).
_UNAVAILABLE_SQLSTATES = ("08", "57P", "53")
_SQLITE_BUSY = ("locked", "busy", "disk i/o", "unable to open")


def database_unavailable(error: BaseException) -> bool:
    """Whether `error` says the database is away (down, restarting, unreachable, busy), as opposed
    to something wrong with the work itself: the same work will succeed once it is back."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(
            current, OSError | TimeoutError | asyncpg.PostgresConnectionError | asyncpg.InterfaceError
        ):
            return True
        if isinstance(current, InterfaceError):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, sqlite3.OperationalError):
            return any(word in str(current).lower() for word in _SQLITE_BUSY)
        sqlstate = str(getattr(current, "sqlstate", "") or getattr(current, "pgcode", "") or "")
        if sqlstate.startswith(_UNAVAILABLE_SQLSTATES):
            return True
        pending += [getattr(current, "orig", None), current.__cause__, current.__context__]
    return False


async def while_unavailable(
    operation: Callable[[], Awaitable[T]], *, what: str, first_wait: float = 0.5, longest_wait: float = 10.0
) -> T:
    """Run a unit of database work (a whole transaction) until it succeeds, waiting between tries,
    ever longer up to `longest_wait`, for as long as the database is away. Any other error is raised:
    an outage is never a reason to give up on, or count against, the work."""
    wait = first_wait
    tries = 0
    while True:
        try:
            return await operation()
        except Exception as error:
            if not database_unavailable(error):
                raise
            tries += 1
            if tries == 1 or tries % 10 == 0:
                log.warning(
                    "%s: the database is away (%s: %s); trying again (try %d)",
                    what,
                    type(error).__name__,
                    str(error).splitlines()[0][:200] if str(error) else "",
                    tries,
                )
        await asyncio.sleep(wait)  # back-off while the database is away, not a synchronisation
        wait = min(longest_wait, wait * 2)
