"""``python -m framework.main serve``: the web workstation (charts, indicators, order flow, runs) in a browser.

Every value is checked before the server starts; the server prints one line, the URL to open (with the access
token), and runs until SIGINT/SIGTERM. A missing or empty catalog is not an error here: the page says what to run.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
from pathlib import Path

from nautilus_trader.common.config import NautilusConfig

from framework.catalog.location import catalog_root
from framework.catalog.objectstore import ObjectPath
from framework.cli import add_network_options
from framework.cli import binance_urls
from framework.cli import setup_logging
from framework.errors import UsageError
from framework.output import warn
from framework.settings import layered
from framework.settings import read_yaml
from framework.values import parse_catalog
from framework.values import parse_host
from framework.values import parse_port

HELP = "the web workstation: candles, indicators, perpetual and order-flow panes, runs, in a browser"
STATE_SUFFIX = ".workstation.sqlite"


class ServeConfig(NautilusConfig, frozen=True):
    """``serve``'s settings (YAML keys; each flag of the same name overrides its key)."""

    catalog: str = "catalog"
    runs: str = "runs"
    host: str = "127.0.0.1"
    port: int | str = 8000
    token: str | None = None
    live: bool = False
    log_level: str = "WARNING"


def add_parser(sub: argparse._SubParsersAction) -> None:
    """``serve``'s flags (each overrides the YAML key of the same name)."""
    p = sub.add_parser("serve", help=HELP, description=HELP + ". Prints the URL to open (it carries the access "
                       "token every API call needs) and serves until SIGINT/SIGTERM.")
    p.add_argument("config", nargs="?", help="YAML settings (keys: catalog, runs, host, port, token, live, "
                   "log_level)")
    p.add_argument("--catalog", metavar="PATH", help="catalog folder (default: the config's, else catalog)")
    p.add_argument("--runs", metavar="DIR", help="runs folder: backtests and sweeps (default runs)")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", help="TCP port (default 8000; 0 takes a free one)")
    p.add_argument("--token", help="access token (default: a new random one, printed with the URL)")
    p.add_argument("--live", action="store_true", default=None,
                   help="run the live feed and push forming candles, indicators and order flow to the pages")
    p.add_argument("--log-level", help="DEBUG, INFO, WARNING (default WARNING)")
    add_network_options(p)
    p.set_defaults(func=run)


def load_config(args: argparse.Namespace) -> ServeConfig:
    """The checked settings: YAML, then flags; each value through its ``framework.values`` parser."""
    flags = {k: getattr(args, k) for k in ("catalog", "runs", "host", "port", "token", "live", "log_level")}
    cfg = layered(ServeConfig, yaml_values=read_yaml(args.config, "serve"), flags=flags,
                  source=args.config or "serve")
    token = cfg.token
    if token is not None and (len(token.strip()) < 8 or token != token.strip() or not token.isprintable()):
        raise UsageError("--token: use at least 8 printable characters without spaces at either end (or leave it "
                         "out: a random one is made)")
    if str(cfg.runs).strip().lower().startswith("s3://"):
        raise UsageError(f"--runs: {cfg.runs!r} is on object storage; serve reads run folders from a local folder "
                         "(e.g. outputs)")
    return ServeConfig(catalog=parse_catalog(cfg.catalog, "--catalog"), runs=parse_catalog(cfg.runs, "--runs"),
                       host=parse_host(cfg.host), port=parse_port(cfg.port), token=token, live=bool(cfg.live),
                       log_level=cfg.log_level)


def state_db(catalog: Path | ObjectPath) -> Path:
    """The SQLite file beside the catalog that keeps chart settings, alert rules and paper orders (for a catalog
    on object storage, in the current folder, named after its bucket and prefix)."""
    if isinstance(catalog, ObjectPath):
        return Path(f"{catalog.key.replace('/', '-')}{STATE_SUFFIX}").absolute()
    return catalog.parent / f"{catalog.name}{STATE_SUFFIX}"


def run(args: argparse.Namespace) -> int:
    """Check the settings, start the local exchange with ``--live --offline``, serve until SIGINT/SIGTERM."""
    from framework.web.context import WebContext
    from framework.web.server import new_token
    from framework.web.server import serve

    cfg = load_config(args)
    if args.offline and not cfg.live:
        raise UsageError("--offline runs the live feed on the local exchange; add --live or drop --offline")
    setup_logging(cfg.log_level)
    catalog = catalog_root(cfg.catalog)  # s3://: an ObjectPath (endpoint, credentials, bucket checked now)
    catalog = catalog if isinstance(catalog, ObjectPath) else catalog.absolute()
    if catalog.exists() and not catalog.is_dir():
        raise UsageError(f"--catalog {cfg.catalog} is a file; give the catalog folder (ingest/record fill it)")
    host = cfg.host
    if not _loopback(host):
        warn(f"--host {host}: other machines can reach this server; anyone with the token can read the catalog "
             "and change alerts")

    def ready(url: str) -> None:
        print(f"serving {catalog} at {url}", flush=True)

    network: dict[str, str] = {}
    # offline: the local exchange's clock runs from now, so the live feed is live
    with binance_urls(args, offline={"start": "now"}) as urls:
        if cfg.live:
            network = {name: getattr(urls, name) for name in ("spot_http", "futures_http", "spot_ws", "futures_ws")}
        ctx = WebContext(catalog=catalog, runs=Path(cfg.runs).absolute(), token=cfg.token or new_token(),
                         state_db=state_db(catalog), live=cfg.live, offline=bool(args.offline), network=network)
        asyncio.run(serve(ctx, host, cfg.port, ready))
    print("stopped", flush=True)
    return 0


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
