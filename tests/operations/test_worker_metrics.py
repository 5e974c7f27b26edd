"""`lienthong worker --metrics-port P` as a real process against RabbitMQ: its `/metrics` counts the
attempts it made; a gateway process serves its own `/metrics` with the database gauges."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.delivery import document
from support.deployment import LIENTHONG, Deployment
from support.hub import RECIPIENT
from support.processes import REPO, free_port, running, wait_for

pytestmark = pytest.mark.slow


def sample(url: str, name: str, **labels: str) -> float | None:
    text = httpx.get(url, timeout=10).text
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return found.value
    return None


@pytest.mark.parametrize(
    ("broker", "database_url"),
    [pytest.param("rabbitmq", "postgresql", id="rabbitmq-postgresql")],
    indirect=True,
)
async def test_the_worker_serves_its_attempt_counters(deployment: Deployment, sender_token: str) -> None:
    port = free_port()
    metrics = f"http://127.0.0.1:{port}/metrics"
    with (
        running(
            [*LIENTHONG, "worker", "--connector", "inbox", "--metrics-port", str(port)],
            health_url=metrics,
            env=deployment.env,
            log=deployment.logs / "worker-metrics.log",
        ),
        deployment.gateway() as gateway,
    ):
        # Every outcome is there from the start, at zero, so that rate() works from the first scrape.
        assert sample(metrics, "lienthong_attempts_total", connector="inbox", outcome="awaiting_pickup") == 0
        async with httpx.AsyncClient(timeout=30) as client:
            answer = await gateway.submit(client, document(RECIPIENT), sender_token)
        assert answer.status_code == 201, answer.text
        wait_for(
            lambda: (
                sample(metrics, "lienthong_attempts_total", connector="inbox", outcome="awaiting_pickup") == 1
            ),
            timeout=60,
        )
        gateway_metrics = f"{gateway.url}/metrics"
        assert sample(gateway_metrics, "lienthong_intake_total", outcome="accepted") == 1
        wait_for(
            lambda: (
                sample(gateway_metrics, "lienthong_deliveries", state="awaiting_pickup", connector="inbox")
                == 1
            ),
            timeout=60,
        )


def test_a_busy_metrics_port_is_refused_in_one_line(deployment: Deployment) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**deployment.env, "LIENTHONG_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672/"}
        done = subprocess.run(
            [sys.executable, *LIENTHONG, "worker", "--metrics-port", str(port)],
            cwd=REPO,
            env={**os.environ, **env},
            capture_output=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert b"cannot serve metrics" in done.stderr
