"""Page planners of ``ingest`` against the local exchange: full coverage, no gaps, no duplicates."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace

import msgspec
import pyarrow as pa
import pytest

from framework.binance.config import BinanceHttpConfig
from framework.binance.config import BinanceUrls
from framework.binance.credentials import Credentials
from framework.binance.endpoints import Market
from framework.binance.http import BinanceRestClient
from framework.binance.intervals import bucket_open
from framework.binance.intervals import fixed_ms as step_ms
from framework.data.kinds import KINDS
from framework.exchange.server import ExchangeConfig
from framework.exchange.server import LocalExchange
from framework.exchange.tape import parse_units
from framework.ingest.fetch import Fetcher
from framework.ingest.fetch import Span
from framework.ingest.fetch import ordered

HOUR = 3_600_000


@pytest.fixture
async def venue() -> AsyncIterator[tuple[LocalExchange, BinanceRestClient]]:
    async with LocalExchange(ExchangeConfig(speed=0, start="recorded", history="1d", weight_limit=10**6)) as ex:
        urls = BinanceUrls(spot_http=ex.urls["spot_http"], futures_http=ex.urls["futures_http"])
        client = BinanceRestClient(BinanceHttpConfig(urls=urls), Credentials(api_key="local"))
        for market in Market:
            client.weights[market].set_limit(10**6)
        try:
            yield ex, client
        finally:
            await client.close()


async def collect(fetcher: Fetcher, span: Span) -> list[SimpleNamespace]:
    """Every row of the span, whether pages come as columns (klines, trades) or as Structs."""
    rows: list = []
    async for page in fetcher.pages(span):
        dicts = page.to_pylist() if isinstance(page, pa.RecordBatch) else map(msgspec.structs.asdict, page)
        rows += [SimpleNamespace(**d) for d in dicts]
    return rows


async def test_ordered_yields_in_order_whatever_finishes_first() -> None:
    async def late(i: int) -> int:
        await asyncio.sleep(0.01 * (5 - i % 5))
        return i

    assert [i async for i in ordered((late(i) for i in range(12)), concurrency=4)] == list(range(12))


@pytest.mark.parametrize("market", list(Market))
async def test_kline_windows_cover_the_span_exactly(venue, market: Market) -> None:
    ex, client = venue
    fetcher = Fetcher(client, market, KINDS["klines"], "BTCUSDT", "1m", step_ms("1m"), columns=True)
    now = ex.market.now()
    span = Span(now - 20 * HOUR - 12_345, now)
    rows = await collect(fetcher, span)
    opens = [r.open_time for r in rows]
    first = bucket_open("1m", span.lo) + 60_000
    assert opens == list(range(first, bucket_open("1m", now) + 1, 60_000))
    assert fetcher.requests == len(fetcher.time_windows(span))
    # the cheapest rows per weight: 1000 rows (weight 2) on spot, 499 (weight 2) on USD-M
    assert KINDS["klines"].page_rows[market] == {Market.SPOT: 1000, Market.FUTURES: 499}[market]
    tape = ex.market.tape(market, "BTCUSDT")
    volume = sum(tape.trade(i).qty for i in range(tape.first_trade_at(first), tape.last_trade_at(now) + 1))
    assert sum(parse_units(r.volume, tape.qty_decimals) for r in rows) == volume


@pytest.mark.parametrize("market", list(Market))
async def test_agg_trade_id_pages_equal_the_tape(venue, market: Market) -> None:
    ex, client = venue
    fetcher = Fetcher(client, market, KINDS["agg_trades"], "BTCUSDT", concurrency=6, columns=True)
    now = ex.market.now()
    start, end = now - HOUR // 4, now - 60_000
    span = await fetcher.id_span(start, end)
    tape = ex.market.tape(market, "BTCUSDT")
    assert span == Span(tape.first_agg_at(start), tape.last_agg_at(end))
    rows = await collect(fetcher, span)
    assert [r.a for r in rows] == list(range(span.lo, span.hi + 1))
    for r in rows[:: max(1, len(rows) // 200)]:
        truth = tape.agg_trade(r.a)
        assert (r.T, r.f, r.l, r.m) == (truth.time, truth.first_id, truth.last_id, truth.is_buyer_maker)


async def test_trade_id_span_comes_from_agg_trades(venue) -> None:
    ex, client = venue
    fetcher = Fetcher(client, Market.SPOT, KINDS["trades"], "BTCUSDT")
    now = ex.market.now()
    start, end = now - 600_000, now - 300_000
    span = await fetcher.id_span(start, end)
    tape = ex.market.tape(Market.SPOT, "BTCUSDT")
    assert span == Span(tape.first_trade_at(start), tape.last_trade_at(end))
    rows = await collect(fetcher, span)
    assert [r.id for r in rows] == list(range(span.lo, span.hi + 1))


async def test_futures_data_pages_by_period(venue) -> None:
    ex, client = venue
    fetcher = Fetcher(client, Market.FUTURES, KINDS["taker_volume"], "BTCUSDT", "5m", step_ms("5m"))
    now = ex.market.now()
    rows = await collect(fetcher, Span(now - 6 * HOUR, now))
    stamps = [int(r.timestamp) for r in rows]
    assert stamps == sorted(set(stamps)) and len(stamps) >= 6 * 12 - 1
    assert all(b - a == 300_000 for a, b in zip(stamps, stamps[1:]))
