"""Instruments for ingest and record: from exchangeInfo answers (an unlisted symbol is one line) and into the
catalog, written so that a reader never sees a partial file (two fresh runs on one catalog at once)."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import msgspec
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.persistence.catalog.parquet import ParquetDataCatalog

from framework.binance.endpoints import Market
from framework.catalog import storage
from framework.catalog.layout import TMP_PREFIX
from framework.catalog.location import catalog_root
from framework.catalog.location import nautilus_catalog
from framework.data.instruments import parse_instruments
from framework.errors import UsageError


def listed(market: Market, info: object, wanted: list[str]) -> dict[tuple[Market, str], Instrument]:
    """The instruments of ``wanted`` from one decoded exchangeInfo (an unlisted symbol: one line)."""
    names = {s.symbol for s in info.symbols}
    unknown = [s for s in wanted if s not in names]
    if unknown:
        raise UsageError(f"markets.{market.value}.symbols: {', '.join(unknown)} not listed on Binance "
                         f"{market.value}; check the symbol (spot and USD-M list different ones)")
    subset = msgspec.structs.replace(info, symbols=[s for s in info.symbols if s.symbol in wanted])
    return {(market, inst.raw_symbol.value): inst for inst in parse_instruments(market, subset, ts_ns=0)}


def write_instruments(catalog: str | Path, instruments: list[Instrument]) -> None:
    """Write instruments that are new or changed (ts 0: the same definition is the same file). Nautilus writes
    a file in place; here it is written into a private folder first and renamed over the catalog's (on object
    storage: put in one PUT), so another run's reader (its damaged-file check, its instrument query) sees the
    old file or the new one, never half."""
    root = catalog_root(catalog)
    held = {i.id: i for i in nautilus_catalog(root).instruments()}
    fresh = [i for i in instruments if i.id not in held or type(i).to_dict(i) != type(i).to_dict(held[i.id])]
    if not fresh:
        return
    scratch = storage.scratch_dir(root, f"{TMP_PREFIX}instruments-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        ParquetDataCatalog(str(scratch)).write_data(fresh)
        for path in sorted((scratch / "data").rglob("*.parquet")):
            storage.publish_file(path, root / path.relative_to(scratch))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
