"""Paper trading: a Nautilus ``TradingNode`` with our Binance data clients and simulated execution.

    cfg = load_paper_config("configs/live/paper_futures.yaml")   # validated: one UsageError line per mistake
    summary = run_paper(cfg, urls, duration_s=30, log_dir=Path("runs/live/x"))  # blocks; SIGINT/SIGTERM stop it
    print(summary.text())

Market data comes from ``BinanceFrameworkDataClient`` (one per market in ``markets``, client ids
"BINANCE-SPOT" / "BINANCE-FUTURES", instruments carrying the fees of ``fees``); orders go to one simulated
BINANCE venue (``framework.live.sandbox``: Nautilus's sandbox, filling on bars too) with ``starting_balances``.
Strategies and actors are Nautilus importable configs (``strategy_path: strategies.examples.x:Cls``). The engines
shut down gracefully on an exception (``graceful_shutdown_on_exception``): the run then ends with the reason
instead of Nautilus's silent ``os._exit``. With a ``log_dir`` Nautilus logs to ``<log_dir>/nautilus.log`` only
(nothing on stdout); without one it logs to stdout at ``log_level``.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import re
import sys
from collections.abc import Callable
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

from framework.binance.config import URL_ENV
from framework.binance.config import BinanceHttpConfig
from framework.binance.config import BinanceUrls
from framework.binance.http import BinanceRestClient
from framework.data.instruments import BINANCE_VENUE
from framework.data.instruments import FeeConfig
from framework.data.instruments import parse_instruments
from framework.errors import FrameworkError
from framework.errors import UsageError
from framework.live.checks import LOG_LEVELS
from framework.live.checks import MARKETS
from framework.live.checks import check_components
from framework.live.checks import check_fees
from framework.live.checks import check_listed
from framework.live.checks import check_trader_id
from framework.live.checks import check_venue
from framework.live.config import BinanceFrameworkDataClientConfig
from framework.live.data import node_feeds
from framework.live.factories import BinanceFrameworkDataClientFactory
from framework.live.feed import MarketFeed
from framework.live.feed import first_failure
from framework.live.sandbox import SandboxLiveExecClientFactory
from framework.live.summary import PaperSummary
from framework.live.summary import summarize
from framework.settings import read_yaml
from framework.userconfig import explain
from framework.values import parse_duration_s

log = logging.getLogger("framework.live")

SHUTDOWN_TOPIC = "commands.system.shutdown"
STOP_TIMEOUT_S = 30.0
NAUTILUS_LOG = "nautilus"  # <log_dir>/nautilus.log
EXAMPLE_PATHS = {
    "strategy_path": "strategies.examples.order_flow_follower:OrderFlowFollower",
    "actor_path": "strategies.actors.order_flow:OrderFlowActor",
    "config_path": "strategies.examples.order_flow_follower:OrderFlowFollowerConfig",
}


class PaperTradingConfig(NautilusConfig, frozen=True):
    """A paper-trading run (the YAML of ``python -m framework.main live``).

    ``markets``: "spot" and/or "futures" (one data client each). ``fees``: ``FeeConfig`` (maker/taker per market;
    Binance's VIP 0 by default). ``data``: extra ``BinanceFrameworkDataClientConfig`` options for every client
    (e.g. ``streams_per_connection``). ``spot_http`` ... ``futures_ws``: URLs (flags and environment win).
    ``duration``: how long to run (``30``, ``90s``, ``15m``; None: until SIGINT/SIGTERM). ``log_level``: of
    Nautilus's log (DEBUG, INFO, WARNING, ERROR).
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
    duration: str | int | float | None = None
    log_level: str = "INFO"
    spot_http: str | None = None
    futures_http: str | None = None
    spot_ws: str | None = None
    futures_ws: str | None = None

    def duration_s(self) -> float | None:
        """``duration`` in seconds (validated by ``load_paper_config``)."""
        return None if self.duration is None else parse_duration_s(self.duration, "duration")


def load_paper_config(path: str | Path | None, **overrides: Any) -> PaperTradingConfig:
    """The YAML at ``path`` as a config, checked before any node exists: unknown keys (with the closest valid
    one), bad values, identifiers Nautilus would panic on, strategies/actors that do not import or configure,
    instruments outside ``markets``. Each mistake raises one ``UsageError`` line."""
    source = str(path or "live")
    raw = {**read_yaml(path, "live"), **{k: v for k, v in overrides.items() if v is not None}}
    try:
        cfg = msgspec.convert(raw, PaperTradingConfig, dec_hook=msgspec_decoding_hook, strict=False)
    except msgspec.ValidationError as e:
        text = explain(e, PaperTradingConfig)
        if "missing required field" in text:  # "strategies.0: Object missing required field `strategy_path`"
            where, _, rest = text.partition(": ")
            field = rest.split("`")[1]
            where = re.sub(r"\.(\d+)", r"[\1]", where)
            text = f"{where}: {field} is missing; e.g. {field}: {EXAMPLE_PATHS.get(field, '...')}"
        raise UsageError(f"{source}: {text}") from None
    check_paper_config(cfg, source)
    return cfg


def with_urls(cfg: PaperTradingConfig, urls: BinanceUrls) -> PaperTradingConfig:
    """The config with the run's URLs in every strategy/actor config that has a ``urls`` field left empty (e.g.
    the order-flow actor's ``restore``), as the backtest fills ``catalog_path``: with ``--offline`` the user cannot
    know the local exchange's URLs in advance."""

    def fill(items: tuple[Any, ...]) -> tuple[Any, ...]:
        out = []
        for item in items:
            if item.config.get("urls") is None and "urls" in _fields_of(item.config_path):
                item = msgspec.structs.replace(item, config={**item.config, "urls": msgspec.to_builtins(urls)})
            out.append(item)
        return tuple(out)

    return msgspec.structs.replace(cfg, strategies=fill(cfg.strategies), actors=fill(cfg.actors))


def _fields_of(config_path: str) -> set[str]:
    try:
        module, _, name = config_path.partition(":")
        return {f.name for f in msgspec.structs.fields(getattr(importlib.import_module(module), name))}
    except Exception:  # noqa: BLE001 - check_components names what does not import
        return set()


def check_paper_config(cfg: PaperTradingConfig, source: str = "live") -> None:
    """Everything ``load_paper_config`` checks after decoding (also for configs built in code)."""
    bad = [m for m in cfg.markets if m not in MARKETS]
    if bad or not cfg.markets:
        raise UsageError(f"{source}: markets must be spot and/or futures, got {list(cfg.markets)}")
    if not cfg.strategies and not cfg.actors:
        raise UsageError(f"{source}: nothing to run; list at least one strategy or actor")
    if cfg.log_level.upper() not in LOG_LEVELS:
        raise UsageError(f"{source}: log_level {cfg.log_level!r} is not one of {', '.join(LOG_LEVELS)}")
    if cfg.duration is not None:
        try:
            cfg.duration_s()
        except UsageError as e:
            raise UsageError(f"{source}: {e}") from None
    check_trader_id(cfg.trader_id, source)
    check_venue(cfg.account_type, cfg.oms_type, cfg.starting_balances, cfg.default_leverage, source)
    check_fees(cfg.fees, source)
    try:
        msgspec.convert({**(cfg.data or {}), "market": cfg.markets[0]}, BinanceFrameworkDataClientConfig,
                        dec_hook=msgspec_decoding_hook)
    except msgspec.ValidationError as e:
        raise UsageError(f"{source}: data: {explain(e, BinanceFrameworkDataClientConfig)}") from None
    filled = with_urls(cfg, BinanceUrls.resolve(yaml={k: getattr(cfg, k) for k in URL_ENV}))  # the run fills them
    check_components(filled.strategies, filled.actors, cfg.markets, source)


def listed_instruments(markets: tuple[str, ...], urls: BinanceUrls) -> dict[str, set[str]]:
    """Instrument ids per market as the data clients will load them (one exchangeInfo request per market; a
    market that cannot be read is left out: the node reports the connection problem itself)."""

    async def fetch() -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        async with BinanceRestClient(BinanceHttpConfig(urls=urls)) as rest:
            for market in markets:
                try:
                    info = await rest.get(market, "exchange_info")
                except Exception as e:  # noqa: BLE001 - unreachable or refused: leave the check to the node
                    log.warning("exchangeInfo (%s) unavailable for the instrument check: %s", market, e)
                    continue
                out[market] = {str(i.id) for i in parse_instruments(market, info)}
        return out

    return asyncio.run(fetch())


def check_instruments_listed(cfg: PaperTradingConfig, urls: BinanceUrls, source: str = "live") -> None:
    """Every instrument the strategies and actors name is listed on its market (before the node is built)."""
    named = check_components(cfg.strategies, cfg.actors, cfg.markets, source)
    if named:
        check_listed(named, listed_instruments(tuple(sorted({m for _, _, m in named})), urls))


def _logging(cfg: PaperTradingConfig, log_dir: Path | None) -> LoggingConfig:
    level = cfg.log_level.upper()
    colors = sys.stdout.isatty()
    if log_dir is None:
        return LoggingConfig(log_level=level, log_colors=colors)
    # our console lines only: Nautilus (banner included) writes to the run folder's file
    return LoggingConfig(log_level="OFF", log_level_file=level, log_directory=str(log_dir),
                         log_file_name=NAUTILUS_LOG, log_colors=False)


def node_config(cfg: PaperTradingConfig, urls: BinanceUrls, log_dir: Path | None = None) -> TradingNodeConfig:
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
        logging=_logging(cfg, log_dir),
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


class PaperRun:
    """Builds the node, runs it until ``duration_s``, a signal or an engine failure, and summarizes it.

    ``log_dir``: Nautilus logs to ``<log_dir>/nautilus.log`` instead of stdout. Build the run only from a checked
    config (``load_paper_config`` / ``check_paper_config``): Nautilus aborts the process on some bad identifiers.
    """

    def __init__(self, cfg: PaperTradingConfig, urls: BinanceUrls, log_dir: Path | None = None) -> None:
        self.cfg = cfg
        self.loop = asyncio.new_event_loop()
        try:
            self.node = TradingNode(node_config(cfg, urls, log_dir), loop=self.loop)
            self.node.add_data_client_factory("BINANCE", BinanceFrameworkDataClientFactory)
            self.node.add_exec_client_factory("BINANCE", SandboxLiveExecClientFactory)
            self.node.build()
        except FrameworkError:
            self.loop.close()
            raise
        except Exception as e:  # a strategy/actor whose __init__ refuses its config
            self.loop.close()
            raise UsageError(f"cannot build the trading node: {type(e).__name__}: {e}") from None
        self.failure: str | None = None
        self.refused: MarketFeed | None = None  # a feed whose streams the exchange refused (ends the run)
        self.node.kernel.msgbus.subscribe(SHUTDOWN_TOPIC, self._on_shutdown)

    def _on_shutdown(self, command: Any) -> None:
        reason = getattr(command, "reason", None)
        if reason:  # the engines send a reason when an exception made them shut down
            self.failure = str(reason)

    async def _announce(self, run_task: asyncio.Future, on_running: Callable[[], None]) -> None:
        while not run_task.done():
            if self.node.trader.is_running:
                on_running()
                return
            await asyncio.sleep(0.1)

    async def _drive(self, duration_s: float | None, on_running: Callable[[], None] | None) -> str:
        run_task = asyncio.ensure_future(self.node.run_async())
        announce = asyncio.ensure_future(self._announce(run_task, on_running)) if on_running else None
        refused = asyncio.ensure_future(first_failure(node_feeds(self.node.kernel.msgbus)))
        done, _ = await asyncio.wait([run_task, refused], timeout=duration_s, return_when=asyncio.FIRST_COMPLETED)
        stopped_by = "signal or shutdown" if run_task in done else "stream refused" if refused in done else "duration"
        if refused in done:
            self.refused = refused.result()
        refused.cancel()
        if run_task not in done:
            await self.node.stop_async()
            await asyncio.wait_for(run_task, STOP_TIMEOUT_S)
        if announce is not None:
            announce.cancel()
        run_task.result()
        return stopped_by

    def run(self, duration_s: float | None = None, on_running: Callable[[], None] | None = None) -> PaperSummary:
        """Run (blocking) and summarize; ``on_running`` is called once the trader runs."""
        started = self.loop.time()
        try:
            try:
                stopped_by = self.loop.run_until_complete(self._drive(duration_s, on_running))
            except Exception as e:  # noqa: BLE001 - e.g. a strategy whose on_start raises: the node never runs
                raise FrameworkError(f"the trading node failed: {type(e).__name__}: {e} (see the Nautilus log)") from e
            if self.refused is not None:  # the streams never deliver: say so now, not after the whole duration
                raise FrameworkError(f"{self.refused.refusal()}; use an instrument with live market data in the "
                                     "strategies' and actors' configs")
            if self.failure:
                stopped_by = "engine failure"
            return summarize(self.node, self.loop.time() - started, stopped_by, self.failure)
        finally:
            self.node.dispose()
            if not self.loop.is_closed():
                self.loop.close()
            _release_log(self.node)


def _release_log(node: TradingNode) -> None:
    """Drop the kernel's log guard: dropping the last one flushes and syncs the log file synchronously (Nautilus
    writes it from a thread; without this the last lines, shutdown included, can miss a process that exits)."""
    kernel = node.kernel
    if getattr(kernel, "_log_guard", None) is not None:
        kernel._log_guard = None  # the only reference: LogGuard.__del__ -> logger_drop


def run_paper(cfg: PaperTradingConfig, urls: BinanceUrls, duration_s: float | None = None,
              log_dir: Path | None = None, on_running: Callable[[], None] | None = None) -> PaperSummary:
    """Run a paper-trading node (blocking) and return its summary (``duration_s``: else the config's)."""
    duration = duration_s if duration_s is not None else cfg.duration_s()
    return PaperRun(cfg, urls, log_dir).run(duration, on_running)
