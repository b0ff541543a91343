"""The paper-trading child process of ``serve --live``: a Nautilus ``TradingNode`` built exactly as the ``live``
command builds it (``framework.live.node.PaperRun``: the framework's Binance data clients, the bar-aware sandbox
execution, the same fees and starting balance), running one strategy, ``AlertOrders``, that trades what fired alert
rules ask for.

The server talks to it through two ``multiprocessing`` queues: requests in (``{"type": "order", "ref", "instrument",
"side", "notional"}``), events out (``running``, ``order`` snapshots, ``fill``, ``portfolio`` with positions, PnL and
balances, ``rejected``, ``stopped``). A market order's quantity is the notional divided by the last trade price,
rounded down to the instrument's size step; the sandbox fills it against the live trades, as in ``live``. SIGTERM
stops the node cleanly (Nautilus's own signal handling).
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict
from decimal import ROUND_DOWN
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.events import OrderEvent
from nautilus_trader.model.events import OrderFilled
from nautilus_trader.model.events import PositionEvent
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.trading.strategy import Strategy

from framework.live.summary import summarize

PORTFOLIO_EVERY_S = 1.0


class AlertOrdersConfig(StrategyConfig, frozen=True):
    """No settings: orders come from the server's queue."""


class AlertOrders(Strategy):
    """Market orders for a notional, as the server asks (see the module docstring)."""

    def __init__(self, config: AlertOrdersConfig) -> None:
        super().__init__(config)
        self.events: Any = None
        self._pending: dict[InstrumentId, list[dict[str, Any]]] = {}
        self._refs: dict[str, str] = {}  # client order id -> the server's ref
        self._subscribed: set[InstrumentId] = set()
        self._last_portfolio = 0.0

    def attach(self, requests: Any, events: Any, loop: Any) -> None:
        """Start taking requests (a reader thread hands each to the node's loop)."""
        self.events = events

        def read() -> None:
            while True:
                message = requests.get()
                if message is None:
                    return
                loop.call_soon_threadsafe(self.request, message)

        threading.Thread(target=read, name="paper-requests", daemon=True).start()

    def _send(self, message: dict[str, Any]) -> None:
        if self.events is not None:
            self.events.put(message)

    def request(self, message: dict[str, Any]) -> None:
        """An order request from the server."""
        try:
            iid = InstrumentId.from_str(message["instrument"])
        except ValueError as e:
            self._send({"type": "rejected", "ref": message["ref"], "reason": str(e)})
            return
        if self.cache.instrument(iid) is None:
            self._send({"type": "rejected", "ref": message["ref"],
                        "reason": f"{iid} is not listed on the exchange the paper node trades"})
            return
        if iid not in self._subscribed:
            self._subscribed.add(iid)
            self.subscribe_trade_ticks(iid)  # the sandbox's market: no trade seen, no fill
        if self.cache.trade_tick(iid) is None:
            self._pending.setdefault(iid, []).append(message)
            return
        self._submit(message, iid)

    def on_trade_tick(self, tick: TradeTick) -> None:
        """Submit what waited for the instrument's first trade; report the portfolio now and then."""
        for message in self._pending.pop(tick.instrument_id, []):
            self._submit(message, tick.instrument_id)
        now = time.monotonic()
        if now - self._last_portfolio >= PORTFOLIO_EVERY_S and self.cache.positions_open():
            self._portfolio()

    def _submit(self, message: dict[str, Any], iid: InstrumentId) -> None:
        instrument = self.cache.instrument(iid)
        price = self.cache.trade_tick(iid).price.as_decimal()
        step = instrument.size_increment.as_decimal()
        units = (Decimal(str(message["notional"])) / price / step).to_integral_value(ROUND_DOWN)
        quantity = instrument.make_qty(units * step)
        minimum = instrument.min_quantity
        if quantity.as_decimal() <= 0 or (minimum is not None and quantity < minimum):
            self._send({"type": "rejected", "ref": message["ref"],
                        "reason": f"{message['notional']} quote buys {units * step} {iid} at {price}, under the "
                                  f"minimum quantity {minimum}; raise the notional"})
            return
        side = OrderSide.BUY if message["side"] == "buy" else OrderSide.SELL
        order = self.order_factory.market(iid, side, quantity, tags=[f"ref:{message['ref']}"])
        self._refs[order.client_order_id.value] = message["ref"]
        self.submit_order(order)

    def on_order_event(self, event: OrderEvent) -> None:
        """Report the order's state after each of its events, and each fill."""
        coid = event.client_order_id.value
        ref = self._refs.get(coid)
        order = self.cache.order(event.client_order_id)
        if order is not None:
            self._send({"type": "order", "ref": ref, "client_order_id": coid, "instrument": str(order.instrument_id),
                        "side": order.side_string(), "quantity": str(order.quantity),
                        "filled_qty": str(order.filled_qty),
                        "avg_px": None if not order.filled_qty else str(order.avg_px), "status": order.status_string(),
                        "event": type(event).__name__, "reason": getattr(event, "reason", None) or None,
                        "ts": event.ts_event // 1_000_000})
        if isinstance(event, OrderFilled):
            self._send({"type": "fill", "ref": ref, "client_order_id": coid, "trade_id": event.trade_id.value,
                        "instrument": str(event.instrument_id), "side": "BUY" if event.order_side == OrderSide.BUY
                        else "SELL", "quantity": str(event.last_qty), "price": str(event.last_px),
                        "commission": str(event.commission), "liquidity": event.liquidity_side.name,
                        "ts": event.ts_event // 1_000_000})

    def on_position_event(self, event: PositionEvent) -> None:
        """Report positions and PnL when a position opens, changes or closes."""
        self._portfolio()

    def _portfolio(self) -> None:
        """Positions, PnL and balances now (PnL and balances as the ``live`` summary computes them)."""
        self._last_portfolio = time.monotonic()
        try:
            self._send({"type": "portfolio", **self.portfolio_now(), "ts": int(time.time() * 1000)})
        except Exception as e:  # noqa: BLE001 - a report must never stop the engine
            self.log.error(f"paper portfolio report failed: {type(e).__name__}: {e}")

    def portfolio_now(self) -> dict[str, Any]:
        """``positions`` and ``pnl`` (realized, unrealized, commissions, balances per currency)."""
        positions = []
        for p in self.cache.positions():
            last = self.cache.trade_tick(p.instrument_id)
            unrealized = p.unrealized_pnl(last.price) if last is not None and p.is_open else None
            positions.append({"instrument": str(p.instrument_id), "side": p.side.name,
                              "quantity": str(p.quantity), "avg_px_open": p.avg_px_open,
                              "realized_pnl": str(p.realized_pnl) if p.realized_pnl is not None else None,
                              "unrealized_pnl": None if unrealized is None else str(unrealized),
                              "last_price": None if last is None else str(last.price),
                              "ts_opened": p.ts_opened // 1_000_000})
        summary = summarize(SimpleNamespace(kernel=SimpleNamespace(cache=self.cache, portfolio=self.portfolio)),
                            0.0, "running", None)
        pnl = {k: v for k, v in asdict(summary).items() if k not in ("seconds", "stopped_by", "failure")}
        # the portfolio marks positions on quotes and bars, which this node does not subscribe: on the last trade
        pnl["unrealized_pnl"] = {}
        for p in positions:
            if p["unrealized_pnl"]:
                amount, currency = p["unrealized_pnl"].split()
                total = Decimal(pnl["unrealized_pnl"].get(currency, "0")) + Decimal(amount)
                pnl["unrealized_pnl"][currency] = str(total)
        return {"positions": positions, "pnl": pnl}


def main(urls: dict[str, str], log_dir: str, requests: Any, events: Any) -> None:
    """The child process: build the node as ``live`` does, run until SIGTERM, report ``stopped``."""
    from nautilus_trader.config import ImportableStrategyConfig

    from framework.binance.config import BinanceUrls
    from framework.live.node import PaperRun
    from framework.live.node import PaperTradingConfig
    from framework.live.node import check_paper_config

    try:
        strategy = ImportableStrategyConfig(strategy_path=f"{__name__}:AlertOrders",
                                            config_path=f"{__name__}:AlertOrdersConfig", config={})
        cfg = PaperTradingConfig(strategies=(strategy,), markets=("futures", "spot"), trader_id="WORKSTATION-001")
        check_paper_config(cfg, "serve paper trading")
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        run = PaperRun(cfg, BinanceUrls(**urls), log_dir=Path(log_dir))
        orders = next(s for s in run.node.trader.strategies() if isinstance(s, AlertOrders))

        def running() -> None:
            orders.attach(requests, events, run.loop)
            events.put({"type": "running", "log": str(Path(log_dir) / "nautilus.log")})

        summary = run.run(None, on_running=running)
        events.put({"type": "stopped", "summary": asdict(summary)})
    except BaseException as e:  # noqa: BLE001 - the server shows why paper trading is off
        events.put({"type": "stopped", "error": f"{type(e).__name__}: {e}"})
        raise
