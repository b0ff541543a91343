"""``python -m framework.main local-exchange``: a Binance-compatible server on loopback."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path

from framework.binance.endpoints import Market
from framework.binance.recorded import DataError
from framework.errors import UsageError
from framework.exchange.faults import FaultConfig
from framework.exchange.server import ExchangeConfig
from framework.exchange.server import LocalExchange
from framework.settings import read_yaml
from framework.values import parse_count
from framework.values import parse_duration_ms
from framework.values import parse_duration_s
from framework.values import parse_port
from framework.values import parse_rate
from framework.values import parse_speed
from framework.values import parse_time_ms

HELP = "serve Binance spot + USD-M REST and streams on loopback from recorded data (offline work, CI, drills)"


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``local-exchange`` command, its server flags and fault drills (``run`` is its action)."""
    p = sub.add_parser("local-exchange", help=HELP, description=HELP + ". Prints one JSON line with its URLs, "
                       "then serves until SIGINT/SIGTERM.")
    p.add_argument("config", nargs="?", help="YAML settings (keys as the long flags, e.g. configs/local-exchange/drill.yaml)")
    p.add_argument("--host", help="default 127.0.0.1")
    p.add_argument("--port", help="spot port; USD-M listens on port + 1 (default 0: free ports)")
    p.add_argument("--data", type=Path, help="data folder of the documented layout (default: the bundled data)")
    p.add_argument("--seed", type=int, help="seed of the synthetic series and the fault drills (default 0)")
    p.add_argument("--speed", help="market seconds per wall second; 0 freezes the clock (default 1)")
    p.add_argument("--start", help="where the clock starts: now (default), recorded (the recordings' own "
                   "timestamps), epoch ms or an ISO time")
    p.add_argument("--history", help="tape before the clock's start, e.g. 6h, 1d, 30d (default 1d)")
    p.add_argument("--weight-limit", help="weight per window (default Binance's: spot 6000, USD-M 2400)")
    p.add_argument("--window-seconds", help="rate-limit window length (default 60)")
    p.add_argument("--ban-seconds", help="first 418 ban length (default 120, doubling)")
    drills = p.add_argument_group("fault drills (reproducible from --seed)")
    drills.add_argument("--drop-ws-every", help="close each stream connection after N data frames")
    drills.add_argument("--drop-ws-random", action="store_true", default=None,
                        help="draw N per connection from [1, 2N] instead")
    drills.add_argument("--stall-pings", action="store_true", default=None,
                        help="stop pinging and stop answering client pings")
    drills.add_argument("--latency-ms", help="delay every HTTP answer and stream frame")
    drills.add_argument("--http-5xx-rate", help="share of REST requests answered 503")
    drills.add_argument("--malformed-frame-rate", help="share of extra truncated stream frames")
    p.set_defaults(func=run)


_FAULTS = ("drop_ws_every", "drop_ws_random", "stall_pings", "latency_ms", "http_5xx_rate", "malformed_frame_rate")
_SERVER = ("host", "port", "data", "seed", "speed", "start", "history", "weight_limit", "window_seconds", "ban_seconds")


def build_config(args: argparse.Namespace) -> ExchangeConfig:
    """Flags beat the YAML file, which beats the defaults."""
    values = {k.replace("-", "_"): v for k, v in read_yaml(args.config, "local-exchange").items()}
    unknown = set(values) - set(_FAULTS) - set(_SERVER)
    if unknown:
        raise UsageError(f"{args.config}: unknown key(s) {', '.join(sorted(unknown))}; valid: "
                         f"{', '.join(_SERVER + _FAULTS)}")
    values.update({k: v for k, v in vars(args).items() if k in _FAULTS + _SERVER and v is not None})
    faults = {k: values.pop(k) for k in _FAULTS if k in values}
    flag = "--{}".format
    parse_duration_ms(str(values.get("history", "1d")), "--history")
    if str(values.get("start", "now")) not in ("now", "recorded"):
        parse_time_ms(values["start"], "--start")
    for key in ("speed",):
        if key in values:
            values[key] = parse_speed(values[key], flag(key), allow_zero=True)
    if "port" in values:
        values["port"] = parse_port(values["port"])
        if values["port"] == 65535:  # USD-M takes the next port, which does not exist
            raise UsageError("--port 65535: USD-M listens on port + 1; use 1 to 65534, or 0 for free ports")
    for rate in ("http_5xx_rate", "malformed_frame_rate"):
        if rate in faults:
            faults[rate] = parse_rate(faults[rate], flag(rate.replace("_", "-")))
    for key, minimum in (("drop_ws_every", 0), ("weight_limit", 1), ("latency_ms", 0), ("seed", 0)):
        source = faults if key in faults else values
        if key in source:
            source[key] = parse_count(source[key], flag(key.replace("_", "-")), minimum=minimum)
    for key in ("window_seconds", "ban_seconds"):  # 60, 90s, 2m; ExchangeConfig spells seconds "_s"
        if key in values:
            values[key.removesuffix("seconds") + "s"] = parse_duration_s(values.pop(key), flag(key.replace("_", "-")))
    if "data" in values:
        values["data"] = Path(values["data"])
    return ExchangeConfig(**values, faults=FaultConfig(seed=values.get("seed", 0), **faults))


def run(args: argparse.Namespace) -> int:
    """Serve the local exchange until SIGINT/SIGTERM, after printing its URLs as one JSON line."""
    config = build_config(args)
    try:
        exchange = LocalExchange(config)
    except DataError as e:
        raise UsageError(f"--data: {e}") from None
    return asyncio.run(_serve(exchange))


async def _serve(exchange: LocalExchange) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await exchange.start()
    except OSError as e:
        await exchange.stop()  # the spot server may be up when USD-M's port (port + 1) is the taken one
        port = exchange.config.port
        raise UsageError(f"cannot listen on {exchange.config.host}:{port} (spot) and {port + 1} (USD-M): "
                         f"{e.strerror}; choose other ports or --port 0 for free ones") from None
    print(json.dumps(exchange.urls), flush=True)
    print(f"local exchange: clock at {exchange.market.now()} ms, speed {exchange.config.speed}x, "
          f"taped: {', '.join(_taped(exchange.data.market(m).tapes, m.value) for m in Market)}",
          file=sys.stderr, flush=True)
    await stop.wait()
    await exchange.stop()
    return 0


def _taped(tapes: dict, market: str) -> str:
    """``futures 117 symbols (BTCUSDT recorded, 116 derived from it)``, or the names when they are few."""
    recorded = sorted(name for name, tape in tapes.items() if tape.source is None)
    derived = len(tapes) - len(recorded)
    if not derived:
        return f"{market} {recorded}"
    return f"{market} {len(tapes)} symbols ({', '.join(recorded)} recorded, {derived} derived from them)"
