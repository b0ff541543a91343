"""``python -m framework.main plot``: the dashboards and the order-flow chart as PNG files."""

from __future__ import annotations

import argparse

from framework.analysis.config import CHART_NAMES
from framework.analysis.config import PlotConfig
from framework.analysis.config import add_source_options
from framework.cli import setup_logging
from framework.settings import layered
from framework.settings import read_yaml

HELP = "draw the dashboards (spot, futures, basis, correlation, microstructure) and the order-flow chart as PNG"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plot", help=HELP, description=HELP + ", from a collect output folder or the catalog.")
    add_source_options(p, "plots")
    p.add_argument("--chart", dest="charts", action="append", choices=[*CHART_NAMES, "all"],
                   help="a chart to draw (repeatable; default all)")
    p.add_argument("--market", choices=["spot", "futures"], help="order-flow chart market (default futures)")
    p.add_argument("--bucket", help="order-flow bucket, a pandas offset such as 1min, 5min (default 1min)")
    p.add_argument("--log-level", help="DEBUG, INFO, WARNING (default WARNING)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    flags = {k: v for k, v in vars(args).items() if k not in ("config", "func", "command")}
    cfg: PlotConfig = layered(PlotConfig, yaml_values=read_yaml(args.config, "plot"), flags=flags,
                              source=args.config or "plot")
    cfg.check_source()
    names = cfg.chart_names()
    setup_logging(args.log_level or "WARNING")
    from framework.analysis import sources
    from framework.analysis.dashboards import draw_charts

    if cfg.from_collect:
        data = sources.from_collect(cfg.from_collect, cfg.symbol)
    else:
        start, end = cfg.span_ns()
        data = sources.from_catalog(cfg.catalog, cfg.symbol, cfg.interval, start, end)
    draw_charts(data, names, cfg.out, log=print, options={"orderflow": {"market": cfg.market, "rule": cfg.bucket}})
    return 0
