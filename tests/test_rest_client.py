"""Our REST client against the local exchange, over real sockets on 127.0.0.1.

Paging must reproduce the tape exactly, weights must match the endpoint table (and Binance's documentation),
the client must stay inside the server's weight budget when told it and recover from 429s when not, 4xx must
become one readable line, 5xx and timeouts must be retried, and credentials must never leak.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import math
import re
import time
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest

from framework.binance.config import BinanceHttpConfig
from framework.binance.config import BinanceUrls
from framework.binance.config import RetryConfig
from framework.binance.credentials import Credentials
from framework.binance.endpoints import Market
from framework.binance.endpoints import UnknownParameter
from framework.binance.endpoints import endpoint as lookup
from framework.binance.http import BinanceClientError
from framework.binance.http import BinanceRestClient
from framework.binance.http import BinanceUnavailable
from framework.binance.http import encode_params
from framework.binance.ratelimit import WaitNotice
from framework.binance.ratelimit import WeightLimiter
from framework.binance.schemas import RateLimit
from framework.exchange.data import ExchangeData
from framework.exchange.data import load_data
from framework.exchange.faults import FaultConfig
from framework.exchange.server import ExchangeConfig
from framework.exchange.server import LocalExchange
from framework.exchange.tape import parse_units
from tests.conftest import FIXTURES

SPOT, FUT = Market.SPOT, Market.FUTURES
MINUTE, HOUR, DAY = 60_000, 3_600_000, 86_400_000
ERRORS = FIXTURES / "errors"
FAST_RETRY = RetryConfig(max_retries=3, base_delay_s=0.005, max_delay_s=0.02)


@functools.cache
def packaged_data() -> ExchangeData:
    return load_data()


def exchange(**kwargs: Any) -> LocalExchange:
    """A frozen-clock exchange (speed 0) unless told otherwise, sharing the loaded data between tests."""
    kwargs.setdefault("speed", 0)
    return LocalExchange(ExchangeConfig(**kwargs), packaged_data())


def client_for(ex: LocalExchange, credentials: Credentials | None = None, **config: Any) -> BinanceRestClient:
    urls = BinanceUrls(spot_http=ex.urls["spot_http"], futures_http=ex.urls["futures_http"])
    return BinanceRestClient(BinanceHttpConfig(urls=urls, **config), credentials or Credentials())


async def clear_of_window_edge(window_s: float, margin_s: float = 5.0) -> None:
    """Start a weight-counting sequence well inside one server window (so the count cannot roll over)."""
    left = window_s - time.time() % window_s
    if left < margin_s:
        await asyncio.sleep(left + 0.05)


def used_header(answer: Any) -> int:
    assert answer.used_weight is not None, "every answer must carry X-MBX-USED-WEIGHT-1M"
    return answer.used_weight


# ---- paging ------------------------------------------------------------------------------------------


async def test_agg_trades_paged_by_from_id_match_the_tape() -> None:
    async with exchange() as ex, client_for(ex) as client:
        tape = ex.market.tape(SPOT, "BTCUSDT")
        start = tape.first_agg_at(ex.market.listed_ms + 3 * HOUR)
        rows, next_id, pages = [], start, 0
        while len(rows) < 4500:
            page = await client.get(SPOT, "agg_trades", symbol="BTCUSDT", fromId=next_id, limit=1000)
            assert page and page[0].a == next_id  # fromId is inclusive
            rows += page
            next_id = page[-1].a + 1
            pages += 1
        ids = [r.a for r in rows]
        assert pages == 5
        assert ids == list(range(start, start + len(rows)))  # contiguous, no duplicates
        for row in rows:
            truth = tape.agg_trade(row.a)
            assert (row.f, row.l, row.T) == (truth.first_id, truth.last_id, truth.time)
            assert row.m == truth.is_buyer_maker
            assert parse_units(row.p, tape.price_decimals) == truth.price
            assert parse_units(row.q, tape.qty_decimals) == truth.qty
        assert [r.T for r in rows] == sorted(r.T for r in rows)


async def test_agg_trades_by_time_window() -> None:
    async with exchange() as ex, client_for(ex) as client:
        listed = ex.market.listed_ms
        spot, fut = ex.market.tape(SPOT, "BTCUSDT"), ex.market.tape(FUT, "BTCUSDT")

        start = listed + 2 * HOUR + 12_345
        end = spot.agg_trade(spot.first_agg_at(start) + 600).time - 1  # a window of at most 600 aggTrades
        rows = await client.get(SPOT, "agg_trades", symbol="BTCUSDT", startTime=start, endTime=end,
                                limit=1000)
        expected = list(range(spot.first_agg_at(start), spot.last_agg_at(end) + 1))
        assert 100 < len(expected) <= 600
        assert [r.a for r in rows] == expected  # every aggTrade of the window, oldest first
        assert all(start <= r.T <= end for r in rows)

        # USD-M: a window just under an hour is served from its start (oldest first, up to limit) ...
        end = start + HOUR - 1
        rows = await client.get(FUT, "agg_trades", symbol="BTCUSDT", startTime=start, endTime=end, limit=1000)
        first = fut.first_agg_at(start)
        assert [r.a for r in rows] == list(range(first, first + 1000))
        assert all(start <= r.T <= end for r in rows)
        # ... a full hour is refused ...
        with pytest.raises(BinanceClientError) as err:
            await client.get(FUT, "agg_trades", symbol="BTCUSDT", startTime=start, endTime=start + HOUR)
        assert (err.value.status, err.value.code) == (400, -1127)
        # ... and fromId together with a time range is refused.
        with pytest.raises(BinanceClientError) as err:
            await client.get(FUT, "agg_trades", symbol="BTCUSDT", fromId=first, startTime=start)
        assert (err.value.status, err.value.code) == (400, -1128)
        assert "-1128" in str(err.value) and "/fapi/v1/aggTrades" in str(err.value)


async def test_klines_paged_by_start_time_cover_the_span_and_its_volume() -> None:
    async with exchange() as ex, client_for(ex) as client:
        tape = ex.market.tape(SPOT, "BTCUSDT")
        span_start = (ex.market.listed_ms + 5 * HOUR) // MINUTE * MINUTE
        span_end = span_start + 3 * HOUR  # exclusive
        rows, start, pages = [], span_start, 0
        while start < span_end:
            page = await client.get(SPOT, "klines", symbol="BTCUSDT", interval="1m", startTime=start,
                                    endTime=span_end - 1, limit=70)
            assert 0 < len(page) <= 70
            rows += page
            start = page[-1].open_time + MINUTE
            pages += 1
        assert pages == 3
        opens = [k.open_time for k in rows]
        assert opens == list(range(span_start, span_end, MINUTE))  # no gap, no duplicate
        assert all(k.close_time == k.open_time + MINUTE - 1 for k in rows)

        first_tid, last_tid = tape.first_trade_at(span_start), tape.last_trade_at(span_end - 1)
        trades = [tape.trade(t) for t in range(first_tid, last_tid + 1)]
        assert sum(parse_units(k.volume, tape.qty_decimals) for k in rows) == sum(t.qty for t in trades)
        assert sum(k.trades for k in rows) == len(trades)
        taker_buy = sum(t.qty for t in trades if not t.is_buyer_maker)
        assert sum(parse_units(k.taker_buy_volume, tape.qty_decimals) for k in rows) == taker_buy


async def test_limit_and_end_time_only() -> None:
    async with exchange() as ex, client_for(ex) as client:
        tape = ex.market.tape(SPOT, "BTCUSDT")
        assert len(await client.get(SPOT, "klines", symbol="BTCUSDT", interval="1m", limit=7)) == 7
        assert len(await client.get(SPOT, "klines", symbol="BTCUSDT", interval="1m")) == 500  # default
        assert len(await client.get(FUT, "klines", symbol="BTCUSDT", interval="1m", limit=1234)) == 1234
        assert len(await client.get(SPOT, "agg_trades", symbol="BTCUSDT", limit=3)) == 3

        end = ex.market.listed_ms + 7 * HOUR + 30_123
        rows = await client.get(SPOT, "klines", symbol="BTCUSDT", interval="1m", endTime=end, limit=5)
        last_open = end // MINUTE * MINUTE
        assert [k.open_time for k in rows] == [last_open - i * MINUTE for i in range(4, -1, -1)]

        rows = await client.get(SPOT, "agg_trades", symbol="BTCUSDT", endTime=end, limit=20)
        last = tape.last_agg_at(end)
        assert [r.a for r in rows] == list(range(last - 19, last + 1))  # the latest 20 at or before end
        assert rows[-1].T <= end < tape.agg_trade(last + 1).time


async def test_futures_kline_weight_follows_limit() -> None:
    async with exchange(window_s=3600) as ex, client_for(ex) as client:
        await clear_of_window_edge(3600)
        # Binance: 1 / 2 / 5 / 10 for limit < 100 / < 500 / <= 1000 / > 1000; default limit 500.
        cases = [(1, 1), (99, 1), (100, 2), (499, 2), (500, 5), (1000, 5), (1001, 10), (1500, 10), (None, 5)]
        before = used_header(await client.request(FUT, "ping"))
        for limit, weight in cases:
            for name, params in (("klines", {"symbol": "BTCUSDT"}),
                                 ("continuous_klines", {"pair": "BTCUSDT", "contractType": "PERPETUAL"})):
                answer = await client.request(FUT, name, interval="1m", limit=limit, **params)
                assert used_header(answer) - before == weight, (name, limit)
                before = used_header(answer)
        assert client.weights[FUT].used == before == ex.limiters[FUT].used("127.0.0.1")


async def test_futures_data_serves_only_the_last_30_days() -> None:
    async with exchange(history="40d") as ex, client_for(ex) as client:
        now = ex.market.now()
        retention_start = now - 30 * DAY
        rows = await client.get(FUT, "open_interest_hist", symbol="BTCUSDT", period="1d",
                                startTime=now - 40 * DAY, limit=500)
        stamps = [int(r.timestamp) for r in rows]
        assert stamps == sorted(stamps) and len(stamps) == len(set(stamps))
        assert stamps[0] >= retention_start and stamps[0] - retention_start < DAY
        assert 29 <= len(rows) <= 31
        hourly = await client.get(FUT, "taker_long_short_ratio", symbol="BTCUSDT", period="1h",
                                  startTime=now - 35 * DAY, limit=500)
        assert len(hourly) == 500 and int(hourly[0].timestamp) >= retention_start
        assert await client.get(FUT, "open_interest_hist", symbol="BTCUSDT", period="1h",
                                startTime=now - 40 * DAY, endTime=now - 31 * DAY) == []


# ---- weights -----------------------------------------------------------------------------------------

SPOT_CALLS: list[tuple[str, dict]] = [
    ("ping", {}), ("time", {}), ("exchange_info", {}), ("depth", {"symbol": "BTCUSDT"}),
    ("depth", {"symbol": "BTCUSDT", "limit": 500}), ("trades", {"symbol": "BTCUSDT"}),
    ("agg_trades", {"symbol": "BTCUSDT"}), ("klines", {"symbol": "BTCUSDT", "interval": "1m"}),
    ("ui_klines", {"symbol": "BTCUSDT", "interval": "1h"}), ("avg_price", {"symbol": "BTCUSDT"}),
    ("ticker_24hr", {"symbol": "BTCUSDT"}), ("ticker_price", {}), ("book_ticker", {"symbol": "BTCUSDT"}),
]
FUT_CALLS: list[tuple[str, dict]] = [
    ("ping", {}), ("time", {}), ("exchange_info", {}), ("depth", {"symbol": "BTCUSDT", "limit": 50}),
    ("depth", {"symbol": "BTCUSDT"}), ("klines", {"symbol": "BTCUSDT", "interval": "1m", "limit": 99}),
    ("klines", {"symbol": "BTCUSDT", "interval": "1m"}), ("agg_trades", {"symbol": "BTCUSDT"}),
    ("ticker_price", {}), ("mark_price", {"symbol": "BTCUSDT"}), ("open_interest", {"symbol": "BTCUSDT"}),
    ("funding_rate_history", {"symbol": "BTCUSDT"}),
    ("open_interest_hist", {"symbol": "BTCUSDT", "period": "5m"}), ("book_ticker", {"symbol": "BTCUSDT"}),
]
# The same sums from Binance's documented weights (independent of the table).
DOCUMENTED_TOTAL = {SPOT: 1 + 1 + 20 + 5 + 25 + 25 + 4 + 2 + 2 + 2 + 2 + 4 + 2,
                    FUT: 1 + 1 + 1 + 2 + 10 + 1 + 5 + 20 + 2 + 1 + 1 + 0 + 0 + 2}


@pytest.mark.parametrize("market", [SPOT, FUT])
async def test_used_weight_header_is_the_sum_of_table_weights(market: Market) -> None:
    calls = SPOT_CALLS if market is SPOT else FUT_CALLS
    async with exchange(window_s=3600) as ex, client_for(ex) as client:
        await clear_of_window_edge(3600)
        headers = [used_header(await client.request(market, name, **params)) for name, params in calls]
        table = [lookup(market, name).weight(encode_params(params)) for name, params in calls]
        assert headers == [sum(table[: i + 1]) for i in range(len(table))]
        assert headers[-1] == DOCUMENTED_TOTAL[market]
        assert client.weights[market].used == headers[-1] == ex.limiters[market].used("127.0.0.1")


async def test_client_adopts_exchange_info_rate_limits() -> None:
    async with exchange() as ex, client_for(ex) as client:
        for market, limit in ((SPOT, 6000), (FUT, 2400)):  # the budgets the exchange enforces
            client.weights[market].set_limit(100, 10)
            client.apply_rate_limits(market, await client.get(market, "exchange_info"))
            assert (client.weights[market].limit, client.weights[market].window_s) == (limit, 60)
            assert client.weights[market].budget == int(limit * 0.98)
    # a drill's budget is announced too, so a client that reads exchangeInfo is never refused
    async with exchange(weight_limit=300, window_s=10) as ex, client_for(ex) as client:
        client.apply_rate_limits(SPOT, await client.get(SPOT, "exchange_info"))
        assert (client.weights[SPOT].limit, client.weights[SPOT].window_s) == (300, 10)
    client = BinanceRestClient(credentials=Credentials())
    info = SimpleNamespace(rateLimits=[RateLimit("ORDERS", "SECOND", 10, 50),
                                       RateLimit("REQUEST_WEIGHT", "SECOND", 10, 300),
                                       RateLimit("RAW_REQUESTS", "MINUTE", 5, 6100)])
    client.apply_rate_limits("spot", info)
    assert (client.weights[SPOT].limit, client.weights[SPOT].window_s) == (300, 10)
    assert client.weights[FUT].limit == 2400


# ---- rate limits -------------------------------------------------------------------------------------

KLINE = {"symbol": "BTCUSDT", "interval": "1m", "limit": 5}  # spot weight 2


async def burst(client: BinanceRestClient, n: int) -> tuple[list[Any], float]:
    started = time.perf_counter()
    answers = await asyncio.gather(*(client.request(SPOT, "klines", **KLINE) for _ in range(n)))
    return answers, time.perf_counter() - started


async def test_client_told_the_limit_is_never_refused() -> None:
    limit, window, n = 40, 2.0, 50
    # Slow answers and few slots, and the burst starts just before a window ends: requests queued for a slot
    # are sent in the next window, which must not make the client overspend that one.
    faults = FaultConfig(latency_ms=40)
    async with exchange(weight_limit=limit, window_s=window, faults=faults) as ex:
        async with client_for(ex, max_concurrency=2) as client:
            client.weights[SPOT].set_limit(limit, window)
            await asyncio.sleep((window - 0.2 - time.time() % window) % window)  # 0.2 s before a window ends
            first_window = int(time.time() // window)
            answers, elapsed = await burst(client, n)
            windows_used = int(time.time() // window) - first_window + 1
            assert len(answers) == n and all(a.status == 200 and a.attempts == 1 for a in answers)
            assert ex.limiters[SPOT].refused_429 == ex.limiters[SPOT].refused_418 == 0
            assert client.stats["429"] == client.stats["418"] == 0
            peak = max(used_header(a) for a in answers)
            assert peak <= limit
            windows = math.ceil(2 * n / client.weights[SPOT].budget)
            assert elapsed < windows * window + 0.5  # no time wasted beyond the windows the weight needs
    print(f"\nburst (told): {n} requests in {elapsed:.2f}s = {n / elapsed:.1f} req/s, "
          f"peak used {peak}/{limit} ({peak / limit:.0%}) per {window:.0f}s window, "
          f"{2 * n}/{windows_used * limit} weight over the {windows_used} windows touched "
          f"({2 * n / (windows_used * limit):.0%})")


async def test_client_not_told_honours_429_and_is_never_banned() -> None:
    limit, window, n = 40, 2.0, 60
    # ban_after just above the client's concurrency: only requests already in flight may arrive during a 429.
    async with exchange(weight_limit=limit, window_s=window, ban_after=10, ban_s=3) as ex:
        async with client_for(ex, max_concurrency=8, retry=RetryConfig(max_retries=8)) as client:
            assert client.weights[SPOT].limit == 6000  # believes Binance's limit
            answers, elapsed = await burst(client, n)
            assert len(answers) == n and all(a.status == 200 for a in answers)
            assert ex.limiters[SPOT].refused_429 > 0 and client.stats["429"] > 0
            assert ex.limiters[SPOT].refused_418 == 0 and client.stats["418"] == 0
            assert client.stats["retries"] == client.stats["429"] == sum(a.attempts - 1 for a in answers)
            assert elapsed >= window  # it did wait: 120 weight needs three 40-weight windows
            print(f"\nburst (not told): {n} requests in {elapsed:.2f}s = {n / elapsed:.1f} req/s, "
                  f"{client.stats['429']} x 429 honoured, 0 x 418")


async def start_of_window(window: float, into: float = 0.05) -> None:
    """Sleep until ``into`` seconds after the next server window begins."""
    await asyncio.sleep((window - time.time() % window + into) % window)


async def test_a_long_wait_for_the_weight_budget_is_announced_once_with_its_reason() -> None:
    """A burst that needs the next window waits ~4 s: one notice (not one per waiting request) says how long,
    for what and how much of the window's budget is spent; ingest's progress shows it (client.on_wait)."""
    limit, window = 40, 5.0
    notices: list[WaitNotice] = []
    async with exchange(weight_limit=limit, window_s=window) as ex:
        async with client_for(ex, max_concurrency=4) as client:
            client.on_wait = notices.append
            client.weights[SPOT].set_limit(limit, window)
            await start_of_window(window, into=0.3)
            answers, elapsed = await burst(client, 30)  # 60 weight: the second window's share waits
    assert len(answers) == 30 and client.stats["429"] == 0
    assert len(notices) == 1, [str(n) for n in notices]
    notice = notices[0]
    assert notice.reason == "the weight budget" and 2 <= notice.seconds <= window
    assert notice.used is not None and limit - 2 * 2 <= notice.used <= limit
    assert re.fullmatch(rf"spot: waiting [2-5] s for the weight budget \({notice.used}/40 used in this 5 s window\)",
                        str(notice)), str(notice)
    assert elapsed >= notice.seconds - 0.1


async def test_short_waits_are_not_announced_and_unset_callbacks_log() -> None:
    limit, window = 40, 1.0
    async with exchange(weight_limit=limit, window_s=window) as ex:
        async with client_for(ex, max_concurrency=4) as client:
            notices: list[WaitNotice] = []
            client.on_wait = notices.append
            client.weights[SPOT].set_limit(limit, window)
            answers, _ = await burst(client, 50)  # three windows, each wait < 1 s
            assert len(answers) == 50 and notices == []
    limiter = WeightLimiter(10, window_s=60, clock=lambda: 30.0, name="futures")
    limiter.pause(48, "Retry-After (HTTP 429 from klines)")
    seen: list[WaitNotice] = []
    limiter.announce.on_wait = seen.append
    task = asyncio.ensure_future(limiter.acquire(1))
    await asyncio.sleep(0.01)
    task.cancel()
    assert [str(n) for n in seen] == ["futures: waiting 48 s for Retry-After (HTTP 429 from klines)"]


async def test_a_retry_after_wait_is_announced() -> None:
    """Not told the limit, the client meets a 429 whose Retry-After runs to the server's next window."""
    limit, window = 20, 4.0
    with_logs: list[str] = []
    async with exchange(weight_limit=limit, window_s=window) as ex:
        async with client_for(ex, max_concurrency=2, retry=RetryConfig(max_retries=8)) as client:
            client.on_wait = lambda n: with_logs.append(str(n))
            await start_of_window(window, into=0.2)
            answers, _ = await burst(client, 14)  # 28 weight > 20: a 429 with Retry-After 4 s
    assert len(answers) == 14 and client.stats["429"] > 0
    assert any(re.fullmatch(r"spot: waiting [2-4] s for Retry-After \(HTTP 429 from klines\)", line)
               for line in with_logs), with_logs


