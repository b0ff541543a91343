"""Every public market-data REST endpoint, declared once.

The table is read by three parties: our REST client (path, weight, response schema), the local
exchange (parameter validation, weights, rate-limit families) and ``collect`` (which calls all of them).
Weights follow Binance's documentation (``../shared/docs/binance-api.md``).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from enum import StrEnum
from typing import Any

from framework.binance import schemas as s
from framework.errors import UsageError


class Market(StrEnum):
    """Which Binance market: spot or USD-M futures (the value is the name flags, configs and folders use)."""

    SPOT = "spot"
    FUTURES = "futures"


class Kind(StrEnum):
    """How a parameter is validated (server) and encoded (client)."""

    SYMBOL = "symbol"  # must name a listed symbol (-1121)
    SYMBOLS = "symbols"  # JSON array of listed symbols
    PAIR = "pair"  # a futures pair (BTCUSDT) or index symbol
    INTERVAL = "interval"  # kline interval (-1120)
    PERIOD = "period"  # /futures/data period
    CONTRACT_TYPE = "contractType"
    INT = "int"  # any non-negative integer (ids, timestamps)
    LIMIT = "limit"  # checked against Endpoint.limit
    ENUM = "enum"  # one of Param.choices


@dataclass(frozen=True, slots=True)
class Param:
    """One query parameter of an endpoint: how it is checked and encoded, if required, an ENUM's choices."""

    name: str
    kind: Kind
    required: bool = False
    choices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Limit:
    """The ``limit`` parameter: default, and either a range or a set of allowed values."""

    default: int
    maximum: int
    minimum: int = 1
    allowed: tuple[int, ...] = ()

    def valid(self, value: int) -> bool:
        """Whether ``value`` is a ``limit`` the endpoint accepts."""
        if self.allowed:
            return value in self.allowed
        return self.minimum <= value <= self.maximum

    def describe(self) -> str:
        """The accepted limits as Binance's error message shows them: the allowed values, or ``min, max``."""
        if self.allowed:
            return ", ".join(map(str, self.allowed))
        return f"{self.minimum}, {self.maximum}"


Weight = Callable[[Mapping[str, Any]], int]


def fixed(w: int) -> Weight:
    """A weight that does not depend on the parameters."""
    return lambda params: w


def by_limit(steps: tuple[tuple[int, int], ...], default: int) -> Weight:
    """Weight from the ``limit`` parameter: the first (upper bound, weight) step that holds it."""

    def weight(params: Mapping[str, Any]) -> int:
        limit = int(params.get("limit", default))
        for upper, w in steps:
            if limit <= upper:
                return w
        return steps[-1][1]

    return weight


def by_symbol(one: int, every: int) -> Weight:
    """Weight for ticker-like endpoints: one symbol, or all symbols when none is given."""
    return lambda params: one if params.get("symbol") else every


def per_symbol(each: int, cap: int, every: int) -> Weight:
    """Spot tickers accept ``symbols=[...]``: weight grows with their count up to a cap."""

    def weight(params: Mapping[str, Any]) -> int:
        if params.get("symbol"):
            return each
        symbols = params.get("symbols")
        if symbols:
            return min(cap, each * max(1, str(symbols).count(",") + 1))
        return every

    return weight


class Family(StrEnum):
    """Request-count limits that some USD-M endpoints have beside the weight budget."""

    FUTURES_DATA = "futures_data"  # /futures/data/*: 1000 requests / 5 min / IP
    FUNDING = "funding"  # fundingRate + fundingInfo: 500 requests / 5 min / IP


FAMILY_LIMITS: dict[Family, tuple[int, int]] = {  # family -> (requests, window seconds)
    Family.FUTURES_DATA: (1000, 300),
    Family.FUNDING: (500, 300),
}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One REST endpoint: where it lives, what it takes, what it costs, what it returns."""

    name: str  # our name; also the file name ``collect`` writes
    market: Market
    path: str
    schema: Any  # msgspec type of the response body
    params: tuple[Param, ...] = ()
    weight: Weight = field(default=fixed(1))
    limit: Limit | None = None
    family: Family | None = None
    api_key: bool = False  # sends X-MBX-APIKEY (spot historicalTrades)
    history: bool = False  # served from the market tape

    @property
    def key(self) -> str:
        """``<market>.<name>``: the endpoint's key in ``BY_KEY``."""
        return f"{self.market}.{self.name}"

    def check_params(self, params: Mapping[str, Any]) -> None:
        """Refuse a parameter the endpoint does not take, naming the closest one it does.

        Binance silently ignores an unknown parameter, so a misspelt ``startime`` would fetch the wrong range.
        """
        names = [p.name for p in self.params]
        for key in params:
            if key not in names:
                raise UnknownParameter(self, key)


