"""``record`` settings: which live series go into which catalog, and how often it is flushed.

    catalog: catalog
    flush_secs: 10          # write buffered rows at least this often ...
    flush_rows: 50000       # ... or as soon as this many are buffered
    poll_interval_secs: 300 # REST-only series (open interest, ratios, taker volume, funding)
    backfill_days: 30       # how far back the REST-only series are filled (/futures/data keeps 30 days)
    markets:
      futures:
        symbols: [BTCUSDT]
        kinds: [agg_trades, klines, open_interest, taker_volume]
        intervals: [1m]
        periods: [5m]
    offline:                # the local exchange of --offline (ExchangeConfig fields and fault drills)
      speed: 1
      drop_ws_every: 0
"""

from __future__ import annotations

from typing import Any

from nautilus_trader.common.config import NautilusConfig

from framework.errors import UsageError
from framework.ingest.config import IngestConfig
from framework.ingest.config import MarketSelection
from framework.ingest.config import plan_series

#: Kinds taken from the streams (gap-filled over REST); every other ingest kind is polled over REST.
STREAMED = ("agg_trades", "klines")
_FAULT_KEYS = ("drop_ws_every", "drop_ws_random", "stall_pings", "latency_ms", "http_5xx_rate",
               "malformed_frame_rate")


class RecordConfig(NautilusConfig, frozen=True):
    catalog: str = "catalog"
    markets: dict[str, MarketSelection] = {}
    flush_secs: float = 10.0
    flush_rows: int = 50_000
    poll_interval_secs: float = 300.0
    backfill_days: float = 30.0
    streams_per_connection: int = 200
    latency_warn_ms: float = 1000.0
    status_secs: float = 10.0
    duration: float | None = None  # seconds; None: until SIGINT / SIGTERM
    offline: dict[str, Any] = {}
    spot_http: str | None = None
    futures_http: str | None = None
    spot_ws: str | None = None
    futures_ws: str | None = None

    def validate(self) -> None:
        """One UsageError line for the first mistake."""
        if self.flush_secs <= 0 or self.flush_rows <= 0:
            raise UsageError("flush_secs and flush_rows must be positive")
        # markets, symbols, kinds, intervals and periods: the ingest rules (recording fills the same series)
        plan_series(IngestConfig(catalog=self.catalog, markets=self.markets))
        for name, sel in self.markets.items():
            if "trades" in sel.kinds:
                raise UsageError(f"markets.{name}.kinds: 'trades' cannot be recorded; use agg_trades (gap-free by id)")
        unknown = set(self.offline) - set(_FAULT_KEYS) - {"speed", "start", "history", "seed", "weight_limit"}
        if unknown:
            raise UsageError(f"offline: unknown key(s) {', '.join(sorted(unknown))}; use speed, start, history, "
                             f"seed, weight_limit or a fault drill ({', '.join(_FAULT_KEYS)})")

    def exchange_kwargs(self) -> dict[str, Any]:
        """``ExchangeConfig(**...)`` for ``--offline``: server fields and a FaultConfig of the drills."""
        from framework.exchange.faults import FaultConfig

        server = {k: v for k, v in self.offline.items() if k not in _FAULT_KEYS}
        faults = {k: v for k, v in self.offline.items() if k in _FAULT_KEYS}
        if "seed" in server:
            faults["seed"] = server["seed"]
        return {**server, "faults": FaultConfig(**faults)}
