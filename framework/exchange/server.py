"""The local exchange: spot and USD-M REST + streams on loopback, in-process or as a command.

Spot and futures each get a port (their WebSocket paths overlap, as on Binance's separate hosts)::

    async with LocalExchange(ExchangeConfig(speed=0)) as ex:      # inside a running loop
        ex.urls["futures_http"]

    with LocalExchangeThread(ExchangeConfig()) as ex:             # from synchronous code
        ...
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from aiohttp import web

from framework.binance.endpoints import Market
from framework.binance.limits import WEIGHT_LIMITS
from framework.exchange.data import ExchangeData
from framework.exchange.data import load_data
from framework.exchange.faults import FaultConfig
from framework.exchange.limits import RateLimiter
from framework.exchange.market import LocalMarket
from framework.exchange.market_state import MarketClock
from framework.exchange.rest import RestApi
from framework.exchange.rest import Served
from framework.exchange.streams import StreamServer
from framework.values import parse_duration_ms
from framework.values import parse_time_ms


def clock_origin(start: str, data: ExchangeData) -> int:
    """The market time (ms) at which the exchange's clock starts."""
    if start == "recorded":
        return LocalMarket.default_origin(data)
    if start == "now":
        return int(time.time() * 1000)  # wall-clock time, so receive time - E is a real latency
    return parse_time_ms(start)


@dataclass
class ExchangeConfig:
    """Everything the local exchange can be told. Defaults behave like Binance."""

    host: str = "127.0.0.1"
    port: int = 0  # spot on port, futures on port + 1; 0 picks free ports
    data: Path | None = None  # None: the packaged data
    seed: int = 0
    speed: float = 1.0  # market seconds per wall second; 0 freezes the clock
    # Where the clock starts: "now" (wall-clock time, like Binance), "recorded" (the end of the
    # recordings, their original timestamps), or a time (epoch ms or ISO 8601 UTC).
    start: str = "now"
    history: str = "1d"  # how much tape lies before the clock's start
    weight_limit: int | None = None  # None: Binance's (spot 6000, USD-M 2400 per window)
    window_s: float = 60.0  # length of a rate-limit window (shorter for drills)
    ban_after: int = 20  # requests sent while a 429's Retry-After runs before a 418 ban
    ban_s: float = 120.0
    ping_s: dict[Market, float] = field(default_factory=lambda: {Market.SPOT: 20.0, Market.FUTURES: 180.0})
    faults: FaultConfig = field(default_factory=FaultConfig)
    journal: bool = False  # keep every served REST body (tests compare against it)


class LocalExchange:
    """A Binance-compatible server pair (spot, USD-M) on loopback."""

    def __init__(self, config: ExchangeConfig | None = None, data: ExchangeData | None = None):
        self.config = config or ExchangeConfig()
        self.data = data or load_data(self.config.data)
        self.clock = MarketClock(clock_origin(self.config.start, self.data), self.config.speed)
        self.market = LocalMarket(self.data, self.clock, self.config.seed, parse_duration_ms(self.config.history))
        self.journal: list[Served] | None = [] if self.config.journal else None
        self.limiters: dict[Market, RateLimiter] = {}
        self.rest: dict[Market, RestApi] = {}
        self.streams: dict[Market, StreamServer] = {}
        self.urls: dict[str, str] = {}
        self._runners: list[web.AppRunner] = []

    def _app(self, market: Market) -> web.Application:
        c = self.config
        limit = c.weight_limit or WEIGHT_LIMITS[market]
        self.limiters[market] = RateLimiter(limit, c.window_s, c.ban_after, c.ban_s)
        self.rest[market] = RestApi(market, self.market, self.limiters[market], c.faults, self.journal)
        self.streams[market] = StreamServer(market, self.market, c.faults, c.ping_s[market])
        app = web.Application()
        app.add_routes(self.rest[market].routes())
        app.add_routes(self.streams[market].routes())
        app.on_shutdown.append(lambda _app: self.streams[market].close_all())
        return app

    async def start(self) -> dict[str, str]:
        """Listen (spot, then USD-M) and return the URLs: ``spot_http``, ``spot_ws``, ``futures_http``, ``futures_ws``."""
        for offset, market in enumerate(Market):
            runner = web.AppRunner(self._app(market), access_log=None, handle_signals=False)
            await runner.setup()
            port = self.config.port + offset if self.config.port else 0
            site = web.TCPSite(runner, self.config.host, port)
            await site.start()
            self._runners.append(runner)
            bound = runner.addresses[0][1]
            self.urls[f"{market.value}_http"] = f"http://{self.config.host}:{bound}"
            self.urls[f"{market.value}_ws"] = f"ws://{self.config.host}:{bound}"
        return self.urls

    async def stop(self) -> None:
        """Close every connection and stop listening."""
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()

    async def __aenter__(self) -> LocalExchange:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class LocalExchangeThread:
    """Runs a LocalExchange on its own event loop in a daemon thread (for synchronous callers)."""

    def __init__(self, config: ExchangeConfig | None = None):
        self.exchange = LocalExchange(config)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="local-exchange", daemon=True)

    @property
    def urls(self) -> dict[str, str]:
        """The running exchange's URLs (see ``LocalExchange.start``)."""
        return self.exchange.urls

    def __enter__(self) -> LocalExchange:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.exchange.start(), self.loop).result(timeout=30)
        return self.exchange

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.exchange.stop(), self.loop).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()