async def hammer(session: aiohttp.ClientSession, url: str, until_status: int, most: int) -> list[tuple]:
    seen = []
    for _ in range(most):
        async with session.get(url + "/api/v3/klines", params={k: str(v) for k, v in KLINE.items()}) as r:
            seen.append((r.status, r.headers.get("Retry-After"), await r.json()))
        if r.status == until_status:
            break
    return seen


async def test_client_ignoring_limits_gets_429_then_418() -> None:
    async with exchange(weight_limit=20, window_s=3600, ban_after=5, ban_s=30) as ex:
        await clear_of_window_edge(3600, margin_s=10)
        async with aiohttp.ClientSession() as session:
            seen = await hammer(session, ex.urls["spot_http"], 418, 40)
    statuses = [s for s, _, _ in seen]
    assert statuses == [200] * 10 + [429] * 5 + [418]  # 20 weight / 2, then 5 ignored 429s, then banned
    too_many = json.loads((ERRORS / "too_many_requests_429.json").read_text())
    for status, retry_after, body in seen[10:15]:
        assert body == too_many and 0 < int(retry_after) <= 3600
    status, retry_after, body = seen[-1]
    assert body["code"] == -1003 and "IP banned until" in body["msg"] and int(retry_after) == 30
    assert ex.limiters[SPOT].refused_429 == 5 and ex.limiters[SPOT].refused_418 == 1


