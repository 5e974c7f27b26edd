"""The process's sealer, loaded once at start-up by the app factory."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.sealing.seal import Sealer


async def get_sealer(request: Request) -> Sealer:
    sealer: Sealer = request.app.state.sealer
    return sealer


SealerDep = Annotated[Sealer, Depends(get_sealer)]
