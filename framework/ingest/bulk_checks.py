"""What a bulk file's content must agree with: the market, symbol and dates its path (or name) gives.

A file that contradicts its path is refused with one line naming it, before its first rows are handed on:

* market: a kline file under ``data/futures/um`` with microsecond times (spot's since 2025), or under
  ``data/spot`` with the USD-M header; for aggTrades and trades the column count tells (``bulk_csv`` names the
  other market's layout);
* symbol: a ``metrics`` file whose ``symbol`` column names another symbol (the other kinds carry no symbol);
* dates: rows outside the day or month the file name gives (a misnamed or misplaced file), the period's end
  included (a row stamped at the next midnight is taken);
* values: a ``metrics`` cell that is neither a decimal nor empty, a ``create_time`` that is not a time.

Prices are not checked against the symbol: nothing in a file says which instrument it is, and a price's
size is no proof.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Iterator
from typing import TYPE_CHECKING
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from framework.binance import schemas as s
from framework.binance.endpoints import Market
from framework.errors import FrameworkError
from framework.ingest.bulk_csv import FUTURES_KLINE_HEADER
from framework.ingest.bulk_csv import INT_RE
from framework.ingest.bulk_csv import US_THRESHOLD
from framework.ingest.bulk_stats import create_time_ms
from framework.ingest.bulk_stats import file_columns
from framework.ingest.bulk_stats import metrics_problem
from framework.ingest.report import iso

if TYPE_CHECKING:  # bulk.py imports this module
    from framework.ingest.bulk import BulkFile


def _market_name(market: Market) -> str:
    return "USD-M" if market is Market.FUTURES else "spot"


def check_file(file: BulkFile, header: list[str] | None, first: list[str] | None) -> None:
    """Refuse a kline file whose first lines (``header``, ``first`` data row) show the other market."""
    if file.layout.row_type is not s.Kline:
        return
    shows = None
    if header is not None and tuple(h.strip() for h in header) == FUTURES_KLINE_HEADER:
        shows = Market.FUTURES
    elif first is not None and first and INT_RE.fullmatch(first[0]) and int(first[0]) >= US_THRESHOLD:
        shows = Market.SPOT  # microsecond times: spot files since 2025
    if shows is not None and shows is not file.market:
        sign = "the USD-M header" if shows is Market.FUTURES else "microsecond times"
        raise FrameworkError(f"{file.path}: holds {_market_name(shows)} klines ({sign}) but its path says "
                             f"{_market_name(file.market)}; move it under the {_market_name(shows)} folder")


def row_times_ms(file: BulkFile, rows: Any) -> np.ndarray:
    """The time of each row in ms (klines: open time; trades: trade time; funding: calc_time; metrics:
    create_time)."""
    lay = file.layout
    if lay.row_type is s.MetricsRow:
        return create_time_ms(file_columns(rows, s.MetricsRow).column("create_time"))
    name = next(c.field for c in lay.columns if c.type == "ts")
    if isinstance(rows, pa.RecordBatch):
        return np.asarray(rows.column(name), dtype=np.int64)
    return np.fromiter((getattr(r, name) for r in rows), dtype=np.int64, count=len(rows))


def check_batch(file: BulkFile, rows: Any) -> None:
    """Refuse a batch of ``file``'s rows that contradicts its path (see the module notes)."""
    if not len(rows):
        return
    if file.layout.row_type is s.MetricsRow:
        columns = file_columns(rows, s.MetricsRow)
        if problem := metrics_problem(columns):
            raise FrameworkError(f"{file.path}: {problem}")
        symbols = pc.unique(columns.column("symbol")).to_pylist()
        others = [x for x in symbols if x != file.symbol]
        if file.symbol and others:
            raise FrameworkError(f"{file.path}: its rows are {', '.join(others)} data but its path says "
                                 f"{file.symbol}; put it under its own symbol")
    try:
        times = row_times_ms(file, rows)
    except ValueError as e:
        raise FrameworkError(f"{file.path}: {e}") from None
    if file.start_ms is None:
        return
    lo, hi = int(times.min()), int(times.max())
    if lo < file.start_ms or hi > file.end_ms:
        raise FrameworkError(f"{file.path}: holds rows from {iso(lo)} to {iso(hi)}, outside {file.period} its name "
                             "says; the file is misnamed or misplaced")


def checked(file: BulkFile, batches: Iterable[Any]) -> Iterator[Any]:
    """``batches`` of ``file``, each checked (:func:`check_batch`) before it is handed on."""
    for batch in batches:
        check_batch(file, batch)
        yield batch
