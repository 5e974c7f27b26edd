"""bench/batch_cost.py's short version: its harness (a relay and a worker in one process) still runs
the hub's relay and worker to the end of every batch, so the benchmark does not rot between runs."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from support.hub import POSTGRES_ADMIN_DSN
from support.processes import REPO


def test_the_batch_cost_harness_settles_every_batch(postgres_url: str) -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "batch_cost.py"), "--batches", "3", "--size", "4"],
        cwd=REPO,
        env={**os.environ, "LIENTHONG_TEST_POSTGRES": POSTGRES_ADMIN_DSN},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert re.fullmatch(r"\d+\.\d\d ms of CPU per batch of 4", done.stdout.strip()), done.stdout
