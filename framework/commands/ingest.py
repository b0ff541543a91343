"""``python -m framework.main ingest``: Binance history into the ParquetDataCatalog, incrementally."""

from __future__ import annotations

import argparse
import asyncio
import errno
from pathlib import Path
from typing import Any

import msgspec

from framework.binance.config import URL_ENV
from framework.binance.config import BinanceHttpConfig
from framework.binance.credentials import Credentials
from framework.binance.endpoints import Market
from framework.binance.http import BinanceRestClient
from framework.catalog.health import not_writable
from framework.catalog.location import catalog_root
from framework.catalog.objectstore import CatalogPath
from framework.catalog.objectstore import ObjectPath
from framework.catalog.storage import publish_file
from framework.cli import add_network_options
from framework.cli import binance_urls
from framework.cli import setup_logging
from framework.errors import UsageError
from framework.ingest.bulk_parallel import ENGINES
from framework.ingest.config import IngestConfig
from framework.ingest.config import MarketSelection
from framework.ingest.config import check_values
from framework.ingest.config import plan_series
from framework.ingest.runner import Ingestor
from framework.ingest.runner import write_report
from framework.settings import layered
from framework.settings import read_yaml
from framework.values import parse_catalog
from framework.values import parse_count
from framework.values import parse_symbols