async def test_long_ban_raises_unavailable_instead_of_sleeping() -> None:
    async with exchange(weight_limit=20, window_s=3600, ban_after=2, ban_s=600) as ex:
        await clear_of_window_edge(3600, margin_s=10)
        async with aiohttp.ClientSession() as session:
            assert (await hammer(session, ex.urls["spot_http"], 418, 40))[-1][0] == 418
        async with client_for(ex) as client:
            started = time.perf_counter()
            with pytest.raises(BinanceUnavailable) as err:
                await client.request(SPOT, "klines", **KLINE)
            assert time.perf_counter() - started < 2
    message = str(err.value)
    assert "\n" not in message
    assert "HTTP 418" in message and "Retry-After 600s" in message and "300s" in message
    assert "klines" in message and "IP banned" in message
    assert client.stats["418"] == 1 and client.stats["retries"] == 0


# ---- errors ------------------------------------------------------------------------------------------


async def client_error(
    client: BinanceRestClient, market: Market, name: str, **params: Any
) -> BinanceClientError:
    with pytest.raises(BinanceClientError) as err:
        await client.request(market, name, **params)
    assert "\n" not in str(err.value)
    return err.value


async def test_client_errors_are_one_readable_line() -> None:
    async with exchange() as ex, client_for(ex) as client:
        e = await client_error(client, SPOT, "depth", symbol="NOSUCHCOIN")
        assert (e.status, e.code) == (400, -1121)
        text = str(e)
        for part in ("spot depth", "/api/v3/depth", "symbol=NOSUCHCOIN", "HTTP 400", "-1121",
                     "Invalid symbol.", "exchangeInfo"):
            assert part in text, part

        assert e.msg == json.loads((ERRORS / "invalid_symbol.json").read_text())["msg"]

        e = await client_error(client, SPOT, "klines", symbol="BTCUSDT", interval="1")
        assert (e.status, e.code) == (400, -1120)
        assert e.msg == json.loads((ERRORS / "invalid_interval.json").read_text())["msg"]
        e = await client_error(client, FUT, "klines", symbol="BTCUSDT", interval="1s")  # spot-only interval
        assert (e.status, e.code, e.msg) == (400, -1120, "Invalid interval.")
        assert "interval such as 1m" in str(e)

        recorded = json.loads((ERRORS / "illegal_parameter_limit.json").read_text())
        e = await client_error(client, SPOT, "depth", symbol="BTCUSDT", limit=2)
        assert (e.status, e.code, e.msg) == (400, recorded["code"], recorded["msg"])
        assert "legal range" in str(e) and "-1100" in str(e)

        e = await client_error(client, SPOT, "klines", symbol="BTCUSDT")
        assert (e.status, e.code) == (400, -1102) and "'interval'" in e.msg
        assert "mandatory" in str(e).lower()


