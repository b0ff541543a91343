"""msgspec Structs for Binance market-stream events (spot and USD-M) and control replies.

Field names are Binance's one-letter keys, declared in the order Binance sends them; decimal values stay
strings exactly as sent. Unknown fields are ignored and fields that only some shapes carry default to None,
so older and current frames decode. Events are frozen and untracked by the garbage collector (``gc=False``:
they hold only strings, ints, bools and lists of string pairs, so they cannot form cycles).

The same stream name means different shapes on the two markets (spot ``@trade`` has ``M``, USD-M has ``X``;
spot ``@bookTicker`` has no ``e``/``E``/``T``): which Struct a stream of a market carries is a column of the
stream table (``streams.py``); ``stream_decoder.StreamDecoder`` decodes frames with them.
"""

from __future__ import annotations

from typing import Any

import msgspec

# ----------------------------------------------------------------------------------------------------------
# Events
# ----------------------------------------------------------------------------------------------------------


class StreamEvent(msgspec.Struct, frozen=True, kw_only=True, gc=False, omit_defaults=True):
    """Base of every stream event (config only: frozen, untracked by gc, absent fields stay absent)."""


class SpotTradeEvent(StreamEvent, kw_only=True):
    """Spot ``<symbol>@trade``."""

    e: str  # "trade"
    E: int  # event time (ms)
    s: str
    t: int  # trade id
    p: str
    q: str
    b: int | None = None  # buyer order id (sent until late 2023)
    a: int | None = None  # seller order id (sent until late 2023)
    T: int  # trade time (ms)
    m: bool  # buyer is the maker
    M: bool  # ignore


class FuturesTradeEvent(StreamEvent, kw_only=True):
    """USD-M ``<symbol>@trade``."""

    e: str  # "trade"
    E: int
    T: int
    s: str
    t: int
    p: str
    q: str
    X: str  # order type: MARKET, LIQUIDATION, INSURANCE_FUND, ADL
    m: bool


class SpotAggTradeEvent(StreamEvent, kw_only=True):
    """Spot ``<symbol>@aggTrade``."""

    e: str  # "aggTrade"
    E: int
    s: str
    a: int  # aggregate trade id
    p: str
    q: str
    f: int  # first trade id
    l: int  # noqa: E741 (Binance's name) last trade id
    T: int
    m: bool
    M: bool


class FuturesAggTradeEvent(StreamEvent, kw_only=True):
    """USD-M ``<symbol>@aggTrade``."""

    e: str  # "aggTrade"
    E: int
    a: int
    s: str
    p: str
    q: str
    f: int
    l: int  # noqa: E741
    T: int
    m: bool


class KlineBar(StreamEvent, kw_only=True):
    """The ``k`` of a kline event (no ``s`` in USD-M continuous klines)."""

    t: int  # open time (ms)
    T: int  # close time (ms)
    s: str | None = None
    i: str  # interval
    f: int  # first trade id
    L: int  # last trade id
    o: str
    c: str
    h: str
    l: str  # noqa: E741
    v: str  # base volume
    n: int  # number of trades
    x: bool  # closed
    q: str  # quote volume
    V: str  # taker-buy base volume
    Q: str  # taker-buy quote volume
    B: str | None = None  # ignore


class KlineEvent(StreamEvent, kw_only=True):
    """``<symbol>@kline_<interval>`` (spot and USD-M)."""

    e: str  # "kline"
    E: int
    s: str
    k: KlineBar


class ContinuousKlineEvent(StreamEvent, kw_only=True):
    """USD-M ``<pair>_<contracttype>@continuousKline_<interval>``."""

    e: str  # "continuous_kline"
    E: int
    ps: str  # pair
    ct: str  # contract type
    k: KlineBar


class MarkPriceEvent(StreamEvent, kw_only=True):
    """USD-M ``<symbol>@markPrice[@1s]``."""

    e: str  # "markPriceUpdate"
    E: int
    s: str
    p: str  # mark price
    P: str  # estimated settle price
    i: str  # index price
    r: str  # funding rate
    T: int  # next funding time


