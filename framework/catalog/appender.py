"""``SeriesAppender``: a stream of pages of one series into a ``CatalogStore``, each period written once.

Every ``CatalogStore.write_table`` into a partial period rewrites that period's file, so writing page by page
(1000 trades a request) would rewrite a growing file a thousand times a day. The appender keeps rows until
the declared coverage passes a period boundary, then writes the completed periods in one call; the partial
last period is written on ``close()``.

A period larger than ``spill_rows`` is not held in memory: once that many rows are buffered, they go to a
``PeriodStream``, the period's file written row group by row group under a hidden temporary name and renamed
in when the stream passes the period's end (or on ``close()``). The file's bytes are those a one-shot write of
the same rows and bounds gives, so a streamed, a buffered and an interrupted-and-resumed ingest leave the
same catalog. Streaming needs rows in ``(ts_init, key)`` order with a growing numeric key (bars by
``ts_init``, trades by ``trade_id``: what Binance pages are); anything else (an overlapping page, custom
data keyed by the whole row) takes the buffered path, which sorts and dedupes.
"""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from collections.abc import Hashable
from concurrent.futures import Future
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING
from typing import Self

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from framework.catalog import storage
from framework.catalog.dedupe import check_identity
from framework.catalog.dedupe import numeric_array
from framework.catalog.dedupe import ts_init_array
from framework.catalog.durable import install
from framework.catalog.layout import stream_path
from framework.catalog.nautilus_paths import file_name
from framework.catalog.objectstore import CatalogPath
from framework.catalog.objectstore import ObjectPath
from framework.catalog.series import CatalogStoreError
from framework.catalog.series import FileSpan
from framework.catalog.series import Series
from framework.catalog.series import WriteReport

if TYPE_CHECKING:  # store.py imports this module (CatalogStore.appender)
    from framework.catalog.store import CatalogStore

log = logging.getLogger("framework.catalog")
_INFLIGHT = 2  # pieces queued for a stream's writer thread


def _file_id(path: CatalogPath) -> Hashable:
    """What changes when a file is replaced or rewritten (inode, size, mtime; on object storage the ETag)."""
    return storage.version(path)


def _ordered_keys(table: pa.Table, key: str) -> tuple[np.ndarray, np.ndarray] | None:
    """``(ts_init, key)`` of ``table`` when its rows are in ``(ts_init, key)`` order with a strictly growing
    numeric key (so also unique), else None."""
    ts = ts_init_array(table)
    k = ts if key == "ts_init" else numeric_array(table.column(key))
    if k is None or k.dtype.kind not in "iu":
        return None
    if len(ts) > 1 and ((np.diff(ts) < 0).any() or (np.diff(k) <= 0).any()):
        return None
    return ts, k


