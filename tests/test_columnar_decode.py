"""The column-wise page decoder (``framework.binance.columnar``): exactly msgspec's rows, or not used.

Every page is decoded both ways, column-wise (``decode_page``) and through msgspec Structs, and must give
equal columns, and equal catalog tables once converted by the runner's own conversions; pages that are not
in Binance's compact shape (the pretty-printed recordings, whitespace, escapes, odd numbers, other key
orders) must fall back to msgspec, and a page msgspec refuses must still be refused.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import msgspec
import pyarrow as pa
import pytest

from framework.binance import schemas as rest
from framework.binance.columnar import LAYOUTS
from framework.binance.columnar import decode_page
from framework.binance.config import BinanceHttpConfig
from framework.binance.config import BinanceUrls
from framework.binance.credentials import Credentials
from framework.binance.endpoints import Market
from framework.binance.http import BinanceRestClient
from framework.data import parsing
from framework.data.instruments import parse_instruments
from framework.exchange.server import ExchangeConfig
from framework.exchange.server import LocalExchange
from framework.ingest.config import SeriesSpec
from framework.ingest.runner import target_for

from .conftest import FIXTURES

RECORDED = [
    ("spot/rest/klines.json", rest.Kline),
    ("spot/rest/uiKlines.json", rest.Kline),
    ("futures/rest/klines.json", rest.Kline),
    ("futures/rest/continuousKlines.json", rest.Kline),
    ("futures/rest/markPriceKlines.json", rest.Kline),
    ("futures/rest/indexPriceKlines.json", rest.Kline),
    ("spot/rest/aggTrades.json", rest.SpotAggTrade),
    ("futures/rest/aggTrades.json", rest.FuturesAggTrade),
    ("spot/rest/trades.json", rest.SpotTrade),
    ("spot/rest/historicalTrades.json", rest.SpotTrade),
    ("futures/rest/trades.json", rest.FuturesTrade),
]


def by_msgspec(body: bytes, row_type: type) -> pa.RecordBatch:
    return LAYOUTS[row_type].rows_batch(msgspec.json.decode(body, type=list[row_type]))


def compact(body: bytes) -> bytes:
    return msgspec.json.format(body, indent=-1)


@pytest.mark.parametrize(("name", "row_type"), RECORDED, ids=[n for n, _ in RECORDED])
def test_recorded_pages_decode_as_msgspec_does(name: str, row_type: type) -> None:
    pretty = (FIXTURES / name).read_bytes()
    layout = LAYOUTS[row_type]
    assert layout.decode(pretty) is None  # whitespace: not the compact shape
    expected = by_msgspec(pretty, row_type)
    assert len(expected) >= 1
    assert decode_page(pretty, row_type).equals(expected)  # the fallback
    columns = layout.decode(compact(pretty))  # what Binance sends: the same page without whitespace
    assert columns is not None and columns.equals(expected)


KLINE_ROW = '[1721361660000,"61807.70","61839.90","61760.30","61760.30","136.450",1721361719999,"8432904.62160",2005,"57.185","3534417.70220","0"]'
AGG_ROW = '{"a":3686560062,"p":"61711.90","q":"0.081","f":5266484728,"l":5266484729,"T":1723159655110,"m":true}'


def page(*rows: str) -> bytes:
    return ("[" + ",".join(rows) + "]").encode()


def same_as_msgspec(body: bytes, row_type: type) -> str:
    """'columns' or 'fallback' when decode_page equals msgspec's rows; 'refused' when both refuse."""
    try:
        expected = by_msgspec(body, row_type)
    except (msgspec.DecodeError, msgspec.ValidationError):
        with pytest.raises((msgspec.DecodeError, msgspec.ValidationError)):
            decode_page(body, row_type)
        return "refused"
    assert decode_page(body, row_type).equals(expected), body
    return "fallback" if LAYOUTS[row_type].decode(body) is None else "columns"


@pytest.mark.parametrize(
    ("body", "row_type", "outcome"),
    [
        (b"[]", rest.Kline, "columns"),
        (page(KLINE_ROW, KLINE_ROW.replace("2005", "7")), rest.Kline, "columns"),
        (page(KLINE_ROW).replace(b",", b", "), rest.Kline, "fallback"),  # whitespace
        (page(KLINE_ROW) + b"\n", rest.Kline, "fallback"),
        (page(KLINE_ROW).replace(b'"0"]', b'"a\\u0030"]'), rest.Kline, "fallback"),  # an escape
        (page(KLINE_ROW).replace(b'"0"]', b'"],["]'), rest.Kline, "columns"),  # brackets inside a string
        (page(KLINE_ROW).replace(b',"0"]', b"]"), rest.Kline, "fallback"),  # no ignore field (msgspec defaults it)
        (page(KLINE_ROW).replace(b"2005", b"-5"), rest.Kline, "fallback"),  # a negative count
        (page(KLINE_ROW).replace(b"2005", b"02005"), rest.Kline, "refused"),  # leading zero: not JSON
        (page(KLINE_ROW).replace(b"2005", b"2005.0"), rest.Kline, "refused"),
        (page(KLINE_ROW).replace(b"2005", b'"2005"'), rest.Kline, "refused"),
        (page(KLINE_ROW, KLINE_ROW[:-1] + ',"x"]'), rest.Kline, "fallback"),  # a longer row (msgspec ignores the rest)
        (page(KLINE_ROW).replace(b"1721361719999", b"1721361719999123456"), rest.Kline, "fallback"),  # 19 digits
        (page(AGG_ROW), rest.FuturesAggTrade, "columns"),
        (page(AGG_ROW, AGG_ROW.replace("true", "false")), rest.FuturesAggTrade, "columns"),
        (page(AGG_ROW).replace(b"true", b"True"), rest.FuturesAggTrade, "refused"),
        (page(AGG_ROW).replace(b"true", b""), rest.FuturesAggTrade, "refused"),  # a short flag ending the page
        (page(AGG_ROW).replace(b"true", b"t"), rest.FuturesAggTrade, "refused"),
        (page(AGG_ROW).replace(b'"m":true', b'"m":true,"M":true'), rest.FuturesAggTrade, "fallback"),  # extra key
        (page(AGG_ROW).replace(b'"m":true', b'"m":true,"M":false'), rest.SpotAggTrade, "columns"),
        (page(AGG_ROW.replace('"f":5266484728,"l":5266484729', '"l":5266484729,"f":5266484728')),
         rest.FuturesAggTrade, "fallback"),  # another key order
        (page(AGG_ROW).replace(b'"q"', b'"Q"'), rest.FuturesAggTrade, "refused"),
    ],
)
def test_odd_pages_fall_back_or_are_refused(body: bytes, row_type: type, outcome: str) -> None:
    assert same_as_msgspec(body, row_type) == outcome


