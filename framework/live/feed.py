"""A gap-free live market feed for one Binance market: sharded stream connections, decoding, sequencing.

    feed = MarketFeed(Market.FUTURES, rest_client, urls.futures_ws, streams_per_connection=200)
    feed.agg_trades("BTCUSDT", on_trade)            # ordered, gap-filled over REST, duplicate-free
    feed.klines("BTCUSDT", "1m", on_bar)            # closed klines only, missed bars fetched
    feed.stream("btcusdt@markPrice@1s", on_mark)    # any other stream, as decoded events
    await feed.start(); ...; await feed.stop()

Connections (``framework.binance.websocket.StreamConnection``) carry at most ``streams_per_connection``
streams each (Binance allows 1024); a connection's URL names its streams, so a reconnect resubscribes by
itself, and streams added to an open connection go out as batched ``SUBSCRIBE`` messages paced under the
incoming-message limit (spot 5/s, USD-M 10/s, pings and pongs included). aiohttp answers pings; sockets are
reopened before Binance's 24 h cut. USD-M ``/public`` streams (book) get connections apart from ``/market``.

Hot path (``on_frame``): one msgspec union decode (``StreamDecoder``), the latency observation, a dict
lookup, the subscriber's handler. Unparsable frames are counted (``malformed``) and skipped.

aggTrades and klines go through a ``GapFreeSequence`` (see ``framework.live.sequencer``) whose REST fetches
are the ``ingest`` fetcher's id and time pages (``framework.ingest.fetch.Fetcher``): one fetch path for
history, gaps and restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from operator import attrgetter
from typing import Any

import msgspec

from framework.binance import schemas as rest
from framework.binance.endpoints import Market
from framework.binance.http import BinanceRestClient
from framework.binance.intervals import bucket_open
from framework.binance.intervals import fixed_ms
from framework.binance.limits import MESSAGE_LIMIT
from framework.binance.stream_decoder import StreamDecodeError
from framework.binance.stream_decoder import StreamDecoder
from framework.binance.stream_schemas import KlineBar
from framework.binance.stream_schemas import Reply
from framework.binance.streams import futures_category
from framework.binance.websocket import StreamConnection
from framework.binance.websocket import StreamRefused
from framework.binance.websocket import stream_url
from framework.data.kinds import KINDS
from framework.ingest.fetch import Fetcher
from framework.ingest.fetch import Span
from framework.live.latency import LatencyMonitor
from framework.live.sequencer import GapFreeSequence

log = logging.getLogger("framework.live.feed")

#: Incoming messages per second per connection Binance allows (pings, pongs and SUBSCRIBE count).
MAX_STREAMS_PER_CONNECTION = 1024
LIFETIME_S = 23.5 * 3600  # reopen before Binance's 24 h cut
ID_PLAN_CHUNK = 1_000_000  # aggTrade ids per planned stretch of a gap fill


def rest_kline(k: KlineBar) -> rest.Kline:
    """A stream kline as the REST row it equals (so one parser serves both)."""
    return rest.Kline(k.t, k.o, k.h, k.l, k.c, k.v, k.T, k.q, k.n, k.V, k.Q, k.B or "0")


@dataclass
class _Shard:
    category: str
    streams: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # to SUBSCRIBE on the open socket
    conn: StreamConnection | None = None
    tasks: list[asyncio.Task] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class MarketFeed:
    """Live streams of one market with gap-free aggTrades and klines (see the module docstring)."""

    def __init__(self, market: Market | str, client: BinanceRestClient, ws_base: str,
                 streams_per_connection: int = 200, latency_warn_ms: float = 1000.0,
                 heartbeat_s: float | None = None, max_lifetime_s: float = LIFETIME_S,
                 fetch_concurrency: int = 4):
        if not 1 <= streams_per_connection <= MAX_STREAMS_PER_CONNECTION:
            raise ValueError(f"streams_per_connection must be 1..{MAX_STREAMS_PER_CONNECTION}, "
                             f"got {streams_per_connection}")
        self.market = Market(market)
        self.client = client
        self.ws_base = ws_base
        self.streams_per_connection = streams_per_connection
        self.heartbeat_s = heartbeat_s
        self.max_lifetime_s = max_lifetime_s
        self.fetch_concurrency = fetch_concurrency
        self.decoder = StreamDecoder(self.market)
        self.latency = LatencyMonitor(latency_warn_ms)
        self.sequences: dict[str, GapFreeSequence] = {}
        self.frames = 0
        self.malformed = 0
        self.handler_errors = 0
        self._handlers: dict[str, Callable[[Any], None]] = {}
        self._shards: list[_Shard] = []
        self._running = False
        self._past_reconnects = 0
        self._past_cuts = 0
        self._ids = itertools.count(1)
        #: set when a connection is given up (the server refuses its streams: ``StreamRefused``, in ``error``)
        self.failed = asyncio.Event()
        self.error: StreamRefused | None = None
        self.refused_streams: list[str] = []

    # -- subscriptions ------------------------------------------------------------------------------

    def stream(self, name: str, handler: Callable[[Any], None]) -> None:
        """Deliver every decoded event of stream ``name`` to ``handler``."""
        if name not in self._handlers:
            self.decoder.add([name])
            self._place(name)
        self._handlers[name] = handler

    def agg_trades(self, symbol: str, deliver: Callable[[Any, bool], None],
                   last_id: int | None = None) -> GapFreeSequence:
        """Every aggTrade of ``symbol`` once, in id order (``deliver(row, filled)``; rows carry a, p, q, f, l,
        T, m). ``last_id``: resume after this id (gap filled over REST)."""
        fetcher = Fetcher(self.client, self.market, KINDS["agg_trades"], symbol, concurrency=self.fetch_concurrency)

        async def newest() -> int | None:
            row = await fetcher.newest_agg_trade()
            return None if row is None else row.a

        async def pages(lo: int, hi: int) -> AsyncIterator[list[Any]]:
            # planned a million ids at a time: a long catch-up (years of ids) is millions of pages, too many to
            # plan at once without stalling the loop (and signals) for seconds
            for a in range(lo, hi + 1, ID_PLAN_CHUNK):
                async for rows in fetcher.id_pages(Span(a, min(a + ID_PLAN_CHUNK - 1, hi))):
                    yield rows

        name = f"{symbol.lower()}@aggTrade"
        seq = GapFreeSequence(f"{self.market.value} {symbol} aggTrades", attrgetter("a"), 1, pages, deliver, newest,
                              last_id)
        self.sequences[name] = seq
        self.stream(name, seq.push)
        return seq

    def klines(self, symbol: str, interval: str, deliver: Callable[[rest.Kline, bool], None],
               last_open: int | None = None) -> GapFreeSequence:
        """Every closed kline of ``symbol`` at ``interval`` once, in time order, as ``rest.Kline`` rows.
        ``last_open``: open time (ms) of the last bar already held."""
        length = fixed_ms(interval)
        fetcher = Fetcher(self.client, self.market, KINDS["klines"], symbol, interval, length,
                          concurrency=self.fetch_concurrency)

        async def newest() -> int:
            now = (await self.client.get(self.market, "time")).serverTime
            return bucket_open(interval, now) - length  # the last closed bar

        name = f"{symbol.lower()}@kline_{interval}"
        seq = GapFreeSequence(f"{self.market.value} {symbol} klines {interval}", attrgetter("open_time"), length,
                              lambda lo, hi: fetcher.time_pages(Span(lo, hi)), deliver, newest, last_open)
        self.sequences[name] = seq
        push = seq.push

        def on_kline(event: Any) -> None:
            if event.k.x:
                push(rest_kline(event.k))

        self.stream(name, on_kline)
        return seq

    def _place(self, name: str) -> None:
        category = futures_category(name) if self.market is Market.FUTURES else "market"
        shard = next((s for s in self._shards
                      if s.category == category and len(s.streams) < self.streams_per_connection), None)
        if shard is None:
            shard = _Shard(category)
            self._shards.append(shard)
        shard.streams.append(name)
        if self._running:
            if shard.conn is None:
                self._open(shard)
            else:
                shard.pending.append(name)
                shard.wake.set()

    # -- connections --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the connections of every subscribed stream."""
        self._running = True
        for shard in self._shards:
            if shard.conn is None:
                self._open(shard)

    def _open(self, shard: _Shard) -> None:
        shard.conn = StreamConnection(lambda: stream_url(self.market, self.ws_base, shard.streams),
                                      heartbeat_s=self.heartbeat_s, max_lifetime_s=self.max_lifetime_s)
        shard.tasks = [asyncio.ensure_future(self._read(shard)), asyncio.ensure_future(self._subscriber(shard))]

    async def _read(self, shard: _Shard) -> None:
        conn = shard.conn
        assert conn is not None
        seen = 0
        try:
            async for frame in conn.frames():
                if conn.reconnects != seen:
                    seen = conn.reconnects
                    log.info("%s stream connection reopened (%d so far); gaps fill from the first live frame",
                             self.market.value, seen)
                self.on_frame(frame.data, frame.recv_ns)
        except StreamRefused as e:  # not an endless reconnect loop: the owner decides (record ends with one line)
            log.error("%s streams %s: %s", self.market.value, ", ".join(shard.streams), e)
            self.error, self.refused_streams = e, list(shard.streams)
            self.failed.set()

    async def _subscriber(self, shard: _Shard) -> None:
        """Send streams added to an open socket as batched SUBSCRIBEs, paced under the message limit."""
        pause = 2.0 / MESSAGE_LIMIT[self.market]  # half the allowance: pongs count too
        conn = shard.conn
        assert conn is not None
        while True:
            await shard.wake.wait()
            shard.wake.clear()
            while shard.pending:
                if not conn.connected:
                    await asyncio.sleep(0.05)
                    continue
                batch, shard.pending = shard.pending[:MAX_STREAMS_PER_CONNECTION], shard.pending[MAX_STREAMS_PER_CONNECTION:]
                body = {"method": "SUBSCRIBE", "params": batch, "id": next(self._ids)}
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await conn.send_str(msgspec.json.encode(body).decode())
                await asyncio.sleep(pause)

    def on_frame(self, data: bytes | str, recv_ns: int) -> None:
        """Decode one frame and hand its event on (the hot path)."""
        self.frames += 1
        try:
            stream, event = self.decoder.decode(data)
        except StreamDecodeError as e:
            self.malformed += 1
            if self.malformed <= 3 or self.malformed % 1000 == 0:
                log.warning("skipped unparsable frame #%d: %s", self.malformed, e.reason)
            return
        if stream is None:
            self._reply(event)
            return
        e_ms = getattr(event, "E", None)
        if e_ms is not None:
            self.latency.observe(stream, recv_ns, e_ms)
        handler = self._handlers.get(stream)
        if handler is None:
            return
        try:
            handler(event)
        except Exception:  # a subscriber's bug must not stop the feed
            self.handler_errors += 1
            log.exception("handler of %s failed", stream)

    def _reply(self, reply: Reply) -> None:
        if not reply.ok:
            log.warning("%s stream control message %s refused: %s", self.market.value, reply.id, reply.error)

    async def catch_up(self) -> None:
        """Deliver what REST has beyond every sequence's last key (restart, clean stop)."""
        await asyncio.gather(*(s.catch_up() for s in self.sequences.values()))

    def refusal(self) -> str:
        """What ``failed`` means, for a command's one error line: market, symbols, the refused streams and why
        (the caller adds what to change in its own config)."""
        if self.error is None:
            return ""
        refused = self.refused_streams
        symbols = sorted({s.split("@", 1)[0].upper() for s in refused})
        streams = ", ".join(refused[:4]) + (f" and {len(refused) - 4} more" if len(refused) > 4 else "")
        return (f"{self.market.value} {', '.join(symbols[:10])}{' ...' if len(symbols) > 10 else ''}: the exchange "
                f"refused the streams {streams} {self.error.attempts} times in a row (HTTP {self.error.status}): "
                f"{'it has no' if len(symbols) == 1 else 'a symbol among these has no'} live market data "
                "(with --offline only taped symbols stream: the USDT-quoted ones)")

    async def stop(self) -> None:
        """Close every connection and cancel its readers and any running gap fill."""
        self._running = False
        for shard in self._shards:
            if shard.conn is not None:
                self._past_reconnects += shard.conn.reconnects
                self._past_cuts += shard.conn.lifetime_cuts
                await shard.conn.close()
            for task in shard.tasks:
                task.cancel()
            await asyncio.gather(*shard.tasks, return_exceptions=True)
            shard.conn, shard.tasks = None, []
        fills = [fill for seq in self.sequences.values() if (fill := seq.cancel()) is not None]
        await asyncio.gather(*fills, return_exceptions=True)

    # -- state --------------------------------------------------------------------------------------

    @property
    def connections(self) -> int:
        """Websocket connections open now."""
        return sum(1 for s in self._shards if s.conn is not None)

    @property
    def reconnects(self) -> int:
        """Reconnects over the feed's life, those of connections already closed included."""
        return self._past_reconnects + sum(s.conn.reconnects for s in self._shards if s.conn is not None)

    @property
    def lifetime_cuts(self) -> int:
        """Planned reconnects (``max_lifetime_s``) among ``reconnects``."""
        return self._past_cuts + sum(s.conn.lifetime_cuts for s in self._shards if s.conn is not None)

    def stats(self) -> dict[str, Any]:
        """Counters for logs and tests (frames, malformed, reconnects, per-sequence, latency)."""
        return {
            "frames": self.frames,
            "malformed": self.malformed,
            "handler_errors": self.handler_errors,
            "connections": self.connections,
            "reconnects": self.reconnects,
            "lifetime_cuts": self.lifetime_cuts,
            "sequences": {n: vars(s.stats) for n, s in self.sequences.items()},
            "latency_ms": {s.stream: {"last": s.last_ms, "p50": s.p50_ms, "p99": s.p99_ms, "max": s.max_ms}
                           for s in self.latency.all_stats()},
        }


async def first_failure(feeds: Iterable[MarketFeed]) -> MarketFeed:
    """The first of ``feeds`` to give a connection up (the exchange refused its streams); waits forever when
    there are none. ``record`` and ``live`` both end their run on it."""
    waits = {asyncio.ensure_future(feed.failed.wait()): feed for feed in feeds}
    if not waits:
        await asyncio.Event().wait()
    try:
        done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
    return waits[next(iter(done))]
