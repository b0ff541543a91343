"""Analysis: indicators, every chart rendered from data the tests build, the exact reconciliation, the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from framework.analysis import indicators as ind
from framework.analysis import reconcile
from framework.analysis import sources
from framework.analysis.dashboards import CHARTS
from framework.analysis.dashboards import draw_charts
from framework.analysis.orderflow_chart import flow_buckets
from framework.binance.config import BinanceHttpConfig
from framework.binance.config import BinanceUrls
from framework.binance.credentials import Credentials
from framework.binance.http import BinanceRestClient
from framework.exchange.server import ExchangeConfig
from framework.exchange.server import LocalExchangeThread
from framework.ingest.config import IngestConfig
from framework.ingest.config import MarketSelection
from framework.ingest.runner import Ingestor
from framework.main import main as cli_main
from framework.orderflow import TakerFlow

ROOT = Path(__file__).resolve().parents[1]
START, END = "2024-08-08T23:00:00Z", "2024-08-09T00:00:00Z"
PANELS = {
    "spot": ["price", "rsi", "volume"],
    "futures": ["price", "macd", "open_interest", "volume"],
    "basis": ["basis_bps", "premium_pct", "funding_rate_pct"],
    "correlation": ["correlation", "beta", "rolling_correlation"],
    "microstructure": ["price", "volume", "latency_ms"],
    "orderflow": ["price", "taker_volume", "delta", "cumulative_delta"],
}


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "framework.main", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, timeout=120)


def main(*args: str) -> subprocess.CompletedProcess:
    """The command line in this process (the import of Nautilus is paid once): exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli_main(list(args))
    finally:
        os.chdir(cwd)
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Path:
    """An hour of BTCUSDT spot + USD-M history from the local exchange, as ingest writes it."""
    path = tmp_path_factory.mktemp("catalog")
    futures = ["agg_trades", "klines", "funding", "open_interest", "mark_klines", "index_klines"]
    cfg = IngestConfig(catalog=str(path), start=START, end=END, markets={
        "futures": MarketSelection(symbols=["BTCUSDT"], kinds=futures),
        "spot": MarketSelection(symbols=["BTCUSDT"], kinds=["agg_trades", "klines"])})
    with LocalExchangeThread(ExchangeConfig(speed=0, start="recorded", history="2d", weight_limit=10**6)) as ex:
        client = BinanceRestClient(BinanceHttpConfig(urls=BinanceUrls(**ex.urls)), Credentials())

        async def go():
            try:
                return await Ingestor(cfg, client, progress=False).run()
            finally:
                await client.close()

        asyncio.run(go())
    return path


