"""Binance market-stream connections: URLs, frames as received, reconnects with jittered backoff.

Frames are handed on as the exact bytes received with the local receive time, so recorders can keep
them verbatim and decoders (``stream_decoder``) parse them on the hot path.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp

from framework.binance.endpoints import Market
from framework.binance.streams import futures_category

log = logging.getLogger("framework.binance.websocket")


def stream_url(market: Market | str, base: str, streams: Sequence[str], combined: bool = True) -> str:
    """The connection URL for ``streams`` on ``market`` (combined ``/stream?streams=`` or raw ``/ws/``).

    USD-M streams are split by path since 2026-04; the stream table says which (``streams.futures_category``).
    """
    if not streams:
        raise ValueError("no stream to connect to")
    prefix = ""
    if Market(market) is Market.FUTURES:
        categories = {futures_category(s) for s in streams}
        if len(categories) > 1:
            raise ValueError(f"USD-M streams {list(streams)} mix /market and /public paths; use two connections")
        prefix = "/" + categories.pop()
    base = base.rstrip("/")
    if combined:
        return f"{base}{prefix}/stream?streams={'/'.join(streams)}"
    return f"{base}{prefix}/ws/{'/'.join(streams)}"


@dataclass(frozen=True, slots=True)
class Frame:
    """One text frame as received, with its local receive time."""

    data: bytes  # the text frame exactly as received
    recv_ns: int  # local wall-clock receive time (ns since epoch)


class StreamRefused(ConnectionError):
    """The server answered the connection's upgrade with a client error (4xx: an unknown stream or symbol) on
    ``attempts`` connects in a row: retrying will not help."""

    def __init__(self, url: str, status: int, attempts: int):
        super().__init__(f"the server refused {url} with HTTP {status} on {attempts} connects in a row")
        self.url, self.status, self.attempts = url, status, attempts


def _refusal(e: BaseException) -> bool:
    # rate limits (418, 429) and timeouts (408) pass; other 4xx answers to the upgrade do not change by retrying
    return isinstance(e, aiohttp.WSServerHandshakeError) and 400 <= e.status < 500 and e.status not in (408, 418, 429)


class StreamConnection:
    """One logical stream connection that reconnects until closed.

    ``frames()`` yields every text frame; after a drop it waits a jittered, growing delay and connects
    again (``reconnects`` counts them). aiohttp answers the server's pings. ``url`` may be a callable,
    asked at each connect (a connection whose stream set changes reconnects to the current set).
    ``max_lifetime_s`` closes and reopens the socket before the server's 24 h cut (``lifetime_cuts``).
    ``max_refusals`` consecutive 4xx answers to the upgrade end ``frames()`` with ``StreamRefused``.
    """

    def __init__(
        self,
        url: str | Callable[[], str],
        session: aiohttp.ClientSession | None = None,
        reconnect: bool = True,
        max_backoff_s: float = 30.0,
        heartbeat_s: float | None = None,
        max_lifetime_s: float | None = None,
        max_refusals: int = 5,
    ):
        self._url = url
        self.max_refusals = max_refusals
        self.reconnect = reconnect
        self.max_backoff_s = max_backoff_s
        self.heartbeat_s = heartbeat_s
        self.max_lifetime_s = max_lifetime_s
        self.lifetime_cuts = 0
        self._session = session
        self._own_session = session is None
        self._closed = False
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self.reconnects = 0
        self.frames_received = 0

    @property
    def url(self) -> str:
        """The URL the next connect goes to."""
        return self._url() if callable(self._url) else self._url

    @property
    def connected(self) -> bool:
        """A socket is open now."""
        return self._ws is not None and not self._ws.closed

    async def send_str(self, text: str) -> bool:
        """Send a control message on the open socket; False when not connected (it is not queued)."""
        if not self.connected:
            return False
        await self._ws.send_str(text)  # type: ignore[union-attr]
        return True

    def _cut(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        if not ws.closed:
            self.lifetime_cuts += 1
            log.info("stream %s: reconnecting before the server's connection lifetime ends", self.url)
            asyncio.ensure_future(ws.close())

    async def frames(self) -> AsyncIterator[Frame]:
        """Every frame received, across reconnects, until ``close`` (or ``StreamRefused``)."""
        failures = refusals = 0
        while not self._closed:
            try:
                session = self._session or aiohttp.ClientSession()
                self._session = session
                async with session.ws_connect(self.url, heartbeat=self.heartbeat_s, autoping=True) as ws:
                    self._ws = ws
                    failures = refusals = 0
                    cut = None
                    if self.max_lifetime_s:
                        cut = asyncio.get_running_loop().call_later(self.max_lifetime_s, self._cut, ws)
                    async for msg in ws:
                        if msg.type is aiohttp.WSMsgType.TEXT:
                            self.frames_received += 1
                            yield Frame(msg.data.encode() if isinstance(msg.data, str) else msg.data, time.time_ns())
                        elif msg.type is aiohttp.WSMsgType.BINARY:
                            self.frames_received += 1
                            yield Frame(msg.data, time.time_ns())
                        elif msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                            break
                    if cut is not None:
                        cut.cancel()
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
                failures += 1
                refusals = refusals + 1 if _refusal(e) else 0
                if refusals >= self.max_refusals:
                    raise StreamRefused(self.url, e.status, refusals) from None  # type: ignore[union-attr]
                log.warning("stream %s: %s", self.url, e)
            finally:
                self._ws = None
            if self._closed or not self.reconnect:
                return
            self.reconnects += 1
            # a clean close (server drop, lifetime cut) retries at once-ish; failures back off exponentially
            delay = random.uniform(0, min(self.max_backoff_s, 0.1 * 2 ** min(failures, 10)))
            log.info("stream %s dropped; reconnecting in %.2fs", self.url, delay)
            await asyncio.sleep(delay)

    async def close(self) -> None:
        """Stop reconnecting and close the socket (and the session this connection opened)."""
        self._closed = True
        if self._ws is not None:
            await self._ws.close()
        if self._session is not None and self._own_session:
            await self._session.close()


async def capture(url: str, seconds: float, status_every_s: float = 5.0) -> list[Frame]:
    """Every frame received on ``url`` during ``seconds`` (reconnecting if the server drops us).

    Logs a status line every ``status_every_s`` so a long capture shows its progress.
    """
    conn = StreamConnection(url)
    frames: list[Frame] = []

    async def read() -> None:
        async for frame in conn.frames():
            frames.append(frame)

    async def status() -> None:
        started = time.monotonic()
        while True:
            await asyncio.sleep(status_every_s)
            log.info("capturing %s: %d frames, %.0f/%.0f s", url, len(frames), time.monotonic() - started, seconds)

    tasks = [asyncio.create_task(read()), asyncio.create_task(status())]
    try:
        await asyncio.wait_for(asyncio.shield(tasks[0]), timeout=seconds)
    except asyncio.TimeoutError:
        pass
    finally:
        await conn.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return frames
