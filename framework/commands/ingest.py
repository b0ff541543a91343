"""``python -m framework.main ingest``: Binance history into the ParquetDataCatalog, incrementally."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import msgspec

from framework.binance.config import URL_ENV
from framework.binance.config import BinanceHttpConfig
from framework.binance.credentials import Credentials
from framework.binance.endpoints import Market
from framework.binance.http import BinanceRestClient
from framework.cli import add_network_options
from framework.cli import binance_urls
from framework.cli import setup_logging
from framework.errors import UsageError
from framework.ingest.config import IngestConfig
from framework.ingest.runner import Ingestor
from framework.ingest.runner import write_report
from framework.settings import read_yaml

HELP = "fetch Binance history the catalog is missing (klines, aggTrades, funding, open interest, ratios, taker volume)"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest", help=HELP, description=HELP + ". Re-running fetches only what is missing.")
    p.add_argument("config", nargs="?", help="YAML, e.g. configs/ingest/btc_futures.yaml")
    p.add_argument("--catalog", help="catalog folder (default: the config's, else catalog/)")
    p.add_argument("--start", help="ISO date/time or epoch ms (overrides the config)")
    p.add_argument("--end", help="ISO date/time, epoch ms or now (overrides the config)")
    p.add_argument("--market", choices=["spot", "futures"], help="one-off run: market")
    p.add_argument("--symbols", help="one-off run: comma-separated symbols")
    p.add_argument("--kinds", help="one-off run: comma-separated data kinds (klines, agg_trades, funding, ...)")
    p.add_argument("--intervals", help="one-off run: kline intervals, e.g. 1m,1h")
    p.add_argument("--periods", help="one-off run: /futures/data periods, e.g. 5m")
    p.add_argument("--from-files", type=Path, metavar="DIR",
                   help="import data.binance.vision files (klines, aggTrades, trades; CSV or zip) under DIR")
    p.add_argument("--files-market", choices=["spot", "futures"],
                   help="market of bulk files whose path does not say it")
    p.add_argument("--report", help="gap report JSON path (default <catalog>/ingest_report.json)")
    p.add_argument("--log-level", help="DEBUG, INFO, WARNING (default INFO)")
    add_network_options(p)
    p.set_defaults(func=run)


def build_config(args: argparse.Namespace) -> IngestConfig:
    raw = read_yaml(args.config, "ingest")
    if args.from_files:
        raw.setdefault("markets", {})
        raw.setdefault("start", "0")
    if args.market:
        selection = {"symbols": _split(args.symbols, "--symbols"), "kinds": _split(args.kinds, "--kinds")}
        if args.intervals:
            selection["intervals"] = _split(args.intervals, "--intervals")
        if args.periods:
            selection["periods"] = _split(args.periods, "--periods")
        raw["markets"] = {args.market: selection}
    for key in ("catalog", "start", "end", "report"):
        if getattr(args, key):
            raw[key] = getattr(args, key)
    try:
        return msgspec.convert(raw, IngestConfig)
    except msgspec.ValidationError as e:
        raise UsageError(f"{args.config or 'ingest'}: {e}") from None


def _split(value: str | None, flag: str) -> list[str]:
    if not value:
        raise UsageError(f"{flag} is required with --market")
    return [v.strip() for v in value.split(",") if v.strip()]


def run(args: argparse.Namespace) -> int:
    cfg = build_config(args)
    setup_logging(args.log_level)
    yaml_urls = {k: getattr(cfg, k) for k in URL_ENV}
    # offline: the recordings' own time, frozen, with two days of tape, so example configs (dated) find data
    with binance_urls(args, yaml_urls, offline={"start": "recorded", "speed": 0, "history": "2d"}) as urls:
        client = BinanceRestClient(BinanceHttpConfig(urls=urls), Credentials.from_env())
        ingestor = Ingestor(cfg, client, files=args.from_files is not None)

        async def go():
            try:
                if args.from_files is not None:
                    market = Market(args.files_market) if args.files_market else None
                    return await ingestor.import_files(args.from_files, market)
                return await ingestor.run()
            finally:
                await client.close()

        reports = asyncio.run(go())
    path = Path(cfg.report) if cfg.report else Path(cfg.catalog) / "ingest_report.json"
    print(write_report(reports, path))
    print(f"gap report: {path}")
    return 0
