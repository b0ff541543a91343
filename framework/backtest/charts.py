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
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

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


#: Marker series of the candle chart: (label, marker, face colour, edge colour). Buys point up, sells down;
#: an entry (a fill that opens or adds to a position, a flip included) is filled, an exit hollow.
MARKERS = {
    ("buy", "entry"): ("^", "green", "green"),
    ("buy", "exit"): ("^", "none", "green"),
    ("sell", "entry"): ("v", "red", "red"),
    ("sell", "exit"): ("v", "none", "red"),
}
#: mplfinance's yahoo style asks a "semibold" title, which DejaVu Sans lacks (matplotlib warns on every chart).
STYLE = mpf.make_mpf_style(base_mpf_style="yahoo", rc={"figure.titleweight": "bold"})


def fill_roles(fills: list[Fill]) -> list[tuple[str, str]]:
    """``(buy|sell, entry|exit)`` of each fill of one instrument, in order: an exit reduces the position
    without crossing zero; anything else (opening, adding, flipping) is an entry."""
    roles, position = [], 0.0
    for f in fills:
        after = position + f.signed_qty
        is_exit = position != 0 and abs(after) < abs(position) and after * position >= 0
        roles.append(("buy" if f.signed_qty > 0 else "sell", "exit" if is_exit else "entry"))
        position = after
    return roles


def candle_figure(ohlc: pd.DataFrame, fills: list[Fill], title: str) -> tuple[Figure, list[Axes]]:
    """``ohlc``: Open/High/Low/Close/Volume indexed by bar close (UTC). Each fill is a marker at its fill price
    on the candle it happened in (see ``MARKERS``), with a legend."""
    data = _resample(ohlc)
    data.index = data.index.tz_convert(None)
    series = {key: pd.Series(np.nan, index=data.index) for key in MARKERS}
    for f, role in zip(fills, fill_roles(fills), strict=True):
        when = pd.Timestamp(f.ts, unit="ns")
        at = min(data.index.searchsorted(when), len(data.index) - 1)  # the candle closing at or after the fill
        series[role].iloc[at] = f.price
    plots = [mpf.make_addplot(s, type="scatter", marker=MARKERS[key][0], color=MARKERS[key][1],
                              edgecolors=MARKERS[key][2], markersize=60, label=f"{key[0]} ({key[1]})")
             for key, s in series.items() if s.notna().any()]
    fig, axes = mpf.plot(data, type="candle", style=STYLE, addplot=plots, title=title, volume=True,
                         figsize=(14, 7), warn_too_much_data=MAX_CANDLES * 2, returnfig=True)
    if plots:
        axes[0].legend(loc="upper left", fontsize="small")
    return fig, axes


def candles(ohlc: pd.DataFrame, fills: list[Fill], title: str, path: Path) -> None:
    """The candle chart of :func:`candle_figure` as a PNG at ``path``."""
    fig, _ = candle_figure(ohlc, fills, title)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def equity(curve: pd.DataFrame, title: str, path: Path) -> None:
    """The equity curve over its drawdown (%) as a PNG at ``path`` (``curve``: ``reports.equity_curve``'s
    frame)."""
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
