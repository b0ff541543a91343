"""Simulated execution for paper trading: Nautilus's sandbox, filling on bar-only feeds too.

Nautilus's ``SandboxExecutionClient`` feeds its simulated exchange from the ``data.*.BINANCE.*`` topics: quotes,
trades, books and instruments. Bar topics (``data.bars.<bar_type>``) do not match that pattern, so a strategy fed
only bars meets an empty book and its orders are rejected ("no market"). ``BarSandboxExecutionClient`` also
listens to the bars of its venue and hands them to the simulated exchange, which moves the market on them exactly
as a backtest with ``bar_execution`` does (open, high, low, close). With trade ticks subscribed as well, both
move the market, as in a backtest given both.

The factory keeps Nautilus's class name: the node builder passes ``portfolio=`` only to a factory whose class is
literally named ``SandboxLiveExecClientFactory``.
"""

from __future__ import annotations

import asyncio

from nautilus_trader.adapters.sandbox.config import SandboxExecutionClientConfig
from nautilus_trader.adapters.sandbox.execution import SandboxExecutionClient
from nautilus_trader.cache.cache import Cache
from nautilus_trader.common.component import LiveClock
from nautilus_trader.common.component import MessageBus
from nautilus_trader.live.factories import LiveExecClientFactory
from nautilus_trader.model.data import Bar
from nautilus_trader.portfolio import PortfolioFacade


class BarSandboxExecutionClient(SandboxExecutionClient):
    """The Nautilus sandbox, plus the venue's bars as market data for its matching engines."""

    def connect(self) -> None:
        """Nautilus hook: connect the sandbox, then hand it the venue's bars too."""
        super().connect()
        self._msgbus.subscribe("data.bars.*", handler=self._on_bar)

    def disconnect(self) -> None:
        """Nautilus hook: stop handing over bars, then disconnect the sandbox."""
        self._msgbus.unsubscribe("data.bars.*", handler=self._on_bar)
        super().disconnect()

    def _on_bar(self, bar: Bar) -> None:
        if bar.bar_type.instrument_id.venue == self.venue:
            self.on_data(bar)


class SandboxLiveExecClientFactory(LiveExecClientFactory):
    """Builds a :class:`BarSandboxExecutionClient` (the name is what makes the node pass the portfolio)."""

    @staticmethod
    def create(  # type: ignore[override]
        loop: asyncio.AbstractEventLoop,
        name: str,
        config: SandboxExecutionClientConfig,
        portfolio: PortfolioFacade,
        msgbus: MessageBus,
        cache: Cache,
        clock: LiveClock,
    ) -> BarSandboxExecutionClient:
        """Nautilus hook: a :class:`BarSandboxExecutionClient` of ``config``."""
        return BarSandboxExecutionClient(loop=loop, clock=clock, portfolio=portfolio, msgbus=msgbus, cache=cache,
                                         config=config)