async def test_a_misspelt_parameter_is_refused_before_sending_naming_the_closest() -> None:
    # Binance ignores unknown parameters: "startime" would silently fetch the latest klines instead of the range.
    async with exchange() as ex, client_for(ex) as client:
        with pytest.raises(UnknownParameter) as err:
            await client.request(SPOT, "klines", symbol="BTCUSDT", interval="1m", startime=0)
        text = str(err.value)
        assert "\n" not in text and "'startime'" in text and "did you mean 'startTime'?" in text
        assert "/api/v3/klines" in text and err.value.exit_code == 2
        with pytest.raises(UnknownParameter, match="it takes no parameters"):
            await client.request(FUT, "ping", symbol="BTCUSDT")
        with pytest.raises(UnknownParameter, match="did you mean 'fromId'"):
            await client.request(FUT, "agg_trades", symbol="BTCUSDT", fromid=5)
        # nothing reached the server: the next call's used weight is its own weight alone
        answer = await client.request(SPOT, "avg_price", symbol="BTCUSDT")
        assert used_header(answer) == lookup(SPOT, "avg_price").weight({})


async def test_historical_trades_need_an_api_key() -> None:
    async with exchange() as ex:
        async with client_for(ex) as client:
            e = await client_error(client, SPOT, "historical_trades", symbol="BTCUSDT", limit=5)
            assert (e.status, e.code) == (401, -2014) and "API_KEY" in str(e)
        async with client_for(ex, Credentials(api_key="k3y")) as client:
            tape = ex.market.tape(SPOT, "BTCUSDT")
            from_id = tape.first_trade_at(ex.market.listed_ms + HOUR)
            rows = await client.get(SPOT, "historical_trades", symbol="BTCUSDT", fromId=from_id, limit=50)
            assert [r.id for r in rows] == list(range(from_id, from_id + 50))
            assert [r.time for r in rows] == [tape.trade(r.id).time for r in rows]


