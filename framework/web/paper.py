"""Paper orders of ``serve --live``: a fired alert rule with a ``buy``/``sell`` action becomes a market order for its
notional on a Nautilus ``TradingNode`` with the ``live`` command's sandbox execution and fees.

==========================  =========================================================================================
``GET /api/paper``          ``{"state", "error", "orders", "fills", "positions", "pnl"}`` (all below in one)
``GET /api/paper/orders``   every order (newest first): the rule and event behind it, side, notional, quantity,
                            filled quantity, average price, status, the reason of a rejection
``GET /api/paper/fills``    every fill: price, quantity, commission, liquidity side, time
``GET /api/paper/positions``  the node's positions now (quantity, open price, realized and unrealized PnL)
``GET /api/paper/pnl``      realized and unrealized PnL, commissions and balances per currency (as ``live`` sums them)
==========================  =========================================================================================

The node runs in a child process (``framework.web.paper_node``), not beside aiohttp in this one: Nautilus's kernel
takes over the process's signals (it resets SIGINT and installs SIGTERM handlers on its loop, which fails outside the
main thread), sets its logging up once per process, installs uvloop as the asyncio policy and may end the process on
an engine error; in a child all of that stays there, and its CPU is not taken from the pages' event loop. Orders and
fills are kept in the state file (they outlive the node: a restart starts a fresh paper account, the history stays);
positions and PnL are the running node's. Every change is pushed to the pages as a ``paper`` message.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import threading
import time
import uuid
from typing import Any

from aiohttp import web

from framework.web.alerts import ALERTS_KEY
from framework.web.api import json_response
from framework.web.context import WebContext
from framework.web.live import LIVE_KEY
from framework.web.paper_store import PaperStore

log = logging.getLogger("framework.web.paper")
STOP_TIMEOUT_S = 30.0


class PaperBroker:
    """The paper-trading node's parent side: starts it, sends it orders, keeps what it reports."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.store = PaperStore(ctx.state_db)
        self.state = "off"  # off | starting | running | stopped
        self.error: str | None = None
        self.positions: list[dict[str, Any]] = []
        self.pnl: dict[str, Any] = {}
        self.log: str | None = None
        self._process: Any = None
        self._requests: Any = None
        self._events: Any = None
        self._reader: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._publish = lambda message: None

    @property
    def log_dir(self) -> str:
        """Where the node's ``nautilus.log`` goes: beside the state file."""
        return str(self.ctx.state_db.with_name(self.ctx.state_db.name.split(".")[0] + ".workstation-paper"))

    async def start(self, app: web.Application) -> None:
        """Startup hook: listen to the alerts and start the paper node's process."""
        self._loop = asyncio.get_running_loop()
        live = app.get(LIVE_KEY)
        if live is not None:
            self._publish = lambda message: live.hub.publish({"type": "paper", **message})
        alerts = app.get(ALERTS_KEY)
        if alerts is not None:
            alerts.listeners.append(self.on_alert)
        from framework.web import paper_node

        context = multiprocessing.get_context("spawn")
        self._requests, self._events = context.Queue(), context.Queue()
        self._process = context.Process(target=paper_node.main, name="workstation-paper",
                                        args=(dict(self.ctx.network), self.log_dir, self._requests, self._events),
                                        daemon=True)
        self._process.start()
        self.state = "starting"
        self._reader = threading.Thread(target=self._read, name="paper-events", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            message = self._events.get()
            if message is None:
                return
            assert self._loop is not None
            try:
                self._loop.call_soon_threadsafe(self._on_event, message)
            except RuntimeError:  # the loop has closed
                return
            if message.get("type") == "stopped":
                return

    async def stop(self, app: web.Application) -> None:
        """Shutdown hook: SIGTERM the node (it stops cleanly), killed after ``STOP_TIMEOUT_S``."""
        if self._process is None:
            return
        self._requests.put(None)
        if self._process.is_alive():
            self._process.terminate()  # SIGTERM: the node stops itself
            await asyncio.to_thread(self._process.join, STOP_TIMEOUT_S)
            if self._process.is_alive():
                self._process.kill()
                await asyncio.to_thread(self._process.join, 5)
        self._events.put(None)
        if self.state != "stopped":
            self.state = "stopped"

    # -- orders -------------------------------------------------------------------------------------------------

    def on_alert(self, event: dict[str, Any]) -> None:
        """A fired rule: a buy/sell becomes an order (recorded first, so a rejection is kept too)."""
        if event.get("action") not in ("buy", "sell"):
            return
        ref = uuid.uuid4().hex[:12]
        order = {"ref": ref, "rule_id": event["rule_id"], "event_id": event["id"], "rule": event.get("text"),
                 "instrument": event["instrument"], "side": event["action"].upper(), "notional": event["notional"],
                 "status": "SENT", "created_ms": int(time.time() * 1000)}
        if self.state in ("off", "stopped"):
            order.update(status="REJECTED", reason=f"paper trading is not running ({self.error or self.state})")
        self.store.add_order(order)
        self._publish({"what": "order", "order": self.store.order(ref)})
        if order["status"] == "SENT":
            self._requests.put({"type": "order", "ref": ref, "instrument": event["instrument"],
                                "side": event["action"], "notional": event["notional"]})

    def _on_event(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "running":
            self.state, self.log = "running", message.get("log")
            log.info("paper trading node running (log %s)", self.log)
            self._publish({"what": "state", "state": self.state})
        elif kind == "stopped":
            self.state = "stopped"
            self.error = message.get("error") or (message.get("summary") or {}).get("failure")
            self._publish({"what": "state", "state": self.state, "error": self.error})
        elif kind == "rejected":
            self.store.update_order(message["ref"], {"status": "REJECTED", "reason": message["reason"]})
            self._publish({"what": "order", "order": self.store.order(message["ref"])})
        elif kind == "order" and message.get("ref"):
            fields = {k: message[k] for k in ("client_order_id", "quantity", "filled_qty", "avg_px", "status")}
            if message.get("reason"):
                fields["reason"] = message["reason"]
            self.store.update_order(message["ref"], fields)
            self._publish({"what": "order", "order": self.store.order(message["ref"])})
        elif kind == "fill":
            self.store.add_fill(message)
            self._publish({"what": "fill", "fill": {k: v for k, v in message.items() if k != "type"}})
        elif kind == "portfolio":
            self.positions, self.pnl = message["positions"], message["pnl"]
            self._publish({"what": "portfolio", "positions": self.positions, "pnl": self.pnl})

    def snapshot(self) -> dict[str, Any]:
        """Everything the orders table shows."""
        return {"state": self.state, "error": self.error, "log": self.log, "orders": self.store.orders(),
                "fills": self.store.fills(), "positions": self.positions, "pnl": self.pnl}


PAPER_KEY = web.AppKey("paper", PaperBroker)


def add_routes(app: web.Application, ctx: WebContext) -> None:
    """Register ``/api/paper/*``; in live mode the paper node starts with the server and stops with it."""
    broker = PaperBroker(ctx)
    app[PAPER_KEY] = broker
    if ctx.live:
        app.on_startup.append(broker.start)
        app.on_shutdown.append(broker.stop)

    async def everything(request: web.Request) -> web.Response:
        return json_response(broker.snapshot())

    async def orders(request: web.Request) -> web.Response:
        return json_response({"state": broker.state, "orders": broker.store.orders()})

    async def fills(request: web.Request) -> web.Response:
        return json_response({"fills": broker.store.fills()})

    async def positions(request: web.Request) -> web.Response:
        return json_response({"state": broker.state, "positions": broker.positions})

    async def pnl(request: web.Request) -> web.Response:
        return json_response({"state": broker.state, "pnl": broker.pnl})

    app.router.add_get("/api/paper", everything)
    app.router.add_get("/api/paper/orders", orders)
    app.router.add_get("/api/paper/fills", fills)
    app.router.add_get("/api/paper/positions", positions)
    app.router.add_get("/api/paper/pnl", pnl)
