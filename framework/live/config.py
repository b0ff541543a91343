"""Configuration of the framework's Binance data clients (Nautilus config classes)."""

from __future__ import annotations

from nautilus_trader.config import LiveDataClientConfig

from framework.binance.config import BinanceUrls
from framework.binance.endpoints import Market
from framework.data.instruments import FeeConfig


class BinanceFrameworkDataClientConfig(LiveDataClientConfig, frozen=True):
    """One market's data client (register one per market: client keys "BINANCE-SPOT", "BINANCE-FUTURES").

    market : "spot" or "futures" (USD-M).
    urls : the four Binance URLs (default: environment, then production); ``base_url_http`` /
        ``base_url_ws`` override this market's two.
    streams_per_connection : streams carried by one websocket (Binance allows 1024).
    poll_interval_secs : how often the REST-only series (open interest, long/short ratios, taker buy/sell
        volume) are polled; ``poll_period`` is their statistics period.
    latency_warn_ms : warn when a stream's receive time - event time grows this far above its floor.
    heartbeat_secs : client pings to detect a half-dead socket (None: rely on the server's pings).
    fees : fees and margins put on the instruments (exchangeInfo has none).
    """

    market: str = "futures"
    urls: BinanceUrls | None = None
    base_url_http: str | None = None
    base_url_ws: str | None = None
    streams_per_connection: int = 200
    poll_interval_secs: float = 60.0
    poll_period: str = "5m"
    latency_warn_ms: float = 1000.0
    heartbeat_secs: float | None = None
    fees: FeeConfig | None = None

    @property
    def binance_market(self) -> Market:
        """The ``market`` setting as the ``Market`` the endpoint table and the URLs are keyed by."""
        return Market(self.market)

    def http_url(self) -> str:
        """This market's REST base URL: ``base_url_http``, else the one of ``urls`` (default: resolved)."""
        return self.base_url_http or (self.urls or BinanceUrls.resolve()).http(self.binance_market)

    def ws_url(self) -> str:
        """This market's stream base URL: ``base_url_ws``, else the one of ``urls`` (default: resolved)."""
        return self.base_url_ws or (self.urls or BinanceUrls.resolve()).ws(self.binance_market)

    def resolved_urls(self) -> BinanceUrls:
        """The URLs with this market's overrides applied."""
        base = self.urls or BinanceUrls.resolve()
        market = self.binance_market.value
        return BinanceUrls(**{**base.dict(), f"{market}_http": self.http_url(), f"{market}_ws": self.ws_url()})
