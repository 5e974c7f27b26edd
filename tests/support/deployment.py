"""The hub as it runs in production, for tests: `lienthong serve` (the gateway; on the embedded default
also the dispatcher and the workers) and `lienthong worker` as real processes on a test's database,
configured only through their `LIENTHONG_*` environment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import httpx

from app.config import Settings
from support.processes import REPO, free_port, running

# Small enough that back-off is seen within seconds, and that a few deliveries are in flight at once.
FAST: dict[str, float | int] = {
    "retry_base_seconds": 0.5,
    "retry_cap_seconds": 10,
    "retry_max_attempts": 6,
    "worker_concurrency": 4,
    "push_timeout_seconds": 10,
}
LIENTHONG = ["-c", "from app.cli import main; main()"]  # the `lienthong` command, with this Python


@dataclass
class Gateway:
    url: str
    process: subprocess.Popen[bytes]

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when the machine or the OOM killer takes it."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    async def submit(self, client: httpx.AsyncClient, body: bytes, token: str) -> httpx.Response:
        return await client.post(
            f"{self.url}/api/v1/documents",
            content=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/xml"},
        )


class Deployment:
    """Processes of one hub: every one gets the same database, data directory (master key) and broker."""

    def __init__(
        self, settings: Settings, logs: Path, *, broker_url: str = "", **config: str | float | int
    ) -> None:
        self.logs = logs
        self.env: dict[str, str] = {
            "LIENTHONG_DATABASE_URL": settings.effective_database_url,
            "LIENTHONG_DATA_DIR": str(settings.data_dir),
            "LIENTHONG_BROKER_URL": broker_url,
            "LIENTHONG_HUB_CODE": settings.hub_code,
            "LIENTHONG_LOAD_DEMO_DIRECTORY": "true" if settings.demo_directory_wanted else "false",
        }
        self.configure(**config)
        self.started: list[Path] = []
        self._numbers: Counter[str] = Counter()

    def configure(self, **config: str | float | int) -> None:
        """Settings (by their name in `app.config.Settings`) for the processes started from now on."""
        self.env.update({f"LIENTHONG_{name.upper()}": str(value) for name, value in config.items()})

    @property
    def embedded(self) -> bool:
        return not self.env["LIENTHONG_BROKER_URL"]

    def _log(self, what: str) -> Path:
        self._numbers[what] += 1
        path = self.logs / f"{what}-{self._numbers[what]}.log"
        self.started.append(path)
        return path

    @contextmanager
    def gateway(self) -> Iterator[Gateway]:
        """`lienthong serve` on a free port, until the block ends (SIGTERM, unless killed before)."""
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with running(
            [*LIENTHONG, "serve", "--port", str(port)],
            health_url=f"{url}/healthz",
            env=self.env,
            log=self._log("gateway"),
        ) as process:
            yield Gateway(url, process)

    @contextmanager
    def worker(self, *connectors: str) -> Iterator[subprocess.Popen[bytes]]:
        """`lienthong worker` (and its relay) for these connectors (default: every one), until the block
        ends (SIGTERM, unless killed before)."""
        assert not self.embedded, "on the embedded default the gateway runs the workers"
        chosen = [argument for name in connectors for argument in ("--connector", name)]
        with self._log("worker").open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, *LIENTHONG, "worker", *chosen],
                cwd=REPO,
                env={**os.environ, **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            try:
                yield process
            finally:
                stop(process)

    @contextmanager
    def hub(self) -> Iterator[Gateway]:
        """The whole hub: the gateway and, with RabbitMQ, one worker."""
        with self.gateway() as gateway, nullcontext() if self.embedded else self.worker():
            yield gateway

    def log_tails(self, characters: int = 4000) -> str:
        return "\n".join(
            f"----- {path.name} -----\n{path.read_text(errors='replace')[-characters:]}"
            for path in self.started
            if path.exists()
        )


def stop(process: subprocess.Popen[bytes], *, timeout: float = 10) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGCONT)  # a test may have frozen it (SIGSTOP)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
