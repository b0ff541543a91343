"""Order-flow chart: taker buy vs sell quote volume per bucket, their difference and the cumulative delta.

Buckets follow ``framework.orderflow``'s semantics (a bucket of length B opening at s, a multiple of B since the
epoch, holds trades with s <= ts < s + B; a buyer-taker trade adds price × size to buy, a seller-taker one to
sell), computed here vectorised over a whole trade history for display. Without a bucket given, the bucket is
chosen from the trades' span (at most ``TARGET_BUCKETS``): 30 s of collected trades get 1 s buckets, two hours 1 m.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.patches import Patch

from framework.analysis.charts import DOWN
from framework.analysis.charts import UP
from framework.analysis.charts import Chart
from framework.analysis.charts import all_missing
from framework.analysis.charts import figure
from framework.analysis.charts import time_axis
from framework.analysis.sources import MarketData
from framework.timeunits import DAY_MS
from framework.timeunits import HOUR_MS
from framework.timeunits import MINUTE_MS
from framework.timeunits import SECOND_MS
from framework.values import BadValue
from framework.values import format_duration_ms
from framework.values import parse_duration_ms

#: Buckets to choose from (ms): the smallest that cuts the span into at most TARGET_BUCKETS is taken.
NICE_BUCKETS_MS = (SECOND_MS, 2 * SECOND_MS, 5 * SECOND_MS, 10 * SECOND_MS, 15 * SECOND_MS, 30 * SECOND_MS,
                   MINUTE_MS, 2 * MINUTE_MS, 5 * MINUTE_MS, 15 * MINUTE_MS, 30 * MINUTE_MS, HOUR_MS, 2 * HOUR_MS,
                   4 * HOUR_MS, 12 * HOUR_MS, DAY_MS)
TARGET_BUCKETS = 120
#: More buckets than this is a mistake (1ms over hours): millions of bars no one can see.
MAX_BUCKETS = 20_000
FEW_BUCKETS = 30  # up to this many, points are marked so that a short line (or one point) shows


def bucket_for(trades: pd.DataFrame, bucket_ms: int | None = None) -> tuple[int, str | None]:
    """The bucket (ms) to draw ``trades`` with, and a note when the chart will say little.

    ``bucket_ms`` None: chosen from the span. A given bucket that makes more than ``MAX_BUCKETS`` is refused
    (``BadValue``); one that holds every trade is drawn, with a note saying which bucket would show more.
    """
    span_ms = int((trades.index.max() - trades.index.min()) / pd.Timedelta(milliseconds=1)) + 1
    fitting = next((b for b in NICE_BUCKETS_MS if span_ms / b <= TARGET_BUCKETS), NICE_BUCKETS_MS[-1])
    if bucket_ms is None:
        return fitting, None
    if span_ms / bucket_ms > MAX_BUCKETS:
        raise BadValue(f"--bucket {format_duration_ms(bucket_ms)}: the trades span {_about(span_ms)}, "
                       f"that is over {MAX_BUCKETS:,} buckets; use {format_duration_ms(fitting)} or leave it out")
    first = trades.index.min().value // 10**6 // bucket_ms
    last = trades.index.max().value // 10**6 // bucket_ms
    if first == last:
        return bucket_ms, (f"every trade falls in one {format_duration_ms(bucket_ms)} bucket (they span "
                           f"{_about(span_ms)}); --bucket {format_duration_ms(fitting)} shows the flow")
    return bucket_ms, None


def flow_buckets(trades: pd.DataFrame, rule: str = "1min") -> pd.DataFrame:
    """Per bucket: ``buy`` and ``sell`` taker quote volume (USDT), ``delta`` = buy - sell, ``cumulative_delta``,
    ``trades`` and the last ``price``. ``trades``: ``price, size, buyer_taker`` indexed by trade time."""
    quote = trades["price"] * trades["size"]
    buyer = trades["buyer_taker"].astype(bool)
    frame = pd.DataFrame({"buy": quote.where(buyer, 0.0), "sell": quote.where(~buyer, 0.0),
                          "price": trades["price"], "trades": 1}, index=trades.index)
    out = frame.resample(rule).agg({"buy": "sum", "sell": "sum", "price": "last", "trades": "sum"})
    out["price"] = out["price"].ffill()
    out["delta"] = out["buy"] - out["sell"]
    out["cumulative_delta"] = out["delta"].cumsum()
    return out


def _about(ms: int) -> str:
    """A span for people: ``about 2h``, ``about 19s`` (whole units, the largest that fits)."""
    unit = next((u for u in (DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS) if ms >= u), 1)
    return f"about {format_duration_ms(round(ms / unit) * unit)}"


def orderflow_chart(data: MarketData, market: str = "futures", bucket: int | str | None = None) -> Chart:
    """Price, taker buy/sell USDT volume per bucket (lines), delta (green/red bars), cumulative delta;
    ``bucket``: ms or a duration (``1m``, ``10s``), None: chosen from the trades' span (``bucket_for``)."""
    bucket_ms = parse_duration_ms(bucket, "bucket") if isinstance(bucket, str) else bucket
    panels = {"price": 1.2, "taker_volume": 1.5, "delta": 1.2, "cumulative_delta": 1.2}
    trades = data.trades.get(market)
    if trades is None or trades.empty:
        chart = figure("orderflow", f"{data.symbol} {market} taker order flow ({data.source})", panels)
        return all_missing(chart, f"{market} aggTrades (collect agg_trades / ingest agg_trades / record)",
                           [(market, "agg_trades")])
    bucket_ms, note = bucket_for(trades, bucket_ms)
    title = f"{data.symbol} {market} taker order flow per {format_duration_ms(bucket_ms)} ({data.source})"
    chart = figure("orderflow", title, panels)
    if note:
        chart.missing.append(f"flow: {note}")
    flow = flow_buckets(trades, f"{bucket_ms}ms")
    width = bucket_ms / DAY_MS * 0.8
    axes = chart.axes
    marker = "o" if len(flow) <= FEW_BUCKETS else None
    axes["price"].plot(flow.index, flow["price"], color="black", linewidth=1.0, marker=marker, markersize=3,
                       label="last price")
    axes["taker_volume"].plot(flow.index, flow["buy"], color=UP, linewidth=1.1, marker=marker, markersize=3,
                              label="taker buy (USDT)")
    axes["taker_volume"].plot(flow.index, flow["sell"], color=DOWN, linewidth=1.1, marker=marker, markersize=3,
                              label="taker sell (USDT)")
    axes["delta"].bar(flow.index, flow["delta"], width=width, align="edge",
                      color=np.where(flow["delta"] >= 0, UP, DOWN))
    axes["delta"].axhline(0, color="grey", linewidth=0.6)
    axes["cumulative_delta"].plot(flow.index, flow["cumulative_delta"], color="navy", linewidth=1.2,
                                  marker=marker, markersize=3, label="cumulative delta")
    axes["cumulative_delta"].axhline(0, color="grey", linewidth=0.6)
    # the buckets and half a bucket either side (one bucket alone would get a span of days)
    step = pd.Timedelta(milliseconds=bucket_ms)
    axes["price"].set_xlim(flow.index[0] - step / 2, flow.index[-1] + step * 1.5)
    # the delta bars take two colours: one legend entry each (a bar container shows only its first colour)
    axes["delta"].legend(handles=[Patch(color=UP, label="buy - sell > 0"), Patch(color=DOWN, label="buy - sell < 0")],
                         loc="upper left", fontsize=7)
    for name in ("price", "taker_volume", "cumulative_delta"):
        axes[name].legend(loc="upper left", fontsize=7)
    time_axis(axes["cumulative_delta"])
    chart.data = flow
    return chart
