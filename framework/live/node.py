"""Paper trading: a Nautilus ``TradingNode`` with our Binance data clients and simulated execution.

    cfg = load_paper_config("configs/live/paper_futures.yaml")
    summary = run_paper(cfg, urls, duration_s=30)   # blocks; SIGINT/SIGTERM stop it cleanly too
    print(summary.text())

Market data comes from ``BinanceFrameworkDataClient`` (one per market in ``markets``, client ids
"BINANCE-SPOT" / "BINANCE-FUTURES", instruments carrying the fees of ``fees``); orders go to one simulated
BINANCE venue (``framework.live.sandbox``: Nautilus's sandbox, filling on bars too) with ``starting_balances``.
Strategies and actors are Nautilus importable configs (``strategy_path: strategies.examples.x:Cls``). The engines
shut down gracefully on an exception (``graceful_shutdown_on_exception``): the run then ends with the reason
instead of Nautilus's silent ``os._exit``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
from nautilus_trader.adapters.sandbox.config import SandboxExecutionClientConfig
from nautilus_trader.common.config import msgspec_decoding_hook
from nautilus_trader.config import ImportableActorConfig
from nautilus_trader.config import ImportableStrategyConfig
from nautilus_trader.config import InstrumentProviderConfig
from nautilus_trader.config import LiveDataEngineConfig
from nautilus_trader.config import LiveExecEngineConfig
from nautilus_trader.config import LiveRiskEngineConfig
from nautilus_trader.config import LoggingConfig
from nautilus_trader.config import NautilusConfig
from nautilus_trader.config import TradingNodeConfig
from nautilus_trader.live.node import TradingNode
from nautilus_trader.model.enums import OrderStatus
from nautilus_trader.model.events import OrderFilled
from nautilus_trader.model.identifiers import Venue

from framework.binance.config import BinanceUrls
from framework.data.instruments import BINANCE_VENUE
from framework.data.instruments import FeeConfig
from framework.errors import FrameworkError
from framework.errors import UsageError
from framework.live.config import BinanceFrameworkDataClientConfig
from framework.live.factories import BinanceFrameworkDataClientFactory
from framework.live.sandbox import SandboxLiveExecClientFactory
from framework.settings import read_yaml

log = logging.getLogger("framework.live")

SHUTDOWN_TOPIC = "commands.system.shutdown"
STOP_TIMEOUT_S = 30.0


class PaperTradingConfig(NautilusConfig, frozen=True):
    """A paper-trading run (the YAML of ``python -m framework.main live``).

    ``markets``: "spot" and/or "futures" (one data client each). ``fees``: ``FeeConfig`` (maker/taker per market;
    Binance's VIP 0 by default). ``data``: extra ``BinanceFrameworkDataClientConfig`` options for every client
    (e.g. ``streams_per_connection``). ``spot_http`` ... ``futures_ws``: URLs (flags and environment win).
    ``duration``: seconds to run (None: until SIGINT/SIGTERM).
    """

    strategies: tuple[ImportableStrategyConfig, ...] = ()
    actors: tuple[ImportableActorConfig, ...] = ()
    markets: tuple[str, ...] = ("futures",)
    trader_id: str = "PAPER-001"
    starting_balances: tuple[str, ...] = ("10000 USDT",)
    account_type: str = "MARGIN"
    oms_type: str = "NETTING"
    default_leverage: Decimal = Decimal(1)
    fees: FeeConfig = FeeConfig()
    data: dict[str, Any] | None = None
    duration: float | None = None
    log_level: str = "INFO"
    spot_http: str | None = None
    futures_http: str | None = None
    spot_ws: str | None = None
    futures_ws: str | None = None


def load_paper_config(path: str | Path | None, **overrides: Any) -> PaperTradingConfig:
    """The YAML at ``path`` as a config (unknown keys and bad values raise one-line ``UsageError``s)."""
    raw = {**read_yaml(path, "live"), **{k: v for k, v in overrides.items() if v is not None}}
    try:
        cfg = msgspec.convert(raw, PaperTradingConfig, dec_hook=msgspec_decoding_hook, strict=False)
    except msgspec.ValidationError as e:
        raise UsageError(f"{path or 'live'}: {e}") from None
    bad = [m for m in cfg.markets if m not in ("spot", "futures")]
    if bad or not cfg.markets:
        raise UsageError(f"{path or 'live'}: markets must be spot and/or futures, got {list(cfg.markets)}")
    if not cfg.strategies and not cfg.actors:
        raise UsageError(f"{path or 'live'}: nothing to run; list at least one strategy or actor")
    return cfg


def node_config(cfg: PaperTradingConfig, urls: BinanceUrls) -> TradingNodeConfig:
    """The Nautilus node configuration of a paper run."""
    data_options = dict(cfg.data or {})
    try:
        data_clients = {
            f"BINANCE-{market.upper()}": BinanceFrameworkDataClientConfig(
                market=market, urls=urls, fees=cfg.fees,
                instrument_provider=InstrumentProviderConfig(load_all=True), **data_options,
            )
            for market in cfg.markets
        }
    except TypeError as e:
        raise UsageError(f"data: {e}; see BinanceFrameworkDataClientConfig for the options") from None
    sandbox = SandboxExecutionClientConfig(
        venue=BINANCE_VENUE.value,
        starting_balances=list(cfg.starting_balances),
        account_type=cfg.account_type,
        oms_type=cfg.oms_type,
        default_leverage=cfg.default_leverage,
    )
    return TradingNodeConfig(
        trader_id=cfg.trader_id,
        logging=LoggingConfig(log_level=cfg.log_level.upper()),
        data_engine=LiveDataEngineConfig(graceful_shutdown_on_exception=True),
        risk_engine=LiveRiskEngineConfig(graceful_shutdown_on_exception=True),
        exec_engine=LiveExecEngineConfig(graceful_shutdown_on_exception=True),
        data_clients=data_clients,
        exec_clients={BINANCE_VENUE.value: sandbox},
        strategies=list(cfg.strategies),
        actors=list(cfg.actors),
        timeout_connection=30.0,
        timeout_disconnection=10.0,
        timeout_post_stop=1.0,
    )


@dataclass
class PaperSummary:
    """What a paper run did: orders, fills, positions, PnL and balances per currency (decimal text)."""

    seconds: float
    stopped_by: str
    orders: int = 0
    orders_filled: int = 0
    orders_rejected: int = 0
    fills: int = 0
    positions: int = 0
    positions_open: int = 0
    realized_pnl: dict[str, str] = field(default_factory=dict)
    unrealized_pnl: dict[str, str] = field(default_factory=dict)
    commissions: dict[str, str] = field(default_factory=dict)
    balances: dict[str, str] = field(default_factory=dict)
    failure: str | None = None

    def text(self) -> str:
        def money(values: dict[str, str]) -> str:
            return ", ".join(f"{v} {k}" for k, v in values.items()) or "0"

        return "\n".join([
            f"paper run: {self.seconds:.1f}s, stopped by {self.stopped_by}",
            f"  orders     {self.orders} (filled {self.orders_filled}, rejected {self.orders_rejected}), "
            f"fills {self.fills}",
            f"  positions  {self.positions} ({self.positions_open} open)",
            f"  PnL        realized {money(self.realized_pnl)}; unrealized {money(self.unrealized_pnl)}; "
            f"commissions {money(self.commissions)}",
            f"  balances   {money(self.balances)}",
            *([f"  FAILURE    {self.failure}"] if self.failure else []),
            "summary: " + json.dumps(asdict(self), sort_keys=True),
        ])


def _add(totals: dict[str, Decimal], money: Any) -> None:
    if money is not None:
        code = money.currency.code
        totals[code] = totals.get(code, Decimal(0)) + money.as_decimal()


def summarize(node: TradingNode, seconds: float, stopped_by: str, failure: str | None) -> PaperSummary:
    """Read the node's cache and portfolio (before ``dispose``)."""
    cache, portfolio = node.kernel.cache, node.kernel.portfolio
    orders = cache.orders()
    positions = cache.positions()
    fills = [e for o in orders for e in o.events if isinstance(e, OrderFilled)]
    realized: dict[str, Decimal] = {}
    commissions: dict[str, Decimal] = {}
    for p in positions:
        _add(realized, p.realized_pnl)
    for f in fills:
        _add(commissions, f.commission)
    unrealized: dict[str, Decimal] = {}
    venue = Venue(BINANCE_VENUE.value)
    for money in (portfolio.unrealized_pnls(venue) or {}).values():
        _add(unrealized, money)
    balances: dict[str, Decimal] = {}
    account = cache.account_for_venue(venue)
    if account is not None:
        for money in account.balances_total().values():
            _add(balances, money)

    def text(values: dict[str, Decimal]) -> dict[str, str]:
        return {k: str(v) for k, v in sorted(values.items())}

    return PaperSummary(
        seconds=seconds,
        stopped_by=stopped_by,
        orders=len(orders),
        orders_filled=sum(1 for o in orders if o.is_closed and o.filled_qty > 0),
        orders_rejected=sum(1 for o in orders if o.status == OrderStatus.REJECTED),
        fills=len(fills),
        positions=len(positions),
        positions_open=sum(1 for p in positions if p.is_open),
        realized_pnl=text(realized),
        unrealized_pnl=text(unrealized),
        commissions=text(commissions),
        balances=text(balances),
        failure=failure,
    )


class PaperRun:
    """Builds the node, runs it until ``duration_s``, a signal or an engine failure, and summarizes it."""

    def __init__(self, cfg: PaperTradingConfig, urls: BinanceUrls) -> None:
        self.cfg = cfg
        self.loop = asyncio.new_event_loop()
        try:
            self.node = TradingNode(node_config(cfg, urls), loop=self.loop)
            self.node.add_data_client_factory("BINANCE", BinanceFrameworkDataClientFactory)
            self.node.add_exec_client_factory("BINANCE", SandboxLiveExecClientFactory)
            self.node.build()
        except FrameworkError:
            self.loop.close()
            raise
        except Exception as e:  # a strategy/actor that does not import or configure
            self.loop.close()
            raise UsageError(f"cannot build the trading node: {type(e).__name__}: {e}") from None
        self.failure: str | None = None
        self.node.kernel.msgbus.subscribe(SHUTDOWN_TOPIC, self._on_shutdown)

    def _on_shutdown(self, command: Any) -> None:
        reason = getattr(command, "reason", None)
        if reason:  # the engines send a reason when an exception made them shut down
            self.failure = str(reason)

    async def _drive(self, duration_s: float | None) -> str:
        run_task = asyncio.ensure_future(self.node.run_async())
        done, _ = await asyncio.wait([run_task], timeout=duration_s)
        stopped_by = "signal or shutdown" if done else "duration"
        if not done:
            await self.node.stop_async()
            await asyncio.wait_for(run_task, STOP_TIMEOUT_S)
        run_task.result()
        return stopped_by

    def run(self, duration_s: float | None = None) -> PaperSummary:
        started = self.loop.time()
        try:
            stopped_by = self.loop.run_until_complete(self._drive(duration_s))
            if self.failure:
                stopped_by = "engine failure"
            return summarize(self.node, self.loop.time() - started, stopped_by, self.failure)
        finally:
            self.node.dispose()
            if not self.loop.is_closed():
                self.loop.close()


def run_paper(cfg: PaperTradingConfig, urls: BinanceUrls, duration_s: float | None = None) -> PaperSummary:
    """Run a paper-trading node (blocking) and return its summary."""
    return PaperRun(cfg, urls).run(duration_s if duration_s is not None else cfg.duration)