class UnknownParameter(UsageError, ValueError):
    """A request parameter that the endpoint's row does not declare."""

    def __init__(self, endpoint: Endpoint, name: str):
        names = [p.name for p in endpoint.params]
        by_lower = {n.lower(): n for n in names}
        close = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.6)
        hint = f"did you mean {by_lower[close[0]]!r}? " if close else ""
        takes = f"it takes {', '.join(names)}" if names else "it takes no parameters"
        super().__init__(f"{endpoint.market} {endpoint.name} ({endpoint.path}) has no parameter {name!r}: {hint}({takes})")
        self.endpoint, self.name = endpoint, name


SYMBOL = Param("symbol", Kind.SYMBOL, required=True)
OPT_SYMBOL = Param("symbol", Kind.SYMBOL)
SYMBOLS = Param("symbols", Kind.SYMBOLS)
INTERVAL = Param("interval", Kind.INTERVAL, required=True)
PERIOD = Param("period", Kind.PERIOD, required=True)
START, END = Param("startTime", Kind.INT), Param("endTime", Kind.INT)
FROM_ID = Param("fromId", Kind.INT)
LIMIT = Param("limit", Kind.LIMIT)
TIME_ZONE = Param("timeZone", Kind.ENUM, choices=())  # accepted, ignored (UTC only)
TICKER_TYPE = Param("type", Kind.ENUM, choices=("FULL", "MINI"))
WINDOW = Param("windowSize", Kind.ENUM, choices=("1h", "4h", "1d"))
KLINE = (INTERVAL, START, END, LIMIT)

SPOT, FUT = Market.SPOT, Market.FUTURES
SPOT_DEPTH = Limit(100, 5000, allowed=(5, 10, 20, 50, 100, 500, 1000, 5000))
FUT_DEPTH = Limit(500, 1000, allowed=(5, 10, 20, 50, 100, 500, 1000))
FUT_KLINE_WEIGHT = by_limit(((99, 1), (499, 2), (1000, 5), (1500, 10)), default=500)

