"""What every command shares: network options, ``--offline``, logging, and error handling."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

from framework.binance.config import URL_ENV
from framework.binance.config import BinanceUrls
from framework.errors import FrameworkError
from framework.errors import UsageError
from framework.values import parse_clock_start

URL_FLAGS = {
    "spot_http": "--base-path-spot",
    "futures_http": "--base-path-futures",
    "spot_ws": "--stream-url-spot",
    "futures_ws": "--stream-url-futures",
}


def add_network_options(parser: argparse.ArgumentParser) -> None:
    """``--offline`` and the four URL overrides (each also read from its environment variable)."""
    group = parser.add_argument_group("Binance connection")
    group.add_argument(
        "--offline",
        action="store_true",
        help="start the local exchange in-process on the bundled data and use it instead of Binance",
    )
    for field, flag in URL_FLAGS.items():
        group.add_argument(flag, dest=f"url_{field}", metavar="URL", help=f"overrides ${URL_ENV[field]}")
    # one clock choice for every --offline command; ingest's own --start is its range, so there it is --offline-start
    clock = {"dest": "offline_start", "metavar": "recorded|now|TIME",
             "help": "with --offline: where the local exchange's clock starts: recorded (the recordings' own time, "
                     "2024-08-08), now, or an ISO time / epoch ms (default: the command's, see README)"}
    try:
        group.add_argument("--start", "--offline-start", **clock)
        parser.set_defaults(clock_flag="--start")
    except argparse.ArgumentError:
        group.add_argument("--offline-start", **clock)
        parser.set_defaults(clock_flag="--offline-start")


def url_flags(args: argparse.Namespace) -> dict[str, str | None]:
    """The four URL overrides given on the command line (None where not given), keyed as ``BinanceUrls``'
    fields."""
    return {field: getattr(args, f"url_{field}", None) for field in URL_FLAGS}


@contextlib.contextmanager
def binance_urls(args: argparse.Namespace, yaml_urls: dict[str, Any] | None = None,
                 offline: dict[str, Any] | None = None) -> Iterator[BinanceUrls]:
    """The URLs to use; with ``--offline``, those of a local exchange (``ExchangeConfig(**offline)``)
    started for the duration. ``offline["start"]`` is the command's default clock start; ``--start``
    (``--offline-start`` where the command's ``--start`` means something else) overrides it."""
    flags = url_flags(args)
    start = getattr(args, "offline_start", None)
    clock_flag = getattr(args, "clock_flag", "--start")
    if not getattr(args, "offline", False):
        if start is not None:
            raise UsageError(f"{clock_flag} sets the local exchange's clock; add --offline or drop it")
        yield BinanceUrls.resolve(flags=flags, yaml=yaml_urls)
        return
    offline = dict(offline or {})  # the command's defaults (its "start" among them), then the flag
    if start is not None:
        offline["start"] = parse_clock_start(start, clock_flag)
    given = [URL_FLAGS[f] for f, v in flags.items() if v]
    if given:
        raise UsageError(f"--offline serves its own URLs; drop {', '.join(given)} or drop --offline")
    from framework.exchange.server import ExchangeConfig
    from framework.exchange.server import LocalExchangeThread

    with LocalExchangeThread(ExchangeConfig(**offline)) as exchange:
        logging.getLogger("framework").info("offline: local exchange at %s", exchange.urls)
        yield BinanceUrls(**exchange.urls)


def setup_logging(level: str | None = None) -> None:
    """Python logging to stderr at ``level``, else ``LOG_LEVEL``, else INFO; an unknown level is a
    ``UsageError``."""
    level = (level or os.environ.get("LOG_LEVEL") or "INFO").upper()
    if level not in logging.getLevelNamesMapping():
        raise UsageError(f"unknown log level {level!r}; use DEBUG, INFO, WARNING or ERROR")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def run_command(fn: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a command; user mistakes and known failures print one line, not a traceback."""
    try:
        return fn(args)
    except FrameworkError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001  an unforeseen failure still ends in one line; the traceback is logged
        logging.getLogger("framework").debug("unexpected failure", exc_info=True)
        text = str(e).strip().splitlines()[0] if str(e).strip() else ""
        print(f"error: unexpected {type(e).__name__}{': ' + text if text else ''} (a bug: please report it with "
              "the traceback LOG_LEVEL=DEBUG prints)", file=sys.stderr)
        return 1
