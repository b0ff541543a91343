"""Stream side of the local exchange: Binance market streams replayed live from the tape.

Each subscription emits the events whose *market* time passes while it is subscribed (no history on
subscribe), in time order across the connection's subscriptions. Payloads (``stream_payloads``) are built from
the very views REST answers with, evaluated at the event's time, so a frame and the REST row of the same id or
bucket are identical. Which streams are served and how each feeds: ``stream_feeds``; control messages:
``stream_control``.

Paths (spot and USD-M): ``/ws``, ``/ws/<s1>/<s2>...`` (raw payloads), ``/stream?streams=a/b`` (combined
``{"stream": ..., "data": ...}``); USD-M adds the 2026 split paths ``/market/...`` and ``/public/...``, each
serving only its category of streams, and ``/private/...`` (connections accepted, no market streams there).
Control messages take ids as Binance does: unsigned integers, strings of up to 36 characters, or null.

Streams (names read by the stream table, ``framework/binance/streams.py``): ``<s>@trade``, ``@aggTrade``,
``@bookTicker``, ``@ticker``, ``@kline_<i>``; spot ``@ticker_<1h|4h|1d>``; USD-M ``@markPrice``,
``@markPrice@1s``, ``<pair>_perpetual@continuousKline_<i>`` and ``@forceOrder`` (accepted, silent: the tape has
no liquidations). Depth streams are not served; only taped symbols stream.

Keep-alive: the server pings every ``ping_s`` and drops a client whose last pong is older than
``ping_s`` x Binance's pong/ping ratio (spot 60 s / 20 s = 3, USD-M 600 s / 180 s = 10/3), so drills
with short ping intervals keep Binance's proportions. Client pings are answered with their payload.

Drills (``FaultConfig``, drawn per connection index so connection N always gets the same draw):
``drop_ws_every`` closes a socket (1001) after N data frames; ``stall_pings`` stops pings, pong answers and
the pong timeout while data keeps flowing; ``latency_ms`` delays every frame; ``malformed_frame_rate``
sends *extra* truncated frames just before real ones (a client that skips them loses nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from operator import itemgetter
from typing import Any

import msgspec
from aiohttp import WSCloseCode
from aiohttp import WSMsgType
from aiohttp import web

from framework.binance.endpoints import Market
from framework.binance.limits import MESSAGE_LIMIT
from framework.binance.streams import Category
from framework.exchange.faults import FaultConfig
from framework.exchange.market import LocalMarket
from framework.exchange.stream_control import MessageLimiter
from framework.exchange.stream_control import Request
from framework.exchange.stream_control import RequestError
from framework.exchange.stream_control import parse_request
from framework.exchange.stream_feeds import Feed
from framework.exchange.stream_feeds import StreamError
from framework.exchange.stream_feeds import Subscription
from framework.exchange.stream_feeds import open_feed
from framework.exchange.stream_feeds import parse_served
from framework.exchange.stream_payloads import Payloads

MAX_STREAMS = 1024
PONG_RATIO = {Market.SPOT: 60 / 20, Market.FUTURES: 600 / 180}  # pong timeout / ping interval
TICK_S = 0.025  # how often a connection's emitter wakes (wall time)
CLOSE_TIMEOUT = 0.5  # longest a close may take (waiting for the client's close frame, or a full socket)
COUNTED = (WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.PING, WSMsgType.PONG)  # toward the message limit


# -- connections ---------------------------------------------------------------------------------


class Outbox:
    """Writes one connection's frames, applying the frame drills (latency, malformed extras, drop after N)."""

    def __init__(self, ws: web.WebSocketResponse, server: StreamServer, index: int):
        self.ws, self.server = ws, server
        faults = server.faults
        self._latency = faults.latency_ms / 1000
        self._malformed_rate = faults.malformed_frame_rate
        self._malformed_rng = faults.rng(f"ws-malformed|{server.market}|{index}")
        self.drop_after = faults.drop_after(faults.rng(f"ws-drop|{server.market}|{index}"))
        self.sent = 0

    @property
    def spent(self) -> bool:
        """The drop drill has sent this connection its quota of data frames."""
        return 0 < self.drop_after <= self.sent

    async def delay(self) -> None:
        """Wait the latency drill's delay (none without the drill)."""
        if self._latency:
            await asyncio.sleep(self._latency)

    async def reply(self, body: dict) -> None:
        """Send a control reply (not a data frame: drills other than latency leave it alone)."""
        await self.delay()
        await self.ws.send_frame(msgspec.json.encode(body), WSMsgType.TEXT)

    async def data(self, frame: bytes) -> None:
        """Send a data frame, preceded by a malformed extra when the drill says so."""
        if self._malformed_rate and self._malformed_rng.random() < self._malformed_rate:
            # Extra, never instead: a client that skips unparsable frames loses nothing.
            await self.ws.send_frame(frame[: len(frame) // 2], WSMsgType.TEXT)
            self.server.malformed_sent += 1
        await self.ws.send_frame(frame, WSMsgType.TEXT)
        self.sent += 1
        self.server.frames_sent += 1


class ServerConnection:
    """One client socket: its subscriptions, emitter, keep-alive and control messages."""

    def __init__(self, server: StreamServer, ws: web.WebSocketResponse, index: int, category: str | None,
                 combined: bool):
        self.server, self.ws, self.category, self.combined = server, ws, category, combined
        self.outbox = Outbox(ws, server, index)
        self.feeds: dict[str, Feed] = {}
        self.finished = asyncio.Event()
        self._limiter = MessageLimiter(MESSAGE_LIMIT[server.market])
        self._last_pong = time.monotonic()
        self._close_code: int = WSCloseCode.OK
        self._close_message = b""
        self._stop = asyncio.Event()

    # -- lifecycle

    async def run(self, subs: list[Subscription]) -> None:
        """Serve until the client leaves, a rule or drill ends the connection, or the server stops."""
        self.subscribe(subs)
        loops = [self._read(), self._emit(), self._stop.wait()]
        if self.server.ping_s > 0 and not self.server.faults.stall_pings:
            loops.append(self._keep_alive())  # a stalled server neither pings nor times anyone out
        tasks = [asyncio.create_task(loop) for loop in loops]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                close = self.ws.close(code=self._close_code, message=self._close_message)
                # bounded: a client that stopped reading must not stall the close
                await asyncio.wait_for(close, CLOSE_TIMEOUT)
            self.finished.set()

    def stop(self, code: int, message: bytes) -> None:
        """End the connection from outside (server shutdown)."""
        self._end(code, message)
        self._stop.set()

    def _end(self, code: int, message: bytes) -> None:
        """Note why the connection ends; ``run`` closes it once the loop that noted it returns."""
        self._close_code, self._close_message = code, message

    # -- subscriptions

    def subscribe(self, subs: list[Subscription]) -> None:
        """Start the feeds of ``subs`` not subscribed yet, from market time now."""
        now = self.server.local.now()
        for sub in subs:
            if sub.name not in self.feeds:
                self.feeds[sub.name] = open_feed(sub, self.server.payloads, now)

    def _collect(self, now: int) -> list[tuple[int, str, dict]]:
        batch = [(t, name, payload) for name, feed in self.feeds.items() for t, payload in feed.poll(now)]
        batch.sort(key=itemgetter(0))  # stable: same-time events keep subscription order
        return batch

    async def _emit(self) -> None:
        encode = self.server.encoder.encode
        while True:
            await asyncio.sleep(TICK_S)
            batch = self._collect(self.server.local.now())
            await self.outbox.delay()
            for _, name, payload in batch:
                if name not in self.feeds:  # unsubscribed while this batch was in flight
                    continue
                frame = {"stream": name, "data": payload} if self.combined else payload
                await self.outbox.data(encode(frame))
                if self.outbox.spent:
                    self.server.drops += 1
                    self._end(WSCloseCode.GOING_AWAY, b"drill: drop_ws_every")
                    return

    # -- keep-alive

    async def _keep_alive(self) -> None:
        ping_s = self.server.ping_s
        timeout = ping_s * PONG_RATIO[self.server.market]
        while True:
            await asyncio.sleep(ping_s)
            if time.monotonic() - self._last_pong > timeout:
                self._end(WSCloseCode.POLICY_VIOLATION, b"pong timeout")
                return
            await self.ws.ping(str(self.server.local.now()).encode())

    # -- incoming

    async def _read(self) -> None:
        async for msg in self.ws:  # ends on the client's close or a broken socket
            if msg.type not in COUNTED:
                continue
            if not self._limiter.allow():
                self._end(WSCloseCode.POLICY_VIOLATION, b"Too many messages")
                return
            if msg.type is WSMsgType.PING:
                if not self.server.faults.stall_pings:
                    await self.ws.pong(msg.data)
            elif msg.type is WSMsgType.PONG:
                self._last_pong = time.monotonic()
            else:
                await self.outbox.reply(self._answer(msg.data))

    def _answer(self, text: str | bytes) -> dict:
        try:
            request = parse_request(text)
            return {"result": self._apply(request), "id": request.id}
        except RequestError as e:
            return e.reply()

    def _apply(self, request: Request) -> Any:
        match request.method:
            case "SUBSCRIBE":
                subs = self._parse_all(request)
                if len({*self.feeds, *(s.name for s in subs)}) > MAX_STREAMS:
                    raise RequestError(f"Invalid request: more than {MAX_STREAMS} streams", request.id)
                self.subscribe(subs)
            case "UNSUBSCRIBE":
                for name in self._names(request):
                    self.feeds.pop(name, None)
            case "LIST_SUBSCRIPTIONS":
                return list(self.feeds)
            case "SET_PROPERTY":
                params = request.params
                if len(params) != 2 or params[0] != "combined" or type(params[1]) is not bool:
                    raise RequestError('Invalid request: expected ["combined", true|false]', request.id)
                self.combined = params[1]
            case "GET_PROPERTY":
                if request.params != ["combined"]:
                    raise RequestError("Invalid request: unknown property", request.id)
                return self.combined
        return None

    def _names(self, request: Request) -> list[str]:
        if not all(isinstance(p, str) for p in request.params):
            raise RequestError("Invalid request: params must be stream names", request.id)
        if len(request.params) > MAX_STREAMS:
            raise RequestError(f"Invalid request: more than {MAX_STREAMS} streams", request.id)
        return request.params

    def _parse_all(self, request: Request) -> list[Subscription]:
        try:
            return [self.server.parse(name, self.category) for name in self._names(request)]
        except StreamError as e:
            raise RequestError(f"Invalid request: {e}", request.id) from None


# -- the server ----------------------------------------------------------------------------------

StreamNames = Callable[[web.Request], list[str]]


def _no_streams(request: web.Request) -> list[str]:
    return []


def _path_streams(request: web.Request) -> list[str]:
    return request.match_info["streams"].split("/")


def _query_streams(request: web.Request) -> list[str]:
    raw = request.query.get("streams", "")
    return raw.split("/") if raw else []


class StreamServer:
    """Serves one market's streams on the aiohttp app that serves its REST API."""

    def __init__(self, market: Market, local: LocalMarket, faults: FaultConfig, ping_s: float):
        self.market, self.local, self.faults, self.ping_s = market, local, faults, ping_s
        self.payloads = Payloads(market, local)
        self.encoder = msgspec.json.Encoder()
        self._taped = frozenset(local.data.market(market).tapes)
        self._open: set[ServerConnection] = set()
        # counters, for tests and benchmarks
        self.connections = 0
        self.frames_sent = 0  # data frames (not control replies, not malformed extras)
        self.malformed_sent = 0
        self.drops = 0

    @property
    def open_connections(self) -> int:
        """Connections being served now."""
        return len(self._open)

    def parse(self, name: str, category: str | None) -> Subscription:
        """The subscription ``name`` asks for on a path of ``category``; StreamError if it is not served."""
        return parse_served(name, self.market, self._taped, category)

    def routes(self) -> list[web.RouteDef]:
        """The stream paths: ``/ws``, ``/ws/<streams>``, ``/stream``; USD-M also under each split-path category."""
        prefixes: list[tuple[str, str | None]] = [("", None)]
        if self.market is Market.FUTURES:
            prefixes += [(f"/{c}", c) for c in Category]
        routes = []
        for prefix, category in prefixes:
            routes += [
                web.get(f"{prefix}/ws", self._handler(category, False, _no_streams)),
                web.get(f"{prefix}/ws/{{streams:.+}}", self._handler(category, False, _path_streams)),
                web.get(f"{prefix}/stream", self._handler(category, True, _query_streams)),
            ]
        return routes

    def _handler(self, category: str | None, combined: bool, names: StreamNames) -> Callable[..., Any]:
        async def handle(request: web.Request) -> web.StreamResponse:
            return await self._serve(request, names(request), category, combined)

        return handle

    async def _serve(self, request: web.Request, names: list[str], category: str | None,
                     combined: bool) -> web.StreamResponse:
        try:
            if len(names) > MAX_STREAMS:
                raise StreamError(f"more than {MAX_STREAMS} streams")
            subs = [self.parse(name, category) for name in names]
        except StreamError as e:
            return web.json_response({"code": 2, "msg": f"Invalid request: {e}"}, status=400)
        ws = web.WebSocketResponse(autoping=False, timeout=CLOSE_TIMEOUT)
        await ws.prepare(request)
        connection = ServerConnection(self, ws, self.connections, category, combined)
        self.connections += 1
        self._open.add(connection)
        try:
            await connection.run(subs)
        finally:
            self._open.discard(connection)
        return ws

    async def close_all(self) -> None:
        """Close every open connection (server shutdown); each close is bounded by CLOSE_TIMEOUT."""
        connections = list(self._open)
        for connection in connections:
            connection.stop(WSCloseCode.GOING_AWAY, b"server shutdown")
        await asyncio.gather(*(c.finished.wait() for c in connections))
