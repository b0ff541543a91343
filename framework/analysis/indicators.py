"""Technical indicators as vectorised pandas (no Python loops): the one implementation the PNG dashboards, the web
workstation (`framework/web/studies.py`) and strategies share."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: The timescales of the spot/futures correlation dashboard (pandas offsets).
TIMESCALES = ("1min", "5min", "15min", "1h")


def sma(close: pd.Series, n: int) -> pd.Series:
    """Simple moving average over ``n`` rows."""
    return close.rolling(n, min_periods=n).mean()


def ema(close: pd.Series, n: int) -> pd.Series:
    """Exponential moving average with span ``n`` (alpha = 2 / (n + 1)), seeded by the first value."""
    return close.ewm(span=n, adjust=False, min_periods=n).mean()


def vwap(bars: pd.DataFrame) -> pd.Series:
    """Volume-weighted average of the typical price (h + l + c) / 3, reset at each UTC day."""
    typical = (bars["high"] + bars["low"] + bars["close"]) / 3
    day = bars.index.floor("1D")
    pv = (typical * bars["volume"]).groupby(day).cumsum()
    vol = bars["volume"].groupby(day).cumsum()
    return pv / vol.replace(0, np.nan)


def rsi(close: pd.Series, n: int = 14) -> pd.Series:
    """Wilder's relative strength index (0..100)."""
    delta = close.diff()
    gain = delta.clip(lower=0).ewm(alpha=1 / n, adjust=False, min_periods=n).mean()
    loss = (-delta).clip(lower=0).ewm(alpha=1 / n, adjust=False, min_periods=n).mean()
    rs = gain / loss
    out = 100 - 100 / (1 + rs)
    return out.where(loss != 0, 100.0).where(gain.notna())


def macd(close: pd.Series, fast: int = 12, slow: int = 26, signal: int = 9) -> pd.DataFrame:
    """MACD line (EMA fast - EMA slow), its signal EMA and the histogram."""
    line = close.ewm(span=fast, adjust=False).mean() - close.ewm(span=slow, adjust=False).mean()
    sig = line.ewm(span=signal, adjust=False).mean()
    return pd.DataFrame({"macd": line, "signal": sig, "hist": line - sig})


def basis_bps(futures: pd.Series, spot: pd.Series) -> pd.Series:
    """Futures minus spot in basis points of spot, on the common timestamps."""
    f, s = futures.align(spot, join="inner")
    return (f - s) / s * 10_000


def premium_pct(mark: pd.Series, index: pd.Series) -> pd.Series:
    """Mark over index price, in percent."""
    m, i = mark.align(index, join="inner")
    return (m - i) / i * 100


def log_returns(close: pd.Series, rule: str) -> pd.Series:
    """Log returns of the last price per ``rule`` bucket."""
    last = close.resample(rule).last().dropna()
    return np.log(last).diff().dropna()


def correlation_beta(spot: pd.Series, futures: pd.Series, scales: tuple[str, ...] = TIMESCALES) -> pd.DataFrame:
    """Per timescale: correlation of spot and futures log returns, beta of futures on spot, and the sample size."""
    rows = {}
    for rule in scales:
        s, f = log_returns(spot, rule).align(log_returns(futures, rule), join="inner")
        var = s.var()
        rows[rule] = {
            "corr": s.corr(f) if len(s) > 2 else np.nan,
            "beta": s.cov(f) / var if len(s) > 2 and var > 0 else np.nan,
            "n": len(s),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def rolling_correlation(spot: pd.Series, futures: pd.Series, rule: str, window: int) -> pd.Series:
    """Rolling correlation of spot and futures log returns at ``rule`` over ``window`` buckets."""
    s, f = log_returns(spot, rule).align(log_returns(futures, rule), join="inner")
    return s.rolling(window, min_periods=max(3, window // 2)).corr(f)


def bollinger(close: pd.Series, n: int = 20, k: float = 2.0) -> pd.DataFrame:
    """Bollinger bands: the ``n``-row SMA (``middle``) and ``k`` population standard deviations either side."""
    middle = sma(close, n)
    spread = k * close.rolling(n, min_periods=n).std(ddof=0)
    return pd.DataFrame({"upper": middle + spread, "middle": middle, "lower": middle - spread})


def atr(bars: pd.DataFrame, n: int = 14) -> pd.Series:
    """Wilder's average true range over ``n`` bars (``high``, ``low``, ``close`` columns)."""
    prev = bars["close"].shift()
    true_range = pd.concat([bars["high"] - bars["low"], (bars["high"] - prev).abs(), (bars["low"] - prev).abs()],
                           axis=1).max(axis=1)
    return true_range.ewm(alpha=1 / n, adjust=False, min_periods=n).mean()
