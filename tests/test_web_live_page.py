"""Live mode in a real browser (Debian's Chromium via Playwright): the workstation's app in a thread of its own on a
20x local exchange (a 1m bar closes in 3 s), over a catalog of the hour before now ingested from that exchange; the
forming candle moves and closes with the exchange's kline values, and a fired rule's paper order shows in the orders
table. Screenshots under ``screenshots/``.

Kept apart from the asyncio tests (``test_web_live``, ``test_web_alerts``): Playwright's sync API holds an event loop
in the main thread for the rest of the session once the browser runs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import urllib.request
from typing import Any

import pytest

from framework.exchange.server import ExchangeConfig
from framework.exchange.server import LocalExchange
from tests.test_web_alerts import PERP
from tests.test_web_live import SPEED
from tests.web_live_support import web_context
from tests.web_support import browser  # noqa: F401
from tests.web_support import screenshot


@pytest.fixture(scope="module")
def live_site(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A live server (its own thread) on a 20x local exchange (its own thread), over a catalog holding the hour of
    BTCUSDT USD-M 1m bars before now, ingested from that exchange: (exchange, page URL, context)."""
    from framework.binance.config import BinanceHttpConfig
    from framework.binance.config import BinanceUrls
    from framework.binance.http import BinanceRestClient
    from framework.exchange.server import LocalExchangeThread
    from framework.ingest.config import IngestConfig
    from framework.ingest.config import MarketSelection
    from framework.ingest.runner import Ingestor
    from tests.web_live_support import threaded_server

    folder = tmp_path_factory.mktemp("web-live")
    with LocalExchangeThread(ExchangeConfig(speed=SPEED, start="now")) as ex:
        now = ex.market.now()
        cfg = IngestConfig(catalog=str(folder / "catalog"), start=str(now - 3_600_000), end=str(now), markets={
            "futures": MarketSelection(symbols=["BTCUSDT"], kinds=["klines"])})

        async def ingest() -> None:
            async with BinanceRestClient(BinanceHttpConfig(urls=BinanceUrls(**ex.urls))) as client:
                await Ingestor(cfg, client, progress=False).run()

        with concurrent.futures.ThreadPoolExecutor(1) as pool:  # Playwright's sync API holds this thread's loop
            pool.submit(asyncio.run, ingest()).result()
        ctx = web_context(folder / "catalog", folder / "state.sqlite", live=True, urls=ex.urls, runs=folder / "runs")
        with threaded_server(ctx) as url:
            yield ex, url, ctx


@pytest.fixture
def page(browser: Any) -> Any:  # noqa: F811
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda e: errors.append(str(e)))
    yield opened
    context.close()
    assert not errors, f"errors in the page: {errors}"


def kline(ex: LocalExchange, open_ms: int) -> list:
    """The exchange's REST kline of the minute opening at ``open_ms``."""
    url = f"{ex.urls['futures_http']}/fapi/v1/klines?symbol=BTCUSDT&interval=1m&startTime={open_ms}&limit=1"
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())[0]


@pytest.mark.timeout(180)
def test_in_the_browser_the_forming_candle_moves_then_closes_with_the_exchanges_kline(live_site: Any,
                                                                                    page: Any) -> None:
    ex, url, _ = live_site
    page.goto(f"{url}&symbol=BTCUSDT&market=futures&interval=1m")
    page.wait_for_function("window.workstation.live && window.workstation.live.status().status === 'live' && "
                           "window.workstation.live.applied() > 0", timeout=60_000)
    last = "window.workstation.candles.data().slice(-1)[0]"
    first = page.evaluate(last)
    page.wait_for_function(f"(() => {{ const c = {last}; return c.time === {first['time']} && "
                           f"(c.close !== {first['close']} || c.high !== {first['high']} || c.low !== {first['low']}); "
                           "})()", timeout=60_000)  # the forming candle moved
    screenshot(page, "live-forming")
    page.wait_for_function(f"{last}.time > {first['time']}", timeout=60_000)  # the next minute began
    candles = page.evaluate("window.workstation.candles.data()")
    closed = next(c for c in candles if c["time"] == first["time"])
    row = kline(ex, first["time"] * 1000)
    assert [closed[k] for k in ("open", "high", "low", "close")] == [float(v) for v in row[1:5]]
    times = [c["time"] for c in candles]
    assert all(b - a == 60 for a, b in zip(times, times[1:]))  # catalog, then live: no gap, no repeat
    screenshot(page, "live-closed")


