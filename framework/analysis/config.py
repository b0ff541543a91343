"""Settings of ``plot`` and ``report``: where the data comes from, which span, where the files go.

Every value is checked with ``framework.values`` (the parsers every command shares), flags and YAML keys alike,
before anything is read or drawn; ``load`` builds a checked config from the command line and the YAML.
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path
from typing import Any

import msgspec
from nautilus_trader.common.config import NautilusConfig

from framework.errors import UsageError
from framework.output import require_writable_folder
from framework.settings import layered
from framework.settings import read_yaml
from framework.timeunits import NS_PER_MS
from framework.values import BadValue
from framework.values import parse_catalog
from framework.values import parse_duration_ms
from framework.values import parse_interval
from framework.values import parse_symbol
from framework.values import parse_time_ms

CHART_NAMES = ("spot", "futures", "basis", "correlation", "microstructure", "orderflow")
MARKETS = ("spot", "futures")
DEFAULT_SYMBOL = "BTCUSDT"
DEFAULT_INTERVAL = "1m"


class SourceConfig(NautilusConfig, frozen=True):
    """A ``collect`` output folder or a catalog, a symbol and market, and an optional span (ISO time or epoch
    ms). ``symbol`` defaults to the collect folder's, else BTCUSDT; ``interval`` (the catalog's bars) to 1m."""

    from_collect: str | None = None
    catalog: str | None = None
    symbol: str | None = None
    market: str = "futures"
    interval: str | None = None
    start: str | int | None = None
    end: str | int | None = None
    out: str = "plots"

    def check_source(self) -> SourceConfig:
        """This config with every value checked and normalised (symbol upper-case, interval set); raises
        ``BadValue``/``UsageError`` naming the first wrong value."""
        if bool(self.from_collect) == bool(self.catalog):
            raise UsageError("name one source: --from-collect DIR (a collect --out folder) or --catalog PATH")
        if self.market not in MARKETS:
            raise BadValue(f"market {self.market!r}: use spot or futures (USD-M); COIN-M futures are not supported")
        changes: dict[str, Any] = {}
        if self.symbol is not None:
            changes["symbol"] = parse_symbol(self.symbol, "--symbol")
        if self.from_collect:
            if self.start is not None or self.end is not None:
                raise UsageError("--start/--end select a span of the catalog; a collect folder is drawn whole")
            if self.interval is not None:
                raise UsageError("--interval selects the catalog's bars; a collect folder holds the interval it "
                                 "was collected at (collect --kline-interval)")
            check_collect_folder(Path(self.from_collect))
        else:
            catalog = parse_catalog(self.catalog, "--catalog")
            check_catalog_folder(catalog)
            interval = catalog_interval(self.interval or DEFAULT_INTERVAL)
            changes.update(catalog=catalog, interval=interval, symbol=changes.get("symbol", DEFAULT_SYMBOL))
        checked = msgspec.structs.replace(self, **changes)
        checked.span_ns()  # refuses a bad or reversed span now, before anything is read
        # refused now rather than after the work; nothing is created (a run that stops early leaves no folder)
        require_writable_folder(self.out, "output folder", option="--out", create=False)
        return checked

    def span_ns(self) -> tuple[int | None, int | None]:
        """``start``/``end`` as ns (None when not set)."""
        out = []
        for flag, value in (("--start", self.start), ("--end", self.end)):
            out.append(None if value is None else parse_time_ms(value, flag) * NS_PER_MS)
        if out[0] is not None and out[1] is not None and out[0] >= out[1]:
            raise BadValue(f"--start {self.start} is not before --end {self.end}; swap them")
        return out[0], out[1]


def catalog_interval(value: Any) -> str:
    """A kline interval the catalog can hold: a Binance interval of fixed length with a Nautilus bar type."""
    from framework.data.instruments import instrument_id_for
    from framework.data.parsing import kline_bar_type

    interval = parse_interval(value, "--interval", fixed=True)
    try:
        kline_bar_type(instrument_id_for("futures", DEFAULT_SYMBOL), interval)
    except ValueError:
        raise BadValue(f"--interval {interval}: no catalog holds {interval} bars (Nautilus bar types cannot "
                       "express it); use 1d or 1w") from None
    return interval


def check_collect_folder(folder: Path) -> None:
    """A folder a collect run wrote (spot/ or futures/ inside), else a one-line error with the fix."""
    if not folder.is_dir():
        raise UsageError(f"--from-collect {folder}: no such folder; run `python -m framework.main collect --offline "
                         f"--out {folder}` first, or pass the --out folder of a collect run")
    if not (folder / "spot").is_dir() and not (folder / "futures").is_dir():
        raise UsageError(f"--from-collect {folder}: not a collect output (no spot/ or futures/ inside); pass the "
                         "--out folder of a collect run")


def check_catalog_folder(path: str | Path) -> None:
    """A catalog folder (data/ inside) or ``s3://`` location holding data, else a one-line error with the fix."""
    if isinstance(path, str) and path.startswith("s3://"):
        # imported here: the catalog stack costs a second at import and collect-only users do not need it
        from framework.catalog.location import catalog_root
        from framework.catalog.storage import holds_anything

        if not holds_anything(catalog_root(path) / "data"):  # the location's checks run first
            raise UsageError(f"--catalog {path}: not a catalog (nothing under data/); fill one with `python -m "
                             f"framework.main ingest --catalog {path}` or pass the location ingest/record wrote")
        return
    path = Path(path)
    if not path.is_dir():
        raise UsageError(f"--catalog {path}: no such folder; fill a catalog with `python -m framework.main ingest` "
                         "or pass the folder ingest/record wrote")
    if not (path / "data").is_dir():
        raise UsageError(f"--catalog {path}: not a catalog (no data/ folder); fill one with `python -m "
                         "framework.main ingest` or pass the folder ingest/record wrote")


