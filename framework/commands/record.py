"""``python -m framework.main record``: live Binance streams into the catalog, gap-free and crash-safe."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

import msgspec

from framework.binance.config import URL_ENV
from framework.binance.config import BinanceHttpConfig
from framework.binance.credentials import Credentials
from framework.binance.http import BinanceRestClient
from framework.cli import add_network_options
from framework.cli import binance_urls
from framework.cli import setup_logging
from framework.errors import UsageError
from framework.record.config import RecordConfig
from framework.record.recorder import Recorder
from framework.settings import read_yaml

HELP = "record live aggTrades, klines and REST-only statistics into the catalog (gap-free, resumable)"
_OFFLINE_FLAGS = ("speed", "seed", "drop_ws_every", "malformed_frame_rate")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("record", help=HELP, description=HELP + ". Stops on SIGINT/SIGTERM or after --duration; "
                       "a restart resumes after what the catalog holds.")
    p.add_argument("config", help="YAML, e.g. configs/record/btc_futures.yaml")
    p.add_argument("--catalog", help="catalog folder (default: the config's, else catalog/)")
    p.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this many seconds")
    p.add_argument("--flush-secs", type=float, help="write buffered rows at least this often")
    p.add_argument("--log-level", help="DEBUG, INFO, WARNING (default INFO)")
    drills = p.add_argument_group("--offline local exchange (also the config's offline: mapping)")
    drills.add_argument("--speed", type=float, help="market seconds per wall second (default 1)")
    drills.add_argument("--seed", type=int, help="seed of the local exchange's drills")
    drills.add_argument("--drop-ws-every", type=int, help="drill: close each stream connection after N frames")
    drills.add_argument("--malformed-frame-rate", type=float, help="drill: share of extra truncated frames")
    add_network_options(p)
    p.set_defaults(func=run)


def build_config(args: argparse.Namespace) -> RecordConfig:
    raw = read_yaml(args.config, "record")
    for key in ("catalog", "duration", "flush_secs"):
        if getattr(args, key) is not None:
            raw[key] = getattr(args, key)
    offline = dict(raw.get("offline") or {})
    for key in _OFFLINE_FLAGS:
        if getattr(args, key) is not None:
            offline[key] = getattr(args, key)
    raw["offline"] = offline
    try:
        cfg = msgspec.convert(raw, RecordConfig)
    except msgspec.ValidationError as e:
        raise UsageError(f"{args.config}: {e}") from None
    cfg.validate()
    given = [f"--{k.replace('_', '-')}" for k in _OFFLINE_FLAGS if getattr(args, k) is not None]
    if given and not args.offline:
        raise UsageError(f"{', '.join(given)} set the local exchange; add --offline or drop them")
    return cfg


def run(args: argparse.Namespace) -> int:
    cfg = build_config(args)
    setup_logging(args.log_level)
    yaml_urls = {k: getattr(cfg, k) for k in URL_ENV}
    with binance_urls(args, yaml_urls, offline=cfg.exchange_kwargs()) as urls:
        client = BinanceRestClient(BinanceHttpConfig(urls=urls), Credentials.from_env())
        recorder = Recorder(cfg, client, urls)

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
