"""msgspec Structs for Binance market-stream events (spot and USD-M), and their hot-path decoder.

Field names are Binance's one-letter keys, declared in the order Binance sends them; decimal values stay
strings exactly as sent. Unknown fields are ignored and fields that only some shapes carry default to None,
so older and current frames decode. Events are frozen and untracked by the garbage collector (``gc=False``:
they hold only strings, ints, bools and lists of string pairs, so they cannot form cycles).

The same stream name means different shapes on the two markets (spot ``@trade`` has ``M``, USD-M has ``X``;
spot ``@bookTicker`` has no ``e``/``E``/``T``), so a decoder serves one market::

    decoder = StreamDecoder(Market.SPOT)
    stream, event = decoder.decode(frame)        # combined stream: {"stream": ..., "data": ...}
    event = decoder.decode_payload(stream, data)  # raw /ws/<stream> connection, stream known
    event = decoder.decode_event(data)            # raw /ws connection, several subscriptions

Control replies (``{"result": null, "id": 1}``, ``{"error": {"code": .., "msg": ..}, "id": ..}``) decode to
``Reply`` (with stream ``None`` from ``decode``). Anything else that cannot be decoded raises
``StreamDecodeError``: count it and skip the frame.

Hot path (measured in ``benchmarks/bench_decode.py``): each known stream gets a wrapper Struct tagged by its
stream name (``tag_field="stream"``), and one ``msgspec.json.Decoder`` of the union of them dispatches and
decodes a frame in a single C pass, with no Python-level look at the bytes. Frames the union refuses (a stream
not compiled in yet, a control reply, a bad frame) take the general path: decode ``{"stream", "data": Raw}``,
resolve the stream name, decode ``data``. Per frame that path takes about 1.3x the union's time, and slicing
the stream name out of the bytes to pick a per-stream decoder 1.3-1.5x (a few Python-level bytes operations
cost about as much as msgspec's whole decode).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from typing import ClassVar
from typing import Union

import msgspec
from msgspec import UNSET
from msgspec import UnsetType

from framework.binance.endpoints import Market

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


Event = Union[  # noqa: UP007 (a runtime alias)
    SpotTradeEvent, FuturesTradeEvent, SpotAggTradeEvent, FuturesAggTradeEvent, KlineEvent,
    ContinuousKlineEvent, MarkPriceEvent, SpotTicker24hrEvent, FuturesTicker24hrEvent, RollingTickerEvent,
    MiniTickerEvent, SpotBookTickerEvent, FuturesBookTickerEvent, SpotDepthEvent, FuturesDepthEvent,
    SpotPartialDepthEvent, ForceOrderEvent,
]

# ----------------------------------------------------------------------------------------------------------
# Control replies and errors
# ----------------------------------------------------------------------------------------------------------


class ReplyError(msgspec.Struct, frozen=True):
    code: int
    msg: str


class Reply(msgspec.Struct, frozen=True, omit_defaults=True):
    """Answer to SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS / SET_PROPERTY / GET_PROPERTY."""

    id: int | str | None = None
    result: Any = None  # null, a list of streams, a property value
    error: ReplyError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class StreamDecodeError(ValueError):
    """A frame that is not JSON, not the shape its stream carries, or from a stream no decoder knows.

    The one exception the decoders raise for bad input: count it and skip the frame.
    """

    def __init__(self, reason: str, frame: bytes | str | memoryview | bytearray, stream: str | None = None):
        self.reason = reason
        self.stream = stream
        self.frame = bytes(frame[:200]) if not isinstance(frame, str) else frame[:200]
        where = f" ({stream})" if stream else ""
        super().__init__(f"{reason}{where}: {self.frame!r}")


# ----------------------------------------------------------------------------------------------------------
# Stream names -> payload types
# ----------------------------------------------------------------------------------------------------------

_SPOT_KINDS: dict[str, Any] = {
    "trade": SpotTradeEvent,
    "aggTrade": SpotAggTradeEvent,
    "kline": KlineEvent,
    "ticker": SpotTicker24hrEvent,
    "rollingTicker": RollingTickerEvent,
    "miniTicker": MiniTickerEvent,
    "bookTicker": SpotBookTickerEvent,
    "depth": SpotDepthEvent,
    "partialDepth": SpotPartialDepthEvent,
}
_FUTURES_KINDS: dict[str, Any] = {
    "trade": FuturesTradeEvent,
    "aggTrade": FuturesAggTradeEvent,
    "kline": KlineEvent,
    "continuousKline": ContinuousKlineEvent,
    "markPrice": MarkPriceEvent,
    "ticker": FuturesTicker24hrEvent,
    "miniTicker": MiniTickerEvent,
    "bookTicker": FuturesBookTickerEvent,
    "depth": FuturesDepthEvent,
    "partialDepth": FuturesDepthEvent,
    "forceOrder": ForceOrderEvent,
}
KINDS: dict[Market, dict[str, Any]] = {Market.SPOT: _SPOT_KINDS, Market.FUTURES: _FUTURES_KINDS}

#: Payload type by the event type ``e`` (raw connections); spot bookTicker and partial depth carry no ``e``.
EVENT_TYPES: dict[Market, dict[str, Any]] = {
    Market.SPOT: {
        "trade": SpotTradeEvent, "aggTrade": SpotAggTradeEvent, "kline": KlineEvent,
        "24hrTicker": SpotTicker24hrEvent, "1hTicker": RollingTickerEvent, "4hTicker": RollingTickerEvent,
        "1dTicker": RollingTickerEvent, "24hrMiniTicker": MiniTickerEvent, "depthUpdate": SpotDepthEvent,
    },
    Market.FUTURES: {
        "trade": FuturesTradeEvent, "aggTrade": FuturesAggTradeEvent, "kline": KlineEvent,
        "continuous_kline": ContinuousKlineEvent, "markPriceUpdate": MarkPriceEvent,
        "24hrTicker": FuturesTicker24hrEvent, "24hrMiniTicker": MiniTickerEvent,
        "bookTicker": FuturesBookTickerEvent, "depthUpdate": FuturesDepthEvent, "forceOrder": ForceOrderEvent,
    },
}

_ROLLING = frozenset(("ticker_1h", "ticker_4h", "ticker_1d"))
_PARTIAL = frozenset(("depth5", "depth10", "depth20"))


def stream_kind(stream: str) -> tuple[str, bool] | None:
    """``(kind, is_array)`` of a stream name, or None when it is not a market stream.

    ``btcusdt@kline_1m`` -> ("kline", False); ``!markPrice@arr@1s`` -> ("markPrice", True).
    """
    if stream.startswith("!"):
        token = stream[1:].partition("@")[0]
        array = "@arr" in stream and token != "forceOrder"  # !forceOrder@arr pushes single events
    else:
        symbol, at, rest = stream.partition("@")
        if not symbol or not at:
            return None
        token = rest.partition("@")[0]
        array = False
    if token.startswith("kline_"):
        return "kline", array
    if token.startswith("continuousKline_"):
        return "continuousKline", array
    if token in _ROLLING:
        return "rollingTicker", array
    if token in _PARTIAL:
        return "partialDepth", array
    return (token, array) if token else None


def payload_type(market: Market | str, stream: str) -> Any:
    """The msgspec type of ``data`` on ``stream`` (an event Struct or a list of them), or None if unknown."""
    kind = stream_kind(stream)
    if kind is None:
        return None
    event = KINDS[Market(market)].get(kind[0])
    if event is None:
        return None
    return list[event] if kind[1] else event


# ----------------------------------------------------------------------------------------------------------
# Decoding
# ----------------------------------------------------------------------------------------------------------


class StreamMsg(msgspec.Struct, frozen=True, gc=False):
    """A combined-stream frame of one known stream.

    A decoder makes one subclass per stream, tagged by the stream name (``tag_field="stream"``), so a single
    ``msgspec`` union decoder both dispatches on ``stream`` and decodes ``data`` in one pass. ``stream`` is a
    class attribute; ``data`` the typed payload.
    """

    stream: ClassVar[str]


class _Envelope(msgspec.Struct, gc=False):
    """Any frame a combined or raw connection delivers, with ``data`` left undecoded."""

    stream: str | UnsetType = UNSET
    data: msgspec.Raw | UnsetType = UNSET
    e: str | UnsetType = UNSET
    u: int | UnsetType = UNSET
    lastUpdateId: int | UnsetType = UNSET
    id: int | str | None | UnsetType = UNSET
    result: Any | UnsetType = UNSET
    error: ReplyError | UnsetType = UNSET
    code: int | UnsetType = UNSET  # older docs show errors as {"code", "msg", "id"}
    msg: str | UnsetType = UNSET


class _NoStream(StreamMsg, frozen=True, gc=False, tag_field="stream", tag="\x00"):
    """A member of every union that never decodes (no JSON value is UNSET).

    With it a union has two members even for one stream, so msgspec requires the ``stream`` tag.
    """

    data: UnsetType


_ENVELOPE = msgspec.json.Decoder(_Envelope)
_E_PREFIX_B = b'{"e":"'
_E_PREFIX_S = '{"e":"'
MAX_STREAMS = 4096  # streams one decoder compiles into its union (a connection carries at most 1024)
_REBUILD_FRAMES = 32  # general-path frames per compiled stream that pay for a rebuild of the union


def _reply(env: _Envelope) -> Reply | None:
    rid = None if env.id is UNSET else env.id
    if env.error is not UNSET:
        return Reply(rid, None, env.error)
    if env.result is not UNSET:
        return Reply(rid, env.result)
    if env.code is not UNSET and env.msg is not UNSET:
        return Reply(rid, None, ReplyError(env.code, env.msg))
    return None


class StreamDecoder:
    """Decodes one market's stream frames into typed events. One per market (or per connection).

    Streams passed to the constructor or ``add`` are compiled into the union decoder at once; streams first
    met in frames are decoded on the general path and compiled once their general-path frames would have
    paid for the rebuild (cost grows with the number of streams), so a large subscription warms up without
    rebuilding per stream.
    """

    __slots__ = (
        "market", "_kinds", "_events", "_payload", "_classes", "_pending", "_union", "_slow",
        "_event_b", "_event_s",
    )

    def __init__(self, market: Market | str, streams: Iterable[str] = ()):
        self.market = Market(market)
        self._kinds = KINDS[self.market]
        self._events = EVENT_TYPES[self.market]
        self._payload: dict[str, msgspec.json.Decoder] = {}  # stream -> decoder of its bare payload
        self._classes: dict[str, type[StreamMsg]] = {}  # compiled into _union
        self._pending: dict[str, type[StreamMsg]] = {}  # seen, not yet compiled
        self._union = msgspec.json.Decoder(_NoStream)
        self._slow = 0  # general-path frames since the last rebuild
        self._event_b = {k.encode(): msgspec.json.Decoder(v) for k, v in self._events.items()}
        self._event_s = {k: msgspec.json.Decoder(v) for k, v in self._events.items()}
        if streams:
            self.add(streams)

    @property
    def streams(self) -> tuple[str, ...]:
        """Streams compiled into the fast path."""
        return tuple(self._classes)

    def add(self, streams: Iterable[str]) -> None:
        """Compile ``streams`` into the fast path now (e.g. when subscribing). ValueError for unknown ones."""
        for stream in streams:
            if stream not in self._classes:
                self._pending[stream] = self._message_class(stream)
        self._rebuild()

    # -- combined streams: {"stream": ..., "data": ...} --------------------------------------------------

    def decode(self, frame: bytes | str) -> tuple[str | None, Any]:
        """``(stream, event)`` of a combined-stream frame; ``(None, Reply)`` for a control reply.

        Raises StreamDecodeError for anything else.
        """
        try:
            msg = self._union.decode(frame)
        except msgspec.DecodeError:  # new stream, control reply or bad frame
            return self._decode_general(frame)
        return msg.stream, msg.data

    def _decode_general(self, frame: bytes | str) -> tuple[str | None, Any]:
        env = self._envelope(frame)
        stream = env.stream
        if stream is UNSET or env.data is UNSET:
            reply = _reply(env)
            if reply is None:
                raise StreamDecodeError("neither a stream frame nor a control reply", frame)
            return None, reply
        decoder = self._payload_decoder(stream, frame)
        try:
            event = decoder.decode(env.data)
        except msgspec.DecodeError as e:
            raise StreamDecodeError(str(e), frame, stream) from None
        if stream not in self._classes and len(self._classes) + len(self._pending) < MAX_STREAMS:
            if stream not in self._pending:
                self._pending[stream] = self._message_class(stream, decoder.type)
            self._slow += 1
            if self._slow >= _REBUILD_FRAMES * (len(self._classes) + 1):
                self._rebuild()
        return stream, event

    def _message_class(self, stream: str, payload: Any = None) -> type[StreamMsg]:
        if payload is None:
            payload = payload_type(self.market, stream)
            if payload is None:
                raise ValueError(f"unknown {self.market.value} stream {stream!r}")
        return msgspec.defstruct(
            "StreamMsg", [("data", payload)], bases=(StreamMsg,), tag_field="stream", tag=stream,
            frozen=True, gc=False, namespace={"stream": stream},
        )

    def _rebuild(self) -> None:
        if self._pending:
            self._classes.update(self._pending)
            self._pending.clear()
            self._union = msgspec.json.Decoder(Union[(_NoStream, *self._classes.values())])  # noqa: UP007
        self._slow = 0

    # -- raw streams: the payload alone ------------------------------------------------------------------

    def decode_payload(self, stream: str, payload: bytes | str) -> Any:
        """The event of a raw ``/ws/<stream>`` payload whose stream is known."""
        decoder = self._payload.get(stream) or self._payload_decoder(stream, payload)
        try:
            return decoder.decode(payload)
        except msgspec.DecodeError as e:
            raise StreamDecodeError(str(e), payload, stream) from None

    def decode_event(self, payload: bytes | str) -> Any:
        """The event of a raw payload, told apart by its event type ``e``; a Reply for a control reply.

        For raw ``/ws`` connections carrying several streams (spot bookTicker and partial depth, which carry
        no ``e``, are recognised by their fields). Array payloads (``!…@arr``) need ``decode_payload``.
        """
        try:
            if payload[:6] == _E_PREFIX_B:
                decoder = self._event_b.get(payload[6:payload.find(b'"', 6)])
                if decoder is not None:
                    return decoder.decode(payload)
            elif payload[:6] == _E_PREFIX_S:
                decoder = self._event_s.get(payload[6:payload.find('"', 6)])
                if decoder is not None:
                    return decoder.decode(payload)
        except msgspec.DecodeError as e:
            raise StreamDecodeError(str(e), payload) from None
        env = self._envelope(payload)
        if env.e is not UNSET:
            event_type = self._events.get(env.e)
            if event_type is None:
                raise StreamDecodeError(f"unknown {self.market.value} event type {env.e!r}", payload)
        elif self.market is Market.SPOT and env.lastUpdateId is not UNSET:
            event_type = SpotPartialDepthEvent
        elif self.market is Market.SPOT and env.u is not UNSET:
            event_type = SpotBookTickerEvent
        else:
            reply = _reply(env)
            if reply is None:
                raise StreamDecodeError("neither a stream event nor a control reply", payload)
            return reply
        try:
            return msgspec.json.decode(payload, type=event_type)
        except msgspec.DecodeError as e:
            raise StreamDecodeError(str(e), payload) from None

    # -- helpers -----------------------------------------------------------------------------------------

    @staticmethod
    def _envelope(frame: bytes | str) -> _Envelope:
        try:
            return _ENVELOPE.decode(frame)
        except msgspec.DecodeError as e:
            raise StreamDecodeError(str(e), frame) from None

    def _payload_decoder(self, stream: str, frame: bytes | str) -> msgspec.json.Decoder:
        decoder = self._payload.get(stream)
        if decoder is None:
            payload = payload_type(self.market, stream)
            if payload is None:
                raise StreamDecodeError(f"unknown {self.market.value} stream", frame, stream)
            decoder = msgspec.json.Decoder(payload)
            if len(self._payload) < MAX_STREAMS:
                self._payload[stream] = decoder
        return decoder