@pytest.fixture(scope="module")
def collected(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """A `collect --plots` run against the local exchange at the recordings' time."""
    out = tmp_path_factory.mktemp("collect")
    with LocalExchangeThread(ExchangeConfig(start="recorded", weight_limit=10**6)) as ex:
        env = {"BASE_PATH_SPOT": ex.urls["spot_http"], "BASE_PATH_FUTURES": ex.urls["futures_http"],
               "STREAM_URL_SPOT": ex.urls["spot_ws"], "API_KEY": "local"}
        proc = cli("collect", "--out", str(out), "--ws-capture-seconds", "2", "--plots", env=env)
    return out, proc


# -- indicators ---------------------------------------------------------------------------------------------


def test_indicators_follow_their_definitions() -> None:
    idx = pd.date_range("2024-08-08 23:50", periods=40, freq="1min", tz="UTC")
    close = pd.Series(np.arange(1.0, 41.0), index=idx)
    assert ind.sma(close, 20).iloc[19] == pytest.approx(10.5) and ind.sma(close, 20).iloc[:19].isna().all()
    e = ind.ema(close, 3)  # alpha 0.5, seeded by the first value
    assert e.iloc[2] == pytest.approx(0.5 * 3 + 0.5 * (0.5 * 2 + 0.5 * 1))
    assert ind.rsi(close, 14).dropna().eq(100).all()  # only gains
    assert ind.rsi(-close, 14).dropna().eq(0).all()  # only losses
    m = ind.macd(close)
    assert (m["hist"] == m["macd"] - m["signal"]).all()
    bars = pd.DataFrame({"high": close + 1, "low": close - 1, "close": close, "volume": 1.0}, index=idx)
    v = ind.vwap(bars)
    assert v.iloc[9] == pytest.approx(close.iloc[:10].mean())  # first 10 bars are 23:50..23:59
    assert v.iloc[10] == pytest.approx(close.iloc[10])  # a new UTC day starts over
    rng = np.random.default_rng(1)
    spot = pd.Series(100 * np.exp(np.cumsum(rng.normal(0, 1e-3, 600))),
                     index=pd.date_range("2024-08-08", periods=600, freq="1min", tz="UTC"))
    fut = spot ** 2 / 100  # log returns exactly twice the spot's
    table = ind.correlation_beta(spot, fut)
    assert list(table.index) == list(ind.TIMESCALES)
    assert np.allclose(table["corr"], 1.0) and np.allclose(table["beta"], 2.0)
    assert list(table["n"]) == [599, 119, 39, 9]
    assert ind.basis_bps(pd.Series([101.0], index=idx[:1]), pd.Series([100.0], index=idx[:1])).iloc[0] == \
        pytest.approx(100.0)


# -- charts -------------------------------------------------------------------------------------------------


def check_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000, path


def test_every_chart_from_the_catalog(catalog: Path, tmp_path: Path) -> None:
    data = sources.from_catalog(catalog)
    assert len(data.spot) == len(data.futures) == 60  # 23:00 .. 23:59 by open time
    assert data.spot.index[0] == pd.Timestamp(START)
    assert data.futures["taker_buy_quote"].notna().all()
    charts = draw_charts(data, CHARTS, tmp_path)
    assert [c.name for c in charts] == list(PANELS)
    for chart in charts:
        check_png(chart.path)
        assert list(chart.axes) == PANELS[chart.name]
    by_name = {c.name: c for c in charts}
    labels = {line.get_label() for line in by_name["spot"].axes["price"].get_lines()}
    assert {"SMA20", "EMA55", "VWAP"} <= labels
    labels = {line.get_label() for line in by_name["futures"].axes["price"].get_lines()}
    assert {"EMA21", "EMA55", "VWAP"} <= labels
    assert by_name["futures"].axes["open_interest"].get_lines()  # ingested open interest is drawn
    assert len(by_name["futures"].axes["macd"].patches) == 60  # one histogram bar per bar
    # history has ts_init == ts_event: no stream latency to show, and the chart says so
    assert by_name["microstructure"].missing == [
        "latency_ms: stream latency (collect's metrics.json, or trades recorded live)"]
    texts = [t.get_text() for t in by_name["microstructure"].axes["latency_ms"].texts]
    assert texts and texts[0].startswith("missing: stream latency")
    # an hour holds 4 quarter-hours and 1 hour: too few for a rolling window, so those lines are not listed
    assert {c.name: c.missing for c in charts if c.missing and c.name != "microstructure"} == {
        "correlation": ["rolling correlation at 15min, 1h: undefined (too few buckets, or returns that do not vary)"]}


def test_missing_panels_render_a_note(catalog: Path, tmp_path: Path) -> None:
    data = sources.from_catalog(catalog)
    data.open_interest = data.funding = data.mark = None
    data.spot = None
    futures = CHARTS["futures"](data)
    assert futures.missing == ["open_interest: open interest (collect open_interest_hist / ingest open_interest)"]
    assert "missing: open interest" in futures.axes["open_interest"].texts[0].get_text()
    basis = CHARTS["basis"](data)
    assert [m.split(":")[0] for m in basis.missing] == ["basis_bps", "premium_pct", "funding_rate_pct"]
    spot = CHARTS["spot"](data)
    assert len(spot.missing) == 3
    for chart in (futures, basis, spot):
        check_png(chart.save(tmp_path / f"{chart.name}.png"))


def test_collect_plots_draws_every_chart(collected) -> None:
    out, proc = collected
    assert proc.returncode == 0, proc.stderr[-2000:]
    for name in PANELS:
        check_png(out / "plots" / f"{name}.png")
        assert f"{out}/plots/{name}.png" in proc.stdout
    data = sources.from_collect(out)
    assert data.ticker is not None and data.latency is not None and len(data.latency) >= 1
    micro = CHARTS["microstructure"](data)
    assert micro.missing == [] and micro.axes["latency_ms"].get_lines()
    assert len(data.spot) == len(data.futures) == 1000 and data.open_interest is not None


def test_orderflow_buckets_agree_with_the_orderflow_engine(catalog: Path) -> None:
    table = sources.catalog_exact(catalog, "BTCUSDT", "futures")[0].table
    flow = flow_buckets(sources.from_catalog(catalog).trades["futures"], "1min")
    engine = TakerFlow(bucket_ns=60 * 10**9, scale=10**7)  # price 2 decimals x qty 3 decimals = 10**5
    amounts = pc.multiply(table["price"], table["qty"]).to_pylist()
    closed = engine.on_trades(zip(table["trade_id"].to_pylist(), (t * 10**6 for t in table["time_ms"].to_pylist()),
                                  (int(a * 10**7) for a in amounts), table["buyer_taker"].to_pylist()))
    closed.append(engine.bucket())
    exact = pd.DataFrame({"buy": [float(b.buy) for b in closed], "sell": [float(b.sell) for b in closed]},
                         index=pd.to_datetime([b.start_ns for b in closed], unit="ns", utc=True))
    got = flow.loc[exact.index, ["buy", "sell"]]
    assert np.allclose(got.to_numpy(), exact.to_numpy(), rtol=1e-12)
    assert flow["cumulative_delta"].iloc[-1] == pytest.approx(float(closed[-1].cumulative), rel=1e-9)


# -- reconciliation -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("market", ["spot", "futures"])
def test_a_clean_span_matches_100_percent(catalog: Path, market: str) -> None:
    trades, klines = sources.catalog_exact(catalog, "BTCUSDT", market)
    rec = reconcile.reconcile(trades, klines, "BTCUSDT", market)
    s = rec.summary
    assert rec.clean and s["match_rate"] == 1.0 and s["bars_compared"] == 60
    assert s["span"] == {"first_bar": "2024-08-08T23:00:00Z", "last_bar": "2024-08-08T23:59:00Z"}
    assert s["taker_buy_quote_check"] == {"bars_checked": 60, "bars_equal": 60, "exact": True, "mismatches": []}
    assert set(s["max_abs_diff"].values()) <= {"0.00", "0.000", "0.00000", "0E-7", "0E-8", "0.0000000"} or \
        all(Decimal(v) == 0 for v in s["max_abs_diff"].values())


def plant(trades: sources.ExactTrades, row: int, column: str, delta: str) -> None:
    t = trades.table
    values = t[column].to_pylist()
    values[row] += Decimal(delta)
    trades.table = t.set_column(t.schema.get_field_index(column), column, pa.array(values, t[column].type))


def test_planted_differences_are_found(catalog: Path) -> None:
    trades, klines = sources.catalog_exact(catalog, "BTCUSDT", "futures")
    t = trades.table
    buyer_rows = np.flatnonzero(t["buyer_taker"].to_numpy(zero_copy_only=False))
    row = int(buyer_rows[len(buyer_rows) // 4])  # a buyer-taker trade early in the span
    bar = pd.Timestamp(t["time_ms"][row].as_py() // 60_000 * 60_000, unit="ms", tz="UTC")
    price = t["price"][row].as_py()
    plant(trades, row, "qty", "0.001")  # one trade's size one step off
    # and one whole minute of trades lost
    lost = pd.Timestamp("2024-08-08T23:30:00Z")
    ms = pc.cast(t["time_ms"], pa.int64())
    lo = int(lost.value // 10**6)
    keep = pc.or_(pc.less(ms, lo), pc.greater_equal(ms, lo + 60_000))
    trades.table = trades.table.filter(keep)
    rec = reconcile.reconcile(trades, klines, "BTCUSDT", "futures")
    s = rec.summary
    assert not rec.clean
    assert s["mismatched_bars"] == [bar.isoformat().replace("+00:00", "Z")]
    assert s["missing_in_stream"] == ["2024-08-08T23:30:00Z"]
    assert s["bars_matched"] == 58 and s["match_rate"] == round(58 / 60, 6)
    assert Decimal(s["max_abs_diff"]["volume"]) == Decimal("0.001")
    assert Decimal(s["max_abs_diff"]["open"]) == 0
    q = s["taker_buy_quote_check"]
    assert q["bars_checked"] == 59 and q["bars_equal"] == 58 and not q["exact"]
    (mismatch,) = q["mismatches"]
    assert Decimal(mismatch["aggtrades_sum"]) - Decimal(mismatch["kline_Q"]) == price * Decimal("0.001")
    assert s["aggtrade_id_gaps"]  # the lost minute shows as a hole in the aggTrade ids
    text = reconcile.table_text(rec)
    assert "DIFFERS" in text and "missing stream" in text and "58/60 bars match" in text
    chart = reconcile.difference_chart(rec)
    assert list(chart.axes) == ["price_diff", "volume_diff", "taker_buy_quote_diff", "status"]


def test_spans_far_apart_compare_only_their_own_bars(catalog: Path) -> None:
    """A catalog whose trades hold two spans years apart (ingested history, then a recording that skipped the
    gap) compares the bars of each span: not every minute between them (the README's ingest -> record ->
    report took minutes drawing ~1.2M empty bars), and the ids between the spans are no 'gap' of either."""
    trades, klines = sources.catalog_exact(catalog, "BTCUSDT", "futures")
    t = trades.table
    ms = t["time_ms"].to_numpy()
    half = 30 * 60_000 + int(ms.min()) // 60_000 * 60_000
    later = 800 * 86_400_000  # the second span: the same half hour ~2.2 years on, ids shifted past a gap
    first, second = t.filter(pc.less(t["time_ms"], half)), t.filter(pc.greater_equal(t["time_ms"], half))
    second = second.set_column(0, "time_ms", pc.add(second["time_ms"], later))
    second = second.set_column(1, "trade_id", pc.add(second["trade_id"], 10**9))
    lo, hi = trades.covered
    spans = [(lo, half - 1), (half + later, hi + later)]
    moved = sources.ExactTrades(pa.concat_tables([first, second]), trades.source, (lo, hi + later), spans)
    k = klines.table
    shifted = pc.if_else(pc.greater_equal(k["open_ms"], half), pc.add(k["open_ms"], later), k["open_ms"])
    klines.table = k.set_column(k.schema.get_field_index("open_ms"), "open_ms", shifted)
    rec = reconcile.reconcile(moved, klines, "BTCUSDT", "futures")
    s = rec.summary
    assert s["bars"] == 60 and s["bars_compared"] == 60 and rec.clean, s
    assert s["aggtrade_id_gaps"] == []
    reconcile.difference_chart(rec)


def test_reconcile_from_stream_frames(catalog: Path, tmp_path: Path) -> None:
    """A JSON Lines capture of combined-stream aggTrade frames against the catalog's klines."""
    t = sources.catalog_exact(catalog, "BTCUSDT", "spot", start_ns=None)[0].table
    frames = tmp_path / "frames.jsonl"
    with frames.open("w") as f:
        f.write('{"result":null,"id":1}\n')  # a subscription reply: skipped
        for i, (a, p, q, ts, buyer) in enumerate(zip(t["trade_id"].to_pylist(), t["price"].to_pylist(),
                                                     t["qty"].to_pylist(), t["time_ms"].to_pylist(),
                                                     t["buyer_taker"].to_pylist())):
            data = {"e": "aggTrade", "E": ts + 3, "s": "BTCUSDT", "a": a, "p": f"{p:.8f}", "q": f"{q:.8f}",
                    "f": a, "l": a, "T": ts, "m": not buyer, "M": True}
            f.write(json.dumps({"stream": "btcusdt@aggTrade", "data": data}) + "\n")
    trades = sources.stream_frames_exact(frames, "spot", "BTCUSDT")
    assert trades.table.num_rows == t.num_rows
    klines = sources.catalog_exact(catalog, "BTCUSDT", "spot")[1]
    rec = reconcile.reconcile(trades, klines, "BTCUSDT", "spot")
    # frames carry no coverage: the first and last (possibly partial) minutes are left out
    assert rec.clean and rec.summary["bars_compared"] == 58


# -- command line -------------------------------------------------------------------------------------------


def test_report_reconcile_cli_clean_then_planted(catalog: Path, tmp_path: Path) -> None:
    proc = main("report", "reconcile", "--catalog", str(catalog), "--out", str(tmp_path / "clean"))
    assert proc.returncode == 0, proc.stderr
    assert "60/60 bars match (100.00%)" in proc.stdout
    summary = json.loads((tmp_path / "clean" / "reconcile_BTCUSDT_futures.json").read_text())
    assert summary["match_rate"] == 1.0
    check_png(tmp_path / "clean" / "reconcile_BTCUSDT_futures.png")
    assert len(pd.read_csv(tmp_path / "clean" / "reconcile_BTCUSDT_futures.csv")) == 60
    # plant a different Q in one kline's stats, as a corrupted REST answer would
    tampered = tmp_path / "tampered"
    shutil.copytree(catalog, tampered)
    (stats,) = (tampered / "data" / "custom_kline_stats" / "BTCUSDT-PERP.BINANCE-1-MINUTE-LAST-EXTERNAL").glob("*.parquet")
    table = pq.read_table(stats)
    q = table["taker_buy_quote_volume_str"].to_pylist()
    q[7] = str(Decimal(q[7]) + Decimal("0.01"))
    pq.write_table(table.set_column(table.schema.get_field_index("taker_buy_quote_volume_str"),
                                    "taker_buy_quote_volume_str", pa.array(q)), stats)
    proc = main("report", "reconcile", "--catalog", str(tampered), "--out", str(tmp_path / "bad"))
    assert proc.returncode == 1, proc.stderr
    assert "59/60 bars match" in proc.stdout and "DIFFERS" in proc.stdout
    summary = json.loads((tmp_path / "bad" / "reconcile_BTCUSDT_futures.json").read_text())
    (m,) = summary["taker_buy_quote_check"]["mismatches"]
    assert m["bar"] == "2024-08-08T23:07:00Z" and Decimal(m["kline_Q"]) == Decimal(q[7])
    assert Decimal(m["aggtrades_sum"]) == Decimal(q[7]) - Decimal("0.01")


def test_plot_cli_and_example_configs(catalog: Path, collected, tmp_path: Path) -> None:
    out, _ = collected
    proc = main("plot", "configs/plot/from_collect.yaml", "--from-collect", str(out), "--out", str(tmp_path / "c"),
               "--chart", "orderflow", "--market", "spot", "--bucket", "10s")
    assert proc.returncode == 0, proc.stderr
    check_png(tmp_path / "c" / "orderflow.png")
    proc = main("plot", "configs/plot/catalog_futures.yaml", "--catalog", str(catalog), "--start", START, "--end",
               END, "--out", str(tmp_path / "k"))
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.stem for p in (tmp_path / "k").glob("*.png")) == [
        "basis", "correlation", "futures", "microstructure", "orderflow"]
    proc = main("report", "reconcile", "configs/report/reconcile_futures.yaml", "--catalog", str(catalog),
               "--start", START, "--end", END, "--out", str(tmp_path / "r"))
    assert proc.returncode == 0, proc.stderr


# -- what a user sees: no data, partial data, readable charts ------------------------------------------------


@pytest.mark.parametrize("args, missing", [
    (["--symbol", "ETHUSDT"], "holds no ETHUSDT data"),
    (["--start", "2025-01-01", "--end", "2025-01-02"], "holds no BTCUSDT data between 2025-01-01 and 2025-01-02"),
])
def test_plot_without_data_says_what_fills_it(catalog: Path, tmp_path: Path, args: list[str], missing: str) -> None:
    proc = main("plot", "--catalog", str(catalog), *args, "--out", str(tmp_path / "p"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert missing in line and "fill it: python -m framework.main ingest --market spot" in line
    assert "--market futures" in line and "agg_trades" in line
    assert not list(tmp_path.glob("p/*.png"))  # no blank charts


def test_a_chart_without_any_data_is_not_written(catalog: Path, tmp_path: Path) -> None:
    data = sources.from_catalog(catalog)
    data.spot = None
    spot, futures = draw_charts(data, ["spot", "futures"], tmp_path)
    assert spot.empty and spot.path is None and not (tmp_path / "spot.png").exists()
    assert spot.needs == [("spot", "klines")]
    assert futures.path == tmp_path / "futures.png" and not futures.empty


def test_plot_partial_data_prints_warnings(catalog: Path, tmp_path: Path) -> None:
    proc = main("plot", "--catalog", str(catalog), "--chart", "microstructure", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "warning: microstructure drawn, missing latency_ms" in proc.stderr
    check_png(tmp_path / "microstructure.png")


def _inside_figure(chart, axes) -> None:
    chart.figure.canvas.draw()
    renderer = chart.figure.canvas.get_renderer()
    width = chart.figure.bbox.width
    for label in axes.get_yticklabels():
        if label.get_text():
            box = label.get_window_extent(renderer)
            assert 0 <= box.x0 and box.x1 <= width, (label.get_text(), box)


def test_price_labels_are_whole_and_inside_the_figure(catalog: Path) -> None:
    data = sources.from_catalog(catalog)
    for name in ("spot", "futures"):
        chart = CHARTS[name](data)
        ax = chart.axes["price"]
        _inside_figure(chart, ax)
        texts = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
        # the whole price, grouped: 61,650 (not "6165" cut at the figure's edge, not an offset)
        assert texts and all(len(t.replace(",", "").split(".")[0]) == 5 and "," in t for t in texts), texts
        assert ax.yaxis.get_offset_text().get_text() == ""
        chart.close()


def test_orderflow_picks_a_bucket_from_the_span(catalog: Path) -> None:
    """Twenty seconds of trades (a collect run holds about that much): 1 s buckets, lines that draw."""
    data = sources.from_catalog(catalog)
    trades = data.trades["futures"]
    data.trades["futures"] = trades[trades.index < trades.index[0] + pd.Timedelta(seconds=20)]
    chart = CHARTS["orderflow"](data)
    assert "per 1s" in chart.figure._suptitle.get_text()
    assert 10 <= len(chart.data) <= 21 and chart.missing == []
    for line in chart.axes["taker_volume"].get_lines():
        assert np.isfinite(line.get_ydata()).sum() >= 10
    chart.close()
    # a bucket that holds every trade is drawn (a marked point) and says which bucket shows more
    chart = CHARTS["orderflow"](data, bucket="1h")
    assert len(chart.data) == 1 and chart.axes["price"].get_lines()[0].get_marker() == "o"
    assert chart.missing == ["flow: every trade falls in one 1h bucket (they span about 20s); --bucket 1s shows "
                             "the flow"]
    assert [t.get_text() for t in chart.axes["delta"].get_legend().get_texts()] == ["buy - sell > 0",
                                                                                    "buy - sell < 0"]
    lo, hi = chart.axes["price"].get_xlim()
    assert (hi - lo) * 24 < 3  # the bucket and half a bucket either side, not days
    chart.close()


def test_microstructure_time_axis_and_price_read_plainly() -> None:
    """Half a minute of ticker frames moving a few dollars: ticks in seconds, the price as itself."""
    idx = pd.date_range("2024-08-08 12:00:00", periods=30, freq="1s", tz="UTC")
    data = sources.MarketData("BTCUSDT", "collect outputs")
    data.ticker = pd.DataFrame({"price": 61680 + np.linspace(0, 1.5, 30), "volume": 7236 + np.linspace(0, 2, 30)},
                               index=idx)
    data.latency = pd.Series(np.arange(30.0), index=idx)
    chart = CHARTS["microstructure"](data)
    chart.figure.canvas.draw()
    ticks = [t.get_text() for t in chart.axes["latency_ms"].get_xticklabels() if t.get_text()]
    assert len(ticks) >= 3 and len(set(ticks)) == len(ticks), ticks
    assert all(t.startswith("12:00:") for t in ticks), ticks
    assert chart.axes["latency_ms"].get_xlabel() == "2024-08-08 (UTC)"  # the day, once, and the right one
    price = chart.axes["price"]
    assert price.yaxis.get_offset_text().get_text() == ""
    labels = [float(t.get_text().replace(",", "")) for t in price.get_yticklabels() if t.get_text()]
    assert labels and all(61_679 <= v <= 61_682 for v in labels), labels  # the price itself, not 0..1.5
    chart.close()


def test_correlation_legend_lists_only_lines_that_draw() -> None:
    """Sixteen hours where the futures' hourly closes never change: no 1h rolling correlation to draw."""
    rng = np.random.default_rng(3)
    idx = pd.date_range("2024-08-08", periods=16 * 60, freq="1min", tz="UTC")
    spot = pd.Series(60_000 * np.exp(np.cumsum(rng.normal(0, 1e-4, len(idx)))), index=idx)
    fut = spot * (1 + rng.normal(0, 1e-5, len(idx)))
    fut[idx.minute == 59] = 60_000.0
    bars = {name: pd.DataFrame({"open": s, "high": s, "low": s, "close": s, "volume": 1.0}) for name, s in
            (("spot", spot), ("futures", fut))}
    data = sources.MarketData("BTCUSDT", "test", spot=bars["spot"], futures=bars["futures"])
    chart = CHARTS["correlation"](data)
    ax = chart.axes["rolling_correlation"]
    entries = [t.get_text() for t in ax.get_legend().get_texts()]
    assert entries and not any(e.startswith("1h") for e in entries), entries
    for line in ax.get_lines():
        y = np.isfinite(np.asarray(line.get_ydata(), dtype=float))
        assert (y[1:] & y[:-1]).any(), line.get_label()
    assert any(m.startswith("rolling correlation at 1h: undefined") for m in chart.missing)
    chart.close()


def test_reconcile_statuses_have_their_own_colours(catalog: Path) -> None:
    trades, klines = sources.catalog_exact(catalog, "BTCUSDT", "futures")
    chart = reconcile.difference_chart(reconcile.reconcile(trades, klines, "BTCUSDT", "futures"))
    handles = chart.axes["status"].get_legend().legend_handles
    colours = [tuple(h.get_facecolor()) for h in handles]
    assert [h.get_label() for h in handles] == ["match (60)", "differs (0)", "missing (0)"]
    assert len(set(colours)) == 3
    assert tuple(chart.axes["status"].patches[0].get_facecolor()) == colours[0]
    chart.close()


def test_titles_name_a_catalog_once(catalog: Path, tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "catalog").symlink_to(catalog)
    monkeypatch.chdir(tmp_path)
    data = sources.from_catalog("catalog")
    assert data.source == "catalog"
    title = CHARTS["futures"](data).figure._suptitle.get_text()
    assert "catalog catalog" not in title and title.endswith("(1m bars; catalog)")
    assert sources.describe("catalog", "/data/btc") == "catalog /data/btc"


def test_report_without_data_says_what_fills_it(catalog: Path) -> None:
    proc = main("report", "reconcile", "--catalog", str(catalog), "--symbol", "ETHUSDT")
    assert proc.returncode == 1
    (line,) = proc.stderr.strip().splitlines()
    assert "holds no ETHUSDT futures aggTrades" in line
    assert "python -m framework.main ingest --market futures --symbols ETHUSDT --kinds agg_trades,klines" in line
