"""Every Binance market stream kind, declared once: name grammar, markets, USD-M path, event type, schema.

The table is read by three parties, through ``parse_stream``: the client's decoder (``stream_decoder``: which
Struct decodes a stream's ``data``, and which one an event type ``e`` names), the URL router
(``websocket.stream_url``: USD-M's ``/market`` or ``/public`` path) and the local exchange (which streams it
serves). Like the endpoint table (``endpoints.py``), adding a stream kind is one row here plus its Struct in
``stream_schemas.py``.

A stream name is ``<target>@<token>[@<option>...]`` or, for all-market streams, ``!<token><suffix>[@<option>]``.
The token is the kind's, followed for some kinds by a parameter (``kline_1m``: interval, ``ticker_4h``: window,
``depth20``: levels). Options (update speed ``@100ms``/``@1s``, time zone ``@+08:00``) are passed through
unchecked: the row lists Binance's for its grammar, and the local exchange checks the ones it serves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from framework.binance import stream_schemas as ev
from framework.binance.endpoints import Market
from framework.binance.intervals import KLINE_INTERVALS


class Category(StrEnum):
    """The USD-M stream path (split since 2026-04): ``/public`` for book data, ``/market`` for the rest;
    ``/private`` carries user data only (no market stream)."""

    MARKET = "market"
    PUBLIC = "public"
    PRIVATE = "private"


@dataclass(frozen=True, slots=True)
class StreamKind:
    """One kind of market stream: how its names are spelt, where it is served and what its payload is."""

    name: str  # the kind's key ("kline", "rollingTicker")
    token: str  # what follows the "@" ("kline" of "btcusdt@kline_1m")
    schemas: Mapping[Market, type]  # the payload Struct on each market that has the stream (its markets)
    event_type: str | None  # the payload's "e"; "{}" stands for the parameter ("{}Ticker" -> "4hTicker")
    category: Category = Category.MARKET
    target: str = "<symbol>"  # what precedes the "@"
    param: str | None = None  # the parameter's name in the grammar ("interval"), None: no parameter
    param_values: Mapping[Market, tuple[str, ...]] | None = None  # its values on each market
    param_sep: str = "_"  # between token and parameter ("kline_1m"; partial depth: "depth20")
    options: tuple[str, ...] = ()  # Binance's @-options (speeds, time zone), for the grammar
    all_market: str | None = None  # the all-market form's suffix ("@arr" of "!ticker@arr"; "" for "!bookTicker")
    all_market_list: bool = True  # the all-market payload is a list of events (not for !forceOrder@arr)

    @property
    def event_types(self) -> tuple[str, ...]:
        """Every ``e`` the payload may carry (several for a parameter in it: rolling windows)."""
        if self.event_type is None:
            return ()
        if "{}" not in self.event_type:
            return (self.event_type,)
        values = {v for vs in (self.param_values or {}).values() for v in vs}
        return tuple(self.event_type.format(v) for v in sorted(values))

    @property
    def grammar(self) -> tuple[str, ...]:
        """The name's forms, Binance's way: ``("<symbol>@markPrice[@1s]", "!markPrice@arr[@1s]")``."""
        token = self.token + (f"{self.param_sep}<{self.param}>" if self.param else "")
        options = f"[{'|'.join(self.options)}]" if self.options else ""
        forms = [f"{self.target}@{token}{options}"]
        if self.all_market is not None:
            forms.append(f"!{token}{self.all_market}{options}")
        return tuple(forms)


def _both(spot: type, futures: type | None = None) -> dict[Market, type]:
    return {Market.SPOT: spot, Market.FUTURES: futures or spot}


def _spot(schema: type) -> dict[Market, type]:
    return {Market.SPOT: schema}


def _futures(schema: type) -> dict[Market, type]:
    return {Market.FUTURES: schema}


_INTERVALS = {Market.SPOT: KLINE_INTERVALS, Market.FUTURES: tuple(i for i in KLINE_INTERVALS if i != "1s")}
_WINDOWS = {Market.SPOT: ("1h", "4h", "1d")}
_LEVELS = dict.fromkeys(Market, ("5", "10", "20"))
_PUBLIC = Category.PUBLIC

#: Every market stream kind the client decodes (the local exchange serves a subset: ``exchange/stream_feeds``).
#: Spot's bookTicker and partial depth payloads carry no "e" (their Structs have no such field).
STREAMS: tuple[StreamKind, ...] = (
    StreamKind("trade", "trade", _both(ev.SpotTradeEvent, ev.FuturesTradeEvent), "trade"),
    StreamKind("aggTrade", "aggTrade", _both(ev.SpotAggTradeEvent, ev.FuturesAggTradeEvent), "aggTrade"),
    StreamKind("kline", "kline", _both(ev.KlineEvent), "kline", param="interval", param_values=_INTERVALS,
               options=("@+08:00",)),
    StreamKind("continuousKline", "continuousKline", _futures(ev.ContinuousKlineEvent), "continuous_kline",
               target="<pair>_<contractType>", param="interval", param_values=_INTERVALS),
    StreamKind("markPrice", "markPrice", _futures(ev.MarkPriceEvent), "markPriceUpdate", options=("@1s",),
               all_market="@arr"),
    StreamKind("ticker", "ticker", _both(ev.SpotTicker24hrEvent, ev.FuturesTicker24hrEvent), "24hrTicker",
               all_market="@arr"),
    StreamKind("rollingTicker", "ticker", _spot(ev.RollingTickerEvent), "{}Ticker", param="window",
               param_values=_WINDOWS, all_market="@arr"),
    StreamKind("miniTicker", "miniTicker", _both(ev.MiniTickerEvent), "24hrMiniTicker", all_market="@arr"),
    StreamKind("bookTicker", "bookTicker", _both(ev.SpotBookTickerEvent, ev.FuturesBookTickerEvent), "bookTicker",
               category=_PUBLIC, all_market="", all_market_list=False),
    StreamKind("depth", "depth", _both(ev.SpotDepthEvent, ev.FuturesDepthEvent), "depthUpdate", category=_PUBLIC,
               options=("@0ms", "@100ms", "@250ms", "@500ms", "@1000ms")),
    StreamKind("partialDepth", "depth", _both(ev.SpotPartialDepthEvent, ev.FuturesDepthEvent), "depthUpdate",
               category=_PUBLIC, param="levels", param_values=_LEVELS, param_sep="",
               options=("@100ms", "@250ms", "@500ms")),
    StreamKind("forceOrder", "forceOrder", _futures(ev.ForceOrderEvent), "forceOrder", all_market="@arr",
               all_market_list=False),
)
STREAM_KINDS: dict[str, StreamKind] = {k.name: k for k in STREAMS}


def _tokens(market: Market) -> dict[str, tuple[StreamKind, str | None]]:
    """Every token spelling of ``market``'s kinds -> (kind, parameter)."""
    out: dict[str, tuple[StreamKind, str | None]] = {}
    for kind in STREAMS:
        if market not in kind.schemas:
            continue
        if kind.param is None:
            out[kind.token] = (kind, None)
        else:
            for value in (kind.param_values or {})[market]:
                out[f"{kind.token}{kind.param_sep}{value}"] = (kind, value)
    return out


