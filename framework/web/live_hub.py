"""The live push to the pages: one websocket per page, numbered messages, a bounded replay buffer.

Every message the server pushes gets the next sequence number (``seq``) of this server run (named by ``epoch``), is
encoded to JSON once and kept in a replay buffer of the last ``REPLAY`` messages. A message has a topic (an
instrument: bars, indicators, order flow) or none (alerts, paper orders: every page gets them); a page receives the
messages of the instrument it subscribed to and those without a topic.

A page that reconnects sends the ``epoch`` and the last ``seq`` it received: when the buffer still holds everything
after it, the page gets exactly the messages it missed (of its subscription) before anything new, so it has no gap;
otherwise (the buffer has moved on, or the server restarted: another epoch) it gets ``{"type": "reload"}`` and
reloads the range over the HTTP API. A page that does not keep up (``MAX_QUEUE`` messages waiting for its socket) is
dropped and told to reload, so a slow browser never holds up the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import msgspec
from aiohttp import WSMsgType
from aiohttp import web

log = logging.getLogger("framework.web.live")

#: Messages kept for pages that reconnect (at 100 messages/s: 50 s).
REPLAY = 5_000
#: Messages waiting for one page's socket before it is dropped and told to reload.
MAX_QUEUE = 2_000
_encode = msgspec.json.Encoder().encode


class Page:
    """One open page: its socket, what it subscribed to, and the queue its writer task drains."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.topic: str | None = None  # the instrument it shows
        self.subscribed = False  # nothing is sent before: a reconnecting page gets the missed ones first
        self.subscription: dict[str, Any] = {}
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.lagging = False

    def wants(self, topic: str | None) -> bool:
        """Whether a message of ``topic`` goes to this page."""
        return self.subscribed and (topic is None or topic == self.topic)

    def send(self, text: str) -> None:
        """Queue ``text`` for the socket; a page too far behind is told to reload and closed."""
        if self.lagging:
            return
        if self.queue.qsize() >= MAX_QUEUE:
            self.lagging = True
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(_encode({"type": "reload", "reason": "the page fell behind"}).decode())
            self.queue.put_nowait(None)  # then close
            return
        self.queue.put_nowait(text)

    async def write(self) -> None:
        """Send what is queued, in order, until the socket closes."""
        while True:
            text = await self.queue.get()
            if text is None:
                await self.ws.close()
                return
            await self.ws.send_str(text)


class Hub:
    """The pages of one server and the numbered messages pushed to them (see the module docstring).

    ``on_subscribe(page, message)`` is called when a page subscribes (the live market starts the streams it
    needs); ``on_leave(page)`` when it goes.
    """

    def __init__(self, replay: int = REPLAY) -> None:
        self.epoch = secrets.token_hex(6)
        self.seq = 0
        self.buffer: deque[tuple[int, str | None, str]] = deque(maxlen=replay)
        self.pages: set[Page] = set()
        self.on_subscribe: Callable[[Page, dict[str, Any]], None] | None = None
        self.on_leave: Callable[[Page], None] | None = None
        self.sent = 0

    def publish(self, message: dict[str, Any], topic: str | None = None) -> int:
        """Number ``message``, keep it for replay and queue it for every page that wants ``topic``."""
        self.seq += 1
        message["seq"] = self.seq
        text = _encode(message).decode()
        self.buffer.append((self.seq, topic, text))
        for page in self.pages:
            if page.wants(topic):
                page.send(text)
                self.sent += 1
        return self.seq

    def _replay(self, page: Page, epoch: Any, last_seq: Any) -> None:
        """What ``page`` missed since ``last_seq``, or a reload when that is no longer held."""
        if last_seq is None:
            return
        oldest = self.buffer[0][0] if self.buffer else self.seq + 1
        if epoch != self.epoch or not isinstance(last_seq, int) or last_seq < oldest - 1 or last_seq > self.seq:
            why = "the server restarted" if epoch != self.epoch else "the replay buffer has moved on"
            page.send(_encode({"type": "reload", "reason": why}).decode())
            return
        for seq, topic, text in self.buffer:
            if seq > last_seq and page.wants(topic):
                page.send(text)

    def hello(self) -> dict[str, Any]:
        """The first message on a socket: this run's epoch, the last seq, the server's time."""
        return {"type": "hello", "epoch": self.epoch, "seq": self.seq, "server_ms": int(time.time() * 1000)}

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """``GET /api/ws``: a page's websocket (the token is checked by the server before this runs)."""
        ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=64 * 1024)
        await ws.prepare(request)
        page = Page(ws)
        self.pages.add(page)
        writer = asyncio.ensure_future(page.write())
        page.send(_encode(self.hello()).decode())
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    message = msgspec.json.decode(msg.data)
                except msgspec.DecodeError:
                    page.send(_encode({"type": "error", "error": "messages are JSON objects"}).decode())
                    continue
                if isinstance(message, dict) and message.get("type") == "subscribe":
                    self._subscribe(page, message)
        finally:
            self.pages.discard(page)
            if self.on_leave is not None:
                self.on_leave(page)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await writer
        return ws

    def _subscribe(self, page: Page, message: dict[str, Any]) -> None:
        instrument = message.get("instrument")
        page.topic = instrument if isinstance(instrument, str) else None
        page.subscription = message
        if self.on_subscribe is not None:
            try:
                self.on_subscribe(page, message)
            except Exception as e:  # noqa: BLE001 - a bad subscription is the page's problem, not the server's
                log.warning("subscription %s refused: %s", message, e)
                page.send(_encode({"type": "error", "error": str(e)}).decode())
                return
        # replayed right after the subscription is in place (no await between): nothing is lost or sent twice
        page.subscribed = True
        self._replay(page, message.get("epoch"), message.get("last_seq"))
        page.send(_encode({"type": "subscribed", "instrument": page.topic, "seq": self.seq}).decode())

    async def close(self) -> None:
        """Close every page's socket (server shutdown)."""
        for page in list(self.pages):
            with contextlib.suppress(Exception):
                await page.ws.close(code=1001, message=b"server shutdown")
