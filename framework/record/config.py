"""``record`` settings: which live series go into which catalog, and how often it is flushed.

    catalog: catalog
    flush_secs: 10          # write buffered rows at least this often ...
    flush_rows: 50000       # ... or as soon as this many are buffered
    max_backfill: 1d        # a longer gap since the catalog's newest row is not fetched at start ("all": it is)
    poll_interval_secs: 300 # REST-only series (open interest, ratios, taker volume, funding)
    backfill_days: 30       # how far back the REST-only series are filled (/futures/data keeps 30 days)
    markets:
      futures:
        symbols: [BTCUSDT]
        kinds: [agg_trades, klines, open_interest, taker_volume]
        intervals: [1m]
        periods: [5m]
    offline:                # the local exchange of --offline (its settings and fault drills)
      speed: 1
      drop_ws_every: 0

Durations take the shared forms (``30``, ``90s``, ``15m``, ``1d``); every value is checked by the parsers of
``framework.values``, so a YAML key and its flag accept and refuse the same things.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nautilus_trader.common.config import NautilusConfig

from framework.data.kinds import KINDS
from framework.data.kinds import Live
from framework.errors import UsageError
from framework.ingest.config import IngestConfig
from framework.ingest.config import MarketSelection
from framework.ingest.config import plan_series
from framework.settings import layered
from framework.values import BadValue
from framework.values import parse_catalog
from framework.values import parse_clock_start
from framework.values import parse_count
from framework.values import parse_duration_ms
from framework.values import parse_duration_s
from framework.values import parse_rate
from framework.values import parse_speed

#: Kinds taken from the streams (gap-filled over REST); every other ingest kind is polled over REST.
STREAMED = tuple(k.name for k in KINDS.values() if k.live is Live.STREAM)
FAULT_KEYS = ("drop_ws_every", "drop_ws_random", "stall_pings", "latency_ms", "http_5xx_rate",
              "malformed_frame_rate")
SERVER_KEYS = ("speed", "start", "history", "seed", "weight_limit")
BACKFILL_ALL = "all"


def _flag(v: Any, what: str) -> bool:
    if not isinstance(v, bool):
        raise BadValue(f"{what}: {v!r} is not true or false")
    return v


def _history(v: Any, what: str) -> str:
    parse_duration_ms(v, what)
    return str(v)


#: How each ``offline:`` value is read (the local exchange's settings and drills).
OFFLINE_VALUES: dict[str, Callable[[Any, str], Any]] = {
    "speed": parse_speed,
    "start": parse_clock_start,
    "history": _history,
    "seed": lambda v, w: parse_count(v, w, minimum=0),
    "weight_limit": parse_count,
    "drop_ws_every": lambda v, w: parse_count(v, w, minimum=0),
    "drop_ws_random": _flag,
    "stall_pings": _flag,
    "latency_ms": lambda v, w: parse_count(v, w, minimum=0),
    "http_5xx_rate": parse_rate,
    "malformed_frame_rate": parse_rate,
}

#: Top-level values and how they are read (durations in seconds).
_SECONDS = ("flush_secs", "poll_interval_secs", "status_secs", "duration")
_COUNTS = ("flush_rows", "streams_per_connection")


def parse_max_backfill(value: Any, what: str = "max_backfill") -> int | None:
    """``all`` (None: no limit) or a duration in ms."""
    if isinstance(value, str) and value.strip().lower() == BACKFILL_ALL:
        return None
    try:
        return parse_duration_ms(value, what)
    except BadValue as e:
        raise BadValue(f"{e}, or all") from None


class RecordConfig(NautilusConfig, frozen=True):
    """A ``record`` run: which series go into which catalog, flushing, backfill and polling (see the module
    docstring)."""

    catalog: str = "catalog"
    markets: dict[str, MarketSelection] = {}
    flush_secs: float = 10.0
    flush_rows: int = 50_000
    max_backfill: str | float = "1d"  # "all" or a duration: the longest gap fetched at start
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

    @classmethod
    def load(cls, raw: dict[str, Any], source: str) -> RecordConfig:
        """A config from a YAML mapping (durations such as ``10s`` read as seconds), validated."""
        raw = dict(raw)
        for key in _SECONDS:
            if raw.get(key) is not None:
                raw[key] = parse_duration_s(raw[key], key)
        if isinstance(raw.get("offline"), dict):
            raw["offline"] = {k: OFFLINE_VALUES[k](v, f"offline.{k}") if k in OFFLINE_VALUES else v
                              for k, v in raw["offline"].items()}
        cfg = layered(cls, yaml_values=raw, source=source)  # unknown keys: the closest valid one
        cfg.validate()
        return cfg

    @property
    def max_backfill_ms(self) -> int | None:
        """The longest gap since the catalog's newest row that a start fetches (None: any)."""
        return parse_max_backfill(self.max_backfill)

    def validate(self) -> None:
        """One UsageError line for the first mistake."""
        parse_catalog(self.catalog, "catalog")
        for key in _SECONDS:
            if getattr(self, key) is not None:
                parse_duration_s(getattr(self, key), key)
        for key in _COUNTS:
            parse_count(getattr(self, key), key)
        if not 1 <= self.streams_per_connection <= 1024:
            raise BadValue(f"streams_per_connection: {self.streams_per_connection} must be 1 to 1024 (Binance's "
                           "limit per connection)")
        for key in ("backfill_days", "latency_warn_ms"):
            if not getattr(self, key) > 0:
                raise BadValue(f"{key}: {getattr(self, key)} must be more than zero")
        parse_max_backfill(self.max_backfill)
        # markets, symbols, kinds, intervals and periods: the ingest rules (recording fills the same series)
        plan_series(IngestConfig(catalog=self.catalog, markets=self.markets))
        for name, sel in self.markets.items():
            for kind in sel.kinds:
                if KINDS[kind].live is Live.NONE:
                    raise UsageError(f"markets.{name}.kinds: '{kind}' cannot be recorded; use agg_trades (gap-free by "
                                     "id)")
        unknown = set(self.offline) - set(OFFLINE_VALUES)
        if unknown:
            raise UsageError(f"offline: unknown key(s) {', '.join(sorted(unknown))}; use {', '.join(SERVER_KEYS)} "
                             f"or a fault drill ({', '.join(FAULT_KEYS)})")
        for key, value in self.offline.items():
            OFFLINE_VALUES[key](value, f"offline.{key}")
