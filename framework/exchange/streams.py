"""Stream side of the local exchange: Binance market streams replayed live from the tape.

Each subscription emits the events whose *market* time passes while it is subscribed (no history on
subscribe), in time order across the connection's subscriptions. Payloads are built from the very views
REST answers with, evaluated at the event's time, so a frame and the REST row of the same id or bucket are
identical.

Paths (spot and USD-M): ``/ws``, ``/ws/<s1>/<s2>...`` (raw payloads), ``/stream?streams=a/b`` (combined
``{"stream": ..., "data": ...}``); USD-M adds the 2026 split paths ``/market/...`` and ``/public/...``, each
serving only its category of streams, and ``/private/...`` (connections accepted, no market streams there).
Control messages take ids as Binance does: unsigned integers, strings of up to 36 characters, or null.

Streams: ``<s>@trade``, ``@aggTrade``, ``@bookTicker``, ``@ticker``, ``@kline_<i>``; spot
``@ticker_<1h|4h|1d>``; USD-M ``@markPrice``, ``@markPrice@1s``, ``<pair>_perpetual@continuousKline_<i>`` and
``@forceOrder`` (accepted, silent: the tape has no liquidations). Depth streams are not served; only taped
symbols stream.

Keep-alive: the server pings every ``ping_seconds`` and drops a client whose last pong is older than
``ping_seconds`` x Binance's pong/ping ratio (spot 60 s / 20 s = 3, USD-M 600 s / 180 s = 10/3), so drills
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
from collections import OrderedDict
from collections import deque
from collections.abc import Callable
from collections.abc import Collection
from dataclasses import dataclass
from operator import itemgetter
from typing import Any
from typing import Protocol

import msgspec
from aiohttp import WSCloseCode
from aiohttp import WSMsgType
from aiohttp import web

from framework.binance.endpoints import KLINE_INTERVALS
from framework.binance.endpoints import Market
from framework.binance.intervals import bucket_close
from framework.binance.intervals import bucket_open
from framework.binance.limits import MESSAGE_LIMIT
from framework.exchange.faults import FaultConfig
from framework.exchange.market import LocalMarket
from framework.exchange.tape import AggTrade
from framework.exchange.tape import Kline
from framework.exchange.tape import SymbolTape
from framework.exchange.tape import Trade

MAX_STREAMS = 1024
PONG_RATIO = {Market.SPOT: 60 / 20, Market.FUTURES: 600 / 180}  # pong timeout / ping interval
KLINE_PUSH_MS = {Market.SPOT: 2_000, Market.FUTURES: 250}
SPOT_1S_KLINE_PUSH_MS = 1_000
TICKER_PUSH_MS = 1_000
MARK_PUSH_MS = {"markPrice": 3_000, "markPrice@1s": 1_000}
TICK_SECONDS = 0.025  # how often a connection's emitter wakes (wall time)
CLOSE_TIMEOUT = 0.5  # longest a close may take (waiting for the client's close frame, or a full socket)

MARKET_PATHS, PUBLIC_PATHS = "market", "public"  # the USD-M split-path categories
# USD-M's third split path, for user-data streams: it accepts connections (the official SDK opens one beside
# /market and /public) but serves no market stream, and user data is not simulated.
PRIVATE_PATHS = "private"
METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")
COUNTED = (WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.PING, WSMsgType.PONG)  # toward the message limit

Event = tuple[int, dict]  # (market time E, payload)


# -- stream names --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Topic:
    """What follows the ``@`` of a stream name: where it is served and on which USD-M split path."""

    markets: frozenset[Market]
    category: str


_BOTH, _SPOT, _FUT = frozenset(Market), frozenset({Market.SPOT}), frozenset({Market.FUTURES})
TOPICS: dict[str, Topic] = {
    "trade": Topic(_BOTH, MARKET_PATHS),
    "aggTrade": Topic(_BOTH, MARKET_PATHS),
    "kline": Topic(_BOTH, MARKET_PATHS),
    "ticker": Topic(_BOTH, MARKET_PATHS),
    "bookTicker": Topic(_BOTH, PUBLIC_PATHS),
    "ticker_1h": Topic(_SPOT, MARKET_PATHS),
    "ticker_4h": Topic(_SPOT, MARKET_PATHS),
    "ticker_1d": Topic(_SPOT, MARKET_PATHS),
    "markPrice": Topic(_FUT, MARKET_PATHS),
    "markPrice@1s": Topic(_FUT, MARKET_PATHS),
    "continuousKline": Topic(_FUT, MARKET_PATHS),
    "forceOrder": Topic(_FUT, MARKET_PATHS),
}
INTERVALS = {Market.SPOT: KLINE_INTERVALS, Market.FUTURES: tuple(i for i in KLINE_INTERVALS if i != "1s")}
_INTERVAL_TOPICS = ("kline", "continuousKline")
_PERPETUAL = "_perpetual"


class StreamError(ValueError):
    """A stream name this server does not serve (on this market or path)."""


@dataclass(frozen=True)
class StreamSpec:
    name: str  # as the client wrote it
    symbol: str  # upper-case, as the tape names it
    topic: str  # a key of TOPICS
    interval: str | None = None


def parse_stream(name: str, market: Market, taped: Collection[str], category: str | None) -> StreamSpec:
    """The stream ``name`` on ``market``, served on a path of ``category`` (None: every category)."""
    target, _, topic = name.partition("@")
    head, _, interval = topic.partition("_")
    if head in _INTERVAL_TOPICS:
        if interval not in INTERVALS[market]:
            raise StreamError(f"unknown stream '{name}'")
        topic = head
    else:
        interval = ""
    kind = TOPICS.get(topic)
    if kind is None or market not in kind.markets or (category and category != kind.category):
        raise StreamError(f"unknown stream '{name}'")
    if topic == "continuousKline":
        if not target.endswith(_PERPETUAL):
            raise StreamError(f"unknown stream '{name}': only perpetual contracts are taped")
        target = target.removesuffix(_PERPETUAL)
    if not target or target != target.lower() or target.upper() not in taped:
        raise StreamError(f"unknown symbol in stream '{name}'")
    return StreamSpec(name, target.upper(), topic, interval or None)


# -- payloads ------------------------------------------------------------------------------------


def _pick(row: dict, keys: tuple[tuple[str, str], ...]) -> dict:
    return {short: row[long] for short, long in keys}


_TICKER_SPOT = (
    ("p", "priceChange"), ("P", "priceChangePercent"), ("w", "weightedAvgPrice"), ("x", "prevClosePrice"),
    ("c", "lastPrice"), ("Q", "lastQty"), ("b", "bidPrice"), ("B", "bidQty"), ("a", "askPrice"),
    ("A", "askQty"), ("o", "openPrice"), ("h", "highPrice"), ("l", "lowPrice"), ("v", "volume"),
    ("q", "quoteVolume"), ("O", "openTime"), ("C", "closeTime"), ("F", "firstId"), ("L", "lastId"),
    ("n", "count"),
)
_TICKER_FUTURES = tuple(kv for kv in _TICKER_SPOT if kv[0] not in "xbBaA")
_ROLLING = (
    ("p", "priceChange"), ("P", "priceChangePercent"), ("o", "openPrice"), ("h", "highPrice"),
    ("l", "lowPrice"), ("c", "lastPrice"), ("w", "weightedAvgPrice"), ("v", "volume"), ("q", "quoteVolume"),
    ("O", "openTime"), ("C", "closeTime"), ("F", "firstId"), ("L", "lastId"), ("n", "count"),
)


class Payloads:
    """Builds each event's payload, in Binance's key order, from the rows REST serves."""

    _MEMO_SIZE = 64

    def __init__(self, market: Market, local: LocalMarket):
        self.market = market
        self.local = local
        self.at = local.at  # the market as REST answers at an event's time
        self.spot = market is Market.SPOT
        self._memo: OrderedDict[tuple, dict] = OrderedDict()

    def _shared(self, key: tuple, build: Callable[[], dict]) -> dict:
        # Clock-driven payloads are the same for every connection at a given time: build each once.
        if key not in self._memo:
            self._memo[key] = build()
            if len(self._memo) > self._MEMO_SIZE:
                self._memo.popitem(last=False)
        return self._memo[key]

    def trade(self, symbol: str, t: Trade) -> dict:
        row = self.local.trade_json(self.market, symbol, t)
        if self.spot:
            return {"e": "trade", "E": t.event_time, "s": symbol, "t": row["id"], "p": row["price"],
                    "q": row["qty"], "T": row["time"], "m": row["isBuyerMaker"], "M": True}
        return {"e": "trade", "E": t.event_time, "T": row["time"], "s": symbol, "t": row["id"],
                "p": row["price"], "q": row["qty"], "X": "MARKET", "m": row["isBuyerMaker"]}

    def agg_trade(self, symbol: str, a: AggTrade) -> dict:
        row = self.local.agg_trade_json(self.market, symbol, a)
        # Merging keeps the leading keys' order; the rest follow in REST's order (USD-M puts "a" before "s").
        if self.spot:
            return {"e": "aggTrade", "E": a.event_time, "s": symbol} | row
        return {"e": "aggTrade", "E": a.event_time, "a": row["a"], "s": symbol} | row

    def book_ticker(self, symbol: str, t: Trade) -> dict:
        bid, bid_qty, ask, ask_qty = self.at(t.event_time).book_top(self.market, symbol)
        book = {"u": t.id, "s": symbol, "b": bid, "B": bid_qty, "a": ask, "A": ask_qty}
        if self.spot:
            return book
        return {"e": "bookTicker"} | book | {"T": t.time, "E": t.event_time}

    def kline(self, symbol: str, interval: str, k: Kline, closed: bool, event_ms: int) -> dict:
        row = LocalMarket.kline_json(k, self.local.formats[(self.market, symbol)])
        bar = {"t": row[0], "T": row[6], "s": symbol, "i": interval, "f": k.first_trade_id,
               "L": k.last_trade_id, "o": row[1], "c": row[4], "h": row[2], "l": row[3], "v": row[5],
               "n": row[8], "x": closed, "q": row[7], "V": row[9], "Q": row[10], "B": row[11]}
        return {"e": "kline", "E": event_ms, "s": symbol, "k": bar}

    def continuous_kline(self, pair: str, interval: str, k: Kline, closed: bool, event_ms: int) -> dict:
        bar = self.kline(pair, interval, k, closed, event_ms)["k"]
        del bar["s"]
        return {"e": "continuous_kline", "E": event_ms, "ps": pair, "ct": "PERPETUAL", "k": bar}

    def mark_price(self, symbol: str, t_ms: int) -> dict:
        def build() -> dict:
            row = self.at(t_ms).premium_index(symbol)
            return {"e": "markPriceUpdate", "E": t_ms, "s": symbol, "p": row["markPrice"],
                    "P": row["estimatedSettlePrice"], "i": row["indexPrice"], "r": row["lastFundingRate"],
                    "T": row["nextFundingTime"]}

        return self._shared(("markPrice", symbol, t_ms), build)

    def ticker(self, symbol: str, t_ms: int) -> dict:
        def build() -> dict:
            row = self.at(t_ms).ticker_24hr(self.market, symbol)
            keys = _TICKER_SPOT if self.spot else _TICKER_FUTURES
            return {"e": "24hrTicker", "E": t_ms, "s": symbol} | _pick(row, keys)

        return self._shared(("ticker", symbol, t_ms), build)

    def rolling_ticker(self, symbol: str, window: str, t_ms: int) -> dict:
        def build() -> dict:
            row = self.at(t_ms).rolling(symbol, window, mini=False)
            return {"e": f"{window}Ticker", "E": t_ms, "s": symbol} | _pick(row, _ROLLING)

        return self._shared((window, symbol, t_ms), build)


# -- feeds: one per subscription -----------------------------------------------------------------


class Feed(Protocol):
    def poll(self, now: int) -> list[Event]:
        """The events with market time in (last poll, now], in time order."""
        ...


class TapeCursor[Item: (Trade, AggTrade)]:
    """Hands out a tape's trades (or aggTrades) once each, in id order, when their event time has passed."""

    def __init__(self, item: Callable[[int], Item], last_id_at: Callable[[int], int], now: int):
        self._item = item
        next_id = last_id_at(now) + 1
        # A trade done by now but published (event time) after it is still to come.
        while item(next_id - 1).event_time > now:
            next_id -= 1
        self.next_id = next_id

    def advance(self, now: int) -> list[Item]:
        out = []
        while (it := self._item(self.next_id)).event_time <= now:
            out.append(it)
            self.next_id += 1
        return out