@pytest.mark.timeout(300)
def test_in_the_browser_a_fired_rule_places_a_paper_order_shown_in_the_orders_table(live_site: Any,
                                                                                   page: Any) -> None:
    _, url, ctx = live_site
    base = url.split("/?")[0]
    rule = {"instrument": PERP, "interval": "1m", "indicator": "rsi", "params": {"n": 14}, "comparison": "<",
            "threshold": 101, "action": "buy", "notional": 300}
    request = urllib.request.Request(f"{base}/api/alerts", data=json.dumps(rule).encode(), method="POST",
                                     headers={"X-Token": ctx.token, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as r:
        made = json.loads(r.read())["rule"]
    page.goto(f"{url}&symbol=BTCUSDT&market=futures&interval=1m#alerts")
    page.wait_for_selector(f"#alert-rules tr[data-id='{made['id']}']", timeout=30_000)
    page.wait_for_function("[...document.querySelectorAll('#paper-orders td.status')].some(td => "
                           "td.textContent.includes('FILLED'))", timeout=240_000)
    row = page.locator("#paper-orders tbody tr").first
    assert row.locator("td.rule").inner_text() == made["text"]
    assert row.locator("td.side").inner_text() == "BUY" and row.locator("td.notional").inner_text() == "300"
    assert page.locator("#paper-fills tbody tr").count() >= 1
    assert page.locator("#paper-positions tbody tr").first.locator("td.side").inner_text() == "LONG"
    assert page.locator("#alert-events tbody tr").count() >= 1
    screenshot(page, "alerts-paper-order")


@pytest.mark.timeout(180)
def test_in_the_browser_a_dropped_socket_reconnects_and_the_chart_has_no_gap(live_site: Any, page: Any) -> None:
    ex, url, _ = live_site
    page.goto(f"{url}&symbol=BTCUSDT&market=futures&interval=1m")
    page.wait_for_function("window.workstation.live && window.workstation.live.status().status === 'live' && "
                           "window.workstation.live.applied() > 0", timeout=60_000)
    before = page.evaluate("window.workstation.live.status()")
    page.evaluate("window.workstation.live.socket().close()")  # the connection drops
    page.wait_for_timeout(4_000)  # away for over a bar: at 20x a 1m bar closes every 3 s
    page.wait_for_function(f"(() => {{ const s = window.workstation.live.status(); return s.status === 'live' && "
                           f"s.lastSeq > {before['lastSeq']} && window.workstation.live.socket().readyState === 1; }})()",
                           timeout=60_000)
    after = page.evaluate("window.workstation.live.status()")
    assert after["epoch"] == before["epoch"] and after["reloads"] == before["reloads"] == 0  # replayed, no reload
    last = page.evaluate("window.workstation.candles.data().slice(-1)[0].time")
    page.wait_for_function(f"window.workstation.candles.data().slice(-1)[0].time > {last}", timeout=60_000)
    candles = page.evaluate("window.workstation.candles.data()")
    times = [c["time"] for c in candles]
    assert all(b - a == 60 for a, b in zip(times, times[1:]))  # no gap, no repeat
    closed = candles[-2]
    row = kline(ex, closed["time"] * 1000)
    assert [closed[k] for k in ("open", "high", "low", "close")] == [float(v) for v in row[1:5]]