ENDPOINTS: tuple[Endpoint, ...] = (
    # ---- spot /api/v3 (the 14 of the legacy harness, plus the rolling-window ticker) ----
    Endpoint("ping", SPOT, "/api/v3/ping", s.Empty),
    Endpoint("time", SPOT, "/api/v3/time", s.ServerTime),
    Endpoint("exchange_info", SPOT, "/api/v3/exchangeInfo", s.SpotExchangeInfo, (OPT_SYMBOL, SYMBOLS), fixed(20)),
    Endpoint(
        "depth", SPOT, "/api/v3/depth", s.Depth, (SYMBOL, LIMIT),
        by_limit(((100, 5), (500, 25), (1000, 50), (5000, 250)), default=100), SPOT_DEPTH,
    ),
    Endpoint("trades", SPOT, "/api/v3/trades", list[s.SpotTrade], (SYMBOL, LIMIT), fixed(25),
             Limit(500, 1000), history=True),
    Endpoint("historical_trades", SPOT, "/api/v3/historicalTrades", list[s.SpotTrade], (SYMBOL, LIMIT, FROM_ID),
             fixed(25), Limit(500, 1000), api_key=True, history=True),
    Endpoint("agg_trades", SPOT, "/api/v3/aggTrades", list[s.SpotAggTrade], (SYMBOL, FROM_ID, START, END, LIMIT),
             fixed(4), Limit(500, 1000), history=True),
    Endpoint("klines", SPOT, "/api/v3/klines", list[s.Kline], (SYMBOL, *KLINE, TIME_ZONE), fixed(2),
             Limit(500, 1000), history=True),
    Endpoint("ui_klines", SPOT, "/api/v3/uiKlines", list[s.Kline], (SYMBOL, *KLINE, TIME_ZONE), fixed(2),
             Limit(500, 1000), history=True),
    Endpoint("avg_price", SPOT, "/api/v3/avgPrice", s.AvgPrice, (SYMBOL,), fixed(2)),
    Endpoint("ticker_24hr", SPOT, "/api/v3/ticker/24hr", s.SpotTicker24hr | list[s.SpotTicker24hr],
             (OPT_SYMBOL, SYMBOLS, TICKER_TYPE), per_symbol(2, 80, 80)),
    Endpoint("trading_day_ticker", SPOT, "/api/v3/ticker/tradingDay", s.SpotTradingDayTicker | list[s.SpotTradingDayTicker],
             (OPT_SYMBOL, SYMBOLS, TIME_ZONE, TICKER_TYPE), per_symbol(4, 200, 200)),
    Endpoint("ticker_price", SPOT, "/api/v3/ticker/price", s.SpotTickerPrice | list[s.SpotTickerPrice],
             (OPT_SYMBOL, SYMBOLS), per_symbol(2, 4, 4)),
    Endpoint("book_ticker", SPOT, "/api/v3/ticker/bookTicker", s.SpotBookTicker | list[s.SpotBookTicker],
             (OPT_SYMBOL, SYMBOLS), per_symbol(2, 4, 4)),
    Endpoint("rolling_window_ticker", SPOT, "/api/v3/ticker", s.SpotRollingTicker | list[s.SpotRollingTicker],
             (OPT_SYMBOL, SYMBOLS, WINDOW, TICKER_TYPE), per_symbol(4, 200, 200)),
    # ---- USD-M futures /fapi and /futures/data (the 26 of the legacy harness) ----
    Endpoint("ping", FUT, "/fapi/v1/ping", s.Empty),
    Endpoint("time", FUT, "/fapi/v1/time", s.ServerTime),
    Endpoint("exchange_info", FUT, "/fapi/v1/exchangeInfo", s.FuturesExchangeInfo),
    Endpoint("depth", FUT, "/fapi/v1/depth", s.Depth, (SYMBOL, LIMIT),
             by_limit(((50, 2), (100, 5), (500, 10), (1000, 20)), default=500), FUT_DEPTH),
    Endpoint("trades", FUT, "/fapi/v1/trades", list[s.FuturesTrade], (SYMBOL, LIMIT), fixed(5),
             Limit(500, 1000), history=True),
    Endpoint("agg_trades", FUT, "/fapi/v1/aggTrades", list[s.FuturesAggTrade], (SYMBOL, FROM_ID, START, END, LIMIT),
             fixed(20), Limit(500, 1000), history=True),
    Endpoint("klines", FUT, "/fapi/v1/klines", list[s.Kline], (SYMBOL, *KLINE), FUT_KLINE_WEIGHT,
             Limit(500, 1500), history=True),
    Endpoint("continuous_klines", FUT, "/fapi/v1/continuousKlines", list[s.Kline],
             (Param("pair", Kind.PAIR, required=True), Param("contractType", Kind.CONTRACT_TYPE, required=True), *KLINE),
             FUT_KLINE_WEIGHT, Limit(500, 1500), history=True),
    Endpoint("index_price_klines", FUT, "/fapi/v1/indexPriceKlines", list[s.Kline],
             (Param("pair", Kind.PAIR, required=True), *KLINE), FUT_KLINE_WEIGHT, Limit(500, 1500), history=True),
    Endpoint("mark_price_klines", FUT, "/fapi/v1/markPriceKlines", list[s.Kline], (SYMBOL, *KLINE),
             FUT_KLINE_WEIGHT, Limit(500, 1500), history=True),
    Endpoint("premium_index_klines", FUT, "/fapi/v1/premiumIndexKlines", list[s.Kline], (SYMBOL, *KLINE),
             FUT_KLINE_WEIGHT, Limit(500, 1500), history=True),
    Endpoint("mark_price", FUT, "/fapi/v1/premiumIndex", s.PremiumIndex | list[s.PremiumIndex], (OPT_SYMBOL,),
             by_symbol(1, 10)),
    Endpoint("funding_rate_history", FUT, "/fapi/v1/fundingRate", list[s.FundingRate], (OPT_SYMBOL, START, END, LIMIT),
             fixed(0), Limit(100, 1000), Family.FUNDING, history=True),
    Endpoint("funding_rate_info", FUT, "/fapi/v1/fundingInfo", list[s.FundingInfo], (), fixed(0),
             family=Family.FUNDING),
    Endpoint("ticker_24hr_price_change", FUT, "/fapi/v1/ticker/24hr", s.FuturesTicker24hr | list[s.FuturesTicker24hr],
             (OPT_SYMBOL,), by_symbol(1, 40)),
    Endpoint("ticker_price", FUT, "/fapi/v1/ticker/price", s.FuturesTickerPrice | list[s.FuturesTickerPrice],
             (OPT_SYMBOL,), by_symbol(1, 2)),
    Endpoint("ticker_price_v2", FUT, "/fapi/v2/ticker/price", s.FuturesTickerPrice | list[s.FuturesTickerPrice],
             (OPT_SYMBOL,), by_symbol(1, 2)),
    Endpoint("book_ticker", FUT, "/fapi/v1/ticker/bookTicker", s.FuturesBookTicker | list[s.FuturesBookTicker],
             (OPT_SYMBOL,), by_symbol(2, 5)),
    Endpoint("quarterly_contract_settlement_price", FUT, "/futures/data/delivery-price", list[s.DeliveryPrice],
             (Param("pair", Kind.PAIR, required=True),), fixed(0)),
    Endpoint("open_interest", FUT, "/fapi/v1/openInterest", s.OpenInterest, (SYMBOL,), fixed(1)),
    *(
        Endpoint(name, FUT, path, schema, (SYMBOL, PERIOD, LIMIT, START, END), fixed(0), Limit(30, 500),
                 Family.FUTURES_DATA, history=True)
        for name, path, schema in (
            ("open_interest_hist", "/futures/data/openInterestHist", list[s.OpenInterestHist]),
            ("top_long_short_position_ratio", "/futures/data/topLongShortPositionRatio", list[s.LongShortRatio]),
            ("long_short_account_ratio", "/futures/data/globalLongShortAccountRatio", list[s.LongShortRatio]),
            ("top_long_short_account_ratio", "/futures/data/topLongShortAccountRatio", list[s.LongShortRatio]),
            ("taker_long_short_ratio", "/futures/data/takerlongshortRatio", list[s.TakerBuySellVolume]),
        )
    ),
    Endpoint("basis", FUT, "/futures/data/basis", list[s.Basis],
             (Param("pair", Kind.PAIR, required=True), Param("contractType", Kind.CONTRACT_TYPE, required=True),
              PERIOD, LIMIT, START, END), fixed(0), Limit(30, 500), Family.FUTURES_DATA, history=True),
    Endpoint("index_info", FUT, "/fapi/v1/indexInfo", list[s.IndexInfo], (OPT_SYMBOL,), by_symbol(1, 10)),
    Endpoint("asset_index", FUT, "/fapi/v1/assetIndex", s.AssetIndex | list[s.AssetIndex], (OPT_SYMBOL,),
             by_symbol(1, 10)),
    Endpoint("index_price_constituents", FUT, "/fapi/v1/constituents", s.Constituents, (SYMBOL,), fixed(2)),
)

