"""Which streams the local exchange serves, and the feed of each subscription: its events as market time passes.

Stream names are read by the one parser of the stream table (``framework.binance.streams.parse_stream``); this
module says which of the table's kinds and options the tape can serve (``SERVED``) and how often each pushes.
Depth and all-market streams are not served; only taped symbols stream.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from framework.binance.endpoints import Market
from framework.binance.intervals import bucket_close
from framework.binance.intervals import bucket_open
from framework.binance.streams import Category
from framework.binance.streams import ParsedStream
from framework.binance.streams import parse_stream
from framework.exchange.stream_payloads import Payloads
from framework.exchange.tape import AggTrade
from framework.exchange.tape import Kline
from framework.exchange.tape import SymbolTape
from framework.exchange.tape import Trade

#: Kinds of the stream table served from the tape, with the options served for each (forceOrder is accepted
#: and silent: the tape has no liquidations).
SERVED: dict[str, tuple[str, ...]] = {
    "trade": ("",),
    "aggTrade": ("",),
    "bookTicker": ("",),
    "kline": ("",),
    "continuousKline": ("",),
    "ticker": ("",),
    "rollingTicker": ("",),
    "markPrice": ("", "@1s"),
    "forceOrder": ("",),
}
KLINE_PUSH_MS = {Market.SPOT: 2_000, Market.FUTURES: 250}
SPOT_1S_KLINE_PUSH_MS = 1_000
TICKER_PUSH_MS = 1_000
MARK_PUSH_MS = {"": 3_000, "@1s": 1_000}  # by the markPrice stream's option
_PERPETUAL = "_perpetual"

Event = tuple[int, dict]  # (market time E, payload)


class StreamError(ValueError):
    """A stream name this server does not serve (on this market or path)."""


@dataclass(frozen=True)
class Subscription:
    """A stream this server serves: the parsed name and the taped symbol it follows."""

    stream: ParsedStream
    symbol: str  # upper-case, as the tape names it

    @property
    def name(self) -> str:
        """The stream's name as the client wrote it."""
        return self.stream.name


def parse_served(name: str, market: Market, taped: Collection[str], category: str | None) -> Subscription:
    """The stream ``name`` on ``market``, served on a path of ``category`` (None: every category)."""
    parsed = parse_stream(name, market)
    if (
        parsed is None
        or not parsed.target  # all-market streams are not served
        or parsed.options not in SERVED.get(parsed.kind.name, ())
        or (category and Category(category) is not parsed.kind.category)
    ):
        raise StreamError(f"unknown stream '{name}'")
    target = parsed.target
    if parsed.kind.name == "continuousKline":
        if not target.endswith(_PERPETUAL):
            raise StreamError(f"unknown stream '{name}': only perpetual contracts are taped")
        target = target.removesuffix(_PERPETUAL)
    if target != target.lower() or target.upper() not in taped:
        raise StreamError(f"unknown symbol in stream '{name}'")
    return Subscription(parsed, target.upper())


# -- feeds: one per subscription -----------------------------------------------------------------


class Feed(Protocol):
    """The events of one subscription."""

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
        """The items published in (last advance, now]."""
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
        """The events with market time in (last poll, now], in time order."""
        return [(it.event_time, self._build(it)) for it in self._cursor.advance(now)]


class ClockFeed:
    """One event per period boundary of market time (mark price, tickers)."""

    def __init__(self, period_ms: int, now: int, build: Callable[[int], dict]):
        self._period, self._build = period_ms, build
        self._next = (now // period_ms + 1) * period_ms

    def poll(self, now: int) -> list[Event]:
        """The events with market time in (last poll, now], in time order."""
        out = []
        while self._next <= now:
            out.append((self._next, self._build(self._next)))
            self._next += self._period
        return out


class SilentFeed:
    """A valid stream with nothing on the tape to tell (forceOrder)."""

    def poll(self, now: int) -> list[Event]:
        """Nothing, ever."""
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
        """The next bucket's bar, empty so far."""
        return LiveBar(self.tape, self.interval, self.close_ms, self.listed_ms, self.close_ms - 1)


class KlineFeed:
    """Open (x=false) updates every push period while trades change the bar; one x=true frame at its close."""

    def __init__(self, bar: LiveBar, push_ms: int, now: int, render: Callable[[Kline, bool, int], dict]):
        self._bar, self._push_ms, self._render = bar, push_ms, render
        self._next_push = (now // push_ms + 1) * push_ms
        self._sent_trades = -1  # the first push after subscribing shows the bar as it is

    def poll(self, now: int) -> list[Event]:
        """The events with market time in (last poll, now], in time order."""
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


def open_feed(sub: Subscription, payloads: Payloads, now: int) -> Feed:
    """The feed of a served stream, starting at market time ``now``."""
    local, symbol, stream = payloads.local, sub.symbol, sub.stream
    tape = local.tape(payloads.market, symbol)
    assert tape is not None, "parse_served admits taped symbols only"
    match stream.kind.name:
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
            interval = stream.param
            assert interval is not None
            push_ms = SPOT_1S_KLINE_PUSH_MS if interval == "1s" else KLINE_PUSH_MS[payloads.market]
            render = payloads.kline if stream.kind.name == "kline" else payloads.continuous_kline
            bar = LiveBar(tape, interval, bucket_open(interval, now), local.listed_ms, now)
            return KlineFeed(bar, push_ms, now, lambda k, closed, t: render(symbol, interval, k, closed, t))
        case "markPrice":
            return ClockFeed(MARK_PUSH_MS[stream.options], now, lambda t: payloads.mark_price(symbol, t))
        case "ticker":
            return ClockFeed(TICKER_PUSH_MS, now, lambda t: payloads.ticker(symbol, t))
        case "rollingTicker":
            window = stream.param
            assert window is not None
            return ClockFeed(TICKER_PUSH_MS, now, lambda t: payloads.rolling_ticker(symbol, window, t))
        case "forceOrder":
            return SilentFeed()
        case _:
            raise ValueError(f"no feed for stream kind {stream.kind.name!r}")
