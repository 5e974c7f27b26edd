"""The chaos soak's short version (bench/soak.py, issue 10): 600 documents with two recipients on the
production layout (a private PostgreSQL cluster, a private RabbitMQ node, the gateway and two workers
as processes), each fault once — a worker killed, a worker frozen past its lease and resumed,
PostgreSQL down for 6 s (test_delivery_outages has the 10-s outage), RabbitMQ restarted, the queue
purged — with receivers answering 503 to a fifth of the requests and hanging on a twentieth. It must
end reconciled."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.postgres import available as postgres_tools
from support.processes import REPO
from support.rabbitmq import require_private_node

pytestmark = pytest.mark.slow

DOCUMENTS = 600


def test_the_short_chaos_soak_ends_with_everything_delivered_once_and_histories_truthful(
    tmp_path: Path,
) -> None:
    require_private_node()
    if not postgres_tools():
        pytest.skip("PostgreSQL's server programs (initdb, pg_ctl) are not installed")
    out = tmp_path / "soak.json"
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "soak.py"),
            *("--documents", str(DOCUMENTS), "--rate", "20", "--kill-every", "0"),
            *("--lease", "8", "--unclaimed", "10", "--outage", "6", "--drain-timeout", "300"),
            *("--out", str(out)),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert out.exists(), done.stdout[-4000:] + done.stderr[-4000:]
    result = json.loads(out.read_text())
    assert result["documents"]["accepted"] == DOCUMENTS, (result["intake_answers"], result["intake_refused"])
    assert result["deliveries"] == {
        "total": 2 * DOCUMENTS,
        "delivered": 2 * DOCUMENTS,
        "failed": 0,
        "stuck": 0,
        "lost": 0,
    }, result
    assert set(result["intake_answers"]) <= {"200", "201", "503"}, result["intake_answers"]
    assert result["history_problems"] == 0, result["history_examples"]
    assert result["receiver"]["unknown_keys"] == 0
    assert result["receiver"]["never_received"] == 0
    assert result["receiver"]["answered_503"] > 0  # the receivers did misbehave
    assert result["faults"] == {
        "worker killed": 1,
        "worker frozen": 1,
        "worker resumed": 1,
        "postgresql restarted": 1,
        "rabbitmq restarted": 1,
        "queue purged": 1,
    }
    assert result["ok"] and done.returncode == 0, done.stdout[-4000:]
