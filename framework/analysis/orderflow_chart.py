"""Order-flow chart: taker buy vs sell quote volume per bucket, their difference and the cumulative delta.

Buckets follow ``framework.orderflow``'s semantics (a bucket of length B opening at s, a multiple of B since the
epoch, holds trades with s <= ts < s + B; a buyer-taker trade adds price × size to buy, a seller-taker one to
sell), computed here vectorised over a whole trade history for display.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from framework.analysis.charts import DOWN
from framework.analysis.charts import UP
from framework.analysis.charts import Chart
from framework.analysis.charts import figure
from framework.analysis.charts import all_missing
from framework.analysis.charts import time_axis
from framework.analysis.sources import MarketData


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


def orderflow_chart(data: MarketData, market: str = "futures", rule: str = "1min") -> Chart:
    """Price, taker buy/sell USDT volume per ``rule`` bucket (lines), delta (green/red bars), cumulative delta."""
    chart = figure("orderflow", f"{data.symbol} {market} taker order flow per {rule} ({data.source})",
                   {"price": 1.2, "taker_volume": 1.5, "delta": 1.2, "cumulative_delta": 1.2})
    trades = data.trades.get(market)
    if trades is None or trades.empty:
        return all_missing(chart, f"{market} aggTrades (collect agg_trades / ingest agg_trades / record)")
    flow = flow_buckets(trades, rule)
    width = pd.Timedelta(rule) / pd.Timedelta(days=1) * 0.8
    axes = chart.axes
    axes["price"].plot(flow.index, flow["price"], color="black", linewidth=1.0, label="last price")
    axes["taker_volume"].plot(flow.index, flow["buy"], color=UP, linewidth=1.1, label="taker buy (USDT)")
    axes["taker_volume"].plot(flow.index, flow["sell"], color=DOWN, linewidth=1.1, label="taker sell (USDT)")
    axes["delta"].bar(flow.index, flow["delta"], width=width, align="edge",
                      color=np.where(flow["delta"] >= 0, UP, DOWN), label="buy - sell")
    axes["delta"].axhline(0, color="grey", linewidth=0.6)
    axes["cumulative_delta"].plot(flow.index, flow["cumulative_delta"], color="navy", linewidth=1.2,
                                  label="cumulative delta")
    axes["cumulative_delta"].axhline(0, color="grey", linewidth=0.6)
    for ax in axes.values():
        ax.legend(loc="upper left", fontsize=7)
    time_axis(axes["cumulative_delta"])
    chart.data = flow
    return chart
