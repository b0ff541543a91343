"""Run charts (PNG, matplotlib's Agg backend): candles with entry/exit markers (mplfinance) and equity with
drawdown."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import mplfinance as mpf  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from framework.backtest.reports import Fill  # noqa: E402

#: Candles drawn at most; longer runs are resampled to a coarser period so the chart stays readable.
MAX_CANDLES = 600


def _resample(ohlc: pd.DataFrame) -> pd.DataFrame:
    if len(ohlc) <= MAX_CANDLES:
        return ohlc
    step = (ohlc.index[-1] - ohlc.index[0]) / MAX_CANDLES
    rule = pd.tseries.frequencies.to_offset(pd.Timedelta(minutes=max(1, int(np.ceil(step / pd.Timedelta("1min"))))))
    agg = {"Open": "first", "High": "max", "Low": "min", "Close": "last", "Volume": "sum"}
    return ohlc.resample(rule, label="right", closed="right").agg(agg).dropna()


def candles(ohlc: pd.DataFrame, fills: list[Fill], title: str, path: Path) -> None:
    """``ohlc``: Open/High/Low/Close/Volume indexed by bar close (UTC). Buys: green ^ under the candle;
    sells: red v above it."""
    data = _resample(ohlc)
    data.index = data.index.tz_convert(None)
    buys = pd.Series(np.nan, index=data.index)
    sells = pd.Series(np.nan, index=data.index)
    pad = (data["High"] - data["Low"]).median() or float(data["Close"].iloc[-1]) * 1e-3
    for f in fills:
        when = pd.Timestamp(f.ts, unit="ns")
        at = min(data.index.searchsorted(when), len(data.index) - 1)
        if f.signed_qty > 0:
            buys.iloc[at] = data["Low"].iloc[at] - pad
        else:
            sells.iloc[at] = data["High"].iloc[at] + pad
    plots = [mpf.make_addplot(s, type="scatter", marker=m, color=c, markersize=60)
             for s, m, c in ((buys, "^", "green"), (sells, "v", "red")) if s.notna().any()]
    mpf.plot(data, type="candle", style="yahoo", addplot=plots, title=title, volume=True, figsize=(14, 7),
             savefig={"fname": str(path), "dpi": 90}, warn_too_much_data=MAX_CANDLES * 2)
    plt.close("all")


def equity(curve: pd.DataFrame, title: str, path: Path) -> None:
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(14, 7), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.plot(curve.index, curve["equity"], color="tab:blue", lw=1)
    top.set_ylabel("equity")
    top.set_title(title)
    top.grid(alpha=0.3)
    bottom.fill_between(curve.index, curve["drawdown"] * 100, 0, color="tab:red", alpha=0.4)
    bottom.set_ylabel("drawdown %")
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
