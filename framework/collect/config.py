"""Settings of ``collect``: the legacy harness's environment variables, YAML keys and flags."""

from __future__ import annotations

import msgspec
from nautilus_trader.common.config import NautilusConfig

from framework.binance.endpoints import CONTRACT_TYPES
from framework.binance.endpoints import FUTURES_DATA_PERIODS
from framework.errors import UsageError
from framework.values import parse_count
from framework.values import parse_interval
from framework.values import parse_symbol


class CollectConfig(NautilusConfig, frozen=True):
    """What ``collect`` fetches and where it writes. Defaults are the legacy harness's.

    ``trade_limit`` also sets the depth levels asked (``min(trade_limit, 1000)``), as the legacy harness does.
    """

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

    @property
    def depth_limit(self) -> int:
        """Depth levels asked on both markets: the legacy harness's ``min(TRADE_LIMIT, 1000)``."""
        return min(self.trade_limit, MAX_DEPTH_LIMIT)

    def check(self) -> CollectConfig:
        """Reject values Binance would refuse, before any request is sent; symbols come back upper-case."""
        symbols = {k: parse_symbol(getattr(self, k), setting_name(k)) for k in SYMBOL_SETTINGS}
        interval = parse_interval(self.kline_interval, setting_name("kline_interval"))
        if interval == "1s":
            raise UsageError(f"{setting_name('kline_interval')}: '1s' klines exist on spot only and collect asks both "
                             "markets; use 1m or longer")
        if self.metric_period not in FUTURES_DATA_PERIODS:
            raise UsageError(f"metric_period {self.metric_period!r} is not offered; use one of "
                             f"{', '.join(FUTURES_DATA_PERIODS)}")
        if self.ws_window_size not in ("1h", "4h", "1d"):
            raise UsageError(f"{setting_name('ws_window_size')}: {self.ws_window_size!r}: use 1h, 4h or 1d")
        if self.continuous_contract_type not in CONTRACT_TYPES:
            raise UsageError(f"{setting_name('continuous_contract_type')}: {self.continuous_contract_type!r}: use "
                             f"{', '.join(CONTRACT_TYPES)}")
        if self.ws_capture_seconds < 0:
            raise UsageError(f"{setting_name('ws_capture_seconds')}: {self.ws_capture_seconds:g} must be zero or more "
                             "(seconds of stream capture; 0 skips it)")
        for key in LIMIT_SETTINGS:
            parse_count(getattr(self, key), setting_name(key))
        if not self.output_dir.strip():
            raise UsageError(f"{setting_name('output_dir')}: empty; give a folder, e.g. outputs")
        return msgspec.structs.replace(self, **symbols)


def setting_name(setting: str) -> str:
    """How the user may have written ``setting``: the YAML key and, for legacy settings, the variable."""
    var = ENV_NAMES.get(setting)
    return f"{setting} ({var})" if var else setting


MAX_DEPTH_LIMIT = 1000
SYMBOL_SETTINGS = ("spot_symbol", "futures_symbol", "futures_pair", "composite_index_symbol")
LIMIT_SETTINGS = ("kline_limit", "funding_limit", "metric_limit", "trade_limit")


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