HELP = "fetch Binance history the catalog is missing (klines, aggTrades, funding, open interest, ratios, taker volume)"


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``ingest`` command and its flags (``run`` is its action)."""
    p = sub.add_parser("ingest", help=HELP, description=HELP + ". Re-running fetches only what is missing.")
    p.add_argument("config", nargs="?", help="YAML, e.g. configs/ingest/btc_futures.yaml")
    p.add_argument("--catalog", help="catalog folder (default: the config's, else catalog/)")
    p.add_argument("--start", help="ISO date/time or epoch ms (overrides the config)")
    p.add_argument("--end", help="ISO date/time, epoch ms or now (overrides the config)")
    p.add_argument("--market", choices=["spot", "futures"], help="one-off run: market")
    p.add_argument("--symbols", help="one-off run: comma-separated symbols (any number), or a selector resolved from "
                   "exchangeInfo: all-usdt-perp (every USD-M perpetual quoted in USDT and trading), all-usdt-spot, "
                   "all-<quote>-perp|spot")
    p.add_argument("--kinds", help="one-off run: comma-separated data kinds (klines, agg_trades, funding, ...)")
    p.add_argument("--intervals", help="one-off run: kline intervals, e.g. 1m,1h")
    p.add_argument("--periods", help="one-off run: /futures/data periods, e.g. 5m")
    p.add_argument("--from-files", type=Path, metavar="DIR",
                   help="import data.binance.vision files under DIR (a copy of the site's data/ tree or a flat folder; "
                        "CSV or zip): klines of every kind, aggTrades, trades, fundingRate, metrics")
    p.add_argument("--files-market", choices=["spot", "futures"],
                   help="market of bulk files whose path does not say it")
    p.add_argument("--exchange-info", action="append", type=Path, metavar="FILE",
                   help="with --from-files: instruments from this saved exchangeInfo answer (spot or USD-M; repeat "
                        "for both) when the catalog does not hold them yet; --offline uses the bundled one")
    p.add_argument("--workers", metavar="N",
                   help="with --from-files: import files in N processes (default 1: this process; with --engine ray: "
                        "Ray CPUs when Ray starts here)")
    p.add_argument("--engine", choices=ENGINES, default="process",
                   help="with --from-files: run the files' imports in local processes (default) or as Ray tasks")
    p.add_argument("--ray-address", help="with --engine ray: the Ray cluster to join (default: start Ray on this "
                                         "machine); a remote cluster needs the catalog on s3://")
    p.add_argument("--fill-gaps", action="store_true",
                   help="fetch over REST exactly the holes the gap report lists (missing ids and periods between the "
                        "first and last row of each series; after --from-files, its series; else the selection or "
                        "the catalog's last gap report) and nothing else")
    p.add_argument("--report", help="gap report JSON path (default <catalog>/ingest_report.json)")
    p.add_argument("--log-level", help="DEBUG, INFO, WARNING (default INFO)")
    add_network_options(p)
    p.set_defaults(func=run)


def build_config(args: argparse.Namespace) -> IngestConfig:
    """The checked ``IngestConfig`` of the YAML and the flags (a one-off ``--market`` selection replaces the
    YAML's markets)."""
    raw = read_yaml(args.config, "ingest")
    if args.from_files:
        raw.setdefault("markets", {})
        raw.setdefault("start", "0")
    if args.fill_gaps:
        raw.setdefault("markets", {})  # the series may come from the last gap report
    one_off = [f"--{k}" for k in ("symbols", "kinds", "intervals", "periods") if getattr(args, k)]
    if one_off and not args.market:
        raise UsageError(f"{', '.join(one_off)} need --market (spot or futures) for a one-off run; add "
                         "--market futures, or put them under markets: in a YAML")
    if args.exchange_info and args.from_files is None:
        raise UsageError("--exchange-info is for --from-files (instruments of bulk files); drop it")
    bulk_only = [flag for flag, given in (("--workers", args.workers), ("--engine", args.engine != "process"),
                                          ("--ray-address", args.ray_address)) if given]
    if bulk_only and args.from_files is None:
        raise UsageError(f"{', '.join(bulk_only)} are for --from-files (importing bulk files); drop them")
    if args.market:
        _split(args.symbols, "--symbols")  # given at all
        selection = {"symbols": parse_symbols(args.symbols, "--symbols", market=args.market),
                     "kinds": _split(args.kinds, "--kinds")}
        if args.intervals:
            selection["intervals"] = _split(args.intervals, "--intervals")
        if args.periods:
            selection["periods"] = _split(args.periods, "--periods")
        raw["markets"] = {args.market: selection}
    if args.catalog is not None:
        parse_catalog(args.catalog, "--catalog")
    for key in ("catalog", "start", "end", "report"):
        if getattr(args, key):
            raw[key] = getattr(args, key)
    source = args.config or "ingest"
    markets = raw.get("markets")
    if isinstance(markets, dict):  # unknown keys with the closest valid one, at both levels
        for name, selection in markets.items():
            if isinstance(selection, dict):
                layered(MarketSelection, yaml_values=selection, source=f"{source}: markets.{name}")
                if isinstance(selection.get("symbols"), str):  # symbols: all-usdt-perp, or "BTCUSDT, ETHUSDT"
                    selection["symbols"] = parse_symbols(selection["symbols"], f"markets.{name}.symbols")
    layered(IngestConfig, yaml_values={k: v for k, v in raw.items() if k != "markets"}, source=source)
    try:
        cfg = msgspec.convert(raw, IngestConfig)
    except msgspec.ValidationError as e:
        raise UsageError(f"{source}: {e}") from None
    check_values(cfg)
    return cfg


def _split(value: str | None, flag: str) -> list[str]:
    if not value:
        raise UsageError(f"{flag} is required with --market")
    return [v.strip() for v in value.split(",") if v.strip()]


#: File-system refusals that mean "this place cannot be written", whatever the run was doing.
_UNWRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ENOTDIR)


def run(args: argparse.Namespace) -> int:
    """Fetch what the catalog is missing (or import ``--from-files``), then write and print the gap report."""
    cfg = build_config(args)
    setup_logging(args.log_level)
    try:
        reports = _import_files(args, cfg) if args.from_files is not None else None
        if args.fill_gaps:
            reports = _fill_gaps(args, cfg, reports)
        elif reports is None:
            reports = _fetch(args, cfg)
        path = _report_path(cfg)
        table = _write_report(reports, path)
    except OSError as e:
        if e.errno in _UNWRITABLE:
            raise not_writable(cfg.catalog, e) from None
        raise
    print(table)
    print(f"gap report: {path}")
    return 0


def _report_path(cfg: IngestConfig) -> CatalogPath:
    """The gap report's place: ``--report``, else ``ingest_report.json`` in the catalog (on object storage too)."""
    return Path(cfg.report) if cfg.report else catalog_root(cfg.catalog) / "ingest_report.json"


def _write_report(reports: list[Any], path: CatalogPath) -> str:
    """``write_report`` to ``path``; on object storage written locally, then put whole in one PUT."""
    if isinstance(path, ObjectPath):
        local = path.store.spool / path.name
        table = write_report(reports, local)
        publish_file(local, path)
        return table
    return write_report(reports, path)