class PlotConfig(SourceConfig, frozen=True):
    """``plot``: which charts (``all`` or names), the order-flow market and bucket (a duration; default: chosen
    from the trades' span)."""

    charts: tuple[str, ...] = ("all",)
    bucket: str | int | float | None = None

    def check_source(self) -> PlotConfig:
        """The base checks, then the chart names and the bucket: a wrong one is refused before anything is
        read."""
        checked = super().check_source()
        self.chart_names()
        checked.bucket_ms()
        return checked

    def bucket_ms(self) -> int | None:
        """The order-flow bucket in ms, None for ``auto`` (chosen from the data)."""
        if self.bucket is None or str(self.bucket).strip().lower() == "auto":
            return None
        return parse_duration_ms(self.bucket, "--bucket")

    def chart_names(self) -> tuple[str, ...]:
        """The charts to draw, once each in the order given (``all``: every one); an unknown name is a
        ``BadValue``."""
        names = CHART_NAMES if "all" in self.charts else self.charts
        unknown = [n for n in names if n not in CHART_NAMES]
        if unknown:
            raise BadValue(f"unknown chart {', '.join(map(repr, unknown))}; choose from {', '.join(CHART_NAMES)} "
                           "or all")
        return tuple(dict.fromkeys(names))


class ReconcileConfig(SourceConfig, frozen=True):
    """``report reconcile``: optionally a JSON Lines capture of aggTrade frames as the stream side."""

    stream_frames: str | None = None
    out: str = "reports"

    def check_source(self) -> ReconcileConfig:
        """The base checks, after refusing a ``--stream-frames`` file that does not exist."""
        if self.stream_frames is not None and not Path(self.stream_frames).is_file():
            raise UsageError(f"--stream-frames {self.stream_frames}: no such file; pass a JSON Lines file of "
                             "aggTrade stream frames")
        return super().check_source()


def load(cls: type[SourceConfig], args: argparse.Namespace, command: str, skip: tuple[str, ...] = ()
         ) -> SourceConfig:
    """The checked config of ``command`` from its YAML (``args.config``) and flags (flags win)."""
    flags = {k: v for k, v in vars(args).items() if k not in ("config", "func", "command", *skip)}
    values = dict(read_yaml(args.config, command.split()[0]))
    for key in ("start", "end"):  # YAML reads an unquoted 2024-08-08 as a date: it means that day
        if isinstance(values.get(key), date):
            values[key] = values[key].isoformat()
    if isinstance(values.get("charts"), str):
        values["charts"] = [c.strip() for c in values["charts"].split(",")]
    cfg = layered(cls, yaml_values=values, flags=flags, source=args.config or command)
    return cfg.check_source()


def add_source_options(p: argparse.ArgumentParser, out_default: str) -> None:
    """The flags every analysis command shares (each overrides the YAML key of the same name)."""
    p.add_argument("config", nargs="?", help="YAML settings (see configs/plot/, configs/report/)")
    p.add_argument("--from-collect", dest="from_collect", metavar="DIR", help="a collect output folder")
    p.add_argument("--catalog", metavar="PATH", help="a catalog folder (ingest / record fill it)")
    p.add_argument("--symbol", help=f"symbol (default: the collect folder's, else {DEFAULT_SYMBOL})")
    p.add_argument("--interval", help=f"bar interval of the catalog's klines (default {DEFAULT_INTERVAL})")
    p.add_argument("--start", help="catalog span start: ISO time or epoch ms")
    p.add_argument("--end", help="catalog span end: ISO time or epoch ms")
    p.add_argument("--out", help=f"output folder (default {out_default})")
