"""Nautilus factory for the framework's Binance data clients (register as "BINANCE")."""

from __future__ import annotations

import asyncio

from nautilus_trader.cache.cache import Cache
from nautilus_trader.common.component import LiveClock
from nautilus_trader.common.component import MessageBus
from nautilus_trader.live.factories import LiveDataClientFactory

from framework.binance.config import BinanceHttpConfig
from framework.binance.credentials import Credentials
from framework.binance.http import BinanceRestClient
from framework.live.config import BinanceFrameworkDataClientConfig
from framework.live.data import BinanceFrameworkDataClient
from framework.live.providers import BinanceFrameworkInstrumentProvider


class BinanceFrameworkDataClientFactory(LiveDataClientFactory):
    """``node.add_data_client_factory("BINANCE", BinanceFrameworkDataClientFactory)``; data client keys
    "BINANCE-SPOT" / "BINANCE-FUTURES" (the part before "-" picks this factory); the clients' ids are
    ``ClientId("BINANCE-SPOT")`` / ``ClientId("BINANCE-FUTURES")``."""

    @staticmethod
    def create(  # type: ignore[override]
        loop: asyncio.AbstractEventLoop,
        name: str,
        config: BinanceFrameworkDataClientConfig,
        msgbus: MessageBus,
        cache: Cache,
        clock: LiveClock,
    ) -> BinanceFrameworkDataClient:
        """Nautilus hook: the market's data client with its own REST client and instrument provider."""
        if config.market not in ("spot", "futures"):
            raise ValueError(f"data client {name}: market must be spot or futures, got {config.market!r}")
        rest = BinanceRestClient(BinanceHttpConfig(urls=config.resolved_urls()), Credentials.from_env())
        provider = BinanceFrameworkInstrumentProvider(rest, config.market, config.instrument_provider, config.fees)
        # the node builder passes only the key's prefix ("BINANCE"); spot and futures clients need distinct ids
        client_id = name if "-" in name else f"{name}-{config.market.upper()}"
        return BinanceFrameworkDataClient(loop, rest, msgbus, cache, clock, provider, config, name=client_id)