class PeriodStream:
    """One period's file written as ordered rows arrive.

    Rows go to a hidden temporary in the series directory (``layout.stream_path``: recovery keeps it while
    this process lives) in row groups of the store's size (the groups a one-shot write of the same rows makes).
    ``finish(end)`` takes the series lock and renames it in as ``[lo, end]``, replacing the ``prefix`` files (the
    held start of the period, copied in first). The lock is not held meanwhile (a day of trades can take many
    minutes to fetch), so another writer may have changed the period: then the rows go through
    ``write_table``, which merges.
    """

    def __init__(self, store: CatalogStore, series: Series, lo: int, period_end: int, schema: pa.Schema,
                 prefix: list[FileSpan]) -> None:
        self.store = store
        self.series = series
        self.dir = store.series_dir(series)
        self.lo = lo
        self.period_end = period_end
        self.prefix = prefix
        self.schema = schema
        self.key = series.dedupe_key[0]  # type: ignore[index]
        self.last_ts: int | None = None
        self.last_key: int | None = None  # largest key held (prefix rows need not grow in key)
        self.new_rows = 0
        self._carry: list[pa.Table] = []
        self._carry_rows = 0
        self.dir.mkdir(parents=True, exist_ok=True)
        self._prefix_ids = [_file_id(self.dir / f.name) for f in prefix]
        self.tmp = stream_path(self.dir)
        self._writer: pq.ParquetWriter | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="period-stream")
        self._inflight: deque[Future[None]] = deque()
        try:
            self._writer = pq.ParquetWriter(str(self.tmp), schema)
            for f in prefix:
                with storage.parquet_file(self.dir / f.name) as pf:
                    for batch in pf.iter_batches(batch_size=store.rows_per_group):
                        part = pa.Table.from_batches([batch])
                        keys = numeric_array(part.column(self.key))
                        if part.num_rows and keys is not None:
                            top = int(keys.max())
                            self.last_key = top if self.last_key is None else max(self.last_key, top)
                            self.last_ts = max(self.last_ts or 0, int(ts_init_array(part).max()))
                        self._write(part)
        except BaseException:
            self.abort()
            raise

    def take(self, table: pa.Table) -> bool:
        """Add ``table`` if its rows can follow the ones held (same schema, ordered with a growing key, past the
        last row and key, inside the period); False, adding nothing, otherwise."""
        if not table.schema.equals(self.schema, check_metadata=True):
            return False
        keys = _ordered_keys(table, self.key)
        if keys is None:
            return False
        ts, k = keys
        if not len(ts):
            return True
        if int(ts[0]) < self.lo or int(ts[-1]) > self.period_end:
            return False
        if self.last_ts is not None and (int(ts[0]) < self.last_ts or int(k[0]) <= self.last_key):
            return False
        self.last_ts, self.last_key = int(ts[-1]), int(k[-1])
        self.new_rows += table.num_rows
        self._write(table)
        return True

    def _write(self, table: pa.Table) -> None:
        """Write whole row groups; keep the remainder for the next rows (the groups then match a one-shot write)."""
        self._carry.append(table)
        self._carry_rows += table.num_rows
        size = self.store.rows_per_group
        if self._carry_rows >= size:
            self._emit((self._carry_rows // size) * size)

    def _emit(self, rows: int) -> None:
        """Hand the first ``rows`` carried rows to the writer thread (encoding and compression release the
        GIL, so the next pages convert meanwhile); at most ``_INFLIGHT`` pieces wait, bounding memory."""
        if not self._carry:  # nothing carried (the rows filled whole row groups exactly, e.g. 50,000 rows)
            return
        carry = pa.concat_tables(self._carry)
        if rows:
            piece = carry.slice(0, rows)
            writer, size = self._writer, self.store.rows_per_group
            assert writer is not None
            self._inflight.append(self._thread.submit(
                lambda: writer.write_table(piece.combine_chunks(), row_group_size=size)))
            while len(self._inflight) > _INFLIGHT:
                self._inflight.popleft().result()
        rest = carry.slice(rows)
        self._carry, self._carry_rows = ([rest] if rest.num_rows else []), rest.num_rows

    def _drain(self) -> None:
        """Wait for every piece handed to the writer thread (raising the first failure)."""
        while self._inflight:
            self._inflight.popleft().result()

    def finish(self, end: int) -> WriteReport:
        """Rename the file in as ``[lo, end]`` (``end`` >= the last row); if another writer changed the period
        meanwhile, write the rows through ``write_table`` instead."""
        if self.last_ts is not None and self.last_ts > end:
            self.abort()
            raise CatalogStoreError(f"{self.series}: stream rows run to {self.last_ts}, past its end {end}")
        if not self.prefix and not self.new_rows:  # no rows at all: no file (the store never holds an empty one)
            self.abort()
            return WriteReport(self.series)
        try:
            self._emit(self._carry_rows)
            self._drain()
            self._thread.shutdown()
            self._writer.close()  # type: ignore[union-attr]
            self._writer = None
            if not isinstance(self.dir, ObjectPath):  # a spool file is made durable by its upload
                self.store.writer.sync_file(self.tmp)
            name = file_name(self.lo, end)
            with self.store.locks.hold(self.dir):
                if self._changed(end):
                    report = self.store.write_table(self.series, pq.read_table(self.tmp), self.lo, end)
                    self.tmp.unlink()
                    return report
                install(self.dir, self.tmp, name, self.prefix)
                self.store.writer.sync_dir(self.dir)
        except BaseException:
            self.abort()
            raise
        report = WriteReport(self.series, rows_in=self.new_rows, rows_new=self.new_rows, written=[name])
        report.removed = [f.name for f in self.prefix if f.name != name]
        return report

    def _changed(self, end: int) -> bool:
        """Whether the period is not as it was at open: a prefix file replaced, or another file in ``[lo, end]``."""
        names = {f.name for f in self.prefix}
        if any(f.name not in names and f.start <= end and f.end >= self.lo for f in self.store.files(self.series)):
            return True
        try:
            return [_file_id(self.dir / f.name) for f in self.prefix] != self._prefix_ids
        except FileNotFoundError:
            return True

    def abort(self) -> None:
        """Drop the temporary (the catalog stays as it was)."""
        with contextlib.suppress(Exception):
            self._drain()
        self._thread.shutdown(cancel_futures=True)
        with contextlib.suppress(Exception):
            if self._writer is not None:
                self._writer.close()
        self._writer = None
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()


class SeriesAppender:
    """Buffers pages of one series and writes each period once, when the stream has moved past it.

    ``start``: the first ns the stream covers (default: the series' ``covered_until + 1``, or the first
    row's ``ts_init`` for an empty series). ``add(table, end=...)``: ``end`` is how far the stream is known
    complete (default: the page's last ``ts_init``); it never shrinks. On leaving a ``with`` block, also by
    an exception such as KeyboardInterrupt, what is buffered is written (``flush_on_error=False`` drops it
    instead). A ``kill -9`` loses only the buffer and the open stream's temporary: the catalog stays
    consistent and the next run refetches from its end.

    ``spill_rows``: buffered rows of the open period beyond which they are streamed to its file;
    ``max_buffer_rows``: when rows cannot be streamed (out of order), the buffer is written as a partial
    file at this size (later writes merge with it).
    """

    def __init__(self, store: CatalogStore, series: Series, start: int | None, max_buffer_rows: int,
                 spill_rows: int = 100_000) -> None:
        self.store = store
        self.series = series
        self.period = series.period or store.period
        if start is None:
            until = store.holdings(series).covered_until
            start = None if until is None else until + 1
        self.start = start
        self.end: int | None = None
        self.max_buffer_rows = max_buffer_rows
        self.spill_rows = spill_rows
        self.flush_on_error = True
        self._parts: list[pa.Table] = []
        self._rows = 0
        self._stream: PeriodStream | None = None
        key = series.dedupe_key
        self._can_stream = key is not None and len(key) == 1
        self.reports: list[WriteReport] = []

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        elif self.flush_on_error:
            try:
                self.close()
            except Exception as e:  # noqa: BLE001 (the exception on its way out matters more; say this one)
                log.warning("%s: buffered rows not written on the way out (%s); the next run refetches them",
                            self.series, e)
        if self._stream is not None:
            self._stream.abort()

    @property
    def buffered_rows(self) -> int:
        """Rows held in memory, not yet written or streamed."""
        return self._rows

    def add(self, table: pa.Table, end: int | None = None) -> None:
        """Take a page of rows, the stream being complete up to ``end``; writes the periods it has passed."""
        if table.num_rows:
            self._parts.append(table)
            self._rows += table.num_rows
            ts = ts_init_array(table)
            first, last = int(ts.min()), int(ts.max())
            self.start = first if self.start is None else min(self.start, first)
            end = last if end is None else max(end, last)
        if end is not None:
            self.end = end if self.end is None else max(self.end, end)
        if self.end is None or self.start is None:
            return
        boundary = self.period.bounds(self.end)[0] - 1  # end of the last period the stream has completed
        if self.end == self.period.bounds(self.end)[1]:
            boundary = self.end
        if boundary >= self.start:
            self._write_until(boundary)
        if self._rows >= self.spill_rows and not self._spill() and self._rows >= self.max_buffer_rows:
            self._write_until(self.end)

    def close(self) -> None:
        """Write what is buffered or streamed (up to the stream's end) and drop the rest."""
        try:
            if self.end is not None and self.start is not None and self.end >= self.start:
                self._write_until(self.end)
        finally:
            if self._stream is not None:
                self._stream.abort()
                self._stream = None
            self._parts, self._rows = [], 0

    # -- streaming ------------------------------------------------------------------------------------------

    def _spill(self) -> bool:
        """Move the buffer (rows of the open period) into its stream; False when they cannot be streamed."""
        if not self._can_stream:
            return False
        table = pa.concat_tables(self._parts)
        if self._stream is None:
            self._stream = self._open_stream(table)
            if self._stream is None:
                return False
        if not self._stream.take(table):
            self._can_stream = False  # out-of-order input: the buffered path for the rest of this appender
            self._end_stream(None)
            return False
        self._parts, self._rows = [], 0
        return True

    def _open_stream(self, table: pa.Table) -> PeriodStream | None:
        """A stream for the period of ``start`` that ``table`` can open, continuing the held files that end right
        before it (None: the rows take the buffered path)."""
        assert self.start is not None
        check_identity(self.series, table)
        ps, pe = self.period.bounds(self.start)
        files = self.store.files(self.series)
        if any(f.start <= pe and f.end >= self.start for f in files):
            return None  # a held file further on in the period: the rows may merge with it
        if _ordered_keys(table, self.series.dedupe_key[0]) is None:  # type: ignore[index]
            return None
        prefix: list[FileSpan] = []
        lo = self.start
        while (f := next((f for f in files if f.end + 1 == lo and f.start >= ps), None)) is not None:
            prefix.insert(0, f)
            lo = f.start
        d = self.store.series_dir(self.series)
        if any(not storage.read_schema(d / f.name).equals(table.schema, check_metadata=True) for f in prefix):
            return None  # the buffered path raises the schema error
        return PeriodStream(self.store, self.series, lo, pe, table.schema, prefix)

    def _end_stream(self, end: int | None) -> None:
        """Finish the open stream at ``end`` (None: at its last row; nothing new: dropped)."""
        stream, self._stream = self._stream, None
        assert stream is not None
        if end is None:
            if not stream.new_rows:
                stream.abort()
                return
            end = stream.last_ts
        self.reports.append(stream.finish(end))
        self.start = end + 1

    # -- buffered path --------------------------------------------------------------------------------------

    def _write_until(self, boundary: int) -> None:
        table = pa.concat_tables(self._parts) if self._parts else None
        ts = ts_init_array(table) if table is not None else np.empty(0, np.int64)
        if len(ts) and not (np.diff(ts) >= 0).all():
            order = np.argsort(ts, kind="stable")
            table, ts = table.take(pa.array(order)), ts[order]
        if self._stream is not None:  # the stream's period comes first
            hi = min(boundary, self._stream.period_end)
            cut = int(np.searchsorted(ts, hi, side="right"))
            if table is not None and cut and self._stream.take(table.slice(0, cut)):
                table, ts = table.slice(cut), ts[cut:]
                self._end_stream(hi)
            else:
                self._can_stream = self._can_stream and not cut  # rows it refused: buffered path from here
                self._end_stream(hi if not cut else None)
            self._parts, self._rows = ([table] if table is not None and table.num_rows else []), len(ts)
            if boundary < self.start:
                return
        if table is None or not table.num_rows:
            if self._has_schema():
                self.reports.append(self.store.declare_covered(self.series, self.start, boundary))
            self.start = boundary + 1
            return
        cut = int(np.searchsorted(ts, boundary, side="right"))
        self.reports.append(self.store.write_table(self.series, table.slice(0, cut), self.start, boundary))
        rest = table.slice(cut)
        self._parts = [rest] if rest.num_rows else []
        self._rows = rest.num_rows
        self.start = boundary + 1

    def _has_schema(self) -> bool:
        return bool(self.store.files(self.series))
