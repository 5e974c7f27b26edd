"""The audit tests drive the integrator themselves (`integrate`), so the gateway's background one is
off unless a test turns it on."""

from __future__ import annotations

import pytest

from app.config import Settings


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.audit_integrator = False
    return settings
