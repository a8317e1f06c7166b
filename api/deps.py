"""FastAPI dependencies shared by every router, declared once."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from application.services import Services

__all__ = ["Svc", "get_services"]


async def get_services(request: Request) -> Services:
    # async: FastAPI runs a plain `def` dependency in a worker thread, a handoff per request.
    services: Services = request.app.state.services
    return services


Svc = Annotated[Services, Depends(get_services)]
