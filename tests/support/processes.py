"""Real processes for tests: start a command, wait for its HTTP health on loopback, stop it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import httpx

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(condition: Callable[[], T], *, timeout: float = 30.0) -> T:
    """Poll `condition` (from synchronous tests) until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        time.sleep(0.05)  # polling interval of the wait
    return value


def wait_until_healthy(url: str, process: subprocess.Popen[bytes], *, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)  # polling interval of the wait, not a synchronisation sleep
    raise TimeoutError(f"{url} did not answer within {timeout} s")


@contextmanager
def running(
    args: list[str], *, health_url: str, env: Mapping[str, str], log: Path, timeout: float = 30.0
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `args` (a Python module or script invocation) until the block ends."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, *args],
            cwd=REPO,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_healthy(health_url, process, timeout=timeout)
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
