"""``python -m framework.main report reconcile``: REST klines vs bars rebuilt from stream aggTrades, exactly."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from framework.analysis.config import ReconcileConfig
from framework.analysis.config import add_source_options
from framework.cli import setup_logging
from framework.errors import UsageError
from framework.settings import layered
from framework.settings import read_yaml

HELP = "reports: reconcile (REST klines vs bars rebuilt from aggTrades: OHLCV, missing bars, taker-buy quote == Q)"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help=HELP, description=HELP + ".")
    reports = p.add_subparsers(dest="report", metavar="<report>", required=True)
    r = reports.add_parser(
        "reconcile", help="compare REST klines with bars built from recorded aggTrades",
        description="Per bar: open/high/low/close/volume of the bar rebuilt from aggTrades against the kline, and "
                    "the buyer-taker aggTrades' quote volume against the kline's Q, exactly (decimals). Writes a "
                    "table, <out>/reconcile_<symbol>_<market>.json and .png. Exit 0 when every bar matches, 1 when "
                    "any differs or is missing.")
    add_source_options(r, "reports")
    r.add_argument("--market", choices=["spot", "futures"], help="market (default futures)")
    r.add_argument("--stream-frames", dest="stream_frames", metavar="FILE",
                   help="JSON Lines of aggTrade stream frames to use as the stream side (klines still come from "
                        "--catalog or --from-collect)")
    r.add_argument("--all-bars", action="store_true", help="list every bar in the table, not only the differing ones")
    r.add_argument("--log-level", help="DEBUG, INFO, WARNING (default WARNING)")
    r.set_defaults(func=run_reconcile)


def run_reconcile(args: argparse.Namespace) -> int:
    flags = {k: v for k, v in vars(args).items() if k not in ("config", "func", "command", "report", "all_bars")}
    cfg: ReconcileConfig = layered(ReconcileConfig, yaml_values=read_yaml(args.config, "report"), flags=flags,
                                   source=args.config or "report reconcile")
    cfg.check_source()
    setup_logging(args.log_level or "WARNING")
    from framework.analysis import reconcile
    from framework.analysis import sources

    if cfg.from_collect:
        trades, klines = sources.collect_exact(cfg.from_collect, cfg.market)
        where = f"collect folder {cfg.from_collect}"
        start = end = None
    else:
        start, end = cfg.span_ns()
        trades, klines = sources.catalog_exact(cfg.catalog, cfg.symbol, cfg.market, cfg.interval, start, end)
        where = f"catalog {cfg.catalog}"
    if cfg.stream_frames:
        trades = sources.stream_frames_exact(cfg.stream_frames, cfg.market, cfg.symbol)
    if trades is None:
        raise UsageError(f"{where} holds no {cfg.symbol} {cfg.market} aggTrades; ingest agg_trades, record a "
                         "stream, or pass --stream-frames")
    if klines is None:
        raise UsageError(f"{where} holds no {cfg.symbol} {cfg.market} {cfg.interval} klines; ingest klines first")
    ms = 1_000_000
    rec = reconcile.reconcile(trades, klines, cfg.symbol, cfg.market,
                              None if start is None else start // ms, None if end is None else end // ms)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"reconcile_{cfg.symbol}_{cfg.market}"
    stem.with_suffix(".json").write_text(json.dumps(rec.summary, indent=2) + "\n")
    reconcile.bars_csv(rec, stem.with_suffix(".csv"))
    reconcile.difference_chart(rec).save(stem.with_suffix(".png"))
    print(reconcile.table_text(rec, only_differences=not args.all_bars))
    print(f"wrote {stem}.json, .csv and .png")
    return 0 if rec.clean else 1
