"""Settings of ``collect``: the legacy harness's environment variables, YAML keys and flags."""

from __future__ import annotations

from nautilus_trader.common.config import NautilusConfig

from framework.binance.endpoints import FUTURES_DATA_PERIODS
from framework.binance.endpoints import KLINE_INTERVALS
from framework.errors import UsageError


class CollectConfig(NautilusConfig, frozen=True):
    """What ``collect`` fetches and where it writes. Defaults are the legacy harness's."""

    spot_symbol: str = "BTCUSDT"
    futures_symbol: str = "BTCUSDT"
    futures_pair: str = "BTCUSDT"
    continuous_contract_type: str = "PERPETUAL"
    composite_index_symbol: str = "DEFIUSDT"
    kline_interval: str = "1m"
    metric_period: str = "5m"
    kline_limit: int = 1000
    funding_limit: int = 500
    metric_limit: int = 500
    trade_limit: int = 1000
    depth_limit: int = 100
    output_dir: str = "outputs"
    ws_capture_seconds: float = 30.0
    ws_window_size: str = "4h"
    log_level: str = "INFO"
    plots: bool = False
    # URLs (flags and environment have their own names; see framework.binance.config)
    spot_http: str | None = None
    futures_http: str | None = None
    spot_ws: str | None = None
    futures_ws: str | None = None

    def check(self) -> CollectConfig:
        """Reject values Binance would refuse, before any request is sent."""
        if self.kline_interval not in KLINE_INTERVALS:
            raise UsageError(f"kline_interval {self.kline_interval!r} is not a Binance interval; use one of "
                             f"{', '.join(KLINE_INTERVALS)}")
        if self.metric_period not in FUTURES_DATA_PERIODS:
            raise UsageError(f"metric_period {self.metric_period!r} is not offered; use one of "
                             f"{', '.join(FUTURES_DATA_PERIODS)}")
        if self.ws_window_size not in ("1h", "4h", "1d"):
            raise UsageError(f"ws_window_size {self.ws_window_size!r}: use 1h, 4h or 1d")
        if self.continuous_contract_type not in ("PERPETUAL", "CURRENT_QUARTER", "NEXT_QUARTER"):
            raise UsageError(f"continuous_contract_type {self.continuous_contract_type!r}: use PERPETUAL, "
                             "CURRENT_QUARTER or NEXT_QUARTER")
        if self.ws_capture_seconds < 0:
            raise UsageError("ws_capture_seconds must be >= 0")
        return self


#: Legacy environment variable of each setting (a drop-in for the old harness).
ENV_NAMES = {
    "spot_symbol": "SPOT_SYMBOL",
    "futures_symbol": "FUTURES_SYMBOL",
    "futures_pair": "FUTURES_PAIR",
    "continuous_contract_type": "CONTINUOUS_CONTRACT_TYPE",
    "composite_index_symbol": "COMPOSITE_INDEX_SYMBOL",
    "kline_limit": "KLINE_LIMIT",
    "funding_limit": "FUNDING_LIMIT",
    "metric_limit": "METRIC_LIMIT",
    "trade_limit": "TRADE_LIMIT",
    "log_level": "LOG_LEVEL",
    "output_dir": "OUTPUT_DIR",
    "ws_capture_seconds": "WS_CAPTURE_SECONDS",
    "ws_window_size": "WS_WINDOW_SIZE",
}
