"""The indicators the page offers, one row each: parameters with their bounds, the pane, the lines, and the
``framework.analysis.indicators`` function that computes them (the one implementation the dashboards share).

``compute`` reads the window plus enough bars before it for the indicator to settle (``warmup``) and returns only
the window's points, so a page of bars and its indicators line up.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from framework.analysis import indicators as ind
from framework.timeunits import DAY_MS
from framework.web.api import ApiError
from framework.web.bars import Window
from framework.web.bars import load_bars
from framework.web.catalog_view import CatalogView

#: Bars read before the window per unit of the longest period: the seed of Wilder's smoothing (RSI, ATR: alpha
#: 1/n, the slowest used) then weighs (1 - 1/n)^(30n) < e^-30, so a page's values equal the whole history's.
WARMUP_PERIODS = 30


@dataclass(frozen=True)
class Param:
    """One parameter: its default and bounds; ``whole``: an integer (a number of bars)."""

    name: str
    default: float
    minimum: float
    maximum: float
    whole: bool = True

    def read(self, text: str, study: str) -> float | int:
        """The parameter's value from query text, checked against its bounds (else 400)."""
        try:
            value = float(text)
        except ValueError:
            raise ApiError(f"{study} {self.name}={text!r} is not a number") from None
        if self.whole and value != int(value) or not self.minimum <= value <= self.maximum:
            kind = "a whole number" if self.whole else "a number"
            raise ApiError(f"{study} {self.name}={text} is out of range; use {kind} from {self.minimum:g} to "
                           f"{self.maximum:g}")
        return int(value) if self.whole else value


@dataclass(frozen=True)
class Study:
    """One indicator: on the price pane or in its own, its lines, and how it is computed from bars."""

    name: str
    title: str
    pane: str  # "price" (over the candles) or "own" (a pane of its own)
    params: tuple[Param, ...]
    lines: tuple[str, ...]
    compute: Callable[..., pd.DataFrame]  # (bars, **params) -> one column per line
    day_anchored: bool = False  # resets each UTC day (VWAP): warm-up from the day's start

    def read_params(self, given: Mapping[str, str]) -> dict[str, float | int]:
        """The parameters of ``given`` (query text) checked, defaults for the rest; unknown names refused."""
        known = {p.name: p for p in self.params}
        unknown = [k for k in given if k not in known]
        if unknown:
            takes = f"it takes {', '.join(known)}" if known else "it takes none"
            raise ApiError(f"{self.name}: unknown parameter {unknown[0]!r}; {takes}")
        return {p.name: p.read(given[p.name], self.name) if p.name in given else
                (int(p.default) if p.whole else p.default) for p in self.params}

    def warmup(self, params: Mapping[str, float | int], interval_ms: int) -> int:
        """Bars to read before the window."""
        if self.day_anchored:
            return max(1, -(-DAY_MS // interval_ms))
        periods = [int(v) for p, v in zip(self.params, params.values()) if p.whole]
        return WARMUP_PERIODS * max(periods, default=1) + 1

    def describe(self) -> dict[str, Any]:
        """This study as a row of the ``/api/indicators`` list."""
        return {"name": self.name, "title": self.title, "pane": self.pane, "lines": list(self.lines),
                "params": [{"name": p.name, "default": p.default, "min": p.minimum, "max": p.maximum,
                            "whole": p.whole} for p in self.params]}


def _frame(**lines: pd.Series) -> pd.DataFrame:
    return pd.DataFrame(lines)


STUDIES: dict[str, Study] = {s.name: s for s in (
    Study("sma", "SMA", "price", (Param("n", 20, 1, 1000),), ("sma",),
          lambda b, n: _frame(sma=ind.sma(b["close"], n))),
    Study("ema", "EMA", "price", (Param("n", 21, 1, 1000),), ("ema",),
          lambda b, n: _frame(ema=ind.ema(b["close"], n))),
    Study("vwap", "VWAP (UTC day)", "price", (), ("vwap",), lambda b: _frame(vwap=ind.vwap(b)), day_anchored=True),
    Study("bbands", "Bollinger bands", "price", (Param("n", 20, 2, 1000), Param("k", 2.0, 0.1, 10, whole=False)),
          ("upper", "middle", "lower"), lambda b, n, k: ind.bollinger(b["close"], n, k)),
    Study("rsi", "RSI", "own", (Param("n", 14, 2, 1000),), ("rsi",),
          lambda b, n: _frame(rsi=ind.rsi(b["close"], n))),
    Study("macd", "MACD", "own", (Param("fast", 12, 1, 500), Param("slow", 26, 2, 1000), Param("signal", 9, 1, 500)),
          ("macd", "signal", "hist"), lambda b, fast, slow, signal: ind.macd(b["close"], fast, slow, signal)),
    Study("atr", "ATR", "own", (Param("n", 14, 1, 1000),), ("atr",), lambda b, n: _frame(atr=ind.atr(b, n))),
)}


def study(name: str) -> Study:
    """The study called ``name`` (else 400 listing them)."""
    found = STUDIES.get(name)
    if found is None:
        raise ApiError(f"unknown indicator {name!r}; use one of {', '.join(STUDIES)}")
    return found


def bars_frame(view: CatalogView, window: Window) -> pd.DataFrame:
    """The window's bars as the float frame ``framework.analysis.indicators`` takes (indexed by open time)."""
    bars = load_bars(view, window)
    frame = pd.DataFrame(bars.columns)
    frame.index = pd.DatetimeIndex(pd.to_datetime(bars.time_ms, unit="ms", utc=True), name="time")
    return frame


def compute(view: CatalogView, window: Window, name: str, given: Mapping[str, str]) -> dict[str, Any]:
    """The ``/api/indicators`` answer: the study's lines over the window (``null`` where not yet defined)."""
    found = study(name)
    params = found.read_params(given)
    if name == "macd" and params["fast"] >= params["slow"]:
        raise ApiError(f"macd fast={params['fast']} must be below slow={params['slow']}")
    frame = bars_frame(view, window.earlier(found.warmup(params, window.interval_ms)))
    out = found.compute(frame, **params) if len(frame) else pd.DataFrame(columns=list(found.lines))
    times = (frame.index.asi8 // 1_000_000) if len(frame) else np.empty(0, np.int64)
    keep = times >= window.start_ms
    payload: dict[str, Any] = {"instrument": window.holding.instrument, "interval": window.interval,
                               "name": name, "pane": found.pane, "params": params,
                               "time": times[keep].tolist(), "lines": {}}
    for line in found.lines:
        values = out[line].to_numpy(dtype=np.float64)[keep] if len(frame) else np.empty(0)
        payload["lines"][line] = [None if v != v else v for v in values.tolist()]
    return payload