class TapeFeed[Item: (Trade, AggTrade)]:
    """One event per tape item (trade, aggTrade, book update on a trade), at the item's event time."""

    def __init__(self, cursor: TapeCursor[Item], build: Callable[[Item], dict]):
        self._cursor, self._build = cursor, build

    def poll(self, now: int) -> list[Event]:
        return [(it.event_time, self._build(it)) for it in self._cursor.advance(now)]


class ClockFeed:
    """One event per period boundary of market time (mark price, tickers)."""

    def __init__(self, period_ms: int, now: int, build: Callable[[int], dict]):
        self._period, self._build = period_ms, build
        self._next = (now // period_ms + 1) * period_ms

    def poll(self, now: int) -> list[Event]:
        out = []
        while self._next <= now:
            out.append((self._next, self._build(self._next)))
            self._next += self._period
        return out


class SilentFeed:
    """A valid stream with nothing on the tape to tell (forceOrder)."""

    def poll(self, now: int) -> list[Event]:
        return []


class LiveBar:
    """The kline of one bucket, extended with the trades of each step of market time."""

    def __init__(self, tape: SymbolTape, interval: str, open_ms: int, listed_ms: int, upto_ms: int):
        self.tape, self.interval, self.listed_ms = tape, interval, listed_ms
        self.close_ms = bucket_close(interval, open_ms)  # exclusive end
        self.kline = tape.kline(interval, open_ms, listed_ms, upto_ms)
        self.upto_ms = upto_ms

    def advance(self, t_ms: int) -> Kline:
        """The bar counting the trades up to ``t_ms`` (merging only those after the previous step)."""
        t_ms = min(t_ms, self.close_ms - 1)
        if t_ms > self.upto_ms:
            self.kline.merge(self.tape.window(self.upto_ms + 1, t_ms, self.listed_ms))
            self.upto_ms = t_ms
        return self.kline

    def following(self) -> LiveBar:
        return LiveBar(self.tape, self.interval, self.close_ms, self.listed_ms, self.close_ms - 1)


class KlineFeed:
    """Open (x=false) updates every push period while trades change the bar; one x=true frame at its close."""

    def __init__(self, bar: LiveBar, push_ms: int, now: int, render: Callable[[Kline, bool, int], dict]):
        self._bar, self._push_ms, self._render = bar, push_ms, render
        self._next_push = (now // push_ms + 1) * push_ms
        self._sent_trades = -1  # the first push after subscribing shows the bar as it is

    def poll(self, now: int) -> list[Event]:
        out: list[Event] = []
        while min(self._bar.close_ms, self._next_push) <= now:
            if self._bar.close_ms <= self._next_push:  # a close at a push instant goes first
                close = self._bar.close_ms
                out.append((close, self._render(self._bar.advance(close - 1), True, close)))
                self._bar, self._sent_trades = self._bar.following(), 0
                continue
            t = self._next_push
            k = self._bar.advance(t)
            if k.trades != self._sent_trades:
                out.append((t, self._render(k, False, t)))
                self._sent_trades = k.trades
            self._next_push += self._push_ms
        return out


def open_feed(spec: StreamSpec, payloads: Payloads, now: int) -> Feed:
    """The feed of a parsed stream, starting at market time ``now``."""
    local, symbol = payloads.local, spec.symbol
    tape = local.tape(payloads.market, symbol)
    assert tape is not None, "parse_stream admits taped symbols only"
    match spec.topic:
        case "trade":
            return TapeFeed(TapeCursor(tape.trade, tape.last_trade_at, now),
                            lambda t: payloads.trade(symbol, t))
        case "aggTrade":
            return TapeFeed(TapeCursor(tape.agg_trade, tape.last_agg_at, now),
                            lambda a: payloads.agg_trade(symbol, a))
        case "bookTicker":
            return TapeFeed(TapeCursor(tape.trade, tape.last_trade_at, now),
                            lambda t: payloads.book_ticker(symbol, t))
        case "kline" | "continuousKline":
            interval = spec.interval
            assert interval is not None
            push_ms = SPOT_1S_KLINE_PUSH_MS if interval == "1s" else KLINE_PUSH_MS[payloads.market]
            render = payloads.kline if spec.topic == "kline" else payloads.continuous_kline
            bar = LiveBar(tape, interval, bucket_open(interval, now), local.listed_ms, now)
            return KlineFeed(bar, push_ms, now, lambda k, closed, t: render(symbol, interval, k, closed, t))
        case "markPrice" | "markPrice@1s":
            return ClockFeed(MARK_PUSH_MS[spec.topic], now, lambda t: payloads.mark_price(symbol, t))
        case "ticker":
            return ClockFeed(TICKER_PUSH_MS, now, lambda t: payloads.ticker(symbol, t))
        case "ticker_1h" | "ticker_4h" | "ticker_1d":
            window = spec.topic.removeprefix("ticker_")
            return ClockFeed(TICKER_PUSH_MS, now, lambda t: payloads.rolling_ticker(symbol, window, t))
        case "forceOrder":
            return SilentFeed()
        case _:
            raise ValueError(f"no feed for stream topic {spec.topic!r}")


# -- control messages ----------------------------------------------------------------------------


RequestId = int | str | None
MAX_ID_CHARS = 36  # Binance accepts ids that are unsigned integers, strings up to 36 characters, or null
MAX_ID = 2**64 - 1


def _valid_id(value: object) -> bool:
    """A request id Binance accepts (the official SDKs send UUID strings, other clients integers)."""
    if value is None:
        return True
    if type(value) is int:
        return 0 <= value <= MAX_ID
    return type(value) is str and len(value) <= MAX_ID_CHARS


class RequestError(Exception):
    """A control message Binance would refuse: ``{"error": {"code", "msg"}, "id"}``."""

    def __init__(self, msg: str, request_id: RequestId = None, code: int = 2):
        super().__init__(msg)
        self.code, self.msg, self.request_id = code, msg, request_id

    def reply(self) -> dict:
        return {"error": {"code": self.code, "msg": self.msg}, "id": self.request_id}


@dataclass(frozen=True)
class Request:
    method: str
    params: list
    id: RequestId


def parse_request(text: str | bytes) -> Request:
    """A live control message (SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET/GET_PROPERTY)."""
    try:
        body = msgspec.json.decode(text)
    except msgspec.DecodeError as e:
        raise RequestError(f"Invalid JSON: {e}", code=3) from None
    if not isinstance(body, dict):
        raise RequestError("Invalid request: expected a JSON object")
    request_id = body.get("id")
    if not _valid_id(request_id):
        raise RequestError("Invalid request: request ID must be an unsigned integer, a string of at most "
                           f"{MAX_ID_CHARS} characters or null")
    method, params = body.get("method"), body.get("params", [])
    if method not in METHODS:
        expected = ", ".join(METHODS)
        raise RequestError(f"Invalid request: unknown variant {method}, expected one of {expected}",
                           request_id)
    if not isinstance(params, list) or not all(isinstance(p, str | bool) for p in params):
        raise RequestError("Invalid request: params must be a list of strings", request_id)
    return Request(method, params, request_id)


class MessageLimiter:
    """Incoming messages per second on one connection (a sliding one-second window of wall time)."""

    def __init__(self, per_second: int):
        self.per_second = per_second
        self._times: deque[float] = deque()

    def allow(self) -> bool:
        now = time.monotonic()
        while self._times and now - self._times[0] >= 1.0:
            self._times.popleft()
        self._times.append(now)
        return len(self._times) <= self.per_second


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
        if self._latency:
            await asyncio.sleep(self._latency)

    async def reply(self, body: dict) -> None:
        await self.delay()
        await self.ws.send_frame(msgspec.json.encode(body), WSMsgType.TEXT)

    async def data(self, frame: bytes) -> None:
        if self._malformed_rate and self._malformed_rng.random() < self._malformed_rate:
            # Extra, never instead: a client that skips unparsable frames loses nothing.
            await self.ws.send_frame(frame[: len(frame) // 2], WSMsgType.TEXT)
            self.server.malformed_sent += 1
        await self.ws.send_frame(frame, WSMsgType.TEXT)
        self.sent += 1
        self.server.frames_sent += 1


class StreamConnection:
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

    async def run(self, specs: list[StreamSpec]) -> None:
        """Serve until the client leaves, a rule or drill ends the connection, or the server stops."""
        self.subscribe(specs)
        loops = [self._read(), self._emit(), self._stop.wait()]
        if self.server.ping_seconds > 0 and not self.server.faults.stall_pings:
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

    def subscribe(self, specs: list[StreamSpec]) -> None:
        now = self.server.local.now()
        for spec in specs:
            if spec.name not in self.feeds:
                self.feeds[spec.name] = open_feed(spec, self.server.payloads, now)

    def _collect(self, now: int) -> list[tuple[int, str, dict]]:
        batch = [(t, name, payload) for name, feed in self.feeds.items() for t, payload in feed.poll(now)]
        batch.sort(key=itemgetter(0))  # stable: same-time events keep subscription order
        return batch

    async def _emit(self) -> None:
        encode = self.server.encoder.encode
        while True:
            await asyncio.sleep(TICK_SECONDS)
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
        ping_seconds = self.server.ping_seconds
        timeout = ping_seconds * PONG_RATIO[self.server.market]
        while True:
            await asyncio.sleep(ping_seconds)
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
                specs = self._parse_all(request)
                if len({*self.feeds, *(s.name for s in specs)}) > MAX_STREAMS:
                    raise RequestError(f"Invalid request: more than {MAX_STREAMS} streams", request.id)
                self.subscribe(specs)
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

    def _parse_all(self, request: Request) -> list[StreamSpec]:
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

    def __init__(self, market: Market, local: LocalMarket, faults: FaultConfig, ping_seconds: float):
        self.market, self.local, self.faults, self.ping_seconds = market, local, faults, ping_seconds
        self.payloads = Payloads(market, local)
        self.encoder = msgspec.json.Encoder()
        self._taped = frozenset(local.data.market(market).tapes)
        self._open: set[StreamConnection] = set()
        # counters, for tests and benchmarks
        self.connections = 0
        self.frames_sent = 0  # data frames (not control replies, not malformed extras)
        self.malformed_sent = 0
        self.drops = 0

    @property
    def open_connections(self) -> int:
        return len(self._open)

    def parse(self, name: str, category: str | None) -> StreamSpec:
        return parse_stream(name, self.market, self._taped, category)

    def routes(self) -> list[web.RouteDef]:
        prefixes: list[tuple[str, str | None]] = [("", None)]
        if self.market is Market.FUTURES:
            prefixes += [(f"/{c}", c) for c in (MARKET_PATHS, PUBLIC_PATHS, PRIVATE_PATHS)]
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
            specs = [self.parse(name, category) for name in names]
        except StreamError as e:
            return web.json_response({"code": 2, "msg": f"Invalid request: {e}"}, status=400)
        ws = web.WebSocketResponse(autoping=False, timeout=CLOSE_TIMEOUT)
        await ws.prepare(request)
        connection = StreamConnection(self, ws, self.connections, category, combined)
        self.connections += 1
        self._open.add(connection)
        try:
            await connection.run(specs)
        finally:
            self._open.discard(connection)
        return ws

    async def close_all(self) -> None:
        """Close every open connection (server shutdown); each close is bounded by CLOSE_TIMEOUT."""
        connections = list(self._open)
        for connection in connections:
            connection.stop(WSCloseCode.GOING_AWAY, b"server shutdown")
        await asyncio.gather(*(c.finished.wait() for c in connections))
