"""``python -m framework.main record``: live Binance streams into the catalog, gap-free and crash-safe."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from typing import Any

from framework.binance.config import URL_ENV
from framework.binance.config import BinanceHttpConfig
from framework.binance.credentials import Credentials
from framework.binance.http import BinanceRestClient
from framework.cli import add_network_options
from framework.cli import binance_urls
from framework.cli import setup_logging
from framework.errors import UsageError
from framework.record.config import FAULT_KEYS
from framework.record.config import OFFLINE_VALUES
from framework.record.config import RecordConfig
from framework.record.config import parse_max_backfill
from framework.record.recorder import Recorder
from framework.record.recorder import check_catalog
from framework.settings import read_yaml
from framework.timeunits import DAY_MS
from framework.timeunits import SECOND_MS
from framework.values import parse_catalog
from framework.values import parse_count
from framework.values import parse_duration_s

HELP = "record live aggTrades, klines and REST-only statistics into the catalog (gap-free, resumable)"
_OFFLINE_FLAGS = ("speed", "seed", "drop_ws_every", "malformed_frame_rate")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``record`` command and its flags (``run`` is its action)."""
    p = sub.add_parser("record", help=HELP, description=HELP + ". Stops on SIGINT/SIGTERM or after --duration; "
                       "a restart resumes after what the catalog holds.")
    p.add_argument("config", help="YAML, e.g. configs/record/btc_futures.yaml")
    p.add_argument("--catalog", help="catalog folder (default: the config's, else catalog/)")
    p.add_argument("--duration", metavar="DURATION", help="stop after this long: seconds or 90s, 15m, 6h")
    p.add_argument("--flush-secs", metavar="DURATION", help="write buffered rows at least this often")
    p.add_argument("--flush-rows", metavar="N", help="write as soon as this many rows are buffered")
    p.add_argument("--backfill", metavar="all|DURATION",
                   help="the longest gap since the catalog's newest row fetched at start (config max_backfill, "
                        "default 1d); a longer one is skipped with a warning; all: fetch it, with progress")
    p.add_argument("--log-level", help="DEBUG, INFO, WARNING (default INFO)")
    drills = p.add_argument_group("--offline local exchange (also the config's offline: mapping)")
    drills.add_argument("--speed", help="market seconds per wall second (default 1)")
    drills.add_argument("--seed", help="seed of the local exchange's drills")
    drills.add_argument("--drop-ws-every", help="drill: close each stream connection after N frames")
    drills.add_argument("--malformed-frame-rate", help="drill: share of extra truncated frames")
    add_network_options(p)
    p.set_defaults(func=run)


def build_config(args: argparse.Namespace) -> RecordConfig:
    """Flags over the YAML, each read by the parser its YAML key uses (named by the flag in a message)."""
    raw = read_yaml(args.config, "record")
    if args.catalog is not None:
        raw["catalog"] = parse_catalog(args.catalog, "--catalog")
    for key in ("duration", "flush_secs"):
        if getattr(args, key) is not None:
            raw[key] = parse_duration_s(getattr(args, key), f"--{key.replace('_', '-')}")
    if args.flush_rows is not None:
        raw["flush_rows"] = parse_count(args.flush_rows, "--flush-rows")
    if args.backfill is not None:
        parse_max_backfill(args.backfill, "--backfill")
        raw["max_backfill"] = args.backfill
    given = [f"--{k.replace('_', '-')}" for k in _OFFLINE_FLAGS if getattr(args, k) is not None]
    if given and not args.offline:
        raise UsageError(f"{', '.join(given)} set the local exchange; add --offline or drop them")
    offline = raw.get("offline") or {}
    if not isinstance(offline, dict):
        raise UsageError(f"{args.config}: offline: expected a mapping of local exchange settings, got {offline!r}")
    offline = dict(offline)
    for key in _OFFLINE_FLAGS:
        if getattr(args, key) is not None:
            offline[key] = OFFLINE_VALUES[key](getattr(args, key), f"--{key.replace('_', '-')}")
    raw["offline"] = offline
    return RecordConfig.load(raw, args.config)


def exchange_kwargs(cfg: RecordConfig) -> dict[str, Any]:
    """``ExchangeConfig(**...)`` for ``--offline``: server fields and a FaultConfig of the drills. The clock
    starts at wall-clock now unless ``offline.start`` or ``--start`` says otherwise; the tape reaches back
    ``max_backfill`` (at least a day; 1000 days for ``all``) unless ``offline.history`` says otherwise."""
    from framework.exchange.faults import FaultConfig

    # tape back as far as a start may catch up (the exchange has no ids before its history)
    limit = cfg.max_backfill_ms
    history = "1000d" if limit is None else f"{max(DAY_MS, limit) // SECOND_MS}s"
    server = {"start": "now", "history": history, **{k: v for k, v in cfg.offline.items() if k not in FAULT_KEYS}}
    faults = {k: v for k, v in cfg.offline.items() if k in FAULT_KEYS}
    if "seed" in server:
        faults["seed"] = server["seed"]
    return {**server, "faults": FaultConfig(**faults)}


def run(args: argparse.Namespace) -> int:
    """Record into the catalog until ``--duration`` or SIGINT/SIGTERM, then print the summary."""
    cfg = build_config(args)
    setup_logging(args.log_level)
    check_catalog(cfg.catalog)  # before the local exchange starts or any stream opens
    yaml_urls = {k: getattr(cfg, k) for k in URL_ENV}
    with binance_urls(args, yaml_urls, offline=exchange_kwargs(cfg)) as urls:
        client = BinanceRestClient(BinanceHttpConfig(urls=urls), Credentials.from_env())
        recorder = Recorder(cfg, client, urls, offline=args.offline)

        async def go():
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError):
                    loop.add_signal_handler(sig, stop.set)
            try:
                return await recorder.run(stop)
            finally:
                await client.close()

        summary = asyncio.run(go())
    print("\n".join(summary.lines()))
    return 0
