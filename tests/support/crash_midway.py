"""A hub gateway that dies (os._exit, as a SIGKILL would) in the middle of storing a document: on
SQLite inside the write transaction, after payloads, document, deliveries and their events are
inserted and before the log entries and the commit; on PostgreSQL, where the store is one statement,
just before that statement.

Usage: python tests/support/crash_midway.py PORT   (configuration from LIENTHONG_* variables)
"""

from __future__ import annotations

import os
import sys
from typing import Any

import uvicorn
from sqlalchemy.ext.asyncio import AsyncSession

from app.main import create_app

execute = AsyncSession.execute


async def dying_execute(self: AsyncSession, statement: Any, *args: Any, **kwargs: Any) -> Any:
    if "INSERT INTO exchange_log" in str(statement):
        os._exit(17)
    return await execute(self, statement, *args, **kwargs)


AsyncSession.execute = dying_execute  # type: ignore[method-assign]
uvicorn.run(create_app(), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
