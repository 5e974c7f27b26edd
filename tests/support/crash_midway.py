"""A hub gateway that dies (os._exit, as a SIGKILL would) in the middle of the intake transaction:
after the document, payloads and deliveries are flushed to the database, before the commit.

Usage: python tests/support/crash_midway.py PORT   (configuration from LIENTHONG_* variables)
"""

from __future__ import annotations

import os
import sys
from typing import Any

import uvicorn

import app.documents.service as intake
from app.audit.log import ExchangeEvent
from app.main import create_app

record_exchange = intake.record_exchange


def dying_record_exchange(session: Any, event: ExchangeEvent, **fields: Any) -> Any:
    if event is ExchangeEvent.ROUTED:
        os._exit(17)
    return record_exchange(session, event, **fields)


intake.record_exchange = dying_record_exchange  # type: ignore[assignment]
uvicorn.run(create_app(), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
