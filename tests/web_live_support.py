"""What the live-mode web tests share: the workstation's app (``make_app``) served in this process on a loopback
port, optionally beside an in-process local exchange whose clock runs fast (a 1m bar closes in seconds), and an
aiohttp client carrying the token.

``async with app_server(ctx) as s: await s.get("/api/alerts")``; ``with threaded_server(ctx) as base: ...`` runs the
same server in a thread (for a browser test, whose Playwright calls block).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from framework.web.context import WebContext
from framework.web.server import make_app

TOKEN = "test-token-123"


def web_context(catalog: Path, state: Path, *, live: bool = False, urls: dict[str, str] | None = None,
                runs: Path | None = None) -> WebContext:
    """A context as ``serve`` builds it (``urls``: the exchange's, for live mode)."""
    return WebContext(catalog=catalog, runs=runs or state.parent / "runs", token=TOKEN, state_db=state, live=live,
                      offline=live, network=dict(urls or {}))


@dataclass
class AppClient:
    """A running app: its base URL and an HTTP session that sends the token."""

    base: str
    session: aiohttp.ClientSession
    app: web.Application

    async def request(self, method: str, path: str, body: Any = None, **params: Any) -> tuple[int, Any]:
        async with self.session.request(method, self.base + path, json=body, params=params or None,
                                        headers={"X-Token": TOKEN}) as r:
            return r.status, await r.json()

    async def get(self, path: str, **params: Any) -> Any:
        status, data = await self.request("GET", path, **params)
        assert status == 200, (path, status, data)
        return data

    def ws(self, **query: str) -> Any:
        """A websocket to ``/api/ws`` (the token in the query, as the page sends it)."""
        return self.session.ws_connect(self.base + "/api/ws", params={"token": TOKEN, **query})


@contextlib.asynccontextmanager
async def app_server(ctx: WebContext) -> AsyncIterator[AppClient]:
    """``make_app(ctx)`` on 127.0.0.1 (a free port) until the block ends (startup and cleanup hooks run)."""
    app = make_app(ctx)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as session:
            yield AppClient(f"http://127.0.0.1:{port}", session, app)
    finally:
        await runner.cleanup()


@contextlib.contextmanager
def threaded_server(ctx: WebContext) -> Iterator[str]:
    """``app_server`` in a thread of its own (its own event loop); yields the page URL with the token."""
    ready: dict[str, Any] = {}
    started = threading.Event()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def main() -> None:
        async with app_server(ctx) as client:
            ready["base"] = client.base
            started.set()
            await stop.wait()

    def run() -> None:
        try:
            loop.run_until_complete(main())
        except BaseException as e:  # noqa: BLE001 - handed to the test
            ready["error"] = e
            started.set()

    thread = threading.Thread(target=run, name="web-app", daemon=True)
    thread.start()
    started.wait(120)
    if "error" in ready:
        raise ready["error"]
    try:
        yield f"{ready['base']}/?token={TOKEN}"
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(60)
        loop.close()
