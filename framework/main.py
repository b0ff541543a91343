"""The command line: ``python -m framework.main <command> [options]`` (``--help`` on each)."""

from __future__ import annotations

import argparse
import sys

from framework.cli import run_command
from framework.commands import backtest
from framework.commands import catalog
from framework.commands import collect
from framework.commands import ingest
from framework.commands import live
from framework.commands import local_exchange
from framework.commands import plot
from framework.commands import record
from framework.commands import report
from framework.commands import serve

COMMANDS = (collect, ingest, local_exchange, backtest, plot, report, record, live, catalog, serve)


def parser() -> argparse.ArgumentParser:
    """The ``python -m framework.main`` parser, with every command of ``COMMANDS`` as a subcommand."""
    p = argparse.ArgumentParser(
        prog="python -m framework.main",
        description="Binance spot + USD-M research and trading framework on NautilusTrader.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = p.add_subparsers(dest="command", metavar="<command>", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return p


def version() -> str:
    """The installed framework's version (pyproject.toml's)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("binance-nautilus-framework")
    except PackageNotFoundError:
        return "unknown (not installed: run scripts/setup.sh)"


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: the process's) and run the chosen command; returns the exit code."""
    args = parser().parse_args(argv)
    return run_command(args.func, args)


if __name__ == "__main__":
    sys.exit(main())
