"""RabbitMQ for tests: a fresh virtual host on the shared broker, and a private node to stop and start.

Queue names are global on a broker, so every test that uses the shared broker gets a virtual host of
its own, created empty and deleted afterwards: nothing another test or an earlier run left behind can
reach it. A test that takes the broker away (stops it, starts it again) runs a private node instead, so
that the other tests keep theirs.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlsplit

import aio_pika

from support.hub import IN_CI
from support.processes import free_port

SHARED_URL = os.environ.get("LIENTHONG_TEST_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672/")
SERVER_BIN = Path("/usr/lib/rabbitmq/bin")  # the Debian package's scripts, without its `su rabbitmq` wrapper


def reachable(url: str = SHARED_URL) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672), timeout=2):
            return True
    except OSError:
        return False


def require_shared_broker() -> None:
    """Skip (locally) or fail (CI=true) when the shared RabbitMQ does not answer."""
    import pytest

    if reachable():
        return
    message = f"RabbitMQ is not reachable at {urlsplit(SHARED_URL).netloc.rsplit('@', 1)[-1]}"
    if IN_CI:
        pytest.fail(message + " (CI=true: the RabbitMQ tests must run)", pytrace=False)
    pytest.skip(message)


def require_private_node() -> None:
    """Skip (locally) or fail (CI=true) when RabbitMQ's server scripts are not installed here."""
    import pytest

    if (SERVER_BIN / "rabbitmq-server").exists():
        return
    message = f"RabbitMQ's server is not installed ({SERVER_BIN}): no private node for fault tests"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def rabbitmqctl(*args: str) -> str:
    """`rabbitmqctl` against the shared node. As root, the Debian wrapper runs it as the `rabbitmq`
    user, whose Erlang cookie is the shared node's."""
    result = subprocess.run(
        ["rabbitmqctl", "--quiet", *args], capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout


def url_with_vhost(url: str, vhost: str) -> str:
    base = url.split("?", 1)[0].rstrip("/")
    if urlsplit(base).path:
        base = base.rsplit("/", 1)[0]
    return f"{base}/{quote(vhost, safe='')}"


@contextmanager
def fresh_vhost(url: str = SHARED_URL) -> Iterator[str]:
    """A new, empty virtual host on the shared broker for the block; yields its AMQP URL."""
    name = f"lienthong-test-{uuid.uuid4().hex[:12]}"
    user = urlsplit(url).username or "guest"
    rabbitmqctl("add_vhost", name)
    try:
        rabbitmqctl("set_permissions", "-p", name, user, ".*", ".*", ".*")
        leftovers = rabbitmqctl("list_queues", "-p", name, "--no-table-headers", "name").split()
        assert not leftovers, f"the new virtual host {name} already has queues: {leftovers}"
        yield url_with_vhost(url, name)
    finally:
        rabbitmqctl("delete_vhost", name)


async def ready_messages(url: str, queues: Iterable[str]) -> dict[str, int]:
    """How many messages wait in each queue (a passive declare: nothing is created)."""
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        counts = {}
        for name in queues:
            queue = await channel.declare_queue(name, passive=True)
            counts[name] = queue.declaration_result.message_count or 0
        return counts
    finally:
        await connection.close()


class PrivateNode:
    """A RabbitMQ node of the test's own (stack-notes.md, "A private RabbitMQ node"), in `directory`.

    It reads none of the machine's broker configuration: the shared node's config file names the
    shared listener (127.0.0.1:5672), which a second node cannot bind. It has its own Erlang cookie
    (in its own HOME), so `rabbitmqctl` here must run with the same HOME, not through the Debian
    wrapper (that one switches to the `rabbitmq` user and the shared node's cookie). Stopping and
    starting it again keeps its data: durable queues and persistent messages survive, as on a real
    broker restart.
    """

    def __init__(self, directory: Path, *, cookie: str | None = None) -> None:
        """`cookie`: the Erlang cookie, the same for nodes that are to form a cluster; default a
        fresh one."""
        self.directory = directory
        self.name = f"lienthong-test-{uuid.uuid4().hex[:8]}@localhost"
        self.port = free_port()
        self.dist_port = free_port()
        self.home = directory / "home"
        self.log = directory / "server.log"
        self._process: subprocess.Popen[bytes] | None = None
        for sub in ("home", "mnesia", "log"):
            (directory / sub).mkdir(parents=True, exist_ok=True)
        cookie_file = self.home / ".erlang.cookie"
        cookie_file.write_text(cookie or secrets.token_hex(20).upper())
        cookie_file.chmod(0o400)
        (directory / "enabled_plugins").write_text("")
        (directory / "rabbitmq-env.conf").write_text("")
        (directory / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{self.port}\n")

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def _env(self) -> dict[str, str]:
        d = self.directory
        return {
            **os.environ,
            "HOME": str(self.home),
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(d / "mnesia"),
            "RABBITMQ_LOG_BASE": str(d / "log"),
            "RABBITMQ_PID_FILE": str(d / "rabbitmq.pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(d / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(d / "rabbitmq.conf"),
            "RABBITMQ_CONF_ENV_FILE": str(d / "rabbitmq-env.conf"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

    def ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SERVER_BIN / "rabbitmqctl"), "-n", self.name, *args],
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, *, timeout: float = 60) -> None:
        """Start the node and wait until it accepts AMQP connections."""
        assert not self.running, "already running"
        with self.log.open("ab") as out:
            self._process = subprocess.Popen(
                [str(SERVER_BIN / "rabbitmq-server")],
                env=self._env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so a stuck node can be killed whole
            )
        deadline = time.monotonic() + timeout
        while not reachable(self.url):
            if self._process.poll() is not None:
                raise RuntimeError(f"RabbitMQ node {self.name} exited early:\n{self._log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"RabbitMQ node {self.name} did not listen within {timeout} s")
            time.sleep(0.1)  # polling interval of the wait
        started = self.ctl("await_startup", "--timeout", str(int(timeout)), timeout=timeout + 10)
        if started.returncode != 0:
            self.stop()
            raise RuntimeError(f"RabbitMQ node {self.name} did not boot: {started.stderr}")

    def stop(self) -> None:
        """Stop the node the way an operator would; kill it if that does not work."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        try:
            self.ctl("stop", timeout=60)
        except subprocess.TimeoutExpired:  # a machine too busy for rabbitmqctl: as the OS would
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def _log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def __enter__(self) -> PrivateNode:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
