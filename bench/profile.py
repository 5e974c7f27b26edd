"""Where a process's CPU went, from py-spy's collapsed stacks (`pipeline.py --profile DIR` writes them).

    .venv/bin/python bench/profile.py DIR/production-50-gateway.txt [--top 25]

Two views of the same on-CPU samples:
- **by component**: each sample is charged to the innermost frame that belongs to a known component
  (a C extension's time shows as the Python frame that called it: lxml's parse in app/edxml, the
  RSA signature in app/sealing or signxml, asyncpg's protocol in asyncpg), so the shares add up to 100%;
- **inclusive**: the share of samples with a component anywhere on the stack (SQLAlchemy's share
  includes the asyncpg calls it makes; these overlap and do not add up).
Then the hottest functions by their own (leaf) samples.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path


def within(*paths: str) -> str:
    """A pattern for frames in these packages or files (py-spy writes "function (path:line)", the
    path relative to its sys.path entry)."""
    return "|".join(f"[(/]{re.escape(path)}" for path in paths)


# Each sample goes to the innermost frame matching one of these, tested in this order.
COMPONENTS = [
    ("SQLAlchemy", within("sqlalchemy/")),
    ("asyncpg", within("asyncpg/")),
    ("sealing (signxml, cryptography, app/sealing)", within("signxml/", "cryptography/", "app/sealing/")),
    ("edXML parse and checks (lxml, app/edxml)", within("app/edxml/", "lxml/")),
    ("FastAPI, Starlette", within("fastapi/", "starlette/")),
    ("pydantic", within("pydantic/", "pydantic_core/")),
    ("uvicorn (HTTP server)", within("uvicorn/", "httptools/")),
    ("AMQP (aio-pika, aiormq, pamqp)", within("aio_pika/", "aiormq/", "pamqp/")),
    (
        "HTTP client (httpx, httpcore, anyio)",
        within("httpx/", "httpcore/", "anyio/"),
    ),
    ("logging", within("logging/", "app/kit/log")),
    ("hub code: delivery, relay, worker", within("app/delivery/", "connectors/")),
    (
        "hub code: documents, auth, routing, audit",
        within("app/documents/", "app/auth/", "app/routing/", "app/audit/"),
    ),
    ("hub code: other", within("app/")),
    ("event loop, threads", within("asyncio/", "uvloop/", "concurrent/", "threading.py", "selectors.py")),
]
# Threads of a pool waiting for work. py-spy counts a sample as on-CPU from the thread's state, and on
# a busy machine a thread just woken and not yet run looks active: these leaves are waits, left out.
IDLE = re.compile(r"^Condition\.wait \(threading\.py|^_worker \(concurrent/futures/thread\.py:8\d\)")
INCLUSIVE = [
    ("SQLAlchemy or asyncpg", within("sqlalchemy/", "asyncpg/")),
    ("SQLAlchemy", within("sqlalchemy/")),
    ("sealing (app/sealing/seal.py and below)", within("app/sealing/seal.py")),
    ("edXML reading (app/edxml and below)", within("app/edxml/")),
    ("FastAPI, Starlette", within("fastapi/", "starlette/")),
    ("the intake service (app/documents/service.py and below)", within("app/documents/service.py")),
    ("the outbox relay (app/delivery/relay.py and below)", within("app/delivery/relay")),
    ("AMQP", within("aio_pika/", "aiormq/", "pamqp/")),
    ("logging", within("logging/")),
]


def read(path: Path) -> list[tuple[list[str], int]]:
    samples = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            samples.append((stack.split(";"), int(count)))
    return samples


def summary(samples: list[tuple[list[str], int]], top: int) -> str:
    waiting = sum(count for frames, count in samples if IDLE.search(frames[-1]))
    samples = [(frames, count) for frames, count in samples if not IDLE.search(frames[-1])]
    total = sum(count for _, count in samples) or 1
    compiled = [(name, re.compile(pattern)) for name, pattern in COMPONENTS]
    by_component: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    for frames, count in samples:
        component = "other"
        for frame in reversed(frames):
            component = next((name for name, pattern in compiled if pattern.search(frame)), "")
            if component:
                break
        by_component[component or "other"] += count
        for name, pattern in INCLUSIVE:
            if any(re.search(pattern, frame) for frame in frames):
                inclusive[name] += count
        leaves[frames[-1]] += count
    lines = [f"{total} on-CPU samples ({waiting} more of pool threads waiting for work, left out)", ""]
    lines += ["by component (innermost frame; adds up to 100%)"]
    lines += [f"  {count * 100 / total:5.1f}%  {name}" for name, count in by_component.most_common()]
    lines += ["", "inclusive (anywhere on the stack; overlapping)"]
    lines += [f"  {inclusive[name] * 100 / total:5.1f}%  {name}" for name, _ in INCLUSIVE]
    lines += ["", f"top {top} functions by own samples"]
    lines += [f"  {count * 100 / total:5.1f}%  {frame[:150]}" for frame, count in leaves.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("files", type=Path, nargs="+")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    for path in args.files:
        print(f"== {path}\n{summary(read(path), args.top)}\n")


if __name__ == "__main__":
    main()
