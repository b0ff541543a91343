"""The market API of ``serve`` against a real process on a catalog built by the real ``ingest``: bars (stored and
resampled, paged back), indicators equal to the dashboards' functions, perpetual series and order flow equal to
the catalog's rows counted independently, chart settings kept across a restart, and one-line 400s."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from framework.analysis import indicators as ind
from tests.web_support import Server
from tests.web_support import catalog_bars
from tests.web_support import catalog_rows
from tests.web_support import exact
from tests.web_support import market_catalog  # noqa: F401
from tests.web_support import running_server

LINK = "LINKUSDT-PERP.BINANCE"
BTC_PERP = "BTCUSDT-PERP.BINANCE"
BTC_SPOT = "BTCUSDT.BINANCE"


@pytest.fixture(scope="module")
def server(market_catalog: Path) -> Server:  # noqa: F811
    with running_server(market_catalog) as s:
        yield s


def api_bars(server: Server, instrument: str, interval: str, **query: object) -> pd.DataFrame:
    args = "&".join(f"{k}={v}" for k, v in {"instrument": instrument, "interval": interval, **query}.items())
    page = server.get(f"/api/bars?{args}")
    frame = pd.DataFrame({c: page[c] for c in ("open", "high", "low", "close", "volume")}, index=page["time"])
    return frame


def test_instruments_lists_what_the_catalog_holds(server: Server) -> None:
    answer = server.get("/api/instruments")
    assert answer["message"] is None
    rows = {r["instrument"]: r for r in answer["instruments"]}
    assert set(rows) == {BTC_SPOT, BTC_PERP, LINK}
    assert rows[BTC_SPOT] == {"instrument": BTC_SPOT, "symbol": "BTCUSDT", "market": "spot", "stored": ["1h"],
                              "intervals": ["1h", "4h", "1d"], "perp": [], "trades": False}
    assert rows[LINK]["intervals"] == ["1m", "5m", "15m", "1h", "4h", "1d"] and not rows[LINK]["trades"]
    assert set(rows[BTC_PERP]["perp"]) == {"funding", "open_interest", "top_position_ratio", "top_account_ratio",
                                           "global_account_ratio", "taker_volume"}
    assert rows[BTC_PERP]["trades"]


def test_the_last_bar_is_the_catalogs(server: Server, market_catalog: Path) -> None:  # noqa: F811
    held = catalog_bars(market_catalog, "LINKUSDT-PERP.BINANCE-1-MINUTE-LAST-EXTERNAL", 60_000)
    served = api_bars(server, LINK, "1m", limit=5)
    assert len(served) == 5
    pd.testing.assert_frame_equal(served, held.iloc[-5:], check_exact=True)


def test_a_month_of_1m_bars_in_one_request_equals_the_catalog(server: Server, market_catalog: Path) -> None:  # noqa: F811
    held = catalog_bars(market_catalog, "LINKUSDT-PERP.BINANCE-1-MINUTE-LAST-EXTERNAL", 60_000)
    served = api_bars(server, LINK, "1m", limit=50_000)
    assert len(served) == len(held) == 40_320  # February 2023
    pd.testing.assert_frame_equal(served, held, check_exact=True)


@pytest.mark.parametrize(("instrument", "bar_type", "stored_ms", "interval", "rule"), [
    (LINK, "LINKUSDT-PERP.BINANCE-1-MINUTE-LAST-EXTERNAL", 60_000, "5m", "5min"),
    (LINK, "LINKUSDT-PERP.BINANCE-1-MINUTE-LAST-EXTERNAL", 60_000, "1h", "1h"),
    (LINK, "LINKUSDT-PERP.BINANCE-1-MINUTE-LAST-EXTERNAL", 60_000, "4h", "4h"),
    (BTC_SPOT, "BTCUSDT.BINANCE-1-HOUR-LAST-EXTERNAL", 3_600_000, "1d", "1D"),
])
def test_resampled_bars_equal_pandas_resampling_of_the_stored_ones(
        server: Server, market_catalog: Path, instrument: str, bar_type: str, stored_ms: int,  # noqa: F811
        interval: str, rule: str) -> None:
    held = catalog_bars(market_catalog, bar_type, stored_ms)
    held.index = pd.to_datetime(held.index, unit="ms", utc=True)
    want = held.resample(rule).agg({"open": "first", "high": "max", "low": "min", "close": "last",
                                    "volume": "sum"}).dropna()
    want.index = want.index.asi8 // 1_000_000
    served = api_bars(server, instrument, interval, limit=50_000)
    pd.testing.assert_frame_equal(served, want, check_exact=False, rtol=1e-12)


def test_paging_back_returns_every_bar_once(server: Server) -> None:
    whole = api_bars(server, LINK, "15m", limit=50_000)
    pages, end = [], None
    while True:
        query = f"/api/bars?instrument={LINK}&interval=15m&limit=500" + (f"&end={end}" if end else "")
        page = server.get(query)
        pages.append(pd.DataFrame({c: page[c] for c in ("open", "close")}, index=page["time"]))
        if not page["more"]:
            break
        assert page["next_end"] == page["time"][0]
        end = page["next_end"]
    walked = pd.concat(pages[::-1])
    assert walked.index.is_unique and walked.index.is_monotonic_increasing
    pd.testing.assert_frame_equal(walked, whole[["open", "close"]])
    assert len(pages) == -(-len(whole) // 500)


@pytest.mark.parametrize(("name", "params", "expected"), [
    ("sma", {"n": 20}, lambda b: {"sma": ind.sma(b["close"], 20)}),
    ("ema", {"n": 55}, lambda b: {"ema": ind.ema(b["close"], 55)}),
    ("vwap", {}, lambda b: {"vwap": ind.vwap(b)}),
    ("bbands", {"n": 20, "k": 2.5}, lambda b: dict(ind.bollinger(b["close"], 20, 2.5))),
    ("rsi", {"n": 14}, lambda b: {"rsi": ind.rsi(b["close"], 14)}),
    ("macd", {"fast": 12, "slow": 26, "signal": 9}, lambda b: dict(ind.macd(b["close"], 12, 26, 9))),
    ("atr", {"n": 14}, lambda b: {"atr": ind.atr(b, 14)}),
])
def test_indicators_equal_the_dashboards_functions_on_the_same_bars(server: Server, name: str, params: dict,
                                                                    expected) -> None:
    bars = api_bars(server, LINK, "15m", limit=50_000)
    bars.index = pd.DatetimeIndex(pd.to_datetime(bars.index, unit="ms", utc=True), name="time")
    query = "&".join(f"{k}={v}" for k, v in params.items())
    answer = server.get(f"/api/indicators?instrument={LINK}&interval=15m&limit=50000&name={name}&{query}")
    assert answer["time"] == (bars.index.asi8 // 1_000_000).tolist()
    for line, values in expected(bars).items():
        served = np.array([np.nan if v is None else v for v in answer["lines"][line]])
        np.testing.assert_array_equal(served, values.to_numpy())  # the same function on the same bars: equal
    assert answer["lines"][list(answer["lines"])[0]][-1] is not None


def test_a_recent_window_reads_enough_bars_before_it_to_settle(server: Server) -> None:
    full = server.get(f"/api/indicators?instrument={LINK}&interval=1h&limit=50000&name=rsi&n=14")
    window = server.get(f"/api/indicators?instrument={LINK}&interval=1h&limit=100&name=rsi&n=14")
    assert window["time"] == full["time"][-100:]
    np.testing.assert_allclose(window["lines"]["rsi"], full["lines"]["rsi"][-100:], rtol=1e-9)


def test_indicator_list_describes_parameters(server: Server) -> None:
    listed = {s["name"]: s for s in server.get("/api/indicators")["indicators"]}
    assert list(listed) == ["sma", "ema", "vwap", "bbands", "rsi", "macd", "atr"]
    assert listed["macd"]["params"][0] == {"name": "fast", "default": 12, "min": 1, "max": 500, "whole": True}
    assert listed["rsi"]["pane"] == "own" and listed["bbands"]["pane"] == "price"


def test_perp_series_are_the_catalogs_rows_on_bar_times(server: Server, market_catalog: Path) -> None:  # noqa: F811
    data = market_catalog / "data"
    oi = catalog_rows(data / "custom_open_interest" / BTC_PERP)
    answer = server.get(f"/api/perp?instrument={BTC_PERP}&interval=5m&start=2024-08-08T23:30:00Z"
                        "&end=2024-08-09T00:05:00Z")["series"]
    got = dict(zip(answer["open_interest"]["time"], answer["open_interest"]["open_interest"]))
    want = {t // 1_000_000: float(v) for t, v in zip(oi.column("ts_event").to_pylist(),
                                                      oi.column("open_interest_str").to_pylist())}
    assert got == want and len(got) >= 6
    taker = catalog_rows(data / "custom_taker_buy_sell_volume" / BTC_PERP)
    quarter = server.get(f"/api/perp?instrument={BTC_PERP}&interval=15m&series=taker_volume"
                         "&start=2024-08-08T23:30:00Z&end=2024-08-09T00:15:00Z")["series"]["taker_volume"]
    sums: dict[int, Decimal] = {}
    for t, v in zip(taker.column("ts_event").to_pylist(), taker.column("buy_volume_str").to_pylist()):
        key = t // 1_000_000 // 900_000 * 900_000
        sums[key] = sums.get(key, Decimal(0)) + Decimal(v)
    assert quarter["time"] == sorted(sums)
    np.testing.assert_allclose(quarter["buy_volume"], [float(sums[k]) for k in sorted(sums)], rtol=1e-12)
    funding = server.get(f"/api/perp?instrument={BTC_PERP}&interval=1h&series=funding&limit=5"
                         "&end=2024-08-09T01:00:00Z")["series"]["funding"]
    held = catalog_rows(data / "custom_funding_rate" / BTC_PERP)
    assert funding["time"] == [held.column("ts_event")[-1].as_py() // 1_000_000]  # 2024-08-09T00:00Z
    assert funding["rate"] == [float(held.column("rate_str")[-1].as_py())]


def _exact_flow(catalog: Path, bucket_ms: int, large: Decimal) -> dict[int, tuple[Decimal, Decimal, int]]:
    """Taker buy and sell quote volume and trade count per bucket, from the trade files with Decimal."""
    trades = catalog_rows(catalog / "data" / "trade_tick" / BTC_PERP)
    out: dict[int, tuple[Decimal, Decimal, int]] = {}
    for ts, price, size, side in zip(trades.column("ts_event").to_pylist(), exact(trades.column("price")),
                                     exact(trades.column("size")), trades.column("aggressor_side").to_pylist()):
        quote = price * size
        if quote < large:
            continue
        key = ts // 1_000_000 // bucket_ms * bucket_ms
        buy, sell, n = out.get(key, (Decimal(0), Decimal(0), 0))
        out[key] = (buy + quote, sell, n + 1) if side == 1 else (buy, sell + quote, n + 1)
    return out


@pytest.mark.parametrize("large", ["0", "50000"])
def test_order_flow_equals_the_trades_counted_exactly(server: Server, market_catalog: Path, large: str) -> None:  # noqa: F811
    answer = server.get(f"/api/orderflow?instrument={BTC_PERP}&interval=1m&start=2024-08-08T23:30:00Z"
                        f"&end=2024-08-09T00:00:00Z&bucket=5m&large={large}")
    want = _exact_flow(market_catalog, 300_000, Decimal(large))
    assert answer["time"] == sorted(want) and len(want) == 6
    for i, key in enumerate(answer["time"]):
        buy, sell, n = want[key]
        assert (answer["buy"][i], answer["sell"][i], answer["trades"][i]) == (float(buy), float(sell), n)
        assert answer["delta"][i] == float(buy - sell)
    cumulative = np.cumsum([float(want[k][0] - want[k][1]) for k in sorted(want)])
    np.testing.assert_allclose(answer["cumulative_delta"], cumulative, rtol=1e-12)
    if large != "0":
        assert sum(answer["trades"]) < sum(n for _, _, n in _exact_flow(market_catalog, 300_000, Decimal(0)).values())


def test_settings_are_checked_saved_and_survive_a_restart(market_catalog: Path, tmp_path: Path) -> None:  # noqa: F811
    catalog = tmp_path / "catalog"
    shutil.copytree(market_catalog, catalog)
    settings = {"studies": [{"name": "rsi", "params": {"n": 21}}, {"name": "bbands", "params": {"n": 20, "k": 2.5}}],
                "perp": ["funding"], "orderflow": True, "bucket": "5m", "large": "100000"}
    with running_server(catalog) as s:
        assert s.get(f"/api/settings?chart={BTC_PERP}")["settings"] is None
        status, body = s.request(f"/api/settings?chart={BTC_PERP}", method="PUT", body=settings)
        assert status == 200, body
        status, body = s.request(f"/api/settings?chart={BTC_PERP}", method="PUT",
                                 body={"studies": [{"name": "rsi", "params": {"length": 3}}]})
        assert (status, body) == (400, {"error": "rsi: unknown parameter 'length'; it takes n"})
    assert (tmp_path / "catalog.workstation.sqlite").is_file()
    with running_server(catalog) as s:
        kept = s.get(f"/api/settings?chart={BTC_PERP}")["settings"]
    assert kept["studies"] == settings["studies"] and kept["perp"] == ["funding"] and kept["large"] == "100000"


@pytest.mark.parametrize(("query", "message"), [
    ("/api/bars?instrument=DOGEUSDT.BINANCE", "instrument='DOGEUSDT.BINANCE' is not in the catalog; the catalog "
                                              "holds BTCUSDT.BINANCE, BTCUSDT-PERP.BINANCE, LINKUSDT-PERP.BINANCE"),
    ("/api/bars", "missing query parameter 'instrument'"),
    (f"/api/bars?instrument={BTC_SPOT}&interval=1m", "interval='1m' is not served for BTCUSDT.BINANCE; use one of "
                                                     "1h, 4h, 1d"),
    (f"/api/bars?instrument={LINK}&interval=7m", "interval='7m' is not served"),
    (f"/api/bars?instrument={LINK}&limit=0", "limit=0 is out of range; use a whole number from 1 to 50000"),
    (f"/api/bars?instrument={LINK}&limit=ten", "limit='ten' is not a whole number"),
    (f"/api/bars?instrument={LINK}&end=yesterday", "end: 'yesterday' is not a time this framework reads"),
    (f"/api/bars?instrument={LINK}&start=2023-02-02&end=2023-02-01", "is not before end"),
    (f"/api/indicators?instrument={LINK}&name=supertrend", "unknown indicator 'supertrend'; use one of sma, ema"),
    (f"/api/indicators?instrument={LINK}&name=rsi&length=14", "rsi: unknown parameter 'length'; it takes n"),
    (f"/api/indicators?instrument={LINK}&name=rsi&n=0", "rsi n=0 is out of range; use a whole number from 2 to 1000"),
    (f"/api/indicators?instrument={LINK}&name=rsi&n=1.5", "rsi n=1.5 is out of range"),
    (f"/api/indicators?instrument={LINK}&name=bbands&k=abc", "bbands k='abc' is not a number"),
    (f"/api/indicators?instrument={LINK}&name=macd&fast=30&slow=26", "macd fast=30 must be below slow=26"),
    (f"/api/perp?instrument={BTC_SPOT}", "BTCUSDT.BINANCE is a spot pair"),
    (f"/api/perp?instrument={BTC_PERP}&series=basis", "unknown perpetual series 'basis'"),
    (f"/api/orderflow?instrument={LINK}", "the catalog holds no trades of LINKUSDT-PERP.BINANCE"),
    (f"/api/orderflow?instrument={BTC_PERP}&bucket=soon", "bucket: 'soon' is not a duration"),
    (f"/api/orderflow?instrument={BTC_PERP}&bucket=1ms", "makes over 20,000 buckets"),
    (f"/api/orderflow?instrument={BTC_PERP}&large=lots", "large='lots' is not a number"),
    (f"/api/orderflow?instrument={BTC_PERP}&large=-5", "large=-5 must be a quote amount of 0 or more"),
    ("/api/settings", "missing query parameter 'chart'"),
])
def test_bad_requests_get_a_one_line_400(server: Server, query: str, message: str) -> None:
    status, body = server.request(query)
    assert status == 400, (query, status, body)
    assert set(body) == {"error"} and "\n" not in body["error"]
    assert message in body["error"], body


def test_a_malformed_settings_body_is_a_400(server: Server) -> None:
    status, body = server.request(f"/api/settings?chart={LINK}", method="PUT", body=["not", "settings"])
    assert status == 400 and body["error"].startswith("settings: Expected `object`")
