"""Remembering what every request reads (credentials, agencies, routes) for as long as it has not
changed, told by PostgreSQL.

Triggers on those tables (migration c5d1e7a3f920) send `NOTIFY lienthong_changes, '<table>'` when a
statement changes them, whoever runs it: the admin API of any gateway, the CLI, the directory sync,
an operator's SQL. Each gateway LISTENs on one connection of its own (`Changes.listen`) and counts
the notifications per table; a remembered value (`Remembered`) is used only while no notification
for its table came since it was read, and for at most `ttl` seconds. A revoked credential is thus
refused by every gateway as soon as the revocation's notification arrives (milliseconds after the
commit), not after a delay.

Changes this process makes itself are known without waiting for PostgreSQL: every statement that
writes one of the tables counts as a change once it has run and again when its transaction ends
(`Changes.watch`), so the process's next request reads the new rows. A value read between the
statement and its commit is thus voided by the second count.

While the listening connection is down, nothing is remembered (every read goes to the database,
as without this module), and what was remembered before is forgotten when it is back: a
notification may have been missed meanwhile. SQLite has no NOTIFY: the embedded default, a single
process whose lookups cost no round trip, never remembers.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url

from app.kit.listening import listen

CHANNEL = "lienthong_changes"
WATCHED = ("credentials", "agencies", "routes")  # the tables whose triggers notify
_WRITES = re.compile(r"\s*(INSERT|UPDATE|DELETE|TRUNCATE)\b", re.IGNORECASE)
_TABLES = re.compile(r"\b(" + "|".join(WATCHED) + r")\b")
# Like the credentials trigger, the once-a-minute record of a credential's use is not a change.
_NOT_A_CHANGE = re.compile(r"\s*UPDATE credentials SET last_used_at=[^,]* WHERE", re.IGNORECASE)
_PENDING = "lienthong_changed_tables"
K = TypeVar("K")
V = TypeVar("V")


class Changes:
    """How many changes of each table this process has been told of, while it is listening: one
    per database the process uses (`Changes.of`), whatever number of engines it opens on it."""

    _of_url: ClassVar[dict[str, Changes]] = {}

    @classmethod
    def of(cls, database_url: str) -> Changes:
        found = cls._of_url.get(database_url)
        if found is None:
            found = cls._of_url[database_url] = cls(database_url)
        return found

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._counts: dict[str, int] = {}
        self._epoch = 0  # one more each time listening (re)starts: what was remembered before is void
        self._remembered: dict[str, Remembered[Any, Any]] = {}
        self.listening = False

    def remembered(self, table: str) -> Remembered[Any, Any]:
        """The process's memory of `table`'s rows, by whatever key its reader chooses."""
        memory = self._remembered.get(table)
        if memory is None:
            memory = self._remembered[table] = Remembered(self, table)
        return memory

    def version(self, table: str) -> tuple[int, int] | None:
        """The table's version as far as this process knows; None when it cannot know (not listening)."""
        if not self.listening:
            return None
        return (self._epoch, self._counts.get(table, 0))

    def _told(self, table: str) -> None:
        self._counts[table] = self._counts.get(table, 0) + 1

    def watch(self, engine: Engine) -> None:
        """Count this process's own writes through `engine` (see the module's docstring)."""
        event.listen(engine, "after_cursor_execute", self._executed)
        event.listen(engine, "commit", self._ended)
        event.listen(engine, "rollback", self._ended)

    def _executed(self, connection: Connection, _cursor: Any, statement: str, *_: Any) -> None:
        if not _WRITES.match(statement) or _NOT_A_CHANGE.match(statement):
            return
        tables = set(_TABLES.findall(statement))
        if tables:
            connection.info.setdefault(_PENDING, set()).update(tables)
            for table in tables:
                self._told(table)

    def _ended(self, connection: Connection) -> None:
        if connection.invalidated:
            return  # its connection is gone, and its transaction with it: nothing was changed
        for table in connection.info.pop(_PENDING, ()):
            self._told(table)

    async def listen(self) -> None:
        """Listen until cancelled (PostgreSQL only)."""
        if make_url(self._url).get_backend_name() == "postgresql":
            await listen(self._url, CHANNEL, self._told, on_open=self._opened, on_lost=self._lost)

    def _opened(self) -> None:
        self._epoch += 1
        self.listening = True

    def _lost(self) -> None:
        self.listening = False


class Remembered(Generic[K, V]):
    """Values read from one table, by key, kept while the table is unchanged (at most `size` of
    them, the least recently used forgotten first, and none older than `ttl` seconds)."""

    def __init__(self, changes: Changes, table: str, *, ttl: float = 60.0, size: int = 10_000) -> None:
        self.changes = changes
        self.table = table
        self.ttl = ttl
        self.size = size
        self._entries: OrderedDict[K, tuple[V, tuple[int, int], float]] = OrderedDict()

    def version(self) -> tuple[int, int] | None:
        """Take it before reading the database, and give it to `put` with what was read: a change
        committed during the read then voids the value at once."""
        return self.changes.version(self.table)

    def get(self, key: K) -> tuple[bool, V | None]:
        """(True, value) if remembered and still good, else (False, None)."""
        entry = self._entries.get(key)
        current = self.version()
        if entry is None or current is None:
            return False, None
        value, version, at = entry
        if version != current or time.monotonic() - at > self.ttl:
            del self._entries[key]
            return False, None
        self._entries.move_to_end(key)
        return True, value

    def put(self, key: K, value: V, version: tuple[int, int] | None) -> None:
        if version is None:
            return
        self._entries[key] = (value, version, time.monotonic())
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