#: ``--offline``: the recordings' own time, frozen, with two days of tape, so example configs (dated) find data.
OFFLINE = {"start": "recorded", "speed": 0, "history": "2d"}


def _fetch(args: argparse.Namespace, cfg: IngestConfig) -> list[Any]:
    plan_series(cfg)  # a mistake in the selection is one line before the local exchange starts
    yaml_urls = {k: getattr(cfg, k) for k in URL_ENV}
    with binance_urls(args, yaml_urls, offline=OFFLINE) as urls:
        client = BinanceRestClient(BinanceHttpConfig(urls=urls), Credentials.from_env())
        ingestor = Ingestor(cfg, client)

        async def go():
            try:
                return await ingestor.run()
            finally:
                await client.close()

        return asyncio.run(go())


def _fill_gaps(args: argparse.Namespace, cfg: IngestConfig, imported: list[Any] | None) -> list[Any]:
    """``--fill-gaps``: the holes of the series just imported, else of the selection, else of the catalog's last
    gap report, fetched over REST (``framework.ingest.fill_gaps``)."""
    from framework.ingest.fill_gaps import fill_gaps
    from framework.ingest.fill_gaps import specs_from_names
    from framework.ingest.fill_gaps import specs_from_report

    if imported is not None:
        specs = specs_from_names((r.series for r in imported), "--from-files")
    elif cfg.markets:
        specs = plan_series(cfg)
    else:
        specs = specs_from_report(_report_path(cfg))
    with binance_urls(args, {k: getattr(cfg, k) for k in URL_ENV}, offline=OFFLINE) as urls:
        client = BinanceRestClient(BinanceHttpConfig(urls=urls), Credentials.from_env())
        ingestor = Ingestor(cfg, client, files=True)

        async def go():
            try:
                return await fill_gaps(ingestor, specs)
            finally:
                await client.close()

        return asyncio.run(go())


def _import_files(args: argparse.Namespace, cfg: IngestConfig) -> list[Any]:
    """Bulk files, with no network call: instruments from the catalog, ``--exchange-info`` or the bundled ones."""
    if not args.from_files.exists():
        raise UsageError(f"--from-files: {args.from_files} does not exist; give the folder (or file) the "
                         "data.binance.vision downloads are in")
    infos = {}
    if args.offline:
        from framework.binance.recorded import PACKAGED_DATA

        for market in Market:
            infos[market] = _exchange_info(PACKAGED_DATA / market.value / "rest" / "exchangeInfo.json.gz", market)
    for path in args.exchange_info or []:
        market, info = _read_exchange_info(path)
        infos[market] = info
    ingestor = Ingestor(cfg, None, files=True, exchange_info=infos)
    market = Market(args.files_market) if args.files_market else None
    workers = parse_count(args.workers, "--workers") if args.workers is not None else 1
    return asyncio.run(ingestor.import_files(args.from_files, market, workers=workers, engine=args.engine,
                                             ray_address=args.ray_address))


def _read_exchange_info(path: Path) -> tuple[Market, Any]:
    """(market, decoded exchangeInfo) of a saved answer; the market from its content (USD-M symbols have a
    ``contractType``)."""
    try:
        raw = msgspec.json.decode(_read_bytes(path))
        first = raw["symbols"][0]
    except (OSError, msgspec.DecodeError, KeyError, IndexError, TypeError) as e:
        raise UsageError(f"--exchange-info: {path} is not a Binance exchangeInfo answer ({e}); save "
                         "https://api.binance.com/api/v3/exchangeInfo or https://fapi.binance.com/fapi/v1/exchangeInfo "
                         "to a file") from None
    market = Market.FUTURES if isinstance(first, dict) and "contractType" in first else Market.SPOT
    return market, _exchange_info(path, market)


def _read_bytes(path: Path) -> bytes:
    import gzip

    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def _exchange_info(path: Path, market: Market) -> Any:
    from framework.binance.endpoints import endpoint

    schema = endpoint(market, "exchange_info").schema
    try:
        return msgspec.json.decode(_read_bytes(path), type=schema)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError) as e:
        raise UsageError(f"--exchange-info: {path} is not a {market.value} exchangeInfo answer ({e})") from None
