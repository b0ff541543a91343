"""``ingest`` settings: which series, over which span, into which catalog.

    catalog: catalog
    start: "2024-08-01"          # ISO date/time (UTC) or epoch ms
    end: now                     # "now" = the exchange's server time
    markets:
      futures:
        symbols: [BTCUSDT]
        kinds: [agg_trades, klines, mark_klines, funding, open_interest, taker_volume]
        intervals: [1m]          # for the *klines kinds
        periods: [5m]            # for the /futures/data kinds

Everything is checked before anything is fetched; each mistake is one ``UsageError`` line naming the key
and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nautilus_trader.common.config import NautilusConfig

from framework.binance.endpoints import Market
from framework.errors import UsageError
from framework.ingest.kinds import KINDS
from framework.ingest.kinds import Step
from framework.ingest.kinds import step_choices
from framework.values import parse_time_ms


class MarketSelection(NautilusConfig, frozen=True):
    symbols: list[str]
    kinds: list[str]
    intervals: tuple[str, ...] = ("1m",)
    periods: tuple[str, ...] = ("5m",)


class IngestConfig(NautilusConfig, frozen=True):
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
        step = f" {self.step}" if self.step else ""
        return f"{self.market.value} {self.symbol} {self.kind}{step}"


def parse_span(cfg: IngestConfig, now_ms: int) -> tuple[int, int]:
    """[start, end] in ms from the config ("now" is the server's time)."""
    if not cfg.start:
        raise UsageError("start: missing; set a start date, e.g. start: \"2024-08-01\"")
    start = parse_time_ms(cfg.start, "start")
    end = parse_time_ms(cfg.end, "end", allow_now=True, now_ms=now_ms)
    if start >= end:
        raise UsageError(f"start {cfg.start} is not before end {cfg.end}; swap them or move end later")
    return start, min(end, now_ms)


def plan_series(cfg: IngestConfig) -> list[SeriesSpec]:
    """Every series the config asks for, validated against the kinds table."""
    if not cfg.markets:
        raise UsageError("markets: empty; name at least one of spot, futures with symbols and kinds")
    catalog = Path(cfg.catalog)
    if catalog.exists() and not catalog.is_dir():
        raise UsageError(f"catalog: {catalog} is a file; point catalog at a folder (it is created if missing)")
    specs: list[SeriesSpec] = []
    for market_name, sel in cfg.markets.items():
        try:
            market = Market(market_name)
        except ValueError:
            raise UsageError(f"markets: unknown market '{market_name}'; use spot or futures") from None
        if not sel.symbols:
            raise UsageError(f"markets.{market_name}.symbols: empty; list at least one symbol, e.g. [BTCUSDT]")
        for kind_name in sel.kinds:
            kind = KINDS.get(kind_name)
            if kind is None or market not in kind.markets:
                offered = ", ".join(k.name for k in KINDS.values() if market in k.markets)
                raise UsageError(f"markets.{market_name}.kinds: unknown data kind '{kind_name}' for {market_name}; "
                                 f"use one of {offered}")
            steps: list[str | None] = [None]
            if kind.step in (Step.INTERVAL, Step.PERIOD):
                key = "intervals" if kind.step is Step.INTERVAL else "periods"
                steps = list(getattr(sel, key))
                for step in steps:
                    if step not in step_choices(kind) or step in ("1s", "1M") and market is Market.FUTURES:
                        raise UsageError(f"markets.{market_name}.{key}: Binance does not offer '{step}' for "
                                         f"{kind_name}; use one of {', '.join(step_choices(kind))}")
                    if step == "1M":
                        raise UsageError(f"markets.{market_name}.{key}: 1M (calendar months) is not ingested; "
                                         "use 1d and resample")
            for symbol in sel.symbols:
                specs += [SeriesSpec(market, kind_name, symbol.upper(), step) for step in steps]
        if {"agg_trades", "trades"} <= set(sel.kinds):
            raise UsageError(f"markets.{market_name}.kinds: agg_trades and trades both become the instrument's "
                             "TradeTick series (with different ids); pick one per catalog")
    return specs