# ---- 5xx and timeouts --------------------------------------------------------------------------------


async def test_5xx_are_retried_until_success() -> None:
    faults = FaultConfig(seed=11, http_5xx_rate=0.3)
    async with exchange(faults=faults, journal=True) as ex:
        retry = RetryConfig(max_retries=8, base_delay_s=0.005, max_delay_s=0.02)
        async with client_for(ex, retry=retry) as client:
            answers = [await client.request(SPOT, "klines", **KLINE) for _ in range(30)]
            answers += [await client.request(FUT, "ticker_price", symbol="BTCUSDT") for _ in range(10)]
    assert all(a.status == 200 for a in answers)
    served_503 = sum(1 for s in ex.journal if s.status == 503)
    assert client.stats["retries"] > 0
    assert client.stats["retries"] == served_503 == sum(a.attempts - 1 for a in answers)
    assert 0.15 < served_503 / len(ex.journal) < 0.45


async def test_persistent_5xx_raise_unavailable_after_max_retries() -> None:
    async with exchange(faults=FaultConfig(seed=1, http_5xx_rate=1.0), journal=True) as ex:
        async with client_for(ex, retry=FAST_RETRY) as client:
            with pytest.raises(BinanceUnavailable) as err:
                await client.request(SPOT, "klines", **KLINE)
    assert len(ex.journal) == FAST_RETRY.max_retries + 1 and {s.status for s in ex.journal} == {503}
    assert "after 4 attempts" in str(err.value) and "HTTP 503" in str(err.value)
    assert client.stats["retries"] == FAST_RETRY.max_retries


