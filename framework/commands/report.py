"""``python -m framework.main report reconcile``: REST klines vs bars rebuilt from stream aggTrades, exactly."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from framework.analysis.config import DEFAULT_SYMBOL
from framework.analysis.config import ReconcileConfig
from framework.analysis.config import add_source_options
from framework.analysis.config import load
from framework.cli import setup_logging
from framework.errors import FrameworkError
from framework.timeunits import NS_PER_MS

HELP = "reports: reconcile (REST klines vs bars rebuilt from aggTrades: OHLCV, missing bars, taker-buy quote == Q)"


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``report`` command and its one report, ``reconcile``, with its flags."""
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
    """``report reconcile``: write the JSON, CSV and PNG and print the table; 0 when every bar matches,
    else 1."""
    cfg: ReconcileConfig = load(ReconcileConfig, args, "report reconcile", skip=("report", "all_bars"))
    setup_logging(args.log_level or "WARNING")
    from framework.analysis import reconcile
    from framework.analysis import sources

    if cfg.from_collect:
        trades, klines = sources.collect_exact(cfg.from_collect, cfg.market, cfg.symbol)
        where = sources.describe("collect", cfg.from_collect)
        symbol = cfg.symbol or sources.collect_symbols(Path(cfg.from_collect)).get(cfg.market) or DEFAULT_SYMBOL
        start = end = None
        fill = f"python -m framework.main collect --out {cfg.from_collect} [--offline]"
    else:
        start, end = cfg.span_ns()
        symbol = cfg.symbol
        trades, klines = sources.catalog_exact(cfg.catalog, symbol, cfg.market, cfg.interval, start, end)
        where = sources.describe("catalog", cfg.catalog)
        fill = _ingest(cfg, "agg_trades,klines" if trades is None and klines is None
                       else "agg_trades" if trades is None else "klines")
    if cfg.stream_frames:
        trades = sources.stream_frames_exact(cfg.stream_frames, cfg.market, symbol)
    span = "" if start is None and end is None else f" between {cfg.start or 'the start'} and {cfg.end or 'the end'}"
    if trades is None:
        raise FrameworkError(f"{where} holds no {symbol} {cfg.market} aggTrades{span}; fill it: {fill}, record a "
                             "stream, or pass --stream-frames")
    if klines is None:
        raise FrameworkError(f"{where} holds no {symbol} {cfg.market} {cfg.interval or ''} klines{span}; fill it: "
                             f"{fill}".replace("  ", " "))
    ms = NS_PER_MS
    rec = reconcile.reconcile(trades, klines, symbol, cfg.market,
                              None if start is None else start // ms, None if end is None else end // ms)
    out = Path(cfg.out)
    stem = out / f"reconcile_{symbol}_{cfg.market}"
    try:
        out.mkdir(parents=True, exist_ok=True)
        stem.with_suffix(".json").write_text(json.dumps(rec.summary, indent=2) + "\n")
        reconcile.bars_csv(rec, stem.with_suffix(".csv"))
        reconcile.difference_chart(rec).save(stem.with_suffix(".png"))
    except OSError as e:
        raise FrameworkError(f"--out {out}: cannot write the report ({e.strerror or e}); choose another folder"
                             ) from None
    print(reconcile.table_text(rec, only_differences=not args.all_bars))
    print(f"wrote {stem}.json, .csv and .png")
    return 0 if rec.clean else 1


def _ingest(cfg: ReconcileConfig, kinds: str) -> str:
    """The ingest command that fills ``kinds`` of the report's symbol, market and span."""
    from framework.backtest.config import InstrumentSpec
    from framework.backtest.config import ingest_command

    return ingest_command(InstrumentSpec(symbol=cfg.symbol, market=cfg.market), kinds, str(cfg.start or "<start>"),
                          str(cfg.end or "now"), cfg.catalog, cfg.interval if "klines" in kinds else None)