@pytest.mark.parametrize("row_type", [rest.Kline, rest.SpotAggTrade])
def test_any_single_byte_change_decodes_as_msgspec(row_type: type) -> None:
    """Fuzz: a page with one byte replaced, inserted or deleted is decoded exactly as msgspec decodes it."""
    row = KLINE_ROW if row_type is rest.Kline else AGG_ROW[:-1] + ',"M":true}'
    body = page(row, row.replace("1", "2"), row)
    alphabet = b'0123456789.,:[]{}"-+eE tfalsrue\\\n'
    rng = random.Random(7)
    seen = set()
    for _ in range(1000):
        at = rng.randrange(len(body))
        how = rng.choice("rid")
        new = bytes([rng.choice(alphabet)])
        mutated = {"r": body[:at] + new + body[at + 1 :], "i": body[:at] + new + body[at:], "d": body[:at] + body[at + 1 :]}[how]
        seen.add(same_as_msgspec(mutated, row_type))
    assert seen == {"columns", "fallback", "refused"}


@pytest.fixture
async def venue() -> AsyncIterator[tuple[LocalExchange, BinanceRestClient]]:
    async with LocalExchange(ExchangeConfig(speed=0, start="recorded", history="1d", weight_limit=10**6)) as ex:
        urls = BinanceUrls(spot_http=ex.urls["spot_http"], futures_http=ex.urls["futures_http"])
        client = BinanceRestClient(BinanceHttpConfig(urls=urls), Credentials(api_key="local"))
        try:
            yield ex, client
        finally:
            await client.close()


LOCAL = [  # (market, ingest kind, endpoint, params)
    (Market.SPOT, "klines", "klines", {"interval": "1m", "limit": 1000}),
    (Market.FUTURES, "klines", "klines", {"interval": "1m", "limit": 499}),
    (Market.FUTURES, "mark_klines", "mark_price_klines", {"interval": "1m", "limit": 499}),
    (Market.FUTURES, "index_klines", "index_price_klines", {"interval": "1m", "limit": 499}),
    (Market.FUTURES, "premium_klines", "premium_index_klines", {"interval": "1m", "limit": 499}),
    (Market.SPOT, "agg_trades", "agg_trades", {"limit": 1000}),
    (Market.FUTURES, "agg_trades", "agg_trades", {"limit": 1000}),
    (Market.SPOT, "trades", "historical_trades", {"limit": 1000}),
]


async def test_local_exchange_pages_give_the_same_catalog_tables(venue) -> None:
    """Pages served by the local exchange decode column-wise, equal msgspec's rows, and the runner's
    conversions (bars + KlineStats, mark/index/premium bars, trade ticks) give equal Arrow tables, so the
    catalog files are byte for byte the same."""
    ex, client = venue
    instruments = {}
    for market in Market:
        info = await client.get(market, "exchange_info")
        info = msgspec.structs.replace(info, symbols=[s for s in info.symbols if s.symbol == "BTCUSDT"])
        instruments[market] = parse_instruments(market, info, ts_ns=0)[0]
    for market, kind, name, params in LOCAL:
        symbol = {"pair": "BTCUSDT"} if name == "index_price_klines" else {"symbol": "BTCUSDT"}
        answer = await client.request(market, name, **symbol, **params)
        row_type = msgspec.inspect.type_info(answer.endpoint.schema).item_type.cls
        rows = answer.decode()
        assert len(rows) >= 400, (kind, name)
        columns = LAYOUTS[row_type].decode(answer.body)  # the fast path is taken
        assert columns is not None and columns.equals(LAYOUTS[row_type].rows_batch(rows)), (kind, name)
        if kind.endswith("klines"):  # the running kline is left out, from columns as from Structs
            now = rows[-1].close_time
            columns, rows = parsing.closed_klines(columns, now), parsing.closed_klines(rows, now)
            assert len(columns) == len(rows) == params["limit"] - 1
        target = target_for(SeriesSpec(market, kind, "BTCUSDT", params.get("interval")), instruments[market], {})
        for series, convert in target.outputs:
            assert convert(columns).equals(convert(rows), check_metadata=True), (kind, series)
