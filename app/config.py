"""The hub's settings: one class, read from `LIENTHONG_*` environment variables and `.env`.

Nothing else in the code reads the environment. Development (the embedded default) works with nothing
configured; production refuses to start with a missing or development secret.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LIENTHONG_", env_file=".env", extra="ignore")

    environment: Environment = Environment.DEVELOPMENT
    data_dir: Path = Path("./var")
    database_url: str = ""
    broker_url: str = ""
    hub_code: str = "000.00.00.H62"
    axis_url: str = ""
    axis_system_id: str = ""
    axis_secret: str = Field(default="", repr=False)

    master_key: str = Field(
        default="",
        repr=False,
        description="Key that encrypts private keys and secrets at rest (urlsafe base64 of 32 bytes). "
        "In development it is generated into the data directory on first start.",
    )
    max_body_bytes: int = Field(default=50 * 1024 * 1024, gt=0)
    retry_base_seconds: float = Field(default=10.0, gt=0, description="first retry delay (doubles each try)")
    retry_cap_seconds: float = Field(default=3600.0, gt=0, description="longest delay between two tries")
    retry_max_attempts: int = Field(default=12, ge=1, description="tries before a delivery is failed")
    push_timeout_seconds: float = Field(
        default=30.0, gt=0, description="QLVB push timeout, unless per agency"
    )
    delivery_lease_seconds: float = Field(
        default=300.0, gt=0, description="a delivery in `sending` for longer is handed out again"
    )
    worker_concurrency: int = Field(default=64, ge=1, description="deliveries one worker has in flight")
    batch_window_seconds: float = Field(
        default=0.025,
        ge=0,
        description="how long the relay and the workers wait to gather a batch once work arrives: "
        "fewer, larger transactions under load for that much more latency",
    )
    broker_delivery_limit: int = Field(
        default=5, ge=1, description="redeliveries after crashes before a message is dead-lettered"
    )
    axis_timeout_seconds: float = Field(default=30.0, gt=0, description="timeout of one call to the axis")
    axis_poll_seconds: float = Field(
        default=60.0, gt=0, description="how often the hub asks the axis for documents and status messages"
    )
    axis_directory_sync_seconds: float = Field(
        default=6 * 3600.0, gt=0, description="how often the hub reads the axis's agency directory"
    )
    key_refresh_seconds: float = Field(
        default=30.0, gt=0, description="how often a gateway checks which signing key is active"
    )
    axis_time_zone: str = Field(
        default="Asia/Ho_Chi_Minh",
        description="the time zone of the axis protocol's timestamps (the official SDK writes local time): "
        "how /vxp reads them and how the hub's axis client writes them",
    )
    vxp_rate_per_minute: int = Field(
        default=600, ge=1, description="requests one /vxp system may make per minute, per hub process"
    )
    load_demo_directory: bool | None = Field(
        default=None,
        description="Load the demo directory of province H62 into an empty database. "
        "Default: yes in development, no in production.",
    )
    console_session_hours: float = Field(
        default=12.0, gt=0, description="how long a console login lasts before the person logs in again"
    )
    login_failures_per_name: int = Field(
        default=5, ge=1, description="failed console logins for one user name before it is throttled"
    )
    login_failures_per_address: int = Field(
        default=20, ge=1, description="failed console logins from one address before it is throttled"
    )
    login_throttle_seconds: float = Field(
        default=900.0, gt=0, description="window in which failed logins count; how long a throttle lasts"
    )
    language: str = Field(
        default="",
        pattern=r"^(|vi|en)([-_][A-Za-z]+)?$",
        description="the language of the command line: vi or en; empty: the system locale's "
        "(LC_ALL, LC_MESSAGES, LANG) when it is one of them, else vi",
    )

    @model_validator(mode="after")
    def _production_needs_real_configuration(self) -> Settings:
        if self.environment is Environment.PRODUCTION:
            missing = [
                name
                for name, value in (
                    ("LIENTHONG_DATABASE_URL", self.database_url),
                    ("LIENTHONG_MASTER_KEY", self.master_key),
                )
                if not value
            ]
            if missing:
                raise ValueError(f"production needs {', '.join(missing)} to be set")
        if self.axis_url and not (self.axis_system_id and self.axis_secret):
            raise ValueError("LIENTHONG_AXIS_URL needs LIENTHONG_AXIS_SYSTEM_ID and LIENTHONG_AXIS_SECRET")
        return self

    @field_validator("axis_time_zone")
    @classmethod
    def _a_known_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name, e.g. Asia/Ho_Chi_Minh)") from None
        return value

    @property
    def axis_zone(self) -> ZoneInfo:
        return ZoneInfo(self.axis_time_zone)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'lienthong.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @property
    def demo_directory_wanted(self) -> bool:
        if self.load_demo_directory is not None:
            return self.load_demo_directory
        return self.environment is Environment.DEVELOPMENT


@lru_cache
def get_settings() -> Settings:
    return Settings()


def system_language() -> str:
    """The language of the system locale (LC_ALL, then LC_MESSAGES, then LANG), as POSIX reads it;
    "" for none or for C/POSIX."""
    import os

    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name, "")
        if value:
            return "" if value.split(".")[0] in ("C", "POSIX") else value
    return ""