class SpotTicker24hrEvent(StreamEvent):
    """Spot ``<symbol>@ticker``."""

    e: str  # "24hrTicker"
    E: int
    s: str
    p: str  # price change
    P: str  # price change percent
    w: str  # weighted average price
    x: str  # first trade(F)-1 price
    c: str  # last price
    Q: str  # last quantity
    b: str  # best bid
    B: str
    a: str  # best ask
    A: str
    o: str
    h: str
    l: str  # noqa: E741
    v: str
    q: str
    O: int  # noqa: E741 statistics open time
    C: int  # statistics close time
    F: int  # first trade id
    L: int  # last trade id
    n: int  # trade count


class FuturesTicker24hrEvent(StreamEvent):
    """USD-M ``<symbol>@ticker``."""

    e: str  # "24hrTicker"
    E: int
    s: str
    p: str
    P: str
    w: str
    c: str
    Q: str
    o: str
    h: str
    l: str  # noqa: E741
    v: str
    q: str
    O: int  # noqa: E741
    C: int
    F: int
    L: int
    n: int


class RollingTickerEvent(StreamEvent, kw_only=True):
    """Spot ``<symbol>@ticker_<1h|4h|1d>`` (rolling window)."""

    e: str  # "1hTicker", "4hTicker", "1dTicker"
    E: int
    s: str
    p: str
    P: str
    o: str
    h: str
    l: str  # noqa: E741
    c: str
    w: str
    v: str
    q: str
    O: int  # noqa: E741
    C: int
    F: int
    L: int
    n: int


class MiniTickerEvent(StreamEvent, kw_only=True):
    """``<symbol>@miniTicker`` (spot and USD-M)."""

    e: str  # "24hrMiniTicker"
    E: int
    s: str
    c: str
    o: str
    h: str
    l: str  # noqa: E741
    v: str
    q: str


class SpotBookTickerEvent(StreamEvent, kw_only=True):
    """Spot ``<symbol>@bookTicker`` (no event type or times)."""

    u: int  # order book update id
    s: str
    b: str
    B: str
    a: str
    A: str


class FuturesBookTickerEvent(StreamEvent, kw_only=True):
    """USD-M ``<symbol>@bookTicker``."""

    e: str  # "bookTicker"
    u: int
    s: str
    b: str
    B: str
    a: str
    A: str
    T: int  # transaction time
    E: int


class SpotDepthEvent(StreamEvent, kw_only=True):
    """Spot ``<symbol>@depth[@100ms]`` (diff)."""

    e: str  # "depthUpdate"
    E: int
    s: str
    U: int  # first update id
    u: int  # final update id
    b: list[tuple[str, str]]  # (price, quantity); quantity "0..." removes the level
    a: list[tuple[str, str]]


class FuturesDepthEvent(StreamEvent, kw_only=True):
    """USD-M ``<symbol>@depth[@0ms|@100ms|@250ms|@500ms]`` (diff) and ``@depth<5|10|20>`` (partial)."""

    e: str  # "depthUpdate"
    E: int
    T: int
    s: str
    U: int
    u: int
    pu: int  # previous event's final update id
    b: list[tuple[str, str]]
    a: list[tuple[str, str]]


class SpotPartialDepthEvent(StreamEvent, kw_only=True):
    """Spot ``<symbol>@depth<5|10|20>[@100ms]`` (top levels, not a diff)."""

    lastUpdateId: int
    bids: list[tuple[str, str]]
    asks: list[tuple[str, str]]


class LiquidationOrder(StreamEvent, kw_only=True):
    """The ``o`` of a USD-M force order."""

    s: str
    S: str  # side
    o: str  # order type
    f: str  # time in force
    q: str
    p: str
    ap: str  # average price
    X: str  # order status
    l: str  # noqa: E741 last filled quantity
    z: str  # accumulated filled quantity
    T: int


class ForceOrderEvent(StreamEvent, kw_only=True):
    """USD-M ``<symbol>@forceOrder`` and ``!forceOrder@arr`` (liquidations)."""

    e: str  # "forceOrder"
    E: int
    o: LiquidationOrder


# ----------------------------------------------------------------------------------------------------------
# Control replies and errors
# ----------------------------------------------------------------------------------------------------------


class ReplyError(msgspec.Struct, frozen=True):
    """The ``error`` of a refused control message."""

    code: int
    msg: str


class Reply(msgspec.Struct, frozen=True, omit_defaults=True):
    """Answer to SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS / SET_PROPERTY / GET_PROPERTY."""

    id: int | str | None = None
    result: Any = None  # null, a list of streams, a property value
    error: ReplyError | None = None

    @property
    def ok(self) -> bool:
        """The request was accepted."""
        return self.error is None
