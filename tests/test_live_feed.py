"""The gap-free market feed over real sockets against the local exchange (drops, malformed frames, sharding,
live SUBSCRIBE), and the sequencer's ordering rules."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest

from framework.binance.config import BinanceHttpConfig
from framework.binance.config import BinanceUrls
from framework.binance.endpoints import Market
from framework.binance.http import BinanceRestClient
from framework.exchange.faults import FaultConfig
from framework.exchange.server import ExchangeConfig
from framework.exchange.server import LocalExchange
from framework.live.feed import MarketFeed
from framework.live.latency import LatencyMonitor
from framework.live.sequencer import GapFreeSequence

FUT = Market.FUTURES


async def run_feed(ex: LocalExchange, seconds: float, setup, **feed_kwargs) -> MarketFeed:
    urls = BinanceUrls(**ex.urls)
    client = BinanceRestClient(BinanceHttpConfig(urls=urls))
    feed = MarketFeed(FUT, client, urls.futures_ws, **feed_kwargs)
    try:
        await setup(feed, before_start=True)
        await feed.start()
        await setup(feed, before_start=False)
        await asyncio.sleep(seconds)
        await feed.catch_up()
    finally:
        await feed.stop()
        await client.close()
    return feed


@pytest.mark.timeout(60)
async def test_agg_trades_and_klines_are_gap_free_across_drops_and_malformed_frames() -> None:
    faults = FaultConfig(drop_ws_every=40, malformed_frame_rate=0.05)
    async with LocalExchange(ExchangeConfig(speed=60, start="recorded", faults=faults)) as ex:
        ids: list[int] = []
        bars: list[int] = []
        filled: list[bool] = []
        tape = ex.market.tape(FUT, "BTCUSDT")

        async def setup(feed: MarketFeed, before_start: bool) -> None:
            if before_start:
                newest = tape.last_agg_at(ex.market.now())
                feed.agg_trades("BTCUSDT", lambda r, f: (ids.append(r.a), filled.append(f)), last_id=newest)
                feed.klines("BTCUSDT", "1m", lambda r, f: bars.append(r.open_time),
                            last_open=ex.market.now() // 60_000 * 60_000 - 60_000)

        feed = await run_feed(ex, 4.0, setup)
        stop_ms = ex.market.now()
        drops = ex.streams[FUT].drops
        malformed_sent = ex.streams[FUT].malformed_sent
    stats = feed.stats()
    assert drops >= 20 and stats["reconnects"] >= 20
    assert stats["malformed"] == malformed_sent > 0
    assert ids == list(range(ids[0], ids[-1] + 1)), "every aggTrade id once, in order"
    assert tape.agg_trade(ids[-1] + 1).time > stop_ms - 60 * 1000  # caught up to (about) the end
    assert any(filled) and not all(filled)
    assert len(bars) >= 3 and all(b - a == 60_000 for a, b in zip(bars, bars[1:]))
    assert stats["latency_ms"]["btcusdt@aggTrade"]["p99"] is not None


@pytest.mark.timeout(60)
async def test_planned_reconnects_before_the_lifetime_cut_stay_gap_free() -> None:
    """``max_lifetime_s`` (23.5 h against Binance's 24 h cut) shrunk to 0.7 s: every reconnect is planned."""
    async with LocalExchange(ExchangeConfig(speed=60, start="recorded")) as ex:
        ids: list[int] = []
        tape = ex.market.tape(FUT, "BTCUSDT")

        async def setup(feed: MarketFeed, before_start: bool) -> None:
            if before_start:
                feed.agg_trades("BTCUSDT", lambda r, f: ids.append(r.a), last_id=tape.last_agg_at(ex.market.now()))

        feed = await run_feed(ex, 3.0, setup, max_lifetime_s=0.7)
        drops = ex.streams[FUT].drops
        connections = ex.streams[FUT].connections
    stats = feed.stats()
    assert drops == 0 and stats["lifetime_cuts"] >= 3 and stats["reconnects"] == stats["lifetime_cuts"]
    assert connections >= stats["reconnects"]  # each cut opened a new connection (the last may race the stop)
    assert ids == list(range(ids[0], ids[-1] + 1)), "every aggTrade id once, in order"
    assert stats["sequences"]["btcusdt@aggTrade"]["filled"] > 0  # what each reopening missed came from REST


@pytest.mark.timeout(60)
async def test_streams_shard_across_connections_and_live_subscribe_adds_streams() -> None:
    async with LocalExchange(ExchangeConfig(speed=20, start="recorded")) as ex:
        got: dict[str, int] = {}

        def count(name: str):
            return lambda event, *rest: got.__setitem__(name, got.get(name, 0) + 1)

        async def setup(feed: MarketFeed, before_start: bool) -> None:
            if before_start:
                feed.stream("btcusdt@aggTrade", count("agg"))
                feed.stream("btcusdt@markPrice@1s", count("mark"))
            else:
                await asyncio.sleep(0.5)
                feed.stream("btcusdt@ticker", count("ticker"))  # third stream: a new connection
                await asyncio.sleep(0.5)  # connected with the URL of its one stream
                feed.stream("btcusdt@kline_1m", count("kline"))  # fourth: a SUBSCRIBE on that socket

        feed = await run_feed(ex, 2.0, setup, streams_per_connection=2)
        connections = ex.streams[FUT].connections
    assert connections == 2
    assert all(got.get(k, 0) > 0 for k in ("agg", "mark", "ticker", "kline")), got


async def test_sequencer_drops_duplicates_and_fills_gaps_in_order() -> None:
    delivered: list[tuple[int, bool]] = []

    async def fetch(lo: int, hi: int) -> AsyncIterator[list[SimpleNamespace]]:
        await asyncio.sleep(0.01)
        yield [SimpleNamespace(a=i) for i in range(lo, hi + 1)]

    seq = GapFreeSequence("t", lambda r: r.a, 1, fetch, lambda r, f: delivered.append((r.a, f)), last=9)
    for i in (10, 11, 11, 9, 15, 14, 16, 20, 17):  # dup, old, gap 12-14, late 14, gap 17-19, late 17
        seq.push(SimpleNamespace(a=i))
    await seq.wait_idle()
    assert [a for a, _ in delivered] == list(range(10, 21))
    assert [a for a, f in delivered if f] == [12, 13, 14, 17, 18, 19]
    assert seq.stats.duplicates == 4 and seq.stats.gaps == 2


async def test_sequencer_keeps_going_when_a_fill_fails(caplog: pytest.LogCaptureFixture) -> None:
    delivered: list[int] = []

    async def fetch(lo: int, hi: int) -> AsyncIterator[list[SimpleNamespace]]:
        raise ConnectionError("REST down")
        yield []  # pragma: no cover

    seq = GapFreeSequence("t", lambda r: r.a, 1, fetch, lambda r, f: delivered.append(r.a), last=1)
    with caplog.at_level(logging.ERROR):
        seq.push(SimpleNamespace(a=5))
        seq.push(SimpleNamespace(a=6))
        await seq.wait_idle()
    assert delivered == [5, 6] and seq.stats.unfilled == 3
    assert "2..4" in caplog.text


async def test_sequencer_stopped_mid_fill_delivers_again_after_a_restart() -> None:
    delivered: list[int] = []
    hold = asyncio.Event()

    async def fetch(lo: int, hi: int) -> AsyncIterator[list[SimpleNamespace]]:
        await hold.wait()  # the first fill is still running when the feed stops
        yield [SimpleNamespace(a=i) for i in range(lo, hi + 1)]

    seq = GapFreeSequence("t", lambda r: r.a, 1, fetch, lambda r, f: delivered.append(r.a), last=1)
    seq.push(SimpleNamespace(a=4))
    await asyncio.sleep(0)
    fill = seq.cancel()
    assert fill is not None and not seq.filling
    await asyncio.gather(fill, return_exceptions=True)
    hold.set()
    seq.push(SimpleNamespace(a=6))  # after a restart: the gap 2..5 is filled, not buffered forever
    await seq.wait_idle()
    assert delivered == [2, 3, 4, 5, 6]


def test_latency_monitor_warns_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    mon = LatencyMonitor(warn_ms=100, warn_every_s=60)
    with caplog.at_level(logging.WARNING):
        for i in range(10):
            mon.observe("s", (1_000 + 50 + i * 100) * 1_000_000, 1_000)
    st = mon.stats("s")
    assert st.count == 10 and st.last_ms == 950 and st.max_ms == 950 and 450 <= st.p50_ms <= 550
    assert mon.warnings == 1 and caplog.text.count("cannot keep up") == 1
