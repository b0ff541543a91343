"""``CatalogStore``: period-chunked, deduplicating, crash-safe writes into a Nautilus ``ParquetDataCatalog``.

Layout and naming are Nautilus 1.231's own (``data/<class>/<identifier>/<start>_<end>.parquet``, start/end =
the closed ``ts_init`` interval the file covers, in Nautilus's file-timestamp format), so ``catalog.query``,
``get_intervals``, ``consolidate_data`` and a ``BacktestNode`` read what this writes, and so do plain
``pyarrow.parquet.read_table`` / ``pandas.read_parquet``. What the store adds:

**Period chunks.** A write covers a closed interval ``[start, end]`` (by default the rows' first and last
``ts_init``; the caller passes wider bounds when it knows it fetched everything in them, e.g. the request's
start and the time the fetch ran to). The interval is cut at period boundaries (UTC days by default, any
fixed length or calendar months, per store or per series: ``series.Period``) and each piece becomes at most
one file per period, named by the piece's bounds. A complete period's file is ``[period_start, period_end]``;
files are disjoint and, written in order, contiguous (``end + 1 == next start``), as ``consolidate_data``
asserts.

**No empty files; rows decide what is held.** A period declared covered but without rows gets no file (the
store refuses to publish a zero-row file, whoever asks), so it reads as missing and the next fetch asks for
it again: one cheap request, where an empty file would mark a span held that holds nothing (a bug once wrote
thousands of them and hid real data from ``ingest``). Zero-row files left by older versions are invisible to
every listing (``files``, ``holdings``, ``missing``) and are deleted by the recovery that precedes each write
of their series (``catalog repair`` removes them all). A file with rows still declares its whole name
interval covered (a fetch that ran to 13:00 and found the last trade at 12:59 holds up to 13:00).

**Partial periods are in the catalog and get rewritten whole.** The last period of a write is usually
partial (``[period_start, end]``, e.g. today). A later piece that overlaps that file or touches it (starts
at ``end + 1``) inside the same period merges with it: the store reads the file, adds the rows it does not
hold and replaces it by one file ``[period_start, new_end]`` (a bare rename when no rows are new). So the
data is usable at once, and completing the period never leaves two files (overlap) or a hole. Keeping
partials out until the period closes would hide today's data from backtests and refetch it on every run.
Each write into a partial period rewrites its file: stream pages through ``appender()`` (``SeriesAppender``,
``framework.catalog.appender``), which writes each period once, when the stream has passed it, and streams a
large period into its file row group by row group instead of holding it in memory.

**Dedupe** (``framework.catalog.dedupe``). Rows whose key is already held are dropped (existing rows win):
``trade_id`` for ``TradeTick``, ``ts_init`` for ``Bar``, the whole row for other classes unless the series
names a key. Rows are stored sorted by ``(ts_init, key)`` (numeric ``trade_id`` order), so a file's bytes
depend only on the rows and bounds it holds, never on how the writes were split: an interrupted and resumed
ingest produces byte-identical files, and writing what is already held touches no file.

**Crash safety** (``framework.catalog.durable``, ``framework.catalog.locks``). Files are published through
hidden temporaries, fsync and ``rename``; replaced files go to trash names that recovery (on open, and under
the series lock before every write) rolls back or forward. After a ``kill -9`` anywhere the visible catalog
is the state before or after one file operation; a Ctrl-C (any exception) mid-write runs the same recovery on
the way out. Writers of one series serialise on an ``flock`` under ``<catalog>/.locks/`` (a lease object on
object storage).

**What do I hold** (``framework.catalog.holdings``). ``holdings(series)`` lists the files (names only), the
merged covered intervals and the last ``ts_init`` held (parquet footer statistics), without reading the data;
``missing(series, start, end)`` gives the gaps to fetch; ``ts_bounds`` the first and last ``ts_init``.

**Where.** A local folder, or ``s3://bucket/prefix`` on S3-compatible object storage
(``framework.catalog.location``: endpoint and credentials from the AWS variables). The store's code is the
same for both: paths are ``Path`` or ``ObjectPath`` and the modules below read them through
``framework.catalog.storage``; on object storage files are published by conditional PUTs, replacements go
through a staged copy and a journal, and a series' lock is a lease object (``framework.catalog.objectwrites``,
``framework.catalog.leases``), with the same promises as on disk.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from nautilus_trader.model.data import CustomData
from nautilus_trader.serialization.arrow.serializer import ArrowSerializer

from framework.catalog import storage
from framework.catalog.appender import SeriesAppender
from framework.catalog.dedupe import check_identity
from framework.catalog.dedupe import key_columns
from framework.catalog.dedupe import normalize
from framework.catalog.dedupe import ts_init_array
from framework.catalog.durable import DEFAULT_ROWS_PER_GROUP
from framework.catalog.durable import FileWriter
from framework.catalog.durable import has_leftovers
from framework.catalog.durable import recover_dir
from framework.catalog.health import Health
from framework.catalog.health import check_folder
from framework.catalog.holdings import Holdings
from framework.catalog.holdings import first_ts
from framework.catalog.holdings import list_files
from framework.catalog.holdings import read_file
from framework.catalog.holdings import read_holdings
from framework.catalog.holdings import reading
from framework.catalog.layout import fetch_claim_path
from framework.catalog.layout import series_dir
from framework.catalog.location import open_location
from framework.catalog.locks import FetchClaim
from framework.catalog.locks import SeriesLocks
from framework.catalog.merge import merge_piece
from framework.catalog.nautilus_paths import file_name
from framework.catalog.objectstore import CatalogPath
from framework.catalog.objectstore import ObjectPath
from framework.catalog.series import CatalogStoreError
from framework.catalog.series import FileSpan
from framework.catalog.series import Period
from framework.catalog.series import Series
from framework.catalog.series import WriteReport
from framework.data.arrow_tables import bars_table
from framework.data.arrow_tables import trade_ticks_table


class CatalogStore:
    """Period-chunked, deduplicating, crash-safe writer and coverage oracle over a ``ParquetDataCatalog``.

    Parameters
    ----------
    path : catalog root (a folder, created if missing, or an ``s3://bucket/prefix`` URL).
    period : default chunk period for series that do not set one ("1D": UTC days).
    durable : fsync each file before it is renamed in and the directory after (power-loss safety; a
        ``kill -9`` is survived either way).
    rows_per_group : parquet row group size (Nautilus's ``max_rows_per_group``; 5000: write_data's bytes).
    recover : on open, clean temporaries and roll back / forward interrupted replacements in every series
        directory not locked by a live writer.
    lock_timeout : seconds to wait for another writer of the same series.
    io_threads : threads writing (encoding + fsync) the new files of one write call in parallel; they are
        still renamed into the catalog one by one, in period order.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | CatalogPath,
        *,
        period: Any = "1D",
        durable: bool = True,
        rows_per_group: int = DEFAULT_ROWS_PER_GROUP,
        recover: bool = True,
        lock_timeout: float = 60.0,
        io_threads: int = 4,
    ) -> None:
        self.location = open_location(path)  # an object store's endpoint, credentials and bucket checked here
        root = self.location.root
        self.root: CatalogPath = root if isinstance(root, ObjectPath) else root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.period = Period(period)
        self.writer = FileWriter(int(rows_per_group), durable, max(1, int(io_threads)))
        self.locks = SeriesLocks(self.root, lock_timeout)
        self.catalog = self.location.nautilus_catalog(max_rows_per_group=self.writer.rows_per_group)
        if recover:
            self.recover()

    @property
    def durable(self) -> bool:
        """Whether files and folders are fsynced (see ``FileWriter``)."""
        return self.writer.durable

    @property
    def rows_per_group(self) -> int:
        """The parquet row group size of the files written."""
        return self.writer.rows_per_group

    # -- paths and locks ------------------------------------------------------------------------------------

    def series_dir(self, series: Series) -> CatalogPath:
        """The folder holding ``series``' files."""
        return series_dir(self.root, series)

    def fetch_claim(self, series: Series) -> FetchClaim:
        """The claim one run holds while it fetches ``series`` (see ``FetchClaim``)."""
        return FetchClaim(fetch_claim_path(self.root, self.series_dir(series)))

    def recover(self) -> list[str]:
        """Clean every series directory not locked by a live writer; returns what was done."""
        actions: list[str] = []
        for d, filenames in storage.walk(self.root / "data"):
            if not has_leftovers(filenames):
                continue
            with self.locks.hold(d, wait=False) as got:
                if got:
                    actions += [f"{d.relative_to(self.root)}: {a}" for a in recover_dir(d, self.durable)]
        return actions

    # -- what do I hold -------------------------------------------------------------------------------------

    def files(self, series: Series) -> list[FileSpan]:
        """The series' files with rows, in order."""
        return list_files(self.series_dir(series))

    def holdings(self, series: Series) -> Holdings:
        """Files, covered intervals and last ts_init from names and footers, without reading the data (the
        last trade id, ``Holdings.last_id``, reads one column of the newest file when asked for).

        Takes no lock: a writer replacing a file meanwhile makes it list again (the answer is then a state
        the catalog was in)."""
        return read_holdings(series, self.series_dir(series))

    def ts_bounds(self, series: Series) -> tuple[int, int] | None:
        """First and last ``ts_init`` held (parquet footers; None: no rows)."""
        held = self.holdings(series)
        if held.last_ts is None:
            return None
        first = first_ts(held, self.series_dir(series))
        return None if first is None else (first, held.last_ts)

    def missing(self, series: Series, start: int, end: int) -> list[tuple[int, int]]:
        """Closed sub-intervals of ``[start, end]`` the series holds no file for (what to fetch)."""
        return self.holdings(series).missing(start, end)

    def read_table(self, series: Series, start: int | None = None, end: int | None = None,
                   columns: Sequence[str] | None = None) -> pa.Table:
        """All rows of a series (optionally ``start <= ts_init <= end``, only ``columns``) with plain pyarrow,
        in order."""
        if columns is not None and (start is not None or end is not None) and "ts_init" not in columns:
            columns = [*columns, "ts_init"]
        parts = list(self.iter_files(series, start, end, columns))
        if not parts:
            return pa.table({})
        table = pa.concat_tables(parts)
        bounds = []  # ts_init is only among the columns when a bound is given
        if start is not None:
            bounds.append(pc.greater_equal(table.column("ts_init"), start))
        if end is not None:  # no "end = 2**64 - 1" default: pyarrow cannot take that int as a scalar
            bounds.append(pc.less_equal(table.column("ts_init"), end))
        if bounds:
            table = table.filter(bounds[0] if len(bounds) == 1 else pc.and_(*bounds))
        return table

    def iter_files(self, series: Series, start: int | None = None, end: int | None = None,
                   columns: Sequence[str] | None = None, batch_rows: int | None = None) -> Iterator[pa.Table]:
        """The rows of the series' files meeting ``[start, end]`` in order, one file at a time, or with
        ``batch_rows`` in pieces of at most that many rows (memory: one piece)."""
        d = self.series_dir(series)
        for f in list_files(d):
            if (start is None or f.end >= start) and (end is None or f.start <= end):
                if batch_rows is None:
                    yield read_file(d / f.name, columns=columns)
                    continue
                with reading(d / f.name), storage.parquet_file(d / f.name) as pf:
                    for batch in pf.iter_batches(batch_size=batch_rows, columns=columns):
                        yield pa.Table.from_batches([batch])

    def check(self, series: Series) -> list[str]:
        """Problems a reader would hit in one series: overlapping, unreadable or empty files, rows outside a
        file's bounds, leftovers (empty list: clean). The whole catalog: ``health.check``."""
        d = self.series_dir(series)
        found = Health(self.root)
        check_folder(d, found)
        problems = [f"overlap {a.name} / {b.name}" for a, b in found.overlapping]
        problems += [f"{f.path.name}: unreadable ({f.problem})" for f in found.unreadable]
        problems += [f"{f.path.name}: empty ({f.problem})" for f in found.empty]
        for f in list_files(d):
            if f.name in {u.path.name for u in found.unreadable}:
                continue
            ts = read_file(d / f.name, columns=["ts_init"]).column(0)
            lo, hi = pc.min(ts).as_py(), pc.max(ts).as_py()
            if lo < f.start or hi > f.end:
                problems.append(f"{f.name}: rows outside its bounds ({lo}..{hi})")
        return problems + [f"leftover {f.path.name}" for f in found.leftovers]

    # -- writing --------------------------------------------------------------------------------------------

    def write_table(
        self,
        series: Series,
        table: pa.Table,
        start: int | None = None,
        end: int | None = None,
    ) -> WriteReport:
        """Write rows of one series, declaring ``[start, end]`` (ns, closed) as fully fetched.

        ``start``/``end`` default to the rows' first/last ``ts_init`` and only ever widen the rows' span (a
        row outside them widens the declared interval): pass ``start = holdings.covered_until + 1`` when
        resuming so the new piece touches the held one, and ``end`` = how far the fetch is known complete.
        """
        report = WriteReport(series, rows_in=table.num_rows)
        if "ts_init" not in table.column_names:
            raise CatalogStoreError("table has no ts_init column")
        check_identity(series, table)
        key_cols = key_columns(table, series.dedupe_key)
        table, dropped = normalize(table, key_cols)
        report.rows_duplicate += dropped
        ts = ts_init_array(table)
        if len(ts):
            start = int(ts[0]) if start is None else min(int(start), int(ts[0]))
            end = int(ts[-1]) if end is None else max(int(end), int(ts[-1]))
        elif start is None or end is None:
            return report
        if start < 0 or end < start:
            raise CatalogStoreError(f"bad bounds [{start}, {end}]")
        period = series.period or self.period
        d = self.series_dir(series)
        d.mkdir(parents=True, exist_ok=True)
        with self.locks.hold(d):
            recover_dir(d, self.durable)
            files = list_files(d)
            pending: list[tuple[pa.Table, str]] = []  # new files for untouched periods, published in order
            try:
                for seg_s, seg_e, ps, pe in period.segments(start, end):
                    lo = int(np.searchsorted(ts, seg_s, side="left"))
                    hi = int(np.searchsorted(ts, seg_e, side="right"))
                    piece = table.slice(lo, hi - lo)
                    files = merge_piece(self.writer, d, files, pending, piece, key_cols, seg_s, seg_e, ps, pe,
                                        report)
                    if len(pending) >= 64:
                        self.writer.write_new(d, pending)
                self.writer.write_new(d, pending)
            except BaseException:
                recover_dir(d, self.durable)  # Ctrl-C or an error mid-replacement: put the folder in order
                raise
            finally:
                if report.changed:
                    self.writer.sync_dir(d)
        report.rows_duplicate = report.rows_in - report.rows_new
        return report

    # -- convenience writers --------------------------------------------------------------------------------

    def write_trades(
        self,
        instrument_id: Any,
        price_precision: int,
        size_precision: int,
        *,
        start: int | None = None,
        end: int | None = None,
        series: Series | None = None,
        **columns: Any,
    ) -> WriteReport:
        """Fast path for decoded trades: ``columns`` as ``arrow_tables.trade_ticks_table`` takes them."""
        table = trade_ticks_table(str(instrument_id), price_precision, size_precision, **columns)
        return self.write_table(series or Series.trades(instrument_id), table, start, end)

    def write_bars(
        self,
        bar_type: Any,
        price_precision: int,
        size_precision: int,
        *,
        start: int | None = None,
        end: int | None = None,
        series: Series | None = None,
        **columns: Any,
    ) -> WriteReport:
        """Fast path for decoded klines: ``columns`` as ``arrow_tables.bars_table`` takes them."""
        table = bars_table(str(bar_type), price_precision, size_precision, **columns)
        return self.write_table(series or Series.bars(bar_type), table, start, end)

    def write_objects(
        self,
        data: Sequence[Any],
        start: int | None = None,
        end: int | None = None,
        series: Series | None = None,
    ) -> list[WriteReport]:
        """Object path: Nautilus ``Data`` objects (TradeTick, Bar, custom data, CustomData wrappers), grouped
        by class and identifier as ``write_data`` does, serialised with Nautilus's ``ArrowSerializer``."""
        groups: dict[tuple[type, str | None], list[Any]] = {}
        for obj in data:
            inner = obj.data if isinstance(obj, CustomData) else obj
            groups.setdefault((type(inner), _identifier_of(inner)), []).append(inner)
        reports = []
        for (cls, ident), objs in groups.items():
            s = series if series is not None else Series(cls, ident)
            if s.data_cls is not cls or s.identifier != ident:
                raise CatalogStoreError(f"objects of {cls.__name__}[{ident}] do not belong to {s}")
            objs.sort(key=lambda o: o.ts_init)
            table = ArrowSerializer.serialize_batch(objs, data_cls=cls)
            if isinstance(table, pa.RecordBatch):
                table = pa.Table.from_batches([table])
            reports.append(self.write_table(s, table, start, end))
        return reports

    def declare_covered(self, series: Series, start: int, end: int) -> WriteReport:
        """Record that ``[start, end]`` holds no rows (e.g. a fetch that came back empty), using the series'
        schema from its newest file; nothing happens for a series without files."""
        files = self.files(series)
        if not files:
            return WriteReport(series)
        with reading(self.series_dir(series) / files[-1].name):
            schema = storage.read_schema(self.series_dir(series) / files[-1].name)
        return self.write_table(series, schema.empty_table(), start, end)

    def appender(
        self,
        series: Series,
        start: int | None = None,
        max_buffer_rows: int = 1_000_000,
        spill_rows: int = 100_000,
    ) -> SeriesAppender:
        """A buffered writer for a stream of pages (see ``framework.catalog.appender.SeriesAppender``)."""
        return SeriesAppender(self, series, start, max_buffer_rows, spill_rows)

    # -- maintenance ----------------------------------------------------------------------------------------

    def consolidate(self, series: Series, start: int | None = None, end: int | None = None) -> WriteReport:
        """Crash-safe ``consolidate_data``: merge each run of contiguous files inside ``[start, end]`` into
        one file (same atomic replace as writes). Merging a partial last period is fine: later writes merge
        into the consolidated file (rewriting it whole, so consolidate complete periods)."""
        report = WriteReport(series)
        d = self.series_dir(series)
        with self.locks.hold(d):
            recover_dir(d, self.durable)
            files = [
                f
                for f in list_files(d)
                if (start is None or f.start >= start) and (end is None or f.end <= end)
            ]
            runs: list[list[FileSpan]] = []
            for f in files:
                if runs and runs[-1][-1].end + 1 == f.start:
                    runs[-1].append(f)
                else:
                    runs.append([f])
            try:
                for run in runs:
                    if len(run) < 2:
                        continue
                    tables = [read_file(d / f.name) for f in run]
                    merged = pa.concat_tables(tables).combine_chunks()
                    name = file_name(run[0].start, run[-1].end)
                    self.writer.publish(d, merged, name, run)
                    report.written.append(name)
                    report.removed += [f.name for f in run]
            except BaseException:
                recover_dir(d, self.durable)
                raise
            if report.changed:
                self.writer.sync_dir(d)
        return report


def _identifier_of(obj: Any) -> str | None:
    if hasattr(obj, "bar_type"):
        return str(obj.bar_type)
    if hasattr(obj, "instrument_id"):
        return obj.instrument_id.value
    return None
