"""The five dashboards of the legacy harness, from :class:`~framework.analysis.sources.MarketData`.

=================  =========================================================================================
``spot``           candles + SMA20 / EMA55 / VWAP, RSI(14), volume with its 20-bar mean
``futures``        candles + EMA21 / EMA55 / VWAP, MACD(12, 26, 9), open interest, volume
``basis``          futures - spot in bps with its rolling mean, mark vs index premium %, funding rate
``correlation``    spot / futures log-return correlation and beta at 1m, 5m, 15m, 1h, rolling correlation
``microstructure`` stream price, volume and latency (websocket capture, or the trades of a recording)
=================  =========================================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from framework.analysis import indicators as ind
from framework.analysis.charts import DOWN
from framework.analysis.charts import UP
from framework.analysis.charts import Chart
from framework.analysis.charts import all_missing
from framework.analysis.charts import candles
from framework.analysis.charts import figure
from framework.analysis.charts import placeholder
from framework.analysis.charts import time_axis
from framework.analysis.orderflow_chart import orderflow_chart
from framework.analysis.sources import MarketData

BASIS_MEAN_BARS = 30
VOLUME_MEAN_BARS = 20


def _title(data: MarketData, what: str) -> str:
    return f"{data.symbol} {what} ({data.interval} bars; {data.source})"


def spot_dashboard(data: MarketData) -> Chart:
    """Spot candles with SMA20, EMA55 and VWAP; RSI(14); volume with its mean."""
    chart = figure("spot", _title(data, "spot"), {"price": 3.0, "rsi": 1.0, "volume": 1.2})
    bars = data.spot
    if bars is None or bars.empty:
        return all_missing(chart, "spot klines", [("spot", "klines")])
    close = bars["close"]
    candles(chart.axes["price"], bars, chart.axes["volume"],
            {"SMA20": ind.sma(close, 20), "EMA55": ind.ema(close, 55), "VWAP": ind.vwap(bars)})
    _volume_mean(chart, bars)
    ax = chart.axes["rsi"]
    ax.plot(bars.index, ind.rsi(close, 14), color="purple", linewidth=1.0, label="RSI(14)")
    for level in (30, 70):
        ax.axhline(level, color="grey", linewidth=0.6, linestyle="--")
    ax.set_ylim(0, 100)
    return chart


def futures_dashboard(data: MarketData) -> Chart:
    """Futures candles with EMA21, EMA55 and VWAP; MACD; open interest; volume."""
    chart = figure("futures", _title(data, "USD-M futures"),
                   {"price": 3.0, "macd": 1.0, "open_interest": 1.0, "volume": 1.2})
    bars = data.futures
    if bars is None or bars.empty:
        return all_missing(chart, "futures klines", [("futures", "klines")])
    close = bars["close"]
    candles(chart.axes["price"], bars, chart.axes["volume"],
            {"EMA21": ind.ema(close, 21), "EMA55": ind.ema(close, 55), "VWAP": ind.vwap(bars)})
    _volume_mean(chart, bars)
    m = ind.macd(close)
    ax = chart.axes["macd"]
    ax.bar(bars.index, m["hist"], width=_bar_width(bars.index), color=np.where(m["hist"] >= 0, UP, DOWN))
    ax.plot(bars.index, m["macd"], color="navy", linewidth=1.0, label="MACD")
    ax.plot(bars.index, m["signal"], color="orange", linewidth=1.0, label="signal")
    ax.legend(loc="upper left", fontsize=7)
    oi = _within(data.open_interest, bars.index)
    if oi is None:
        placeholder(chart, "open_interest", "open interest (collect open_interest_hist / ingest open_interest)",
                    [("futures", "open_interest")])
    else:
        chart.axes["open_interest"].plot(oi.index, oi, color="teal", linewidth=1.2, drawstyle="steps-post")
    return chart


def basis_dashboard(data: MarketData) -> Chart:
    """Basis in bps with its rolling mean, mark/index premium in %, funding rate."""
    chart = figure("basis", _title(data, "basis diagnostics"), {"basis_bps": 1.5, "premium_pct": 1.0,
                                                                "funding_rate_pct": 1.0})
    if data.spot is None or data.futures is None:
        placeholder(chart, "basis_bps", "spot and futures klines both needed", _klines_needed(data))
    else:
        basis = ind.basis_bps(data.futures["close"], data.spot["close"])
        ax = chart.axes["basis_bps"]
        ax.plot(basis.index, basis, color="steelblue", linewidth=0.8, label="basis (bps)")
        ax.plot(basis.index, basis.rolling(BASIS_MEAN_BARS, min_periods=1).mean(), color="black", linewidth=1.2,
                label=f"{BASIS_MEAN_BARS}-bar mean")
        ax.axhline(0, color="grey", linewidth=0.6)
        ax.legend(loc="upper left", fontsize=7)
    if data.mark is None or data.index is None:
        placeholder(chart, "premium_pct", "mark and index price klines",
                    [("futures", k) for k, v in (("mark_klines", data.mark), ("index_klines", data.index))
                     if v is None])
    else:
        premium = ind.premium_pct(data.mark, data.index)
        ax = chart.axes["premium_pct"]
        ax.plot(premium.index, premium, color="darkorange", linewidth=0.9, label="(mark - index) / index")
        ax.axhline(0, color="grey", linewidth=0.6)
        ax.legend(loc="upper left", fontsize=7)
    if data.funding is None:
        placeholder(chart, "funding_rate_pct", "funding rate history", [("futures", "funding")])
    else:
        ax = chart.axes["funding_rate_pct"]
        pct = data.funding * 100
        ax.plot(pct.index, pct, color="crimson", marker="o", markersize=3, linewidth=1.0, drawstyle="steps-post")
        ax.axhline(0, color="grey", linewidth=0.6)
    time_axis(chart.axes["funding_rate_pct"])
    return chart


def correlation_dashboard(data: MarketData) -> Chart:
    """Spot/futures log-return correlation and beta per timescale, and the rolling correlation."""
    chart = figure("correlation", _title(data, "spot / futures correlation and beta"),
                   {"correlation": 1.0, "beta": 1.0, "rolling_correlation": 1.4}, sharex=False)
    if data.spot is None or data.futures is None:
        return all_missing(chart, "spot and futures klines both needed", _klines_needed(data))
    spot, fut = data.spot["close"], data.futures["close"]
    step = pd.Timedelta(ind.TIMESCALES[0]) if len(spot) < 2 else spot.index.to_series().diff().min()
    scales = tuple(s for s in ind.TIMESCALES if pd.Timedelta(s) >= step)
    too_fine = [s for s in ind.TIMESCALES if s not in scales]
    table = ind.correlation_beta(spot, fut, scales)
    labels = [f"{s}\n(n={int(n)})" for s, n in zip(table.index, table["n"])]
    for panel, color in (("correlation", "steelblue"), ("beta", "darkorange")):
        ax = chart.axes[panel]
        values = table["corr" if panel == "correlation" else "beta"]
        ax.bar(labels, values.fillna(0), color=color)
        for x, v in enumerate(values):
            ax.annotate("n/a" if pd.isna(v) else f"{v:.3f}", (x, 0 if pd.isna(v) else v), ha="center",
                        va="bottom", fontsize=8)
        ax.axhline(1.0, color="grey", linewidth=0.6, linestyle="--")
        ax.axhline(0.0, color="grey", linewidth=0.6)
        if panel == "correlation":
            ax.set_ylim(-1.05, 1.15)
    if too_fine:
        chart.missing.append(f"timescales {', '.join(too_fine)}: finer than the {data.interval} bars")
    ax = chart.axes["rolling_correlation"]
    drawn = 0
    undefined = []
    for rule in scales:
        # two hours of buckets, fewer when the data is shorter (half of what there is)
        buckets = len(ind.log_returns(spot, rule))
        window = max(5, min(int(pd.Timedelta("2h") / pd.Timedelta(rule)), buckets // 2))
        rolling = ind.rolling_correlation(spot, fut, rule, window)
        # a line needs two neighbouring values to show: listing one that draws nothing misleads
        if (rolling.notna() & rolling.shift().notna()).any():
            ax.plot(rolling.index, rolling, linewidth=1.0, label=f"{rule} returns, {window}-bucket window")
            drawn += 1
        else:
            undefined.append(rule)
    if drawn:
        ax.legend(loc="lower left", fontsize=7)
        ax.set_ylim(-1.05, 1.05)
        time_axis(ax)
        if undefined:
            chart.missing.append(f"rolling correlation at {', '.join(undefined)}: undefined (too few buckets, "
                                 "or returns that do not vary)")
    else:
        placeholder(chart, "rolling_correlation", "enough overlapping bars for a rolling window")
    return chart


def microstructure_dashboard(data: MarketData) -> Chart:
    """Stream price, volume and latency: the websocket capture, else the trades of a recording."""
    chart = figure("microstructure", f"{data.symbol} websocket microstructure ({data.source})",
                   {"price": 1.5, "volume": 1.0, "latency_ms": 1.0})
    trades = data.trades.get("futures", data.trades.get("spot"))
    if data.ticker is not None and not data.ticker.empty:
        t = data.ticker
        chart.axes["price"].plot(t.index, t["price"], color="black", linewidth=1.0, marker=".", label="last price")
        chart.axes["volume"].plot(t.index, t["volume"], color="steelblue", linewidth=1.0, marker=".",
                                  label="rolling-window volume")
        chart.axes["price"].legend(loc="upper left", fontsize=7)
        chart.axes["volume"].legend(loc="upper left", fontsize=7)
    elif trades is not None and not trades.empty:
        per_second = trades.resample("1s").agg({"price": "last", "size": "sum"})
        chart.axes["price"].plot(per_second.index, per_second["price"].ffill(), color="black", linewidth=0.8,
                                 label="last trade price (1s)")
        chart.axes["volume"].fill_between(per_second.index, per_second["size"], step="post", color="steelblue",
                                          label="traded volume per second")
    else:
        needs = [("futures", "agg_trades")]
        placeholder(chart, "price", "stream capture or trades", needs)
        placeholder(chart, "volume", "stream capture or trades", needs)
    latency = data.latency
    if latency is None or latency.empty:
        placeholder(chart, "latency_ms", "stream latency (collect's metrics.json, or trades recorded live)")
    else:
        ax = chart.axes["latency_ms"]
        ax.plot(latency.index, latency, color="crimson", linewidth=0.8, marker=".", label="receive - event time")
        ax.axhline(latency.median(), color="black", linewidth=0.8, linestyle="--",
                   label=f"median {latency.median():.0f} ms")
        ax.legend(loc="upper left", fontsize=7)
    time_axis(chart.axes["latency_ms"])
    return chart


def _klines_needed(data: MarketData) -> list[tuple[str, str]]:
    return [(m, "klines") for m, bars in (("spot", data.spot), ("futures", data.futures)) if bars is None]


def _volume_mean(chart: Chart, bars: pd.DataFrame) -> None:
    ax = chart.axes["volume"]
    ax.plot(bars.index, bars["volume"].rolling(VOLUME_MEAN_BARS, min_periods=1).mean(), color="black",
            linewidth=1.0, label=f"{VOLUME_MEAN_BARS}-bar mean")
    ax.legend(loc="upper left", fontsize=7)
    ax.set_ylabel("volume")


def _bar_width(index: pd.DatetimeIndex) -> float:
    """Bar width in days (matplotlib's date unit): 80 % of the bar spacing."""
    if len(index) < 2:
        return 1 / 1440
    return float(index.to_series().diff().median() / pd.Timedelta(days=1)) * 0.8


def _within(series: pd.Series | None, index: pd.DatetimeIndex) -> pd.Series | None:
    """``series`` cut to the bars' span (None when nothing is left)."""
    if series is None or len(index) == 0:
        return None
    cut = series[(series.index >= index[0]) & (series.index <= index[-1])]
    return cut if not cut.empty else None


DASHBOARDS: dict[str, Callable[[MarketData], Chart]] = {
    "spot": spot_dashboard,
    "futures": futures_dashboard,
    "basis": basis_dashboard,
    "correlation": correlation_dashboard,
    "microstructure": microstructure_dashboard,
}

#: Every chart ``plot`` draws, by its ``--chart`` name.
CHARTS: dict[str, Callable[..., Chart]] = {**DASHBOARDS, "orderflow": orderflow_chart}


def draw_charts(data: MarketData, names: Iterable[str], out: str | Path, log: Callable[[str], None] | None = None,
                options: dict[str, dict[str, Any]] | None = None) -> list[Chart]:
    """Draw the named charts of ``data`` into ``<out>/<name>.png``; ``options``: keyword arguments by chart
    name (e.g. ``{"orderflow": {"market": "spot"}}``); ``log`` gets one line per chart. A chart with no data
    in any panel is not written (``chart.empty``, ``chart.path`` None): a PNG of notes helps no one."""
    drawn = []
    for name in names:
        chart = CHARTS[name](data, **(options or {}).get(name, {}))
        note = f" (missing {chart.notes()})" if chart.missing else ""
        if chart.empty:
            chart.close()
            line = f"{name:<15} not drawn{note}"
        else:
            line = f"{name:<15} {chart.save(Path(out) / f'{name}.png')}{note}"
        if log is not None:
            log(line)
        drawn.append(chart)
    return drawn
