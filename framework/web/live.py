"""Live mode (``serve --live``): the gap-free live feed pushed to every open page over a websocket, alerts evaluated
on its closed bars.

==============================  =====================================================================================
``GET /api/live/status``        ``{"live": false}`` without ``--live``; else the run's ``epoch`` and last ``seq``, the
                                pages open, and per instrument the intervals followed, its error and feed counters
``GET /api/ws?token=...``       the page's websocket (live mode only). The page sends ``{"type": "subscribe",
                                "instrument", "interval", "studies": [{"name", "params"}], "flow": {"bucket",
                                "large"} | null, "epoch", "last_seq"}``; the server answers ``hello``, then the
                                messages it missed (or ``reload``), ``subscribed``, then ``bar``, ``indicator``,
                                ``flow``, ``alert``, ``paper`` and ``status`` messages, each with its ``seq``
``GET /api/live/bars``          ``instrument``, ``interval``, ``since`` (open ms): the live series' closed bars
                                from ``since`` and the forming one (what a page reloads after ``reload``)
``GET /api/live/indicators``    the same and ``name`` with its parameters: the study's lines over those bars
==============================  =====================================================================================

The feed, bars, indicators and order flow: ``framework.web.live_market``; numbering, replay and the sockets:
``framework.web.live_hub``. Alerts (``framework.web.alerts``) are evaluated on each closed bar of the series their
rules name (the market follows them whether or not a page shows them); what fires is pushed to every page.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from decimal import Decimal
from decimal import InvalidOperation
from typing import Any

from aiohttp import web

from framework.binance.config import BinanceUrls
from framework.values import parse_duration_ms
from framework.values import parse_time_ms
from framework.web.alerts import ALERTS_KEY
from framework.web.alerts import AlertEngine
from framework.web.alerts_rules import study_of
from framework.web.api import ApiError
from framework.web.api import json_response
from framework.web.api import query_text
from framework.web.catalog_view import WEB_INTERVALS
from framework.web.context import WebContext
from framework.web.live_flow import FlowKey
from framework.web.live_hub import Hub
from framework.web.live_hub import Page
from framework.web.live_market import LiveMarket
from framework.web.live_market import Series
from framework.web.live_market import study_key

log = logging.getLogger("framework.web.live")


@dataclass
class Interest:
    """What one page shows: an instrument at an interval, its studies, its order-flow bucket and threshold."""

    instrument: str
    interval: str
    studies: dict[str, tuple[str, dict[str, Any]]]
    flow: FlowKey | None


def parse_interest(message: dict[str, Any]) -> Interest:
    """A page's ``subscribe`` message, checked (``ApiError`` naming the first mistake)."""
    instrument, interval = message.get("instrument"), message.get("interval")
    if not isinstance(instrument, str) or not isinstance(interval, str):
        raise ApiError("subscribe: give instrument and interval")
    if interval not in WEB_INTERVALS:
        raise ApiError(f"interval: {interval!r} is not one of {', '.join(WEB_INTERVALS)}")
    studies = {}
    for item in message.get("studies") or []:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ApiError("subscribe: studies are [{name, params}]")
        params = study_of(item["name"]).read_params({k: repr(v) for k, v in (item.get("params") or {}).items()})
        studies[study_key(item["name"], params)] = (item["name"], params)
    flow = None
    if message.get("flow"):
        spec = message["flow"]
        try:
            large = Decimal(str(spec.get("large") or 0))
        except InvalidOperation:
            raise ApiError(f"subscribe: flow large={spec.get('large')!r} is not a number") from None
        if not large.is_finite() or large < 0:
            raise ApiError("subscribe: flow large must be 0 or more")
        flow = (parse_duration_ms(spec.get("bucket") or interval, "bucket"), str(large.normalize()))
    return Interest(instrument, interval, studies, flow)


