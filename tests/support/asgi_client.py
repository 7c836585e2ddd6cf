"""A synchronous, in-process client of an ASGI app, shared by the HTTP tests."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx


class AppClient:
    """A synchronous client of an ASGI app (httpx, in process)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __enter__(self) -> AppClient:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                return await c.request(method, path, **kwargs)
        return asyncio.run(send())

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)
