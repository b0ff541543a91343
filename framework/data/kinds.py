"""Every data kind, declared once: one row per kind says where it comes from and where it goes.

A row names the kind's REST endpoint and how it pages, its data.binance.vision files (if any), the Nautilus type
its rows become and the parser that makes them, the period of its catalog files, how ``record`` and the live
client follow it (streams or REST polling), its name in a backtest YAML's ``data:`` and the ``SignalStrategy``
input that subscribes to it. Everything that lists kinds derives its list from ``KINDS``: ingest (configuration,
page planning, targets, the gap report), the bulk-file import, ``record``, the live client's polling, the
backtest YAML and its checks, the strategy base and the recorder actor.

Adding a kind: its endpoint row (``framework.binance.endpoints``, wire schema in ``binance.schemas``), a custom
type (``data.types``) and a parser (``data.parsing``) if it is new data, and one row here.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from nautilus_trader.core.data import Data
from nautilus_trader.model.data import Bar
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.identifiers import InstrumentId

from framework.binance import schemas as s
from framework.binance.endpoints import FUTURES_DATA_PERIODS
from framework.binance.endpoints import Market
from framework.binance.intervals import KLINE_INTERVALS
from framework.binance.limits import FUTURES_DATA_RETENTION_MS
from framework.data import parsing
from framework.data import types
from framework.data.instruments import instrument_id_for


class Paging(StrEnum):
    """How the kind's endpoint pages."""

    TIME = "time"  # startTime/endTime windows, fetched concurrently
    ID = "id"  # fromId pages over a contiguous id range, fetched concurrently


class Step(StrEnum):
    """What spaces the kind's rows."""

    INTERVAL = "interval"  # kline interval (1m, 1h, ...)
    PERIOD = "period"  # /futures/data period (5m, 1h, ...)
    FUNDING = "funding"  # the symbol's funding interval (1, 4 or 8 h)
    NONE = "none"  # irregular (trades)


class Shape(StrEnum):
    """How a page of rows becomes catalog rows (``ingest.targets`` has one conversion per shape)."""

    TRADES = "trades"  # TradeTick; ``parse(rows, instrument)`` -> a record batch
    KLINES = "klines"  # Bar + KlineStats of the instrument's LAST price
    PRICE_KLINES = "price_klines"  # Bar of a derived price (``price``: MARK, INDEX or PREMIUM), 8 decimals
    CUSTOM = "custom"  # a custom data type; ``parse(rows, instrument_id, step)`` -> objects


class Live(StrEnum):
    """How ``record`` and the live data client follow the kind."""

    STREAM = "stream"  # from the streams, gap-filled over REST
    POLL = "poll"  # REST only: ``record`` refreshes it through ingest; the live client polls period statistics
    NONE = "none"  # not recorded


@dataclass(frozen=True)
class RowField:
    """Reads one integer field of a row (a Struct); ``name`` is also its column in a page of columns."""

    name: str

    def __call__(self, row: Any) -> int:
        return int(getattr(row, self.name))


@dataclass(frozen=True)
class BulkLayout:
    """The columns of a data.binance.vision CSV: names and value types (``int ts dec bool text``) paired in
    order with the fields of ``row_type``, the Struct the REST client decodes the same rows to."""

    row_type: type
    names: str
    types: str


@dataclass(frozen=True)
class BulkFiles:
    """Where a kind's files sit on data.binance.vision and what their columns are, by market.

    Several kinds may share one directory: the five statistics come from the same ``metrics`` files (each kind
    takes its own columns, ``fields``). A file feeding a custom type names in ``fields`` the file column each
    field of the type takes (``(field, column)``); a field it does not name is absent (None) in the rows it
    gives: what the file does not carry is never made up."""

    directory: str  # the type directory (klines, markPriceKlines, aggTrades ...); for trades also the file name word
    layouts: dict[Market, BulkLayout]
    step: str | None = None  # the spacing of the rows when the file name gives none (metrics: 5-minute rows)
    fields: tuple[tuple[str, str], ...] = ()  # custom types: (field of the type, file column)


@dataclass(frozen=True)
class StrategyInput:
    """How a ``SignalStrategy`` takes a custom kind: the config switch that subscribes it, the hook called with
    each row and the attribute holding the latest one (a dict by type when several kinds share the switch)."""

    flag: str
    hook: str
    latest: str
    by_type: bool = False


