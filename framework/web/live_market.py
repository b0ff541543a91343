"""The live market of ``serve --live``: the gap-free feed of each instrument a page or an alert rule follows, its
bars (forming and closed), indicator values and order flow, pushed through the ``Hub``.

Each instrument gets its own ``framework.live.feed.MarketFeed`` (the feed ``record`` and ``live`` use), so a symbol
the exchange refuses ends only its own streams. Per interval followed, one ``<symbol>@kline_<interval>`` stream: its
closed klines go through the feed's ``GapFreeSequence`` (every bar once, in order, missed ones fetched over REST)
and its open updates are the forming bar, exactly as the exchange computes it. The bars before the start come from
REST (``SEED_BARS``), so indicators have their warm-up from the first update. Order flow counts the gap-free
``@aggTrade`` stream with ``framework.orderflow.TakerFlow`` (exact integer amounts) per bucket and large-trade
threshold a page asked for (``framework.web.live_flow``).

Pushed messages (topic: the instrument): ``bar`` (``time`` = open ms, OHLCV, ``closed``), ``indicator`` (a study's
lines at a bar: on every closed bar, on the forming one at most every ``FORMING_STUDY_S``), ``flow`` (see
``live_flow``), ``status`` (an instrument the exchange has no live data for).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import numpy as np
import pandas as pd

from framework.binance.config import BinanceUrls
from framework.binance.endpoints import Market
from framework.binance.http import BinanceRestClient
from framework.binance.intervals import INTERVAL_MS
from framework.live.feed import MarketFeed
from framework.live.feed import rest_kline
from framework.web.alerts_rules import market_symbol
from framework.web.alerts_rules import study_of
from framework.web.api import ApiError
from framework.web.catalog_view import WEB_INTERVALS
from framework.web.live_flow import FlowSet
from framework.web.live_hub import Hub

log = logging.getLogger("framework.web.live")

SEED_BARS = 1000  # bars read over REST when a series starts (Binance serves 1000 per request)
MAX_BARS = 3000  # closed bars kept per series (the replay range of /api/live/bars)
FORMING_STUDY_S = 1.0
COLUMNS = ("open", "high", "low", "close", "volume")


def _row(k: Any) -> tuple[int, float, float, float, float, float]:
    """A REST kline row as (open ms, open, high, low, close, volume)."""
    return k.open_time, float(k.open), float(k.high), float(k.low), float(k.close), float(k.volume)


@dataclass
class Series:
    """One instrument at one interval: closed bars (bounded, oldest first), the forming bar, the studies shown."""

    instrument: str
    interval: str
    rows: list[tuple[int, float, float, float, float, float]] = field(default_factory=list)
    forming: tuple[int, float, float, float, float, float] | None = None
    studies: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)  # key -> (name, params)
    pushed: dict[str, float] = field(default_factory=dict)  # study key -> monotonic time of its last forming push
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, row: tuple[int, float, float, float, float, float]) -> None:
        """Append a closed bar (a bar not after the last is dropped); the oldest go beyond ``MAX_BARS``."""
        if self.rows and row[0] <= self.rows[-1][0]:
            return
        self.rows.append(row)
        if len(self.rows) > MAX_BARS + 500:
            del self.rows[:500]

    def frame(self, last: int, forming: bool = False) -> pd.DataFrame:
        """The newest ``last`` closed bars (and the forming one) as the float frame the indicators take."""
        rows = self.rows[-last:] + ([self.forming] if forming and self.forming is not None else [])
        array = np.array(rows, dtype=np.float64).reshape(-1, 6)
        index = pd.DatetimeIndex(pd.to_datetime(array[:, 0].astype(np.int64), unit="ms", utc=True), name="time")
        return pd.DataFrame({c: array[:, i + 1] for i, c in enumerate(COLUMNS)}, index=index)

    def study_lines(self, name: str, params: dict[str, Any], since_ms: int) -> dict[str, Any]:
        """A study's lines over the closed bars from ``since_ms`` and the forming one (warm-up read before)."""
        study = study_of(name)
        first = next((i for i, r in enumerate(self.rows) if r[0] >= since_ms), len(self.rows))
        warmup = min(MAX_BARS, study.warmup(params, INTERVAL_MS[self.interval]))
        bars = self.frame(len(self.rows) - max(0, first - warmup), forming=True)
        times = (bars.index.asi8 // 10**6).tolist()
        keep = [i for i, t in enumerate(times) if t >= since_ms]
        out = study.compute(bars, **params) if len(bars) else pd.DataFrame(columns=list(study.lines))
        return {"instrument": self.instrument, "interval": self.interval, "name": name, "params": params,
                "time": [times[i] for i in keep],
                "lines": {line: [None if v != v else float(v) for v in out[line].to_numpy(np.float64)[keep]]
                          for line in study.lines}}

    def payload(self, since_ms: int) -> dict[str, Any]:
        """Closed bars opening at or after ``since_ms`` and the forming bar, as ``/api/live/bars`` answers."""
        rows = [r for r in self.rows if r[0] >= since_ms]
        out: dict[str, Any] = {"instrument": self.instrument, "interval": self.interval,
                               "time": [r[0] for r in rows]}
        for i, c in enumerate(COLUMNS):
            out[c] = [r[i + 1] for r in rows]
        out["forming"] = None if self.forming is None else dict(zip(("time", *COLUMNS), self.forming, strict=True))
        out["first_held"] = self.rows[0][0] if self.rows else None
        return out


def study_key(name: str, params: dict[str, Any]) -> str:
    """How a page and the server name one study with its parameters (``rsi:{"n":14}``)."""
    return f"{name}:{json.dumps(params, sort_keys=True, separators=(',', ':'))}"


class Instrument:
    """One followed instrument: its feed, its series by interval, its order flow."""

    def __init__(self, instrument: str, market: Market, symbol: str, client: BinanceRestClient, ws_base: str,
                 hub: Hub) -> None:
        self.instrument, self.market, self.symbol = instrument, market, symbol
        self.feed = MarketFeed(market, client, ws_base, streams_per_connection=50)
        self.series: dict[str, Series] = {}
        self.flows = FlowSet(instrument, self.feed, symbol, hub)
        self.error: str | None = None
        self.started = False
        self.watch: asyncio.Task | None = None


class LiveMarket:
    """Every followed instrument of one server (see the module docstring).

    ``on_closed(series)`` runs after each closed bar was pushed (alerts evaluate there).
    """

    def __init__(self, urls: BinanceUrls, hub: Hub, on_closed: Callable[[Series], None] | None = None) -> None:
        from framework.binance.config import BinanceHttpConfig

        self.urls = urls
        self.hub = hub
        self.client = BinanceRestClient(BinanceHttpConfig(urls=urls))
        self.instruments: dict[str, Instrument] = {}
        self.on_closed = on_closed
        self._starting: dict[tuple[str, str], asyncio.Task] = {}

    def instrument(self, instrument: str) -> Instrument:
        """The followed instrument (made on first use; a bad id is a 400)."""
        found = self.instruments.get(instrument)
        if found is None:
            named = market_symbol(instrument)
            if named is None:
                raise ApiError(f"instrument: {instrument!r} is not a Binance instrument id; e.g. BTCUSDT-PERP.BINANCE")
            market = Market(named[0])
            found = self.instruments[instrument] = Instrument(instrument, market, named[1], self.client,
                                                              self.urls.ws(market), self.hub)
        return found

    async def series(self, instrument: str, interval: str) -> Series:
        """The series, its streams started and its history read (once; callers share the start)."""
        if interval not in WEB_INTERVALS:
            raise ApiError(f"interval: {interval!r} is not one of {', '.join(WEB_INTERVALS)}")
        inst = self.instrument(instrument)
        key = (instrument, interval)
        task = self._starting.get(key)
        if task is None or task.done() and (task.cancelled() or task.exception() is not None):  # (again) after
            inst.error = None                                                                  # a failure
            task = self._starting[key] = asyncio.ensure_future(self._start(inst, interval))
        return await asyncio.shield(task)

    async def _start(self, inst: Instrument, interval: str) -> Series:
        series = inst.series[interval] = Series(inst.instrument, interval)
        try:
            now = (await self.client.get(inst.market, "time")).serverTime
            rows = await self.client.get(inst.market, "klines", symbol=inst.symbol, interval=interval,
                                         limit=SEED_BARS)
        except Exception as e:  # noqa: BLE001 - unknown symbol, exchange down: said on the page
            self._failed(inst, f"{inst.instrument}: no live data ({e})")
            raise ApiError(inst.error or str(e)) from None
        if not rows:
            self._failed(inst, f"{inst.instrument}: the exchange has no live market data for {inst.symbol}")
            raise ApiError(inst.error or "")
        for k in rows:
            if k.close_time < now:  # the last row is the forming bar
                series.add(_row(k))
        last_open = series.rows[-1][0] if series.rows else None
        seq = inst.feed.klines(inst.symbol, interval, lambda row, filled: self._closed(series, _row(row)),
                               last_open=last_open)
        push = seq.push

        def on_kline(event: Any) -> None:
            k = event.k
            if k.x:
                push(rest_kline(k))
            else:
                self._forming(series, (k.t, float(k.o), float(k.h), float(k.l), float(k.c), float(k.v)))

        inst.feed.stream(f"{inst.symbol.lower()}@kline_{interval}", on_kline)
        await self._ensure_started(inst)
        series.ready.set()
        return series

    async def _ensure_started(self, inst: Instrument) -> None:
        if not inst.started:
            inst.started = True
            await inst.feed.start()
            inst.watch = asyncio.ensure_future(self._watch(inst))

    async def _watch(self, inst: Instrument) -> None:
        await inst.feed.failed.wait()
        self._failed(inst, f"{inst.instrument}: {inst.feed.refusal()}")

    def _failed(self, inst: Instrument, error: str) -> None:
        inst.error = error
        log.warning("%s", error)
        self.hub.publish({"type": "status", "instrument": inst.instrument, "error": error}, inst.instrument)

    # -- pushes ---------------------------------------------------------------------------------------------

    def _bar(self, series: Series, row: tuple, closed: bool) -> None:
        self.hub.publish({"type": "bar", "instrument": series.instrument, "interval": series.interval,
                          "time": row[0], "open": row[1], "high": row[2], "low": row[3], "close": row[4],
                          "volume": row[5], "closed": closed}, series.instrument)

    def _closed(self, series: Series, row: tuple) -> None:
        series.add(row)
        if series.forming is not None and series.forming[0] <= row[0]:
            series.forming = None
        self._bar(series, row, True)
        for key in list(series.studies):
            self._study(series, key, closed=True)
        if self.on_closed is not None:
            try:
                self.on_closed(series)
            except Exception:  # noqa: BLE001 - the feed goes on
                log.exception("evaluating %s %s failed", series.instrument, series.interval)

    def _forming(self, series: Series, row: tuple) -> None:
        if series.rows and row[0] <= series.rows[-1][0]:
            return  # an update of a bar already closed (arrived late)
        series.forming = row
        self._bar(series, row, False)
        now = time.monotonic()
        for key in list(series.studies):
            if now - series.pushed.get(key, 0.0) >= FORMING_STUDY_S:
                series.pushed[key] = now
                self._study(series, key, closed=False)

    def _study(self, series: Series, key: str, closed: bool) -> None:
        name, params = series.studies[key]
        study = study_of(name)
        bars = series.frame(min(MAX_BARS, study.warmup(params, INTERVAL_MS[series.interval])), forming=not closed)
        if len(bars) == 0:
            return
        out = study.compute(bars, **params)
        lines = {line: (None if v != v else float(v)) for line in study.lines
                 for v in (out[line].iloc[-1],)}
        self.hub.publish({"type": "indicator", "instrument": series.instrument, "interval": series.interval,
                          "key": key, "name": name, "params": params, "time": int(bars.index[-1].value // 10**6),
                          "lines": lines, "closed": closed}, series.instrument)

    # -- what pages follow ----------------------------------------------------------------------------------

    def set_studies(self, instrument: str, interval: str, wanted: dict[str, tuple[str, dict[str, Any]]]) -> None:
        """The studies the pages show on ``instrument``/``interval`` (the union over pages)."""
        inst = self.instruments.get(instrument)
        series = inst.series.get(interval) if inst else None
        if series is not None:
            series.studies = dict(wanted)
            if series.ready.is_set():
                for key in wanted:
                    self._study(series, key, closed=series.forming is None)

    async def stop(self) -> None:
        """Close every feed and the REST client."""
        for task in self._starting.values():
            task.cancel()
        for inst in self.instruments.values():
            if inst.watch is not None:
                inst.watch.cancel()
            inst.flows.stop()
            await inst.feed.stop()
        await self.client.close()

    def stats(self) -> dict[str, Any]:
        """Per instrument: intervals followed, error, the feed's counters."""
        return {i: {"intervals": sorted(inst.series, key=INTERVAL_MS.__getitem__), "error": inst.error,
                    "flows": inst.flows.keys(), "feed": inst.feed.stats()} for i, inst in self.instruments.items()}
