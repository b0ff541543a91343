"""The market API: what the catalog holds, bars, indicators, perpetual series, order flow, chart settings.

- ``GET /api/instruments``: ``{catalog, message, instruments: [{instrument, symbol, market, intervals, stored, perp,
  trades}]}``; ``message`` says what to run when the catalog is missing or empty.
- ``GET /api/bars``: ``instrument, interval, end | start, limit`` -> columns ``time`` (open, epoch ms), ``open high
  low close volume``, and ``more`` / ``next_end`` to page back.
- ``GET /api/indicators``: without ``name``, the indicators and their parameters; with ``name`` (sma, ema, vwap,
  bbands, rsi, macd, atr) and its parameters (``n``, ``k``, ``fast`` ...), its lines over the ``/api/bars`` window.
- ``GET /api/perp``: ``series`` (comma-separated; default all held): funding, open interest, long/short ratios,
  taker buy/sell volume on the window's bar times.
- ``GET /api/orderflow``: ``bucket`` (a duration, default the interval), ``large`` (a quote amount): taker buy/sell
  quote volume per bucket, delta, cumulative delta.
- ``GET /api/settings?chart=``: the chart's saved settings (``null``: none); ``PUT`` with a JSON body
  ``{studies: [{name, params}], perp: [...], orderflow, bucket, large}`` saves them.

Heavy reads run in a worker thread so that the event loop keeps serving (live updates, other pages). The handlers
are the routes' own closures over ``ctx``; each says in its route what it answers.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from framework.web.api import json_response
from framework.web.api import query_text
from framework.web.bars import bars_payload
from framework.web.bars import request_holding
from framework.web.bars import request_window
from framework.web.catalog_view import CatalogView
from framework.web.context import WebContext
from framework.web.flow import flow_payload
from framework.web.flow import parse_bucket
from framework.web.flow import parse_large
from framework.web.perp import perp_payload
from framework.web.perp import requested_series
from framework.web.state import load_settings
from framework.web.state import save_settings
from framework.web.studies import STUDIES
from framework.web.studies import compute

VIEW_KEY = web.AppKey("catalog_view", CatalogView)
#: Query parameters every series request shares; the rest of an indicator request are its parameters.
WINDOW_PARAMS = frozenset({"instrument", "interval", "start", "end", "limit", "name", "token"})


def add_routes(app: web.Application, ctx: WebContext) -> None:
    """Register the market API on ``app`` (reading ``ctx.catalog``, settings in ``ctx.state_db``)."""
    view = CatalogView(ctx.catalog)
    app[VIEW_KEY] = view

    async def instruments(request: web.Request) -> web.Response:
        message = await asyncio.to_thread(view.status)
        rows = [] if message else [h.row() for h in view.holdings()]
        return json_response({"catalog": str(ctx.catalog), "message": message, "instruments": rows})

    async def bars(request: web.Request) -> web.Response:
        window = request_window(request, view)
        return json_response(await asyncio.to_thread(bars_payload, view, window))

    async def indicators(request: web.Request) -> web.Response:
        if not request.query.get("name"):
            return json_response({"indicators": [s.describe() for s in STUDIES.values()]})
        window = request_window(request, view)
        given = {k: v for k, v in request.query.items() if k not in WINDOW_PARAMS}
        return json_response(await asyncio.to_thread(compute, view, window, request.query["name"], given))

    async def perp(request: web.Request) -> web.Response:
        window = request_window(request, view)
        names = requested_series(request.query.get("series"), window)
        return json_response(await asyncio.to_thread(perp_payload, view, window, names))

    async def orderflow(request: web.Request) -> web.Response:
        holding = request_holding(request, view)
        window = request_window(request, view)
        bucket_ms = parse_bucket(request.query.get("bucket"), window.interval_ms)
        large = parse_large(request.query.get("large"))
        return json_response(await asyncio.to_thread(flow_payload, view, holding, window.start_ms, window.end_ms,
                                                     bucket_ms, large))

    async def get_settings(request: web.Request) -> web.Response:
        chart = query_text(request, "chart")
        return json_response({"chart": chart, "settings": load_settings(ctx.state_db, chart)})

    async def put_settings(request: web.Request) -> web.Response:
        chart = query_text(request, "chart")
        stored = save_settings(ctx.state_db, chart, await request.read())
        return json_response({"chart": chart, "settings": stored})

    app.router.add_get("/api/instruments", instruments)
    app.router.add_get("/api/bars", bars)
    app.router.add_get("/api/indicators", indicators)
    app.router.add_get("/api/perp", perp)
    app.router.add_get("/api/orderflow", orderflow)
    app.router.add_get("/api/settings", get_settings)
    app.router.add_put("/api/settings", put_settings)
