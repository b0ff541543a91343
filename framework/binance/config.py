"""Where Binance lives and how our clients talk to it: Nautilus config classes.

URLs resolve in one order everywhere: command-line flags, then environment (``BASE_PATH_SPOT``,
``BASE_PATH_FUTURES``, ``STREAM_URL_SPOT``, ``STREAM_URL_FUTURES``), then YAML, then Binance's
production defaults.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from nautilus_trader.common.config import NautilusConfig

from framework.binance.endpoints import Market

#: Environment variable for each URL field.
URL_ENV = {
    "spot_http": "BASE_PATH_SPOT",
    "futures_http": "BASE_PATH_FUTURES",
    "spot_ws": "STREAM_URL_SPOT",
    "futures_ws": "STREAM_URL_FUTURES",
}


class BinanceUrls(NautilusConfig, frozen=True):
    """Base URLs of the four Binance services (production by default)."""

    spot_http: str = "https://api.binance.com"
    futures_http: str = "https://fapi.binance.com"
    spot_ws: str = "wss://stream.binance.com:9443"
    futures_ws: str = "wss://fstream.binance.com"

    def http(self, market: Market) -> str:
        """The REST base URL requests to ``market`` go to."""
        return self.spot_http if market is Market.SPOT else self.futures_http

    def ws(self, market: Market) -> str:
        """The stream base URL ``market``'s websocket connections open under."""
        return self.spot_ws if market is Market.SPOT else self.futures_ws

    @classmethod
    def resolve(
        cls,
        flags: Mapping[str, str | None] | None = None,
        env: Mapping[str, str] | None = None,
        yaml: Mapping[str, Any] | None = None,
    ) -> BinanceUrls:
        """Flags beat environment, environment beats YAML, YAML beats defaults."""
        env = os.environ if env is None else env
        values: dict[str, str] = {}
        for name, var in URL_ENV.items():
            for source in ((flags or {}).get(name), env.get(var), (yaml or {}).get(name)):
                if source:
                    values[name] = str(source).rstrip("/")
                    break
        return cls(**values)


class RetryConfig(NautilusConfig, frozen=True):
    """Retries of 5xx answers, timeouts and dropped connections (jittered exponential backoff)."""

    max_retries: int = 5
    base_delay_s: float = 0.25
    max_delay_s: float = 10.0
    max_retry_after_s: float = 300.0  # a longer 429/418 wait fails the call instead of sleeping


class BinanceHttpConfig(NautilusConfig, frozen=True):
    """Settings of the REST client."""

    urls: BinanceUrls = BinanceUrls()
    timeout_s: float = 10.0
    retry: RetryConfig = RetryConfig()
    weight_headroom: float = 0.02  # share of the weight budget left unused as a safety margin
    max_concurrency: int = 16
