"""A hub gateway that dies (os._exit, as a SIGKILL would) in the middle of the intake transaction:
after payloads, document, deliveries and their events are inserted, before the log entries and the
commit.

Usage: python tests/support/crash_midway.py PORT   (configuration from LIENTHONG_* variables)
"""

from __future__ import annotations

import os
import sys
from typing import Any

import uvicorn

import app.documents.service as intake
from app.main import create_app


async def dying_append_exchange(session: Any, *entries: dict[str, Any]) -> None:
    if any(entry["event"] == "routed" for entry in entries):
        os._exit(17)
    raise AssertionError("intake wrote log entries of a document without its routing")


intake.append_exchange = dying_append_exchange  # type: ignore[attr-defined]
uvicorn.run(create_app(), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
