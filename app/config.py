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
    broker_url: str = Field(
        default="",
        description="RabbitMQ: one amqp:// (or amqps://) URL, or one per node of a cluster separated by "
        "commas, tried in the order given (app.broker.rabbitmq); empty: the embedded in-process dispatcher",
    )
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
        description="the longest the relay and the workers wait to gather a batch once work arrives: "
        "under load, fewer and larger transactions; after a quiet spell, a lone document goes at once",
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
    delivery_unclaimed_seconds: float = Field(
        default=300.0,
        gt=0,
        description="a delivery handed to the broker and not taken by any worker for this long is handed "
        "out again (the message was lost outside the hub: a purged queue, a broker reset)",
    )
    inbox_pickup_alert_seconds: float = Field(
        default=86400.0,
        gt=0,
        description="an inbox delivery not picked up for this long is flagged overdue (an alert, never "
        "a failure or an expiry)",
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

    # Operations: maintenance mode, alerts (docs/operations.md)
    maintenance_retry_after_seconds: int = Field(
        default=300, ge=1, description="Retry-After of intake's 503 answers while in maintenance mode"
    )
    alert_interval_seconds: float = Field(
        default=30.0, gt=0, description="how often the alert rules are evaluated (by one gateway at a time)"
    )
    alert_rules: str = Field(
        default="delivery-failed,dead-letter,queue-age,endpoint-failing,axis-unreachable,certificate-expiry",
        description="the alert rules that are on, comma-separated",
    )
    alert_queue_age_seconds: float = Field(
        default=900.0, gt=0, description="queue-age: a due delivery has waited longer than this"
    )
    alert_endpoint_failing_minutes: float = Field(
        default=15.0, gt=0, description="endpoint-failing: every attempt to an endpoint failed for this long"
    )
    alert_axis_silent_seconds: float = Field(
        default=600.0, gt=0, description="axis-unreachable: the axis has not answered a poll for this long"
    )
    alert_certificate_days: float = Field(
        default=30.0, gt=0, description="certificate-expiry: the signing certificate expires within this"
    )
    alert_repeat_seconds: float = Field(
        default=3600.0, gt=0, description="an alert that still holds is sent again after this long"
    )
    alert_max_per_hour: int = Field(
        default=30, ge=1, description="alerts sent in any hour; more are recorded as suppressed"
    )
    alert_webhook_url: str = Field(default="", description="alerts are POSTed here as JSON")
    alert_webhook_secret: str = Field(
        default="", repr=False, description="if set, each POST carries an HMAC-SHA256 of its body"
    )
    alert_email_to: str = Field(default="", description="alert e-mail recipients, comma-separated")
    alert_email_from: str = Field(default="lienthong@localhost", description="sender of alert e-mails")
    alert_smtp_host: str = Field(default="", description="SMTP server for alert e-mails")
    alert_smtp_port: int = Field(default=25, ge=1, le=65535)
    alert_smtp_username: str = ""
    alert_smtp_password: str = Field(default="", repr=False)
    alert_smtp_starttls: bool = Field(default=False, description="STARTTLS before authenticating")
    alert_smtp_timeout_seconds: float = Field(default=30.0, gt=0)
    audit_integrator: bool = Field(
        default=True,
        description="run the transparency log's integrator in the gateway (one replica at a time holds it)",
    )
    audit_log_origin: str = Field(
        default="",
        description="the checkpoints' origin line and the log key's name; default lienthong/<hub code>",
    )
    audit_checkpoint_seconds: float = Field(
        default=5.0, gt=0, description="at most one signed checkpoint this often, when the log grew"
    )
    audit_integrate_seconds: float = Field(
        default=1.0, gt=0, description="how often the integrator looks for new log entries"
    )
    audit_tsa_url: str = Field(
        default="", description="RFC 3161 timestamp authority for checkpoints; empty = no timestamps"
    )
    audit_tsa_timeout_seconds: float = Field(default=10.0, gt=0, description="timeout of one TSA request")
    payload_retention_days: float | None = Field(
        default=None,
        gt=0,
        description="payloads of settled documents older than this are purged (digests and the log stay); "
        "empty = kept forever",
    )

    # The HTTP edge and the cost of one caller (docs/security.md). The defaults sit above what one
    # gateway serves (~120 documents/s measured): they bite on a caller that tries to take more than
    # the hub can give, and fairness below that comes from the per-caller CPU slots (app.kit.cpu).
    max_header_bytes: int = Field(
        default=64 * 1024, ge=4096, description="the request line and headers of one request, in bytes"
    )
    max_header_count: int = Field(default=100, ge=10, description="headers in one request")
    request_receive_timeout_seconds: float = Field(
        default=30.0, gt=0, description="longest wait for the next part of a request's body"
    )
    max_requests_per_client: int = Field(
        default=256, ge=1, description="requests one client address has in progress at once"
    )
    rate_intake_per_minute: int = Field(
        default=12_000, ge=1, description="documents and status messages one credential or system may send"
    )
    rate_vxp_per_minute: int = Field(default=24_000, ge=1, description="/vxp calls of one system")
    rate_public_per_minute: int = Field(
        default=120, ge=1, description="calls of one address to the routes that need no credential"
    )
    verify_max_body_bytes: int = Field(
        default=10 * 1024 * 1024, gt=0, description="the largest document POST /api/v1/hub/verify checks"
    )
    allow_self_signed_key: bool = Field(
        default=False,
        description="production: accept an active signing key whose certificate is self-signed",
    )
    single_node: bool = Field(
        default=False,
        description="production: SQLite and the embedded broker on purpose (`serve --single-node`)",
    )
    credential_touch_seconds: float = Field(
        default=60.0, gt=0, description="a credential's last-used time is written at most this often"
    )
    report_schedule_to: str = Field(
        default="",
        description="agency codes (comma-separated) the hub sends the previous month's indicator report to, "
        "as an edXML document; empty: no scheduled reports",
    )
    report_schedule_day: int = Field(
        default=5, ge=1, le=28, description="day of the month (Vietnam time) from which the report is sent"
    )
    report_schedule_check_seconds: float = Field(
        default=3600.0, gt=0, description="how often a gateway checks whether a scheduled report is due"
    )
    report_snapshot_seconds: float = Field(
        default=3600.0,
        ge=0,
        description="how often the recent periods' report figures are recounted in the background; "
        "reports read them while younger than twice this; 0: always count from the tables",
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
    def report_snapshot_max_age(self) -> float:
        return 2 * self.report_snapshot_seconds

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @property
    def log_origin(self) -> str:
        return self.audit_log_origin or f"lienthong/{self.hub_code}"

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
