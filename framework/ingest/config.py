"""``ingest`` settings: which series, over which span, into which catalog.

    catalog: catalog
    start: "2024-08-01"          # ISO date/time (UTC) or epoch ms
    end: now                     # "now" = the exchange's server time
    markets:
      futures:
        symbols: [BTCUSDT]       # or many (comma-separated with --symbols), or a selector: all-usdt-perp
        kinds: [agg_trades, klines, mark_klines, funding, open_interest, taker_volume]
        intervals: [1m]          # for the *klines kinds
        periods: [5m]            # for the /futures/data kinds

Everything is checked before anything is fetched; each mistake is one ``UsageError`` line naming the key
and the fix.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from nautilus_trader.common.config import NautilusConfig

from framework.binance.endpoints import Market
from framework.data.kinds import KINDS
from framework.data.kinds import Step
from framework.errors import UsageError
from framework.values import format_time_ms
from framework.values import parse_catalog
from framework.values import parse_count
from framework.values import parse_interval
from framework.values import parse_symbols
from framework.values import parse_time_ms
from framework.values import symbol_selector


class MarketSelection(NautilusConfig, frozen=True):
    """What to take from one market: symbols, kinds and the intervals/periods of the kinds that have them."""

    symbols: list[str]
    kinds: list[str]
    intervals: tuple[str, ...] = ("1m",)
    periods: tuple[str, ...] = ("5m",)


class IngestConfig(NautilusConfig, frozen=True):
    """An ``ingest`` run: the catalog, the span, the markets and how many requests run at once (see the module
    docstring)."""

    catalog: str = "catalog"
    start: str = ""
    end: str = "now"
    markets: dict[str, MarketSelection] = {}
    concurrency: int = 8
    report: str | None = None  # gap report JSON (default: <catalog>/ingest_report.json)
    # URLs (flags and environment have their own names; see framework.binance.config)
    spot_http: str | None = None
    futures_http: str | None = None
    spot_ws: str | None = None
    futures_ws: str | None = None


@dataclass(frozen=True)
class SeriesSpec:
    """One series to ingest: a kind of data for a symbol on a market, at one interval or period."""

    market: Market
    kind: str
    symbol: str
    step: str | None  # interval / period, None for trades and funding

    @property
    def name(self) -> str:
        """The series as messages name it: ``futures BTCUSDT klines 1m``."""
        step = f" {self.step}" if self.step else ""
        return f"{self.market.value} {self.symbol} {self.kind}{step}"


def parse_span(cfg: IngestConfig, now_ms: int, warn: Callable[[str], None] | None = None) -> tuple[int, int]:
    """[start, end] in ms from the config ("now" is the server's time). A start after the exchange's now is
    refused (nothing exists there yet: an empty result would look like success); an end after it is clipped
    to now, said through ``warn``."""
    if not cfg.start:
        raise UsageError("start: missing; set a start date, e.g. start: \"2024-08-01\"")
    start = parse_time_ms(cfg.start, "start")
    end = parse_time_ms(cfg.end, "end", allow_now=True, now_ms=now_ms)
    _check_order(cfg, start, end)
    if start >= now_ms:
        raise UsageError(f"start {cfg.start} is after the exchange's time now ({format_time_ms(now_ms)}): there is "
                         "no data there yet; choose a start in the past")
    if end > now_ms and warn is not None:
        warn(f"end {cfg.end} is after the exchange's time now ({format_time_ms(now_ms)}); fetching up to now")
    return start, min(end, now_ms)


def check_values(cfg: IngestConfig) -> None:
    """The plain values of the config, read as every command reads them (``framework.values``)."""
    parse_catalog(cfg.catalog)
    parse_count(cfg.concurrency, "concurrency")
    end = parse_time_ms(cfg.end, "end", allow_now=True)
    start = parse_time_ms(cfg.start, "start") if cfg.start else None
    if start is not None and str(cfg.end).strip().lower() != "now":  # both fixed: order known before any request
        _check_order(cfg, start, end)


def _check_order(cfg: IngestConfig, start: int, end: int) -> None:
    if start >= end:
        raise UsageError(f"start {cfg.start} is not before end {cfg.end}; swap them or move end later")


def _market(name: str) -> Market:
    try:
        return Market(name)
    except ValueError:
        raise UsageError(f"markets: unknown market '{name}'; use spot or futures") from None


def requested_symbols(cfg: IngestConfig) -> dict[Market, list[str]]:
    """Each market's symbols and selectors as given (``values.parse_symbols``: checked, each once)."""
    return {_market(name): parse_symbols(sel.symbols, f"markets.{name}.symbols", market=name)
            for name, sel in cfg.markets.items()}


def plan_series(cfg: IngestConfig, symbols: Mapping[Market, list[str]] | None = None) -> list[SeriesSpec]:
    """Every series the config asks for, validated against the kinds table.

    ``symbols``: each market's symbols with the selectors resolved (``values.resolve_symbols`` against the
    exchange's exchangeInfo, as ``Ingestor.instruments`` does); without it a selector is checked but plans no
    series yet.
    """
    if not cfg.markets:
        raise UsageError("markets: empty; name at least one of spot, futures with symbols and kinds")
    check_values(cfg)
    catalog = Path(cfg.catalog)
    if catalog.exists() and not catalog.is_dir():
        raise UsageError(f"catalog: {catalog} is a file; point catalog at a folder (it is created if missing)")
    requested = requested_symbols(cfg)
    specs: list[SeriesSpec] = []
    for market_name, sel in cfg.markets.items():
        market = _market(market_name)
        names = symbols[market] if symbols is not None and market in symbols else \
            [t for t in requested[market] if symbol_selector(t) is None]
        for kind_name in sel.kinds:
            kind = KINDS.get(kind_name)
            if kind is None or market not in kind.markets:
                names = [k.name for k in KINDS.values() if market in k.markets]
                close = difflib.get_close_matches(str(kind_name), names, n=1)
                hint = f"did you mean '{close[0]}'? " if close else ""
                where = "" if kind is None else f" (it is {', '.join(m.value for m in kind.markets)} only)"
                raise UsageError(f"markets.{market_name}.kinds: unknown data kind '{kind_name}' for {market_name}"
                                 f"{where}; {hint}use one of {', '.join(names)}")
            steps: list[str | None] = [None]
            if kind.step in (Step.INTERVAL, Step.PERIOD):
                key = "intervals" if kind.step is Step.INTERVAL else "periods"
                steps = list(getattr(sel, key))
                for step in steps:
                    parse_interval(step, f"markets.{market_name}.{key}")
                    if step not in kind.steps() or step in ("1s", "1M") and market is Market.FUTURES:
                        raise UsageError(f"markets.{market_name}.{key}: Binance does not offer '{step}' for "
                                         f"{kind_name}; use one of {', '.join(kind.steps())}")
                    if step == "1M":
                        raise UsageError(f"markets.{market_name}.{key}: 1M (calendar months) is not ingested; "
                                         "use 1d and resample")
            specs += [SeriesSpec(market, kind_name, symbol, step) for symbol in names for step in steps]
        if {"agg_trades", "trades"} <= set(sel.kinds):
            raise UsageError(f"markets.{market_name}.kinds: agg_trades and trades both become the instrument's "
                             "TradeTick series (with different ids); pick one per catalog")
    return specs
