"""Fidelity proof: Binance's official Python SDKs, pointed at the local exchange, accept its REST answers.

Each of the 40 REST methods of the legacy list (14 spot, 26 USD-M) is called through ``binance-sdk-spot`` /
``binance-sdk-derivatives-trading-usds-futures`` against the in-process exchange on 127.0.0.1 (the SDKs never
see a Binance host). For every call the test asserts that

* the request reached the expected local endpoint (the exchange's journal),
* ``.data()`` returns the SDK's model, parsed *strictly*: the SDK silently loosens a model and only logs a
  warning when a payload does not match its declared types, so any warning or loosened model fails the test,
* the model carries exactly what a raw HTTP GET of the same URL returns (nothing dropped, renamed or retyped),
  no field the SDK does not know (bar a few real Binance sends too) and every field the SDK's model declares
  (bar a few Binance added after the recordings the exchange is built on),
* the content makes sense (symbol, row counts equal to ``limit``, ordering, spacing of periodic rows, ...).

The exchange's clock is frozen (``speed=0``) so the raw GET answers the very same bytes as the SDK's request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import urllib.request
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from binance_common import utils as sdk_utils
from binance_common.configuration import ConfigurationRestAPI
from binance_common.configuration import ConfigurationWebSocketStreams
from binance_common.errors import BadRequestError
from binance_sdk_derivatives_trading_usds_futures import rest_api as fut_rest
from binance_sdk_derivatives_trading_usds_futures.derivatives_trading_usds_futures import (
    DerivativesTradingUsdsFutures,
)
from binance_sdk_derivatives_trading_usds_futures.rest_api import models as fm
from binance_sdk_derivatives_trading_usds_futures.websocket_streams import models as fwm
from binance_sdk_spot import rest_api as spot_rest
from binance_sdk_spot.rest_api import models as sm
from binance_sdk_spot.spot import Spot
from binance_sdk_spot.websocket_streams import models as swm
from pydantic import BaseModel

from framework.binance.endpoints import LEGACY_FUTURES
from framework.binance.endpoints import LEGACY_SPOT
from framework.binance.endpoints import Market
from framework.binance.endpoints import endpoint
from framework.exchange.rest import Served
from framework.exchange.server import ExchangeConfig
from framework.exchange.server import LocalExchange
from framework.exchange.server import LocalExchangeThread

SYMBOL = "BTCUSDT"
LIMIT = 5
MINUTE_MS = 60_000
API_KEY = "local-fidelity-key"  # spot historicalTrades wants X-MBX-APIKEY; any value does locally

Params = dict[str, Any] | Callable[[LocalExchange], dict[str, Any]]
Check = Callable[[Any, LocalExchange], None]


@dataclass(frozen=True)
class Case:
    """One SDK call: the method, the endpoint it must reach, its arguments, the model and content checks."""

    method: str
    endpoint: str  # our name in framework.binance.endpoints (the journal must show its path)
    params: Params
    model: type | None  # None: the SDK hands back raw JSON by design (ping's {}, nested kline arrays)
    check: Check
    many: bool = False  # .data() is a list of ``model``
    variant: str = ""  # tells apart several cases of one method (e.g. one symbol vs all symbols)
    extras: frozenset[str] = field(default_factory=frozenset)  # served fields the SDK model lacks
    absent: frozenset[str] = field(default_factory=frozenset)  # model fields not served (newer than our data)

    @property
    def id(self) -> str:
        return f"{self.method}-{self.variant}" if self.variant else self.method


# -- content checks ---------------------------------------------------------------------------------------


def D(text: str) -> Decimal:  # noqa: N802 (reads like the type it builds)
    return Decimal(text)


def single(data: Any) -> Any:
    """The single item behind a oneOf wrapper (symbol given), checked to be no list."""
    inner = data.actual_instance
    assert not isinstance(inner, list), f"expected one object, got a list of {len(inner)}"
    return inner


def all_rows(data: Any) -> list:
    """The items behind a oneOf wrapper (no symbol given), checked to be a non-empty list."""
    inner = data.actual_instance
    assert isinstance(inner, list) and inner, f"expected a non-empty list, got {inner!r}"
    return inner


def symbols(rows: list) -> list[str]:
    return [r.symbol for r in rows]


def check_empty(data: Any, ex: LocalExchange) -> None:
    assert data == {}


def check_time(data: Any, ex: LocalExchange) -> None:
    assert data.server_time == ex.market.now()


def check_spot_exchange_info(data: sm.ExchangeInfoResponse, ex: LocalExchange) -> None:
    assert symbols(data.symbols) == [SYMBOL]
    btc = data.symbols[0]
    assert (btc.base_asset, btc.quote_asset, btc.status) == ("BTC", "USDT", "TRADING")
    assert {f["filterType"] for f in plain(btc.filters)} >= {"PRICE_FILTER", "LOT_SIZE"}  # oneOf models


def check_futures_exchange_info(data: fm.ExchangeInformationResponse, ex: LocalExchange) -> None:
    btc = {s.symbol: s for s in data.symbols}[SYMBOL]
    assert (btc.pair, btc.contract_type, btc.status) == (SYMBOL, "PERPETUAL", "TRADING")
    assert any(r.rate_limit_type == "REQUEST_WEIGHT" for r in data.rate_limits)


def check_book(data: Any, ex: LocalExchange) -> None:
    assert len(data.bids) == len(data.asks) == LIMIT
    bids, asks = [D(p) for p, _ in data.bids], [D(p) for p, _ in data.asks]
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
    assert bids[0] < asks[0]
    assert all(D(q) > 0 for _, q in data.bids + data.asks)


def check_trades(rows: list, ex: LocalExchange) -> None:
    assert len(rows) == LIMIT
    assert [r.id for r in rows] == list(range(rows[0].id, rows[0].id + LIMIT))
    assert [r.time for r in rows] == sorted(r.time for r in rows) and rows[-1].time <= ex.market.now()
    for r in rows:
        assert D(r.price) > 0 and D(r.qty) > 0
        assert D(r.quote_qty) == (D(r.price) * D(r.qty)).quantize(D(r.quote_qty))


def last_spot_trade_id(ex: LocalExchange) -> int:
    tape = ex.market.tape(Market.SPOT, SYMBOL)
    assert tape is not None
    return tape.last_trade_at(ex.market.now())


def check_historical_trades(rows: list, ex: LocalExchange) -> None:
    check_trades(rows, ex)
    assert rows[0].id == last_spot_trade_id(ex) - 20  # paged from ``fromId``


def check_agg_trades(rows: list, ex: LocalExchange) -> None:
    assert len(rows) == LIMIT
    assert [r.a for r in rows] == list(range(rows[0].a, rows[0].a + LIMIT))
    assert all(r.f <= r.l for r in rows) and all(a.l + 1 == b.f for a, b in zip(rows, rows[1:]))
    assert [r.T for r in rows] == sorted(r.T for r in rows)


KLINE_TYPES = (int, str, str, str, str, str, int, str, int, str, str, str)


def check_candles(rows: list, ex: LocalExchange, step_ms: int) -> None:
    """Documented kline rows: 12 fields typed as Binance sends them, ``limit`` consecutive candles to now."""
    assert len(rows) == LIMIT
    for row in rows:
        assert tuple(type(v) for v in row) == KLINE_TYPES, row
        open_ms, o, h, lo, c, *_ = row
        assert row[6] == open_ms + step_ms - 1
        assert D(lo) <= min(D(o), D(c)) <= max(D(o), D(c)) <= D(h) and D(lo) > 0
    assert [r[0] for r in rows] == [rows[0][0] + i * step_ms for i in range(LIMIT)]
    assert rows[-1][0] <= ex.market.now() <= rows[-1][6]


def check_klines(rows: list, ex: LocalExchange) -> None:
    check_candles(rows, ex, MINUTE_MS)


def check_second_klines(rows: list, ex: LocalExchange) -> None:
    check_candles(rows, ex, 1_000)
    assert any(row[8] == 0 for row in rows)  # the tape has quiet seconds: zero amounts must print plainly


def check_avg_price(data: sm.AvgPriceResponse, ex: LocalExchange) -> None:
    assert data.mins == 5 and D(data.price) > 0 and data.close_time <= ex.market.now()


def check_trading_day(data: sm.TickerTradingDayResponse, ex: LocalExchange) -> None:
    t = single(data)
    assert t.symbol == SYMBOL and t.close_time == ex.market.now()
    assert D(t.low_price) <= D(t.last_price) <= D(t.high_price)


def check_price(data: Any, ex: LocalExchange) -> None:
    t = single(data)
    assert t.symbol == SYMBOL and D(t.price) > 0
    assert getattr(t, "time", None) in (None, ex.market.now())  # USD-M stamps it, spot does not


def check_spot_ticker(data: sm.Ticker24hrResponse, ex: LocalExchange) -> None:
    t = single(data)
    assert t.symbol == SYMBOL and t.count > 0 and t.last_id - t.first_id + 1 == t.count
    assert D(t.low_price) <= D(t.last_price) <= D(t.high_price)
    assert D(t.bid_price) < D(t.ask_price)


def check_futures_ticker(data: fm.Ticker24hrPriceChangeStatisticsResponse, ex: LocalExchange) -> None:
    t = single(data)
    assert t.symbol == SYMBOL and t.count > 0 and t.last_id - t.first_id + 1 == t.count
    assert D(t.low_price) <= D(t.last_price) <= D(t.high_price)
    assert t.close_time == ex.market.now()


def check_book_ticker(data: Any, ex: LocalExchange) -> None:
    t = single(data)
    assert t.symbol == SYMBOL and D(t.bid_price) < D(t.ask_price) and D(t.bid_qty) > 0 and D(t.ask_qty) > 0


def check_mark_price(data: fm.MarkPriceResponse, ex: LocalExchange) -> None:
    p = single(data)
    assert p.symbol == SYMBOL and D(p.mark_price) > 0 and D(p.index_price) > 0
    assert p.time == ex.market.now() < p.next_funding_time


def check_funding_history(rows: list, ex: LocalExchange) -> None:
    # one rate per 8 h: the default one-day history holds fewer than ``limit`` of them
    assert 1 <= len(rows) <= LIMIT and {r.symbol for r in rows} == {SYMBOL}
    times = [r.funding_time for r in rows]
    assert all(b - a == 8 * 3_600_000 for a, b in zip(times, times[1:])) and times[-1] <= ex.market.now()
    assert all(D(r.mark_price) > 0 for r in rows)


def check_funding_info(rows: list, ex: LocalExchange) -> None:
    assert all(r.symbol and r.funding_interval_hours > 0 for r in rows)


def check_delivery_prices(rows: list, ex: LocalExchange) -> None:
    assert all(r.delivery_price > 0 and 0 < r.delivery_time for r in rows)


def check_open_interest(data: fm.OpenInterestResponse, ex: LocalExchange) -> None:
    assert data.symbol == SYMBOL and D(data.open_interest) > 0 and data.time == ex.market.now()


def check_futures_data(rows: list, ex: LocalExchange) -> None:
    """``/futures/data`` rows: ``limit`` of them, 5 minutes apart, up to now."""
    assert len(rows) == LIMIT
    times = [r.timestamp for r in rows]
    assert times == [times[0] + i * 5 * MINUTE_MS for i in range(LIMIT)] and times[-1] <= ex.market.now()
    assert {getattr(r, "symbol", SYMBOL) for r in rows} == {SYMBOL}


def check_ratios(rows: list, ex: LocalExchange) -> None:
    check_futures_data(rows, ex)
    for r in rows:
        assert D(r.long_account) + D(r.short_account) == 1
        assert abs(D(r.long_short_ratio) - D(r.long_account) / D(r.short_account)) < D("0.0001")


def first_index_info_symbol(ex: LocalExchange) -> str:
    return ex.data.futures.snapshot("indexInfo")[0]["symbol"]


def first_asset_index_symbol(ex: LocalExchange) -> str:
    rows = ex.data.futures.snapshot("assetIndex")
    return (rows[0] if isinstance(rows, list) else rows)["symbol"]


def check_index_info(rows: list, ex: LocalExchange) -> None:
    assert symbols(rows) == [first_index_info_symbol(ex)]
    assets = rows[0].base_asset_list
    assert assets and all(D(a.weight_in_quantity) > 0 for a in assets)


def check_asset_index(data: fm.AssetIndexResponse, ex: LocalExchange) -> None:
    row = single(data)
    assert row.symbol == first_asset_index_symbol(ex) and D(row.index) > 0


def check_constituents(data: fm.QueryIndexPriceConstituentsResponse, ex: LocalExchange) -> None:
    assert data.symbol == SYMBOL and data.constituents
    assert abs(sum(D(c.weight) for c in data.constituents) - 1) < D("0.001")


def symbol_in_list(data: Any, ex: LocalExchange) -> None:
    assert SYMBOL in symbols(all_rows(data))


# -- the 40 methods (plus the all-symbols form of the ticker-like ones) -------------------------------------

SYM = {"symbol": SYMBOL}
SYM_LIMIT = {"symbol": SYMBOL, "limit": LIMIT}
KLINE = {"symbol": SYMBOL, "interval": "1m", "limit": LIMIT}
PERIOD = {"symbol": SYMBOL, "period": "5m", "limit": LIMIT}

SPOT_CASES = (
    Case("ping", "ping", {}, None, check=check_empty),
    Case("time", "time", {}, sm.TimeResponse, check=check_time),
    # ``sors`` (smart order routing) postdates the 2021 exchangeInfo recording the exchange serves.
    Case("exchange_info", "exchange_info", SYM, sm.ExchangeInfoResponse, check=check_spot_exchange_info,
         absent=frozenset({"sors"})),
    Case("depth", "depth", SYM_LIMIT, sm.DepthResponse, check=check_book),
    Case("get_trades", "trades", SYM_LIMIT, sm.GetTradesResponse, check=check_trades, many=True),
    Case("historical_trades", "historical_trades",
         lambda ex: {**SYM_LIMIT, "from_id": last_spot_trade_id(ex) - 20},
         sm.HistoricalTradesResponse, check=check_historical_trades, many=True),
    Case("agg_trades", "agg_trades", SYM_LIMIT, sm.AggTradesResponse, check=check_agg_trades, many=True),
    # Kline rows are JSON arrays: the SDK hands them back as-is (its KlinesResponse model has no fields),
    # so check_klines checks the documented 12-field row shape and types itself.
    Case("klines", "klines", KLINE, None, check=check_klines),
    Case("klines", "klines", {**KLINE, "interval": "1s"}, None, check=check_second_klines, variant="1s"),
    Case("ui_klines", "ui_klines", KLINE, None, check=check_klines),
    Case("avg_price", "avg_price", SYM, sm.AvgPriceResponse, check=check_avg_price),
    Case("ticker24hr", "ticker_24hr", SYM, sm.Ticker24hrResponse, check=check_spot_ticker),
    Case("ticker24hr", "ticker_24hr", {}, sm.Ticker24hrResponse, check=symbol_in_list, variant="all"),
    Case("ticker_trading_day", "trading_day_ticker", SYM, sm.TickerTradingDayResponse,
         check=check_trading_day),
    Case("ticker_price", "ticker_price", SYM, sm.TickerPriceResponse, check=check_price),
    Case("ticker_price", "ticker_price", {}, sm.TickerPriceResponse, check=symbol_in_list, variant="all"),
    Case("ticker_book_ticker", "book_ticker", SYM, sm.TickerBookTickerResponse, check=check_book_ticker),
    Case("ticker_book_ticker", "book_ticker", {}, sm.TickerBookTickerResponse, check=symbol_in_list,
         variant="all"),
)

FUTURES_CASES = (
    Case("test_connectivity", "ping", {}, None, check=check_empty),
    Case("check_server_time", "time", {}, fm.CheckServerTimeResponse, check=check_time),
    # Binance's USD-M exchangeInfo carries ``futuresType`` (see the recorded fixture); the SDK model lacks it.
    Case("exchange_information", "exchange_info", {}, fm.ExchangeInformationResponse,
         check=check_futures_exchange_info, extras=frozenset({"futuresType"})),
    Case("order_book", "depth", SYM_LIMIT, fm.OrderBookResponse, check=check_book),
    # ``isRPITrade`` / ``nq`` (retail-price-improvement orders) postdate the 2024 tape the exchange replays.
    Case("recent_trades_list", "trades", SYM_LIMIT, fm.RecentTradesListResponse, check=check_trades,
         many=True, absent=frozenset({"isRPITrade"})),
    Case("compressed_aggregate_trades_list", "agg_trades", SYM_LIMIT,
         fm.CompressedAggregateTradesListResponse, check=check_agg_trades, many=True,
         absent=frozenset({"nq"})),
    Case("kline_candlestick_data", "klines", KLINE, None, check=check_klines),
    Case("continuous_contract_kline_candlestick_data", "continuous_klines",
         {"pair": SYMBOL, "contract_type": "PERPETUAL", "interval": "1m", "limit": LIMIT}, None,
         check=check_klines),
    Case("index_price_kline_candlestick_data", "index_price_klines",
         {"pair": SYMBOL, "interval": "1m", "limit": LIMIT}, None, check=check_klines),
    Case("mark_price_kline_candlestick_data", "mark_price_klines", KLINE, None, check=check_klines),
    Case("mark_price", "mark_price", SYM, fm.MarkPriceResponse, check=check_mark_price),
    Case("mark_price", "mark_price", {}, fm.MarkPriceResponse, check=symbol_in_list, variant="all"),
    # ``rateType`` (Regular/Special, the latter for stock-dividend funding) is newer than the recordings.
    Case("get_funding_rate_history", "funding_rate_history", SYM_LIMIT, fm.GetFundingRateHistoryResponse,
         check=check_funding_history, many=True, absent=frozenset({"rateType"})),
    Case("get_funding_rate_info", "funding_rate_info", {}, fm.GetFundingRateInfoResponse,
         check=check_funding_info, many=True),
    Case("ticker24hr_price_change_statistics", "ticker_24hr_price_change", SYM,
         fm.Ticker24hrPriceChangeStatisticsResponse, check=check_futures_ticker),
    Case("ticker24hr_price_change_statistics", "ticker_24hr_price_change", {},
         fm.Ticker24hrPriceChangeStatisticsResponse, check=symbol_in_list, variant="all"),
    Case("symbol_price_ticker", "ticker_price", SYM, fm.SymbolPriceTickerResponse, check=check_price),
    Case("symbol_price_ticker", "ticker_price", {}, fm.SymbolPriceTickerResponse, check=symbol_in_list,
         variant="all"),
    Case("symbol_order_book_ticker", "book_ticker", SYM, fm.SymbolOrderBookTickerResponse,
         check=check_book_ticker),
    Case("symbol_order_book_ticker", "book_ticker", {}, fm.SymbolOrderBookTickerResponse,
         check=symbol_in_list, variant="all"),
    Case("quarterly_contract_settlement_price", "quarterly_contract_settlement_price", {"pair": SYMBOL},
         fm.QuarterlyContractSettlementPriceResponse, check=check_delivery_prices, many=True),
    Case("open_interest", "open_interest", SYM, fm.OpenInterestResponse, check=check_open_interest),
    # ``CMCCirculatingSupply`` (CoinMarketCap supply) is newer than the recordings.
    Case("open_interest_statistics", "open_interest_hist", PERIOD, fm.OpenInterestStatisticsResponse,
         check=check_futures_data, many=True, absent=frozenset({"CMCCirculatingSupply"})),
    Case("top_trader_long_short_ratio_positions", "top_long_short_position_ratio", PERIOD,
         fm.TopTraderLongShortRatioPositionsResponse, check=check_ratios, many=True),
    Case("long_short_ratio", "long_short_account_ratio", PERIOD, fm.LongShortRatioResponse,
         check=check_ratios, many=True),
    Case("top_trader_long_short_ratio_accounts", "top_long_short_account_ratio", PERIOD,
         fm.TopTraderLongShortRatioAccountsResponse, check=check_ratios, many=True),
    Case("taker_buy_sell_volume", "taker_long_short_ratio", PERIOD, fm.TakerBuySellVolumeResponse,
         check=check_futures_data, many=True),
    Case("composite_index_symbol_information", "index_info",
         lambda ex: {"symbol": first_index_info_symbol(ex)}, fm.CompositeIndexSymbolInformationResponse,
         check=check_index_info, many=True),
    Case("asset_index", "asset_index", lambda ex: {"symbol": first_asset_index_symbol(ex)},
         fm.AssetIndexResponse, check=check_asset_index),
    Case("query_index_price_constituents", "index_price_constituents", SYM,
         fm.QueryIndexPriceConstituentsResponse, check=check_constituents),
)


def test_every_legacy_method_is_covered() -> None:
    """The cases call each legacy endpoint, and only those, through the SDK."""
    assert {c.endpoint for c in SPOT_CASES} == set(LEGACY_SPOT)
    assert {c.endpoint for c in FUTURES_CASES} == set(LEGACY_FUTURES)
    assert len({c.method for c in SPOT_CASES}) == 14 and len({c.method for c in FUTURES_CASES}) == 26


# -- fixtures -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def exchange() -> Iterator[LocalExchange]:
    with LocalExchangeThread(ExchangeConfig(speed=0, start="recorded", journal=True)) as ex:
        yield ex


def local_config(base_path: str, api_key: str | None = None) -> ConfigurationRestAPI:
    """An SDK configuration that can only talk to the local exchange."""
    assert base_path.startswith("http://127.0.0.1:"), base_path
    return ConfigurationRestAPI(api_key=api_key, base_path=base_path, retries=0, timeout=5_000)


def loopback_only(api: Any) -> Any:
    api._session.trust_env = False  # no proxy from the environment between the SDK and 127.0.0.1
    assert api.configuration.base_path.startswith("http://127.0.0.1:")
    return api


@pytest.fixture(scope="module")
def spot_api(exchange: LocalExchange) -> spot_rest.SpotRestAPI:
    return loopback_only(Spot(config_rest_api=local_config(exchange.urls["spot_http"], API_KEY)).rest_api)


@pytest.fixture(scope="module")
def futures_api(exchange: LocalExchange) -> fut_rest.DerivativesTradingUsdsFuturesRestAPI:
    config = local_config(exchange.urls["futures_http"])
    return loopback_only(DerivativesTradingUsdsFutures(config_rest_api=config).rest_api)


# -- helpers --------------------------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """An SDK result as JSON again: models by their wire names, unknown fields kept, absent ones left out."""
    if isinstance(value, BaseModel):
        if getattr(type(value), "is_oneof_model", lambda: False)():
            return plain(value.actual_instance)
        out = {
            (info.alias or name): plain(getattr(value, name))
            for name, info in type(value).model_fields.items()
            if name != "additional_properties" and getattr(value, name) is not None
        }
        out.update(getattr(value, "additional_properties", {}) or {})
        return out
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def unknown_fields(value: Any) -> set[str]:
    """Names of served fields no SDK model declares, anywhere in the result."""
    if isinstance(value, BaseModel):
        if getattr(type(value), "is_oneof_model", lambda: False)():
            return unknown_fields(value.actual_instance)
        found = set(getattr(value, "additional_properties", {}) or {})
        for name in type(value).model_fields:
            if name != "additional_properties":
                found |= unknown_fields(getattr(value, name))
        return found
    if isinstance(value, list):
        return set().union(*(unknown_fields(v) for v in value))
    return set()


def absent_fields(value: Any) -> set[str]:
    """Wire names a model declares but the payload left out: of the top object, or of any item of a list."""
    if isinstance(value, list):
        return set().union(*(absent_fields(v) for v in value))
    if not isinstance(value, BaseModel):
        return set()
    if getattr(type(value), "is_oneof_model", lambda: False)():
        return absent_fields(value.actual_instance)
    fields = type(value).model_fields.items()
    return {f.alias or n for n, f in fields if n != "additional_properties" and getattr(value, n) is None}


EXPONENT = re.compile(rb'"-?[0-9.]+E[-+]?[0-9]+"')


def raw_get(ex: LocalExchange, served: Served) -> bytes:
    """The body of a plain HTTP GET of the URL the SDK requested."""
    url = ex.urls[f"{served.market}_http"] + served.path + (f"?{served.query}" if served.query else "")
    request = urllib.request.Request(url, headers={"X-MBX-APIKEY": API_KEY})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=5) as response:
        return response.read()


def run_case(case: Case, market: Market, api: Any, ex: LocalExchange,
             caplog: pytest.LogCaptureFixture) -> None:
    """Call the SDK method; prove its model strict, complete and equal to the raw body, the content sane."""
    params = case.params(ex) if callable(case.params) else case.params
    assert ex.journal is not None
    start, relaxed = len(ex.journal), set(getattr(sdk_utils, "_relaxed_models", set()))
    with caplog.at_level(logging.WARNING):
        response = getattr(api, case.method)(**params)
        data = response.data()

    served = ex.journal[start:]
    expected = (market.value, endpoint(market, case.endpoint).path, 200)
    assert [(s.market, s.path, s.status) for s in served] == [expected]
    # The SDK logs and loosens its model (for good) when a payload does not fit the declared types.
    complaints = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not complaints, complaints
    assert set(getattr(sdk_utils, "_relaxed_models", set())) == relaxed

    if case.model is None:
        assert not isinstance(data, BaseModel)
    elif case.many:
        assert isinstance(data, list) and data and all(isinstance(d, case.model) for d in data), data
    else:
        assert isinstance(data, case.model), type(data)

    body = raw_get(ex, served[0])
    assert body == served[0].body  # frozen clock: the same URL answers the same bytes
    assert not EXPONENT.search(body), "Binance prints decimals in fixed-point form"
    assert plain(data) == json.loads(body)
    assert unknown_fields(data) <= case.extras
    assert absent_fields(data) == case.absent

    # the SDK reads our used-weight header into its rate-limit records
    minute = ("REQUEST_WEIGHT", "MINUTE", 1)
    weights = [r.count for r in response.rate_limits
               if (r.rateLimitType, r.interval, r.intervalNum) == minute]
    assert weights == [int(response.headers["X-MBX-USED-WEIGHT-1M"])]

    case.check(data, ex)


# -- tests ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", SPOT_CASES, ids=lambda c: c.id)
def test_spot_sdk_parses(case: Case, spot_api: Any, exchange: LocalExchange,
                         caplog: pytest.LogCaptureFixture) -> None:
    run_case(case, Market.SPOT, spot_api, exchange, caplog)


@pytest.mark.parametrize("case", FUTURES_CASES, ids=lambda c: c.id)
def test_futures_sdk_parses(case: Case, futures_api: Any, exchange: LocalExchange,
                            caplog: pytest.LogCaptureFixture) -> None:
    run_case(case, Market.FUTURES, futures_api, exchange, caplog)


@pytest.mark.parametrize(
    ("market", "call"),
    [
        (Market.SPOT, lambda api: api.klines(symbol="NOSUCHSYM", interval="1m", limit=LIMIT)),
        (Market.FUTURES,
         lambda api: api.kline_candlestick_data(symbol="NOSUCHSYM", interval="1m", limit=LIMIT)),
    ],
    ids=["spot", "futures"],
)
def test_sdk_surfaces_invalid_symbol(market: Market, call: Callable[[Any], Any], spot_api: Any,
                                     futures_api: Any, exchange: LocalExchange) -> None:
    """Our 400 {-1121, "Invalid symbol."} surfaces as the SDK's error for a 400, code and message intact.

    (binance_common raises ``BadRequestError`` for HTTP 400; its ``ClientError`` is for other 4xx statuses.)
    """
    api = spot_api if market is Market.SPOT else futures_api
    assert exchange.journal is not None
    start = len(exchange.journal)
    with pytest.raises(BadRequestError) as raised:
        call(api)
    assert (raised.value.status_code, raised.value.error_message) == (-1121, "Invalid symbol.")
    assert [(s.market, s.status) for s in exchange.journal[start:]] == [(market.value, 400)]


# -- websocket streams ----------------------------------------------------------------------------------


WS_SECONDS = 3.0  # at speed 20: a minute of market time, dozens of aggTrades and a few ticker pushes


@pytest.mark.parametrize(
    ("market", "stream", "key"),
    [(Market.SPOT, "btcusdt@ticker_1h", "E"), (Market.FUTURES, "btcusdt@aggTrade", "a")],
    ids=["spot-rolling-window-ticker", "futures-agg-trade"],
)
async def test_sdk_websocket_streams_receive_our_frames(market: Market, stream: str, key: str,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    """The SDKs' websocket stream clients, pointed at the local exchange, subscribe (with their UUID request
    ids), list their subscription and receive frames: each parsed strictly into the SDK's model and equal to
    the frame a plain connection to the same stream receives (matched by event time / aggTrade id)."""
    relaxed = set(getattr(sdk_utils, "_relaxed_models", set()))
    config = ExchangeConfig(speed=20, start="recorded")
    async with LocalExchange(config) as ex, aiohttp.ClientSession() as session:
        ws_url = ex.urls[f"{market.value}_ws"]
        assert ws_url.startswith("ws://127.0.0.1:")
        sdk_config = ConfigurationWebSocketStreams(stream_url=ws_url, reconnect_attempts=1)
        if market is Market.SPOT:
            client = Spot(config_ws_streams=sdk_config).websocket_streams
        else:
            client = DerivativesTradingUsdsFutures(config_ws_streams=sdk_config).websocket_streams
        received: list[Any] = []
        with caplog.at_level(logging.WARNING):
            connection = await client.create_connection()
            assert connection is not None, caplog.text  # every path the SDK opens is served
            try:
                if market is Market.SPOT:
                    handle = await connection.rolling_window_ticker(symbol="btcusdt", window_size="1h")
                else:
                    handle = await connection.aggregate_trade_streams(symbol="btcusdt")
                handle.on("message", received.append)
                async with session.ws_connect(f"{ws_url}/ws/{stream}") as raw_ws:
                    listed = await connection.list_subscribe()  # a UUID id, answered with that id
                    raw = await _raw_frames(raw_ws, WS_SECONDS)
            finally:
                await connection.close_connection(close_session=True)
    complaints = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not complaints, complaints  # e.g. the SDK logs our refusal of its SUBSCRIBE as an error
    assert set(getattr(sdk_utils, "_relaxed_models", set())) == relaxed
    assert listed["result"] == [stream]
    model = swm.RollingWindowTickerResponse if market is Market.SPOT else fwm.AggregateTradeStreamsResponse
    assert len(received) >= 2 and all(type(m) is model for m in received), received[:3]
    by_key = {frame[key]: frame for frame in raw}
    # the SDK listens a little longer than the plain connection (before it opens and while it closes): every
    # SDK frame inside the plain connection's window must be one it saw too (keys rise with time)
    lo, hi = min(by_key), max(by_key)
    inside = [m for m in received if lo <= plain(m)[key] <= hi]
    matched = [m for m in inside if plain(m)[key] in by_key]
    assert len(inside) >= 2 and matched == inside, "the SDK and a plain connection see the same frames"
    for m in matched:
        assert plain(m) == by_key[plain(m)[key]]
    if market is Market.FUTURES:
        ids = [m.a for m in received]
        assert ids == list(range(ids[0], ids[0] + len(ids))), "aggTrade ids contiguous, none lost or doubled"


async def _raw_frames(ws: aiohttp.ClientWebSocketResponse, seconds: float) -> list[dict]:
    """The data frames a plain connection receives within ``seconds``."""
    frames: list[dict] = []
    deadline = asyncio.get_running_loop().time() + seconds
    while (left := deadline - asyncio.get_running_loop().time()) > 0:
        try:
            msg = await ws.receive(timeout=left)
        except TimeoutError:
            break
        if msg.type is aiohttp.WSMsgType.TEXT:
            frames.append(json.loads(msg.data))
    return frames