Parser = Callable[..., Any]
#: Bars and custom data have few rows a day: one file a month keeps directories small and writes cheap.
SMALL_SERIES_PERIOD = "month"


@dataclass(frozen=True)
class DataKind:
    """One data kind (see the module docstring)."""

    name: str  # the ingest/record name (``kinds:``)
    endpoint: str  # its REST endpoint (``binance.endpoints``)
    markets: tuple[Market, ...]  # where the endpoint serves it
    paging: Paging
    step: Step
    page_rows: dict[Market, int]  # rows per request: the most rows per unit of weight
    key: RowField  # what identifies a row (time in ms or id)
    shape: Shape
    data_type: type  # the Nautilus type its rows become
    parse: Parser | None = None  # the page parser of its shape (TRADES, CUSTOM)
    period: str | None = SMALL_SERIES_PERIOD  # catalog file period (None: the store's default, a day)
    live: Live = Live.POLL
    backtest: str | None = None  # its name in a backtest YAML's ``data:``
    strategy: StrategyInput | None = None
    bulk: BulkFiles | None = None
    retention_ms: int | None = None  # how far back Binance serves it
    symbol_param: str = "symbol"
    extra: tuple[tuple[str, str], ...] = ()  # fixed parameters, e.g. contractType
    price: str | None = None  # PRICE_KLINES: the price the bars carry

    def steps(self) -> tuple[str, ...]:
        """The intervals or periods the kind accepts (empty when it has none)."""
        if self.step is Step.INTERVAL:
            return KLINE_INTERVALS
        if self.step is Step.PERIOD:
            return FUTURES_DATA_PERIODS
        return ()

    def params(self, symbol: str, step: str | None = None, **extra: Any) -> dict[str, Any]:
        """The request parameters for ``symbol`` (and its interval or period) plus ``extra``."""
        params: dict[str, Any] = {self.symbol_param: symbol, **dict(self.extra), **extra}
        if step is not None and self.step in (Step.INTERVAL, Step.PERIOD):
            params[self.step.value] = step
        return params

    def bar_type(self, market: Market | str, symbol: str, interval: str) -> str:
        """The bar type a klines kind lands in.

        Klines: the instrument's LAST bars. Mark price klines are the perpetual's MARK bars
        (``BTCUSDT-PERP.BINANCE-1-MINUTE-MARK-EXTERNAL``); Nautilus has no index or premium price type, so those
        get instrument ids of their own: ``BTCUSDT-INDEX.BINANCE-1-MINUTE-LAST-EXTERNAL``,
        ``BTCUSDT-PREMIUM.BINANCE-1-MINUTE-LAST-EXTERNAL``.
        """
        if self.shape is Shape.KLINES:
            return str(parsing.kline_bar_type(instrument_id_for(market, symbol), interval))
        if self.shape is not Shape.PRICE_KLINES:
            raise ValueError(f"{self.name} has no bars")
        last = str(parsing.kline_bar_type(instrument_id_for(Market.FUTURES, symbol), interval))
        if self.price == "MARK":
            return last.replace("-LAST-", "-MARK-")
        return last.replace(f"{symbol}-PERP.", f"{symbol}-{self.price}.")


def _period_parser(parse: Callable[[Sequence[Any], str], list[Data]]) -> Parser:
    """A per-symbol statistics parser ``(rows, period)`` as a CUSTOM parser ``(rows, instrument_id, period)``."""
    return lambda rows, instrument_id, period: parse(rows, period)


def _ratio_parser(cls: type[Data]) -> Parser:
    return lambda rows, instrument_id, period: parsing.parse_long_short_ratios(rows, cls, period)


def _funding(rows: Sequence[s.FundingRate], instrument_id: InstrumentId, hours: int) -> list[Data]:
    """Funding's step is the symbol's funding interval in hours (``fundingInfo``), not a period."""
    return parsing.parse_funding_rates(rows, hours)


_SPOT_FUT = (Market.SPOT, Market.FUTURES)
_FUT = (Market.FUTURES,)
# USD-M klines cost 1/2/5/10 for <100/<500/<=1000/>1000 rows: 499 rows for 2 is the best buy.
_KLINE_ROWS = {Market.SPOT: 1000, Market.FUTURES: 499}
_FUTURES_DATA_ROWS = {Market.FUTURES: 500}
_kline_key = RowField("open_time")