class LiveServer:
    """Live mode of one server: the hub, the market, the pages' interests and the alerts' series."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.hub = Hub()
        self.market: LiveMarket | None = None
        self.alerts: AlertEngine | None = None
        self.interests: dict[Page, Interest] = {}
        self._tasks: set[asyncio.Task] = set()

    async def start(self, app: web.Application) -> None:
        """Startup hook: the market on the context's URLs, the hub's callbacks, the alerts' series."""
        self.market = LiveMarket(BinanceUrls(**self.ctx.network), self.hub, self._closed)
        self.hub.on_subscribe = self._subscribe
        self.hub.on_leave = self._leave
        self.alerts = app.get(ALERTS_KEY)
        if self.alerts is not None:
            self.alerts.listeners.append(self._alert)
            self.alerts.on_change.append(self._follow_rules)
            self._follow_rules()

    async def stop(self, app: web.Application) -> None:
        """Shutdown hook: close the pages' sockets and the feeds."""
        for task in self._tasks:
            task.cancel()
        await self.hub.close()
        if self.market is not None:
            await self.market.stop()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _quietly(self, coro: Any) -> None:
        try:
            await coro
        except ApiError:
            pass  # said to the pages already (a status message)
        except Exception:  # noqa: BLE001
            log.exception("live: following a series failed")

    # -- alerts -------------------------------------------------------------------------------------------------

    def _follow_rules(self) -> None:
        assert self.market is not None and self.alerts is not None
        for instrument, interval in self.alerts.series():
            self._spawn(self._quietly(self.market.series(instrument, interval)))

    def _closed(self, series: Series) -> None:
        if self.alerts is None:
            return
        need = self.alerts.series().get((series.instrument, series.interval))
        if need:
            self.alerts.evaluate(series.instrument, series.interval, series.frame(need))

    def _alert(self, event: dict[str, Any]) -> None:
        self.hub.publish(dict(event))

    # -- pages --------------------------------------------------------------------------------------------------

    def _subscribe(self, page: Page, message: dict[str, Any]) -> None:
        assert self.market is not None
        interest = parse_interest(message)
        self.market.instrument(interest.instrument)  # a bad id refused now
        previous = self.interests.get(page)
        self.interests[page] = interest
        self._spawn(self._apply(interest.instrument, interest.interval))
        if previous is not None and (previous.instrument, previous.interval) != (interest.instrument,
                                                                                 interest.interval):
            self._spawn(self._apply(previous.instrument, previous.interval))

    def _leave(self, page: Page) -> None:
        gone = self.interests.pop(page, None)
        if gone is not None:
            self._spawn(self._apply(gone.instrument, gone.interval))

    async def _apply(self, instrument: str, interval: str) -> None:
        """Follow what the pages on ``instrument`` show now: the series, the union of their studies and flows."""
        assert self.market is not None
        shown = [i for i in self.interests.values() if i.instrument == instrument]
        if any(i.interval == interval for i in shown):
            try:
                await self.market.series(instrument, interval)
            except ApiError:
                return
            except Exception:  # noqa: BLE001
                log.exception("live: following %s %s failed", instrument, interval)
                return
        studies = {k: v for i in shown if i.interval == interval for k, v in i.studies.items()}
        self.market.set_studies(instrument, interval, studies)
        inst = self.market.instruments.get(instrument)
        if inst is not None and inst.error is None:
            await inst.flows.want({i.flow for i in self.interests.values()
                                   if i.instrument == instrument and i.flow is not None})

    # -- HTTP ---------------------------------------------------------------------------------------------------

    async def bars(self, request: web.Request) -> web.Response:
        """``GET /api/live/bars``."""
        assert self.market is not None
        series = await self.market.series(query_text(request, "instrument"), query_text(request, "interval"))
        since = request.query.get("since")
        return json_response({**series.payload(parse_time_ms(since, "since") if since else 0),
                              "epoch": self.hub.epoch, "seq": self.hub.seq})

    async def indicators(self, request: web.Request) -> web.Response:
        """``GET /api/live/indicators``."""
        assert self.market is not None
        series = await self.market.series(query_text(request, "instrument"), query_text(request, "interval"))
        name = query_text(request, "name")
        given = {k: v for k, v in request.query.items() if k not in ("instrument", "interval", "name", "since",
                                                                     "token")}
        params = study_of(name).read_params(given)
        since = request.query.get("since")
        return json_response(series.study_lines(name, params, parse_time_ms(since, "since") if since else 0))

    def status(self) -> dict[str, Any]:
        """The ``/api/live/status`` answer."""
        return {"live": True, "epoch": self.hub.epoch, "seq": self.hub.seq, "pages": len(self.hub.pages),
                "evaluated_on": "closed bars", "instruments": self.market.stats() if self.market else {}}


LIVE_KEY = web.AppKey("live", LiveServer)


def add_routes(app: web.Application, ctx: WebContext) -> None:
    """Register ``/api/live/status`` and, with ``ctx.live``, the websocket and the live bars."""
    if not ctx.live:
        async def off(request: web.Request) -> web.Response:
            return json_response({"live": False})

        app.router.add_get("/api/live/status", off)
        return
    live = LiveServer(ctx)
    app[LIVE_KEY] = live
    app.on_startup.append(live.start)
    app.on_shutdown.append(live.stop)

    async def status(request: web.Request) -> web.Response:
        """The ``/api/live/status`` answer."""
        return json_response(live.status())

    app.router.add_get("/api/live/status", status)
    app.router.add_get("/api/live/bars", live.bars)
    app.router.add_get("/api/live/indicators", live.indicators)
    app.router.add_get("/api/ws", live.hub.handle)
