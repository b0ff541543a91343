"""Stream side of the local exchange (placeholder until the stream server lands)."""

from __future__ import annotations

from aiohttp import web

from framework.binance.endpoints import Market
from framework.exchange.faults import FaultConfig
from framework.exchange.market import LocalMarket


class StreamServer:
    def __init__(self, market: Market, local: LocalMarket, faults: FaultConfig, ping_seconds: float):
        self.market, self.local, self.faults, self.ping_seconds = market, local, faults, ping_seconds

    def routes(self) -> list[web.RouteDef]:
        return []

    async def close_all(self) -> None:
        return None
