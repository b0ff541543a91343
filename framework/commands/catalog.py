"""``python -m framework.main catalog check|repair``: find and fix what would trip a catalog's readers."""

from __future__ import annotations

import argparse
from pathlib import Path
from pathlib import PurePath

from framework.catalog import storage
from framework.catalog.health import check
from framework.catalog.health import repair_command
from framework.catalog.location import catalog_root
from framework.catalog.nautilus_paths import file_interval
from framework.catalog.objectstore import CatalogPath
from framework.catalog.objectstore import ObjectPath
from framework.errors import FrameworkError
from framework.errors import UsageError
from framework.ingest.command import ingest_command
from framework.values import format_time_ms
from framework.values import parse_catalog

HELP = "check or repair a catalog: empty, truncated/corrupt and overlapping files, leftover temporaries"
SHOWN = 20  # findings listed per kind (a damaged catalog can hold thousands of empty files)
NS_PER_MS = 1_000_000


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``catalog check|repair`` and its ``--catalog`` flag (``run`` is its action)."""
    p = sub.add_parser("catalog", help=HELP, description=HELP + ". check exits 1 when anything is wrong; "
                       "repair removes empty files and leftover temporaries and names the damaged files with "
                       "the command that fetches their span again.")
    p.add_argument("action", choices=["check", "repair"], help="check: list problems; repair: fix what is safe")
    p.add_argument("--catalog", default="catalog", help="catalog folder or s3://bucket/prefix (default: catalog)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Check or repair the ``--catalog`` folder; a problem left is a ``FrameworkError`` (exit 1)."""
    root = catalog_root(parse_catalog(args.catalog, "--catalog"))  # s3://: endpoint, credentials, bucket checked
    if isinstance(root, Path) and not root.is_dir():
        raise UsageError(f"--catalog: {root} is not a folder; give the catalog folder (e.g. catalog)")
    if args.action == "check":
        return _check(root)
    return _repair(root)


def _check(root: CatalogPath) -> int:
    health = check(root)
    if health.healthy:
        print(health.summary())
        return 0
    for kind, findings in (("empty", health.empty), ("unreadable", health.unreadable),
                           ("leftover", health.leftovers)):
        _show(kind, [f"{f.path}: {f.problem}" for f in findings])
    _show("overlap", [f"{a} and {b}" for a, b in health.overlapping])
    raise FrameworkError(f"catalog {root}: {health.summary()}; run: {repair_command(root)}")


def _show(kind: str, lines: list[str]) -> None:
    for line in lines[:SHOWN]:
        print(f"{kind:<11}{line}")
    if len(lines) > SHOWN:
        print(f"{kind:<11}... and {len(lines) - SHOWN} more")


def _repair(root: CatalogPath) -> int:
    from framework.catalog.store import CatalogStore

    before = check(root)
    removed = 0
    for finding in before.empty:
        try:
            removed += storage.delete(root / finding.path)
        except OSError as e:
            raise FrameworkError(f"cannot remove {root / finding.path}: {e.strerror}; check the folder's "
                                 "permissions (or that it is not a read-only mount) and repair again") from None
    # interrupted writes: the store's own recovery (rolls replaced files back or forward, drops temporaries)
    recovered = CatalogStore(root, recover=False).recover() if before.leftovers else []
    print(f"removed {removed} empty file{'s' if removed != 1 else ''}, cleaned {len(recovered)} leftover "
          f"temporar{'ies' if len(recovered) != 1 else 'y'}")
    after = check(root)
    for finding in after.unreadable:
        print(f"damaged    {finding.path}: {finding.problem}; its rows cannot be read: delete it and fetch its "
              f"span again: {_rm(root / finding.path)} && {reingest_command(root, finding.path)}")
    for a, b in after.overlapping:
        print(f"overlap    {a} and {b}: keep one: delete the other and fetch its span again, e.g. "
              f"{_rm(root / b)} && {reingest_command(root, b)}")
    for finding in after.leftovers:
        print(f"busy       {finding.path}: a running writer holds its series; repair again when it ends")
    if after.unreadable or after.overlapping or after.leftovers:
        raise FrameworkError(f"catalog {root}: {after.summary()}; follow the steps above")
    print(after.summary())
    return 0


def _rm(path: CatalogPath) -> str:
    """The shell command deleting one catalog file."""
    return f"aws s3 rm {path}" if isinstance(path, ObjectPath) else f"rm {path}"


def reingest_command(root: CatalogPath, rel: PurePath) -> str:
    """The ``ingest`` command that fetches the span of catalog file ``rel`` (``data/<class>/<id>/<file>``)
    again, as far as its folder tells (the kind, market, symbol and interval); a generic hint otherwise."""
    interval = file_interval(rel.name)
    parts = rel.parts
    what = _series_args(parts[1], parts[2]) if len(parts) >= 4 else None
    if interval is None or what is None:
        return f"re-run the ingest (or record) that wrote {rel.parent} for that span"
    step_ms, series = what
    start = max(0, interval[0] // NS_PER_MS - step_ms)  # bars are stamped at their close: from the open before
    end = -(-interval[1] // NS_PER_MS)
    return ingest_command(**series, start=format_time_ms(start), end=format_time_ms(end), catalog=root)


def _series_args(folder: str, identifier: str) -> tuple[int, dict[str, str]] | None:
    """(bar length in ms or 0, the ``ingest_command`` arguments market, symbol, kind and interval or period)
    of a catalog series folder."""
    from nautilus_trader.persistence.funcs import class_to_filename

    from framework.binance.intervals import INTERVAL_MS
    from framework.binance.intervals import interval_of
    from framework.data.kinds import KINDS
    from framework.data.kinds import Shape
    from framework.data.kinds import Step

    if folder in ("bar", "kline_stats"):
        try:
            from nautilus_trader.model.data import BarType

            bar_type = BarType.from_str(identifier)
        except ValueError:
            return None
        symbol = bar_type.instrument_id.symbol.value
        price_type = str(bar_type.spec).split("-")[2]  # 1-MINUTE-LAST
        try:
            interval = interval_of(bar_type.spec)
        except ValueError:
            return None
        base, _, suffix = symbol.partition("-")
        kind = {"INDEX": "index_klines", "PREMIUM": "premium_klines"}.get(suffix, "klines")
        if price_type == "MARK":
            kind = "mark_klines"
        market = "spot" if not suffix else "futures"
        return INTERVAL_MS.get(interval) or 0, {"market": market, "symbol": base, "kind": kind, "interval": interval}
    symbol, _, venue = identifier.partition(".")
    base, _, suffix = symbol.partition("-")
    market = "futures" if suffix == "PERP" else "spot"
    if folder == "trade_tick":
        return 0, {"market": market, "symbol": base, "kind": "agg_trades"}
    kinds = {class_to_filename(k.data_type): k for k in KINDS.values() if k.shape is Shape.CUSTOM}
    kind = kinds.get(folder)
    if kind is None or not venue:
        return None
    periods = {"period": "5m"} if kind.step is Step.PERIOD else {}
    return 0, {"market": "futures", "symbol": base, "kind": kind.name, **periods}