_KLINE_COLUMNS = ("open_time open high low close volume close_time quote_volume count taker_buy_volume "
                  "taker_buy_quote_volume ignore", "ts dec dec dec dec dec ts dec int dec dec text")
_AGG_COLUMNS = ("agg_trade_id price quantity first_trade_id last_trade_id transact_time is_buyer_maker",
                "int dec dec int int ts bool")
_TRADE_COLUMNS = ("id price qty quote_qty time is_buyer_maker", "int dec dec dec ts bool")


def _spot(columns: tuple[str, str]) -> tuple[str, str]:
    """Spot trade files end with one more column."""
    return columns[0] + " is_best_match", columns[1] + " bool"


def _kline_files(directory: str, markets: tuple[Market, ...]) -> BulkFiles:
    return BulkFiles(directory, {m: BulkLayout(s.Kline, *_KLINE_COLUMNS) for m in markets})


def _price_klines(name: str, endpoint: str, price: str, directory: str, symbol_param: str = "symbol") -> DataKind:
    """Mark, index and premium price klines: USD-M, bars of their own, refreshed by polling."""
    return DataKind(name, endpoint, _FUT, Paging.TIME, Step.INTERVAL, _KLINE_ROWS, _kline_key, Shape.PRICE_KLINES,
                    Bar, price=price, symbol_param=symbol_param, bulk=_kline_files(directory, _FUT))


def _statistics(name: str, endpoint: str, cls: type[Data], parse: Parser, strategy: StrategyInput,
                **more: Any) -> DataKind:
    """A USD-M ``/futures/data`` statistic: per period, 30 days back over REST (older: the ``metrics`` files)."""
    return DataKind(name, endpoint, _FUT, Paging.TIME, Step.PERIOD, _FUTURES_DATA_ROWS, RowField("timestamp"),
                    Shape.CUSTOM, cls, parse, backtest=name, strategy=strategy,
                    retention_ms=FUTURES_DATA_RETENTION_MS, **more)


# USD-M daily ``metrics`` files: one 5-minute row of open interest and the four ratios. They carry each ratio
# alone: the long/short shares of the ratio types and the taker buy/sell volumes are not in them (absent, None).
_METRICS_COLUMNS = ("create_time symbol sum_open_interest sum_open_interest_value count_toptrader_long_short_ratio "
                    "sum_toptrader_long_short_ratio count_long_short_ratio sum_taker_long_short_vol_ratio",
                    "text text text text text text text text")  # values may be empty (absent)


def _metrics(*fields: tuple[str, str]) -> BulkFiles:
    """The ``metrics`` files, for a statistic made of ``fields`` ((field of its type, file column), ...)."""
    return BulkFiles("metrics", {Market.FUTURES: BulkLayout(s.MetricsRow, *_METRICS_COLUMNS)}, step="5m",
                     fields=fields)


def _ratio_files(column: str) -> BulkFiles:
    return _metrics(("long_short_ratio_str", column))


_RATIOS = StrategyInput("ratios", "on_ratio", "last_ratios", by_type=True)

