"""Live mode over real sockets: the workstation's app (``make_app``) on a loopback port runs the gap-free live feed
against an in-process local exchange whose clock runs 20x (a 1m bar closes in 3 s), and pushes forming and closed
candles, indicator values and order flow to websocket clients; a client that reconnects gets exactly what it missed
(or ``reload`` once the buffer has moved on); alert rules fire once on closed bars and reach every page."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from framework.analysis import indicators as ind
from framework.exchange.server import ExchangeConfig
from framework.exchange.server import LocalExchange
from tests.test_web_alerts import PERP
from tests.web_live_support import AppClient
from tests.web_live_support import app_server
from tests.web_live_support import web_context

SPEED = 20.0


async def messages(ws: Any, until: Any, timeout: float = 60.0) -> list[dict]:
    """JSON messages from ``ws`` until ``until(seen)`` holds (fails after ``timeout`` s)."""
    seen: list[dict] = []

    async def read() -> None:
        while not until(seen):
            seen.append(await ws.receive_json())

    await asyncio.wait_for(read(), timeout)
    return seen


def subscribe(**kw: Any) -> dict:
    return {"type": "subscribe", "instrument": PERP, "interval": "1m", "studies": [], "flow": None, **kw}


@pytest.fixture
async def exchange() -> Any:
    async with LocalExchange(ExchangeConfig(speed=SPEED, start="now")) as ex:
        yield ex


@pytest.fixture
async def server(exchange: LocalExchange, tmp_path: Path) -> Any:
    ctx = web_context(tmp_path / "catalog", tmp_path / "state.sqlite", live=True, urls=exchange.urls)
    async with app_server(ctx) as s:
        yield s


async def rest_kline(s: AppClient, exchange: LocalExchange, open_ms: int) -> list:
    async with s.session.get(exchange.urls["futures_http"] + "/fapi/v1/klines",
                             params={"symbol": "BTCUSDT", "interval": "1m", "startTime": open_ms, "limit": 1}) as r:
        return (await r.json())[0]


@pytest.mark.timeout(120)
async def test_the_forming_candle_moves_then_closes_with_the_exchanges_kline(server: AppClient,
                                                                             exchange: LocalExchange) -> None:
    async with server.ws() as ws:
        hello = await ws.receive_json()
        assert hello["type"] == "hello" and hello["epoch"]
        await ws.send_json(subscribe(studies=[{"name": "rsi", "params": {"n": 14}}]))

        def closed_after_forming(seen: list[dict]) -> bool:
            bars = [m for m in seen if m["type"] == "bar"]
            forming = {m["time"] for m in bars if not m["closed"]}
            done = {m["time"] for m in bars if m["closed"] and m["time"] in forming and
                    sum(1 for f in bars if not f["closed"] and f["time"] == m["time"]) >= 3}
            return any(m["type"] == "indicator" and m["closed"] and m["time"] in done for m in seen)

        seen = await messages(ws, closed_after_forming)
    seqs = [m["seq"] for m in seen if "seq" in m and m["type"] not in ("hello", "subscribed")]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    bars = [m for m in seen if m["type"] == "bar"]
    close = next(m for m in bars if m["closed"] and sum(not f["closed"] and f["time"] == m["time"] for f in bars) >= 3)
    forming = [m for m in bars if not m["closed"] and m["time"] == close["time"]]
    assert len({(m["close"], m["volume"]) for m in forming}) >= 2  # it moved
    assert all(m["volume"] <= close["volume"] for m in forming)
    row = await rest_kline(server, exchange, close["time"])
    assert row[0] == close["time"]
    assert [Decimal(v) for v in row[1:6]] == [Decimal(str(close[k])) for k in ("open", "high", "low", "close",
                                                                               "volume")]
    # the RSI pushed with the closed bar is the dashboards' RSI over the exchange's own klines
    rsi = [m for m in seen if m["type"] == "indicator" and m["closed"] and m["time"] == close["time"]]
    assert len(rsi) == 1 and rsi[0]["name"] == "rsi"
    held = await server.get("/api/live/bars", instrument=PERP, interval="1m")
    frame = pd.DataFrame({"close": held["close"]}, index=pd.to_datetime(held["time"], unit="ms", utc=True))
    want = ind.rsi(frame["close"], 14)
    assert rsi[0]["lines"]["rsi"] == pytest.approx(want.loc[pd.Timestamp(close["time"], unit="ms", tz="UTC")],
                                                   rel=1e-9)


@pytest.mark.timeout(120)
async def test_a_page_that_reconnects_gets_exactly_what_it_missed(server: AppClient) -> None:
    async with server.ws() as watcher:  # connected throughout: what the other page should end up with
        await watcher.receive_json()
        await watcher.send_json(subscribe())
        async with server.ws() as page:
            hello = await page.receive_json()
            await page.send_json(subscribe())
            first = await messages(page, lambda seen: sum(m["type"] == "bar" for m in seen) >= 3)
        last_seq = max(m["seq"] for m in first if m["type"] == "bar")
        await asyncio.sleep(2.0)  # the page is away: bars go on
        async with server.ws() as page:
            await page.receive_json()
            await page.send_json(subscribe(epoch=hello["epoch"], last_seq=last_seq))
            again = await messages(page, lambda seen: any(m["type"] == "subscribed" for m in seen))
        seen = await messages(watcher, lambda seen: any(m.get("seq", 0) >= again[-1]["seq"] for m in seen))
    replayed = [m for m in again if m["type"] == "bar"]
    expected = [m for m in seen if m["type"] == "bar" and last_seq < m["seq"] <= again[-1]["seq"]]
    assert len(replayed) >= 3 and replayed == expected  # every one it missed, in order, nothing twice


@pytest.mark.timeout(120)
async def test_a_page_from_another_server_run_is_told_to_reload(server: AppClient) -> None:
    async with server.ws() as page:
        await page.receive_json()
        await page.send_json(subscribe(epoch="an-old-run", last_seq=12))
        seen = await messages(page, lambda seen: any(m["type"] == "subscribed" for m in seen))
    assert [m["type"] for m in seen] == ["reload", "subscribed"] and "restarted" in seen[0]["reason"]
    held = await server.get("/api/live/bars", instrument=PERP, interval="1m")
    assert len(held["time"]) >= 900 and held["forming"] is None or held["forming"]["time"] > held["time"][-1]
    assert all(b - a == 60_000 for a, b in zip(held["time"], held["time"][1:]))  # gap-free


@pytest.mark.timeout(120)
async def test_order_flow_buckets_equal_the_exchanges_aggtrades(server: AppClient, exchange: LocalExchange) -> None:
    async with server.ws() as page:
        await page.receive_json()
        await page.send_json(subscribe(flow={"bucket": "30s", "large": "0"}))
        seen = await messages(page, lambda seen: sum(m["type"] == "flow" and m["closed"] and not m["partial"]
                                                     for m in seen) >= 1)
    bucket = next(m for m in seen if m["type"] == "flow" and m["closed"] and not m["partial"])
    assert bucket["bucket_ms"] == 30_000
    open_updates = [m for m in seen if m["type"] == "flow" and not m["closed"] and m["time"] == bucket["time"]]
    assert open_updates and all(m["trades"] <= bucket["trades"] for m in open_updates)
    url, query = exchange.urls["futures_http"] + "/fapi/v1/aggTrades", {"startTime": bucket["time"],
                                                                         "endTime": bucket["time"] + 29_999}
    trades: list[dict] = []
    while True:  # pages of 1000 by id from the bucket's first
        async with server.session.get(url, params={"symbol": "BTCUSDT", "limit": 1000, **query}) as r:
            page = [t for t in await r.json() if t["T"] < bucket["time"] + 30_000]
        trades += page
        if len(page) < 1000:
            break
        query = {"fromId": page[-1]["a"] + 1}
    buy = sum(Decimal(t["p"]) * Decimal(t["q"]) for t in trades if not t["m"])
    sell = sum(Decimal(t["p"]) * Decimal(t["q"]) for t in trades if t["m"])
    assert bucket["trades"] == len(trades) > 0
    assert bucket["buy"] == float(buy) and bucket["sell"] == float(sell)


@pytest.mark.timeout(60)
async def test_a_bad_subscription_is_one_line_and_an_instrument_without_live_data_says_so(server: AppClient) -> None:
    async with server.ws() as page:
        await page.receive_json()
        await page.send_json(subscribe(interval="7m"))
        assert (await page.receive_json()) == {"type": "error", "error": "interval: '7m' is not one of 1m, 5m, 15m, "
                                                                           "1h, 4h, 1d"}
        await page.send_json(subscribe(studies=[{"name": "rsi", "params": {"n": -1}}]))
        assert "rsi n=-1 is out of range" in (await page.receive_json())["error"]
        await page.send_json(subscribe(instrument="NOPEUSDT-PERP.BINANCE"))  # not listed on the exchange
        seen = await messages(page, lambda seen: any(m["type"] == "status" for m in seen))
        assert seen[-1]["error"].startswith("NOPEUSDT-PERP.BINANCE: no live data (") and "Invalid symbol" in \
            seen[-1]["error"]
        status, body = await server.request("GET", "/api/live/bars", instrument="NOPEUSDT-PERP.BINANCE",
                                            interval="1m")
        assert status == 400 and "no live data" in body["error"] and "\n" not in body["error"]
        await page.send_json(subscribe())  # the page goes on with another instrument
        seen = await messages(page, lambda seen: any(m["type"] == "bar" for m in seen))
    assert (await server.get("/api/live/status"))["instruments"]["NOPEUSDT-PERP.BINANCE"]["error"]


@pytest.mark.timeout(240)
async def test_a_fired_buy_rule_becomes_a_filled_paper_order(server: AppClient, exchange: LocalExchange) -> None:
    rule = {"instrument": PERP, "interval": "1m", "indicator": "price", "comparison": ">", "threshold": 0,
            "action": "buy", "notional": 200}
    async with server.ws() as page:
        await page.receive_json()
        await page.send_json(subscribe())
        status, made = await server.request("POST", "/api/alerts", rule)
        assert status == 201

        def filled(seen: list[dict]) -> bool:
            return any(m["type"] == "paper" and m["what"] == "order" and "FILLED" in m["order"]["status"]
                       for m in seen) and any(m["type"] == "paper" and m["what"] == "portfolio" for m in seen)

        seen = await messages(page, filled, timeout=200)
    alert = next(m for m in seen if m["type"] == "alert")
    assert alert["rule_id"] == made["rule"]["id"] and alert["action"] == "buy"
    paper = await server.get("/api/paper")
    assert paper["state"] == "running"
    [order] = paper["orders"]
    assert (order["rule_id"], order["event_id"], order["side"]) == (alert["rule_id"], alert["id"], "BUY")
    # the sandbox fills a market order up to the size of the trade it meets (as in ``live``): one fill or more
    assert order["status"] in ("FILLED", "PARTIALLY_FILLED")
    fill = paper["fills"][-1]  # newest first: the first fill
    price, quantity = Decimal(fill["price"]), Decimal(order["quantity"])
    assert order["quantity"] == "0.003"  # 200 USDT at ~60k, rounded down to the step 0.001
    assert quantity * price <= 200 < (quantity + Decimal("0.001")) * price
    assert Decimal(order["filled_qty"]) == sum(Decimal(f["quantity"]) for f in paper["fills"])
    # the fee of the live command's default: USD-M taker 0.05 %
    filled_qty = Decimal(fill["quantity"])
    commission = Decimal(fill["commission"].split()[0])
    assert commission == (filled_qty * price * Decimal("0.0005")).quantize(Decimal("1e-8"))
    [position] = paper["positions"]
    assert (position["instrument"], position["side"]) == (PERP, "LONG")
    assert Decimal(position["quantity"]) == Decimal(order["filled_qty"])
    fees = sum(Decimal(f["commission"].split()[0]) for f in paper["fills"])
    reported = Decimal(paper["pnl"]["commissions"]["USDT"])  # as of the node's last report
    assert commission <= reported <= fees
    # filled at a price the market traded after the bar that fired closed (the exchange's clock runs 20x)
    url, query = exchange.urls["futures_http"] + "/fapi/v1/aggTrades", {"startTime": alert["time"] + 60_000}
    prices: set[Decimal] = set()
    for _ in range(50):
        async with server.session.get(url, params={"symbol": "BTCUSDT", "limit": 1000, **query}) as r:
            trades = await r.json()
        prices |= {Decimal(t["p"]) for t in trades}
        if price in prices or not trades or trades[-1]["T"] > alert["time"] + 3_600_000:
            break
        query = {"fromId": trades[-1]["a"] + 1}
    assert price in prices