BY_KEY: dict[str, Endpoint] = {e.key: e for e in ENDPOINTS}
BY_PATH: dict[str, Endpoint] = {e.path: e for e in ENDPOINTS}

#: The calls of the legacy harness, in its order (what ``collect`` writes).
LEGACY_SPOT = (
    "ping", "time", "exchange_info", "depth", "trades", "historical_trades", "agg_trades", "klines", "ui_klines",
    "avg_price", "ticker_24hr", "trading_day_ticker", "ticker_price", "book_ticker",
)
LEGACY_FUTURES = (
    "ping", "time", "exchange_info", "depth", "trades", "agg_trades", "klines", "continuous_klines",
    "index_price_klines", "mark_price_klines", "mark_price", "funding_rate_history", "funding_rate_info",
    "ticker_24hr_price_change", "ticker_price", "book_ticker", "quarterly_contract_settlement_price",
    "open_interest", "open_interest_hist", "top_long_short_position_ratio", "long_short_account_ratio",
    "top_long_short_account_ratio", "taker_long_short_ratio", "index_info", "asset_index",
    "index_price_constituents",
)

FUTURES_DATA_PERIODS = ("5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d")
CONTRACT_TYPES = ("PERPETUAL", "CURRENT_QUARTER", "NEXT_QUARTER")


def endpoint(market: Market | str, name: str) -> Endpoint:
    """Look up an endpoint by market and name; raises KeyError naming the known ones."""
    key = f"{Market(market)}.{name}"
    try:
        return BY_KEY[key]
    except KeyError:
        known = ", ".join(e.name for e in ENDPOINTS if e.market == Market(market))
        raise KeyError(f"unknown {market} endpoint {name!r}; known: {known}") from None
