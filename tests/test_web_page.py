"""The chart page in a real browser (Debian's Chromium, headless, driven by Playwright) against a real ``serve``
process: candles drawn equal the catalog's bars, indicators toggled on draw the right values, scrolling back loads
older bars within a bound, settings survive a reload, and a missing catalog is a message. Each page is saved as a
PNG under ``screenshots/`` (git-ignored) for a person to look at."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from framework.analysis import indicators as ind
from tests.web_support import Server
from tests.web_support import browser  # noqa: F401
from tests.web_support import catalog_bars
from tests.web_support import market_catalog  # noqa: F401
from tests.web_support import running_server
from tests.web_support import screenshot

LINK_1M = "LINKUSDT-PERP.BINANCE-1-MINUTE-LAST-EXTERNAL"
DRAWN = "window.workstation && window.workstation.candles && window.workstation.candles.data().length > 0"


@pytest.fixture(scope="module")
def server(market_catalog: Path) -> Server:  # noqa: F811
    with running_server(market_catalog) as s:
        yield s


@pytest.fixture
def page(browser: Any) -> Any:  # noqa: F811
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda e: errors.append(str(e)))
    opened.errors = errors
    yield opened
    context.close()
    assert not errors, f"errors in the page: {errors}"


def open_chart(page: Any, server: Server, **query: str) -> None:
    extra = "".join(f"&{k}={v}" for k, v in query.items())
    page.goto(f"{server.url}{extra}")
    page.wait_for_function(DRAWN, timeout=30_000)


def last_candle(page: Any) -> dict:
    return page.evaluate("window.workstation.candles.data().slice(-1)[0]")


def wait_series(page: Any, key: str) -> list[dict]:
    """The first series of ``key`` once it holds data."""
    page.wait_for_function(f"(() => {{ const s = window.workstation.studySeries()[{key!r}]; "
                           "return s && s[0].data().length > 0; })()", timeout=30_000)
    return page.evaluate(f"window.workstation.studySeries()[{key!r}].map((s) => s.data())")


def test_the_page_draws_the_catalogs_candles(page: Any, server: Server, market_catalog: Path) -> None:  # noqa: F811
    open_chart(page, server, symbol="LINKUSDT", market="futures", interval="1m")
    held = catalog_bars(market_catalog, LINK_1M, 60_000)
    last = held.iloc[-1]
    assert last_candle(page) == {"time": held.index[-1] // 1000, "open": last.open, "high": last.high,
                                 "low": last.low, "close": last.close}
    volumes = page.evaluate("window.workstation.volume.data().slice(-3).map((v) => v.value)")
    assert volumes == held["volume"].iloc[-3:].tolist()
    assert page.evaluate("window.workstation.candles.data().length") == 1500  # one page, not the month
    assert page.locator("#message").is_hidden()
    screenshot(page, "chart-link-1m")


def test_the_interval_picker_shows_resampled_candles(page: Any, server: Server, market_catalog: Path) -> None:  # noqa: F811
    open_chart(page, server, symbol="LINKUSDT", market="futures", interval="1m")
    page.select_option("#interval", "4h")
    page.wait_for_function("window.workstation.selection().interval === '4h' && "
                           "window.workstation.candles.data().length < 1500")
    page.wait_for_function("window.workstation.candles.data().length === 168")
    held = catalog_bars(market_catalog, LINK_1M, 60_000)
    held.index = pd.to_datetime(held.index, unit="ms", utc=True)
    want = held.resample("4h").agg({"open": "first", "high": "max", "low": "min", "close": "last"}).iloc[-1]
    got = last_candle(page)
    assert got["time"] == want.name.value // 10**9
    assert [got[k] for k in ("open", "high", "low", "close")] == pytest.approx(want.tolist(), rel=1e-12)
    assert "interval=4h" in page.url
    screenshot(page, "chart-link-4h")


@pytest.mark.parametrize(("study", "expected"), [
    ("rsi", lambda b: ind.rsi(b["close"], 14)),
    ("sma", lambda b: ind.sma(b["close"], 20)),
])
def test_toggling_an_indicator_draws_its_values(page: Any, server: Server, market_catalog: Path, study: str,  # noqa: F811
                                                 expected) -> None:
    status, _ = server.request("/api/settings?chart=LINKUSDT-PERP.BINANCE", method="PUT", body={})  # none shown
    assert status == 200
    open_chart(page, server, symbol="LINKUSDT", market="futures", interval="15m")
    page.locator(f"[data-study={study}]").check()
    data = wait_series(page, study)[0]
    held = catalog_bars(market_catalog, LINK_1M, 60_000)
    held.index = pd.to_datetime(held.index, unit="ms", utc=True)
    bars = held.resample("15min").agg({"open": "first", "high": "max", "low": "min", "close": "last",
                                       "volume": "sum"})
    want = expected(bars)
    assert data[-1]["time"] == want.index[-1].value // 10**9
    assert data[-1]["value"] == pytest.approx(want.iloc[-1], rel=1e-9)
    drawn = {d["time"]: d.get("value") for d in data}
    sample = want.iloc[-1400::97]
    assert [drawn[t.value // 10**9] for t in sample.index] == pytest.approx(sample.tolist(), rel=1e-9)
    panes = page.evaluate("window.workstation.chart.panes().length")
    assert panes == (2 if study == "rsi" else 1)  # RSI in a pane of its own, SMA over the candles
    screenshot(page, f"chart-{study}")
    page.locator(f"[data-study={study}]").uncheck()
    page.wait_for_function(f"!window.workstation.studySeries()[{study!r}]")
    assert page.evaluate("window.workstation.chart.panes().length") == 1


def test_scrolling_back_loads_older_bars_and_holds_a_bounded_window(page: Any, server: Server) -> None:
    open_chart(page, server, symbol="LINKUSDT", market="futures", interval="1m")
    first = page.evaluate("window.workstation.heldSpan().start")
    for _ in range(8):
        before = page.evaluate("window.workstation.heldSpan().start")
        page.evaluate("window.workstation.chart.timeScale().setVisibleLogicalRange({from: 0, to: 150})")
        page.wait_for_function(f"window.workstation.heldSpan().start < {before}", timeout=30_000)
    held = page.evaluate("window.workstation.heldBars()")
    times = [b["time"] for b in held]
    assert times[0] == first - 8 * 1500 * 60_000
    assert len(held) == 6000 and times == sorted(set(times))  # the bound: the newest were dropped
    assert all(b - a == 60_000 for a, b in zip(times, times[1:]))
    assert page.evaluate("window.workstation.candles.data().length") == 6000
    # and forward again: the dropped bars come back
    for _ in range(8):
        end = page.evaluate("window.workstation.heldSpan().end")
        n = page.evaluate("window.workstation.candles.data().length")
        page.evaluate(f"window.workstation.chart.timeScale().setVisibleLogicalRange({{from: {n - 150}, to: {n}}})")
        page.wait_for_function(f"window.workstation.heldSpan().end > {end}", timeout=30_000)
        if page.evaluate(f"window.workstation.heldSpan().end === {first + 1500 * 60_000}"):
            break
    assert page.evaluate("window.workstation.heldSpan().end") == first + 1500 * 60_000


def test_settings_are_kept_per_chart_across_a_reload(page: Any, market_catalog: Path, tmp_path: Path) -> None:  # noqa: F811
    import shutil

    catalog = tmp_path / "catalog"
    shutil.copytree(market_catalog, catalog)
    with running_server(catalog) as s:
        open_chart(page, s, symbol="BTCUSDT", market="futures", interval="1m")
        page.locator("[data-study=macd] >> xpath=../..").locator("[data-param=fast]").fill("8")
        page.locator("[data-study=macd]").check()
        page.locator("[data-perp=open_interest]").check()
        page.locator("[data-orderflow]").check()
        wait_series(page, "macd")
        wait_series(page, "perp:open_interest")
        flow = wait_series(page, "orderflow")
        assert len(flow[0]) == 30  # 1m buckets over the half hour of trades
        page.wait_for_timeout(600)  # the settings are saved 300 ms after the last change
        screenshot(page, "chart-btc-perp-panes")
        saved = s.get("/api/settings?chart=BTCUSDT-PERP.BINANCE")["settings"]
        assert saved["studies"] == [{"name": "macd", "params": {"fast": 8, "slow": 26, "signal": 9}}]
        assert saved["perp"] == ["open_interest"] and saved["orderflow"] is True
        page.reload()
        page.wait_for_function(DRAWN)
        wait_series(page, "macd")
        assert page.locator("[data-study=macd]").is_checked()
        assert page.locator("[data-study=macd] >> xpath=../..").locator("[data-param=fast]").input_value() == "8"
        assert page.locator("[data-perp=open_interest]").is_checked()


def test_a_missing_catalog_shows_what_to_run(page: Any, tmp_path: Path) -> None:
    with running_server(tmp_path / "nothing") as s:
        page.goto(s.url)
        page.wait_for_function("!document.getElementById('message').hidden")
        text = page.locator("#message").inner_text()
        assert "No catalog at" in text and "ingest --from-files examples/data --offline" in text
        assert page.locator("#chart-area").is_hidden()
        screenshot(page, "chart-missing-catalog")


def test_without_the_token_the_page_says_so(page: Any, server: Server) -> None:
    page.goto(server.base + "/")
    page.wait_for_function("!document.getElementById('message').hidden")
    assert "needs the access token" in page.locator("#message").inner_text()


def test_the_chart_library_is_served_locally(page: Any, server: Server) -> None:
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    open_chart(page, server, symbol="LINKUSDT", market="futures", interval="1h")
    assert requests and all(r.startswith(server.base) or r.startswith("data:") for r in requests), requests
    assert np.isfinite(last_candle(page)["close"])
