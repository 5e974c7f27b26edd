"""The national-axis simulator as a real process (`lienthong dev axis-sim`) for tests: start it, steer
it through its `/_sim/` endpoints, stop it and start it again on the same port (its memory is lost,
as a real outage may lose what was in flight)."""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from support.processes import free_port, running

HUB_SYSTEM, HUB_SECRET = "hub-h62", "hub-h62-secret-for-tests"
G22 = "000.00.00.G22"  # Văn phòng Chính phủ: the agency outside the province in these tests
G22_SECRET = "g22-secret-for-tests"
SYSTEMS = [f"{HUB_SYSTEM}:{HUB_SECRET}@*.H62", f"{G22}:{G22_SECRET}"]


class AxisSimulator:
    def __init__(self, logs: Path, systems: list[str] = SYSTEMS) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.logs = logs
        self.systems = systems
        self._stack: ExitStack | None = None
        self._starts = 0

    @property
    def hub_settings(self) -> dict[str, str]:
        """The settings that point a hub at this simulator as its national axis."""
        return {"axis_url": self.url, "axis_system_id": HUB_SYSTEM, "axis_secret": HUB_SECRET}

    def start(self) -> None:
        command = [
            str(Path(sys.executable).parent / "lienthong"),
            "dev",
            "axis-sim",
            "--port",
            str(self.port),
        ]
        for system in self.systems:
            command += ["--system", system]
        self._starts += 1
        stack = ExitStack()
        stack.enter_context(
            running(
                command,
                health_url=f"{self.url}/_sim/health",
                env={},
                log=self.logs / f"axis-sim-{self._starts}.log",
            )
        )
        self._stack = stack

    def stop(self) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None

    def __enter__(self) -> AxisSimulator:
        self.start()
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    def packages(self, **match: Any) -> list[dict[str, Any]]:
        """The packages the simulator holds whose fields equal `match`."""
        rows: list[dict[str, Any]] = httpx.get(f"{self.url}/_sim/packages").json()["data"]
        return [row for row in rows if all(row.get(key) == value for key, value in match.items())]

    def content(self, doc_id: str) -> bytes:
        return httpx.get(f"{self.url}/_sim/packages/{doc_id}/content").content

    def fault(self, operation: str, *, count: int = 1, http_status: int | None = 503, **more: Any) -> None:
        answer = httpx.post(
            f"{self.url}/_sim/faults",
            json={"operation": operation, "count": count, "http_status": http_status, **more},
        )
        answer.raise_for_status()

    def clear_faults(self) -> None:
        httpx.delete(f"{self.url}/_sim/faults").raise_for_status()
