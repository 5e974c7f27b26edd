"""Every endpoint and dependency of the app is a coroutine: FastAPI runs a plain function in a
thread of its pool, one hand-off per request for each, and at 160 documents/s the three small
getters that were plain functions (settings, database, sealer) cost a tenth of the gateway's CPU."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from app.main import create_app


def _runs_on_the_loop(call: Any) -> bool:
    if inspect.isclass(call):  # a class as a dependency: its constructor runs in a thread
        return False
    function = call if inspect.isroutine(call) else type(call).__call__
    return inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function)


def _threaded(dependant: Dependant, where: str) -> Iterator[str]:
    if dependant.call is not None and not _runs_on_the_loop(dependant.call):
        yield f"{where}: {getattr(dependant.call, '__qualname__', dependant.call)!r}"
    for dependency in dependant.dependencies:
        yield from _threaded(dependency, where)


def test_no_endpoint_or_dependency_is_handed_to_a_thread(settings: Any) -> None:
    threaded = [
        problem
        for context in iter_route_contexts(create_app(settings).routes)
        if isinstance(context.original_route, APIRoute) and context.dependant is not None
        for problem in _threaded(context.dependant, f"{sorted(context.methods or ())} {context.path}")
    ]
    listed = "\n".join(sorted(set(threaded)))
    assert threaded == [], f"plain functions FastAPI would run in a thread:\n{listed}"
