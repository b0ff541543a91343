"""``python -m framework.main plot``: the dashboards and the order-flow chart as PNG files."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from framework.analysis.config import CHART_NAMES
from framework.analysis.config import PlotConfig
from framework.analysis.config import add_source_options
from framework.analysis.config import load
from framework.cli import setup_logging
from framework.errors import FrameworkError
from framework.output import warn

if TYPE_CHECKING:
    from framework.analysis.sources import MarketData

HELP = "draw the dashboards (spot, futures, basis, correlation, microstructure) and the order-flow chart as PNG"


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``plot`` command and its flags (``run`` is its action)."""
    p = sub.add_parser("plot", help=HELP, description=HELP + ", from a collect output folder or the catalog. "
                       "A chart with no data is not drawn; when no chart has data the command says what is missing "
                       "and which command fills it (exit 1).")
    add_source_options(p, "plots")
    p.add_argument("--chart", dest="charts", action="append", choices=[*CHART_NAMES, "all"],
                   help="a chart to draw (repeatable; default all)")
    p.add_argument("--market", choices=["spot", "futures"], help="order-flow chart market (default futures)")
    p.add_argument("--bucket", help="order-flow bucket, a duration such as 10s, 1m, 5m (default: chosen from the "
                                    "trades' span, at most 120 buckets)")
    p.add_argument("--log-level", help="DEBUG, INFO, WARNING (default WARNING)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Draw the charts asked, print where each went, and warn about missing data with the command that fills
    it; 1 when no chart has data."""
    cfg: PlotConfig = load(PlotConfig, args, "plot")
    names = cfg.chart_names()
    setup_logging(args.log_level or "WARNING")
    from framework.analysis import sources
    from framework.analysis.dashboards import draw_charts
    from framework.analysis.orderflow_chart import bucket_for

    if cfg.from_collect:
        data = sources.from_collect(cfg.from_collect, cfg.symbol)
    else:
        start, end = cfg.span_ns()
        data = sources.from_catalog(cfg.catalog, cfg.symbol, cfg.interval, start, end)
    bucket_ms = cfg.bucket_ms()
    trades = data.trades.get(cfg.market)
    if "orderflow" in names and trades is not None and not trades.empty:
        bucket_for(trades, bucket_ms)  # a bucket that cannot be drawn is refused before any chart is
    try:
        charts = draw_charts(data, names, cfg.out,
                             options={"orderflow": {"market": cfg.market, "bucket": bucket_ms}})
    except OSError as e:
        raise FrameworkError(f"--out {cfg.out}: cannot write the charts ({e.strerror or e}); choose another "
                             "folder") from None
    needs = [n for c in charts for n in c.needs]
    if all(c.empty for c in charts):
        raise FrameworkError(f"{data.source} holds no {data.symbol} data{_span_text(cfg)} for the charts asked "
                             f"(missing {_kinds_text(needs)}); fill it: {_fill(cfg, data, needs)}")
    for chart in charts:
        print(f"{chart.name:<15} {chart.path or 'not drawn'}")
    lacking = [c for c in charts if c.missing]
    for chart in lacking:
        state = "not drawn" if chart.empty else "drawn"
        warn(f"{chart.name} {state}, missing {chart.notes()}")
    fillable = [n for c in lacking for n in c.needs]
    if fillable:
        warn(f"to fill what is missing: {_fill(cfg, data, fillable)}")
    return 0


def _span_text(cfg: PlotConfig) -> str:
    if cfg.start is None and cfg.end is None:
        return ""
    return f" between {cfg.start or 'the start'} and {cfg.end or 'the end'}"


def _kinds_text(needs: list[tuple[str, str]]) -> str:
    unique = list(dict.fromkeys(needs))
    return ", ".join(f"{market} {kind}" for market, kind in unique) or "every series"


def _fill(cfg: PlotConfig, data: MarketData, needs: list[tuple[str, str]]) -> str:
    """The command(s) that fill ``needs``: an ``ingest`` per market, or a new ``collect`` run."""
    if cfg.from_collect:
        return (f"python -m framework.main collect --spot-symbol {data.symbol} --futures-symbol {data.symbol} "
                f"--out {cfg.from_collect} [--offline] (a failed call leaves its file out)")
    from framework.backtest.config import InstrumentSpec
    from framework.backtest.config import ingest_command

    by_market: dict[str, list[str]] = {}
    for market, kind in dict.fromkeys(needs):
        by_market.setdefault(market, []).append(kind)
    commands = []
    for market, kinds in by_market.items():
        interval = cfg.interval if any(k.endswith("klines") for k in kinds) else None
        commands.append(ingest_command(InstrumentSpec(symbol=data.symbol, market=market), ",".join(kinds),
                                       str(cfg.start or "<start>"), str(cfg.end or "now"), cfg.catalog, interval))
    return " and ".join(commands)