async def test_timeouts_are_retried_then_raise_unavailable() -> None:
    async with exchange(faults=FaultConfig(latency_ms=400)) as ex:
        async with client_for(ex, timeout_s=0.1, retry=FAST_RETRY) as client:
            started = time.perf_counter()
            with pytest.raises(BinanceUnavailable) as err:
                await client.request(FUT, "ping")
            elapsed = time.perf_counter() - started
        assert ex.rest[FUT].requests == FAST_RETRY.max_retries + 1
    assert "TimeoutError" in str(err.value) and "after 4 attempts" in str(err.value)
    assert 0.4 <= elapsed < 1.5
    assert client.stats["retries"] == FAST_RETRY.max_retries


# ---- secrets -----------------------------------------------------------------------------------------


async def test_credentials_never_leak(caplog: pytest.LogCaptureFixture) -> None:
    key, secret = "KEYvJ8k2QzLrT0pN4xW", "SECRETm9Hq3Ys7Fd1Ga6"
    credentials = Credentials(api_key=key, api_secret=secret)
    caplog.set_level(logging.DEBUG)
    async with exchange(faults=FaultConfig(seed=3, http_5xx_rate=0.5)) as ex:
        retry = RetryConfig(max_retries=10, base_delay_s=0.001)
        async with client_for(ex, credentials, retry=retry) as client:
            rows = await client.get(SPOT, "historical_trades", symbol="BTCUSDT", limit=5)
            assert len(rows) == 5  # the key was sent
            with pytest.raises(BinanceClientError) as err:
                await client.request(SPOT, "historical_trades", symbol="NOSUCHCOIN")
            for _ in range(5):
                await client.request(SPOT, "ping")
            assert client.stats["retries"] > 0  # the retry path logged too
            shown = [repr(client.credentials), str(client.credentials), str(err.value), repr(err.value),
                     repr(client.config), caplog.text]
    assert caplog.records
    shown += [r.getMessage() for r in caplog.records]
    for text in shown:
        assert key not in text and secret not in text
    assert repr(credentials) == "Credentials(api_key=set, api_secret=set)"


# ---- configuration -----------------------------------------------------------------------------------


def test_url_resolution_order() -> None:
    flags = {"spot_http": "http://flag:1/", "futures_http": None}
    env = {"BASE_PATH_SPOT": "http://env:2", "BASE_PATH_FUTURES": "http://env:3/", "STREAM_URL_SPOT": ""}
    yaml = {"spot_http": "http://yaml:4", "futures_http": "http://yaml:5", "spot_ws": "ws://yaml:6"}
    urls = BinanceUrls.resolve(flags, env, yaml)
    assert urls.spot_http == "http://flag:1"  # flag beats env and YAML (trailing slash dropped)
    assert urls.futures_http == "http://env:3"  # a None flag falls through to env
    assert urls.spot_ws == "ws://yaml:6"  # an empty env value falls through to YAML
    assert urls.futures_ws == "wss://fstream.binance.com"  # nothing set: default
    assert BinanceUrls.resolve({}, env, {}).spot_http == "http://env:2"
    assert BinanceUrls.resolve(None, {}, yaml).futures_http == "http://yaml:5"
    assert BinanceUrls.resolve(None, {}, None) == BinanceUrls()
    assert BinanceUrls.resolve(None, {}, None).http(SPOT) == BinanceUrls().spot_http  # the production default
