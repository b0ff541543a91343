"""Bars for the page: the window a request names, stored bars resampled to the asked interval, lazy paging back.

A window is a half-open span of bar open times ``[start, end)`` at the asked interval, aligned to it (UTC epoch
multiples: a 1d bar opens at 00:00 UTC, 4h at 00:00, 04:00 ... as Binance's). A request names it by ``end`` (open
time bound, exclusive; default: just after the newest bar) and ``limit`` (bars), or by ``start`` and ``end``.
Paging back: ask again with ``end`` = the answer's ``next_end`` while ``more`` is true.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from aiohttp import web

from framework.binance.intervals import INTERVAL_MS
from framework.catalog import Series
from framework.timeunits import NS_PER_MS
from framework.values import parse_time_ms
from framework.web.api import ApiError
from framework.web.api import query_int
from framework.web.api import query_text
from framework.web.catalog_view import BAR_COLUMNS
from framework.web.catalog_view import BarsWindow
from framework.web.catalog_view import CatalogView
from framework.web.catalog_view import Holding

DEFAULT_LIMIT = 1000
#: The most bars one request returns (a month of 1m bars is 43,200).
MAX_BARS = 50_000


@dataclass(frozen=True)
class Window:
    """What a request asks for: an instrument held, an interval it can be served at, ``[start_ms, end_ms)``."""

    holding: Holding
    interval: str
    start_ms: int
    end_ms: int

    @property
    def interval_ms(self) -> int:
        """The asked interval in ms."""
        return INTERVAL_MS[self.interval]

    @property
    def source(self) -> str:
        """The stored interval the bars come from."""
        return self.holding.source(self.interval)

    @property
    def bar_type(self) -> str:
        """The stored bar type read."""
        return self.holding.stored[self.source]

    def earlier(self, bars: int) -> Window:
        """The same window starting ``bars`` bars earlier (indicator warm-up)."""
        return Window(self.holding, self.interval, self.start_ms - bars * self.interval_ms, self.end_ms)


def _time(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    if value is None or value == "":
        return None
    return parse_time_ms(value, name)


def request_holding(request: web.Request, view: CatalogView) -> Holding:
    """The ``instrument`` a request names, among those the catalog holds (else 400 listing them)."""
    instrument = query_text(request, "instrument")
    holding = view.holding(instrument)
    if holding is None:
        held = [h.instrument for h in view.holdings()]
        known = f"the catalog holds {', '.join(held)}" if held else "the catalog holds no bars"
        raise ApiError(f"instrument={instrument!r} is not in the catalog; {known}")
    return holding


def request_window(request: web.Request, view: CatalogView, *, default_limit: int = DEFAULT_LIMIT) -> Window:
    """The window of ``instrument``, ``interval``, ``start``/``end`` (ISO time or epoch ms) and ``limit``."""
    holding = request_holding(request, view)
    interval = query_text(request, "interval", default=holding.intervals[0])
    if interval not in holding.intervals:
        raise ApiError(f"interval={interval!r} is not served for {holding.instrument}; use one of "
                       f"{', '.join(holding.intervals)}")
    step = INTERVAL_MS[interval]
    limit = query_int(request, "limit", default=default_limit, minimum=1, maximum=MAX_BARS)
    start, end = _time(request, "start"), _time(request, "end")
    if end is None:
        last = view.last_bar_open_ms(holding.stored[holding.source(interval)], INTERVAL_MS[holding.source(interval)])
        end = (last // step + 1) * step if last is not None else 0
    else:
        end = -(-end // step) * step  # bars opening before ``end``: the one holding ``end`` is in
    if start is None:
        start = end - limit * step
    else:
        start -= start % step
        if start >= end:
            raise ApiError(f"start={request.query['start']} is not before end; swap them or drop start")
        if (end - start) // step > MAX_BARS:
            raise ApiError(f"start..end spans {(end - start) // step:,} {interval} bars; ask at most "
                           f"{MAX_BARS:,} (page with end and limit)")
    return Window(holding, interval, start, end)


def resample(bars: BarsWindow, interval_ms: int) -> BarsWindow:
    """Bars merged into ``interval_ms`` buckets: first open, highest high, lowest low, last close, summed volume
    (a bucket is as complete as the bars it holds: the newest one may be forming)."""
    n = len(bars)
    if n == 0:
        return bars
    keys = bars.time_ms - bars.time_ms % interval_ms
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:] - 1, n - 1]
    c = bars.columns
    columns = {"open": c["open"][starts], "high": np.maximum.reduceat(c["high"], starts),
               "low": np.minimum.reduceat(c["low"], starts), "close": c["close"][ends],
               "volume": np.add.reduceat(c["volume"], starts)}
    if bars.size_precision is not None:  # a float sum drifts (5011816.6400000004): back to the decimals held
        columns["volume"] = np.round(columns["volume"], bars.size_precision)
    return BarsWindow(keys[starts], columns, bars.start_ms, bars.end_ms, bars.price_precision, bars.first_held_ms,
                      size_precision=bars.size_precision)


def load_bars(view: CatalogView, window: Window) -> BarsWindow:
    """The window's bars at its interval (stored ones, resampled when the interval is not stored)."""
    source_ms = INTERVAL_MS[window.source]
    bars = view.bars(window.bar_type, source_ms, window.start_ms, window.end_ms)
    return bars if source_ms == window.interval_ms else resample(bars, window.interval_ms)


def next_end(view: CatalogView, window: Window, bars: BarsWindow) -> int | None:
    """Where the previous page ends (None: nothing older): the window's start, or past a gap in the data the
    newest older bar's bucket end, so that paging back skips the gap in one step."""
    if bars.first_held_ms is None or bars.first_held_ms >= window.start_ms:
        return None
    if len(bars):
        return window.start_ms
    source_ms = INTERVAL_MS[window.source]
    before = view.previous_file_end_ms(Series.bars(window.bar_type), (window.start_ms + source_ms) * NS_PER_MS)
    if before is None:
        return window.start_ms
    last_open = min(before - source_ms, window.start_ms - 1)
    return (last_open // window.interval_ms + 1) * window.interval_ms


def bars_payload(view: CatalogView, window: Window) -> dict:
    """The ``/api/bars`` answer: columns of equal length (``time``: open time in epoch ms), paging fields."""
    bars = load_bars(view, window)
    payload: dict = {"instrument": window.holding.instrument, "interval": window.interval,
                     "price_precision": bars.price_precision, "start": window.start_ms, "end": window.end_ms,
                     "time": bars.time_ms.tolist()}
    for name in BAR_COLUMNS:
        payload[name] = bars.columns[name].tolist()
    older = next_end(view, window, bars)
    payload["more"] = older is not None
    payload["next_end"] = older
    return payload
