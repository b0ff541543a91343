"""Settings of ``plot`` and ``report``: where the data comes from, which span, where the files go."""

from __future__ import annotations

import argparse

import pandas as pd
from nautilus_trader.common.config import NautilusConfig

from framework.errors import UsageError

CHART_NAMES = ("spot", "futures", "basis", "correlation", "microstructure", "orderflow")


class SourceConfig(NautilusConfig, frozen=True):
    """A ``collect`` output folder or a catalog, a symbol and market, and an optional span (ISO time or epoch
    ms)."""

    from_collect: str | None = None
    catalog: str | None = None
    symbol: str = "BTCUSDT"
    market: str = "futures"
    interval: str = "1m"
    start: str | None = None
    end: str | None = None
    out: str = "plots"

    def check_source(self) -> None:
        if bool(self.from_collect) == bool(self.catalog):
            raise UsageError("name one source: --from-collect DIR (a collect --out folder) or --catalog PATH")
        if self.from_collect and (self.start or self.end):
            raise UsageError("--start/--end select a span of the catalog; a collect folder is drawn whole")
        if self.market not in ("spot", "futures"):
            raise UsageError(f"market {self.market!r}: use spot or futures")

    def span_ns(self) -> tuple[int | None, int | None]:
        """``start``/``end`` as ns (None when not set)."""
        from framework.values import parse_time_ms

        out = []
        for flag, value in (("--start", self.start), ("--end", self.end)):
            out.append(None if value is None else parse_time_ms(value, flag) * 1_000_000)
        if out[0] is not None and out[1] is not None and out[0] >= out[1]:
            raise UsageError(f"--start {self.start} is not before --end {self.end}; swap them")
        return out[0], out[1]


class PlotConfig(SourceConfig, frozen=True):
    """``plot``: which charts (``all`` or names), the order-flow market and bucket."""

    charts: tuple[str, ...] = ("all",)
    bucket: str = "1min"

    def check_source(self) -> None:
        super().check_source()
        try:
            ok = pd.Timedelta(self.bucket) > pd.Timedelta(0)
        except ValueError:
            ok = False
        if not ok:
            raise UsageError(f"bucket {self.bucket!r}: use a fixed pandas offset such as 10s, 1min, 5min, 1h")

    def chart_names(self) -> tuple[str, ...]:
        names = CHART_NAMES if "all" in self.charts else self.charts
        unknown = [n for n in names if n not in CHART_NAMES]
        if unknown:
            raise UsageError(f"unknown chart {', '.join(unknown)}; choose from {', '.join(CHART_NAMES)} or all")
        return names


class ReconcileConfig(SourceConfig, frozen=True):
    """``report reconcile``: optionally a JSON Lines capture of aggTrade frames as the stream side."""

    stream_frames: str | None = None
    out: str = "reports"


def add_source_options(p: argparse.ArgumentParser, out_default: str) -> None:
    """The flags every analysis command shares (each overrides the YAML key of the same name)."""
    p.add_argument("config", nargs="?", help="YAML settings (see configs/plot/, configs/report/)")
    p.add_argument("--from-collect", dest="from_collect", metavar="DIR", help="a collect output folder")
    p.add_argument("--catalog", metavar="PATH", help="a catalog folder (ingest / record fill it)")
    p.add_argument("--symbol", help="symbol (default BTCUSDT)")
    p.add_argument("--interval", help="bar interval of the catalog's klines (default 1m)")
    p.add_argument("--start", help="catalog span start: ISO time or epoch ms")
    p.add_argument("--end", help="catalog span end: ISO time or epoch ms")
    p.add_argument("--out", help=f"output folder (default {out_default})")
