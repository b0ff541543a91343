"""The one builder of an ``ingest`` command line, for every message that tells a user how to fetch what is
missing (backtest, plot, report, record's skipped gap, catalog repair): printed lines run as printed."""

from __future__ import annotations

import shlex
from pathlib import Path

#: How every printed command starts (the module entry point works from any checkout, installed or not).
PROGRAM = "python -m framework.main"


def ingest_command(market: str, symbol: str, kind: str, start: str | None, end: str | None, catalog: str | Path,
                   interval: str | None = None, period: str | None = None, offline: bool | None = False,
                   offline_start: str | None = None) -> str:
    """``python -m framework.main ingest --market M --symbols S --kinds K [--intervals I] [--periods P] --start ..
    --end .. --catalog C [--offline [--offline-start T]]``. ``market``: ``spot``/``futures`` (a ``Market`` works);
    ``kind``: one kind or several joined by commas; ``start``/``end``: None leaves the flag out; ``offline``:
    True adds ``--offline`` (and ``--offline-start offline_start``: the local exchange's clock), None the hint
    ``[--offline]`` where the caller cannot tell whether the user runs offline."""
    market = getattr(market, "value", market)
    parts = [PROGRAM, "ingest", f"--market {market}", f"--symbols {symbol}", f"--kinds {kind}"]
    if interval:
        parts.append(f"--intervals {interval}")
    if period:
        parts.append(f"--periods {period}")
    if start:
        parts.append(f"--start {start}")
    if end:
        parts.append(f"--end {end}")
    parts.append(f"--catalog {shlex.quote(str(catalog))}")
    if offline is None:
        parts.append("[--offline]")
    elif offline:
        parts.append("--offline")
        if offline_start:
            parts.append(f"--offline-start {offline_start}")
    return " ".join(parts)