_TOKENS: dict[Market, dict[str, tuple[StreamKind, str | None]]] = {m: _tokens(m) for m in Market}


def _has_event_type(schema: type) -> bool:
    return "e" in getattr(schema, "__struct_fields__", ())


#: Payload Struct by the event type ``e`` (raw connections), per market; payloads without ``e`` are absent.
EVENT_TYPES: dict[Market, dict[str, type]] = {
    m: {e: k.schemas[m] for k in STREAMS if m in k.schemas and _has_event_type(k.schemas[m]) for e in k.event_types}
    for m in Market
}


@dataclass(frozen=True, slots=True)
class ParsedStream:
    """A stream name read against the table, for one market."""

    name: str  # as written
    market: Market
    kind: StreamKind
    target: str  # what precedes the "@", as written ("btcusdt", "btcusdt_perpetual"); "" for all-market
    param: str | None  # the token's parameter: interval, window or levels
    options: str  # what follows the token ("@1s", "@100ms"), "" if nothing
    array: bool  # the payload is a list of events (all-market "@arr" streams)

    @property
    def schema(self) -> type:
        """The payload Struct of one event."""
        return self.kind.schemas[self.market]

    @property
    def payload_type(self) -> Any:
        """The msgspec type of ``data``: the event Struct, or a list of them."""
        return list[self.schema] if self.array else self.schema


def parse_stream(name: str, market: Market | str) -> ParsedStream | None:
    """``name`` read as a stream of ``market``, or None when no row of the table spells it so.

    ``btcusdt@kline_1m`` -> kline, param "1m"; ``!markPrice@arr@1s`` -> markPrice, options "@1s", array.
    Options are not checked (see the module's docstring); names are not case-folded.
    """
    market = Market(market)
    if name.startswith("!"):
        target, body = "", name[1:]
    else:
        target, at, body = name.partition("@")
        if not target or not at:
            return None
    token, at, rest = body.partition("@")
    found = _TOKENS[market].get(token)
    if found is None:
        return None
    kind, param = found
    options = at + rest
    array = False
    if not target:
        suffix = kind.all_market
        if suffix is None or (suffix and options != suffix and not options.startswith(suffix + "@")):
            return None
        options = options.removeprefix(suffix)
        array = kind.all_market_list
    return ParsedStream(name, market, kind, target, param, options, array)


def payload_type(market: Market | str, stream: str) -> Any:
    """The msgspec type of ``data`` on ``stream`` (an event Struct or a list of them), or None if unknown."""
    parsed = parse_stream(stream, market)
    return None if parsed is None else parsed.payload_type


def futures_category(stream: str) -> Category:
    """The USD-M path (``/public`` or ``/market``) ``stream`` is served on; ``/market`` for a name not in the table."""
    parsed = parse_stream(stream, Market.FUTURES)
    return Category.MARKET if parsed is None else parsed.kind.category