#: Every data kind by name, in the order commands list them.
KINDS: dict[str, DataKind] = {
    k.name: k
    for k in (
        DataKind("agg_trades", "agg_trades", _SPOT_FUT, Paging.ID, Step.NONE, {Market.SPOT: 1000, Market.FUTURES: 1000},
                 RowField("a"), Shape.TRADES, TradeTick, parsing.agg_trades_batch, period=None, live=Live.STREAM,
                 backtest="trades",
                 bulk=BulkFiles("aggTrades", {Market.SPOT: BulkLayout(s.SpotAggTrade, *_spot(_AGG_COLUMNS)),
                                              Market.FUTURES: BulkLayout(s.FuturesAggTrade, *_AGG_COLUMNS)})),
        # both trade kinds land in the instrument's TradeTick series (ids differ: one per catalog)
        DataKind("trades", "historical_trades", (Market.SPOT,), Paging.ID, Step.NONE, {Market.SPOT: 1000},
                 RowField("id"), Shape.TRADES, TradeTick, parsing.trades_batch, period=None, live=Live.NONE,
                 bulk=BulkFiles("trades", {Market.SPOT: BulkLayout(s.SpotTrade, *_spot(_TRADE_COLUMNS)),
                                           Market.FUTURES: BulkLayout(s.FuturesTrade, *_TRADE_COLUMNS)})),
        DataKind("klines", "klines", _SPOT_FUT, Paging.TIME, Step.INTERVAL, _KLINE_ROWS, _kline_key, Shape.KLINES, Bar,
                 live=Live.STREAM, backtest="bars", bulk=_kline_files("klines", _SPOT_FUT)),
        _price_klines("mark_klines", "mark_price_klines", "MARK", "markPriceKlines"),
        _price_klines("index_klines", "index_price_klines", "INDEX", "indexPriceKlines", symbol_param="pair"),
        _price_klines("premium_klines", "premium_index_klines", "PREMIUM", "premiumIndexKlines"),
        DataKind("funding", "funding_rate_history", _FUT, Paging.TIME, Step.FUNDING, {Market.FUTURES: 1000},
                 RowField("fundingTime"), Shape.CUSTOM, types.FundingRate, _funding, backtest="funding",
                 strategy=StrategyInput("funding", "on_funding", "last_funding"),
                 # monthly files; no mark price in them
                 bulk=BulkFiles("fundingRate", {Market.FUTURES: BulkLayout(
                     s.FundingRateFileRow, "calc_time funding_interval_hours last_funding_rate", "ts int dec")},
                     fields=(("rate_str", "last_funding_rate"), ("funding_time", "calc_time"),
                             ("interval_hours", "funding_interval_hours")))),
        _statistics("open_interest", "open_interest_hist", types.OpenInterest,
                    _period_parser(parsing.parse_open_interest_hist),
                    StrategyInput("open_interest", "on_open_interest", "last_open_interest"),
                    bulk=_metrics(("open_interest_str", "sum_open_interest"),
                                  ("open_interest_value_str", "sum_open_interest_value"))),
        _statistics("top_position_ratio", "top_long_short_position_ratio", types.TopTraderPositionRatio,
                    _ratio_parser(types.TopTraderPositionRatio), _RATIOS,
                    bulk=_ratio_files("sum_toptrader_long_short_ratio")),
        _statistics("top_account_ratio", "top_long_short_account_ratio", types.TopTraderAccountRatio,
                    _ratio_parser(types.TopTraderAccountRatio), _RATIOS,
                    bulk=_ratio_files("count_toptrader_long_short_ratio")),
        _statistics("global_account_ratio", "long_short_account_ratio", types.GlobalAccountRatio,
                    _ratio_parser(types.GlobalAccountRatio), _RATIOS, bulk=_ratio_files("count_long_short_ratio")),
        # One series, four names, all public: endpoint taker_long_short_ratio (Binance's path
        # /futures/data/takerlongshortRatio), kind and YAML name taker_volume, type TakerBuySellVolume.
        _statistics("taker_volume", "taker_long_short_ratio", types.TakerBuySellVolume,
                    parsing.parse_taker_buy_sell_volume,
                    StrategyInput("taker_volume", "on_taker_volume", "last_taker_volume"),
                    bulk=_metrics(("buy_sell_ratio_str", "sum_taker_long_short_vol_ratio"))),
        # The perpetual's basis: the endpoint takes the pair and a contract type (the perpetual's, fixed).
        _statistics("basis", "basis", types.Basis, parsing.parse_basis,
                    StrategyInput("basis", "on_basis", "last_basis"),
                    symbol_param="pair", extra=(("contractType", "PERPETUAL"),)),
    )
}

#: Custom data kinds by their name in a backtest YAML's ``data:`` (perpetuals only) -> type.
CUSTOM_KINDS: dict[str, type] = {k.backtest: k.data_type for k in KINDS.values()
                                 if k.shape is Shape.CUSTOM and k.backtest is not None}
#: The kinds a ``SignalStrategy`` can subscribe to, in registry order.
STRATEGY_KINDS: tuple[DataKind, ...] = tuple(k for k in KINDS.values() if k.strategy is not None)
#: ``SignalStrategyConfig`` switches -> the backtest ``data:`` names that feed them.
STRATEGY_FLAGS: dict[str, tuple[str, ...]] = {
    flag: tuple(k.backtest for k in STRATEGY_KINDS if k.strategy.flag == flag)
    for flag in dict.fromkeys(k.strategy.flag for k in STRATEGY_KINDS)
}

