"""Bulk files into the catalog at volume: one file streamed through the REST path's converters into the store.

A file's rows are read as checked Arrow column chunks (:mod:`framework.ingest.bulk_columns`), converted by the
kind's converter (:data:`CONVERTERS`) into the Nautilus Arrow tables the REST path writes (the same functions:
a row gives the same catalog bytes whichever way it came, ``tests/test_bulk_volume.py`` compares them) and
streamed into one ``SeriesAppender`` per output series, which writes each period's file row group by row group
as it fills. No Python object per row; memory stays a few chunks whatever the file size.

What a file covers
------------------
A file names its day or month; it holds every row of it. Its span in the catalog's ``ts_init`` is
``[(start + shift) ms, (end + shift) ms)`` (``shift``: klines are stamped at their close), which is what the
import declares held, as a REST fetch of that span does. Before a file is opened the store's holdings are
asked what of that span is missing: nothing (a re-import) and the file is not even read; otherwise only the
rows in the missing intervals are written, each interval declared complete when the file ends. Rows the
catalog holds already (a REST ingest of part of the span) are dropped by the store's dedupe (trades by id, bars
by time). Id-keyed rows re-read the millisecond a gap starts in (held rows may end inside it).

Failures
--------
A bad line, a damaged zip or a Ctrl-C stops the file: the periods it completed stay (whole, correct), the
period being written is dropped (its temporary deleted; a ``kill -9`` leaves it to the store's recovery), so a
failed file leaves whole periods or nothing; the rerun skips what is held and reads the rest again.

Files of one series that share catalog periods form a task (:func:`plan_tasks`), imported in order by one
worker, whose appenders go on from one file to the next (a month of daily kline files streams into one monthly
file); tasks share no period, so parallel workers (:mod:`framework.ingest.bulk_parallel`) never write the same
file.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from nautilus_trader.model.instruments import Instrument

from framework.catalog.appender import SeriesAppender
from framework.catalog.series import Series
from framework.catalog.series import merge_intervals
from framework.catalog.store import CatalogStore
from framework.data.kinds import KINDS
from framework.data.kinds import Paging
from framework.data.kinds import Shape
from framework.errors import FrameworkError
from framework.ingest import bulk_checks
from framework.ingest import bulk_stats
from framework.ingest.bulk import BulkFile
from framework.ingest.bulk_columns import ColumnChunk
from framework.ingest.bulk_columns import FileStart
from framework.ingest.bulk_columns import read_chunks
from framework.ingest.bulk_csv import Layout
from framework.ingest.bulk_csv import verify_checksum
from framework.ingest.bulk_stats import file_target
from framework.ingest.config import SeriesSpec
from framework.ingest.targets import Target
from framework.timeunits import NS_PER_MS

#: One file's column chunk and its series -> one catalog table per ``target.outputs`` entry, in that order.
Converter = Callable[[pa.RecordBatch, Target], Sequence[pa.Table]]
#: Progress events of an import: (what, file key, rows or bytes, bytes); see :func:`import_file`.
Events = Callable[[str, str, int, int], None]
#: Rows an appender buffers before streaming them into the period's file (about one chunk).
SPILL_ROWS = 20_000
#: How long jemalloc keeps freed pages (ms): 0 returns them at once and page-faults them back (15% of the CPU in
#: system time), 1000 adds ~30 MB to the peak.
DECAY_MS = 200
_NOTHING = pa.table({"ts_init": pa.array([], pa.uint64())})


def rest_twin(batch: pa.RecordBatch, target: Target) -> list[pa.Table]:
    """The kinds whose file rows are REST's rows (trades, klines, price klines): the REST path's own conversion
    of a page of columns, for every output (klines: bars and their KlineStats)."""
    return [convert(batch) for _, convert in target.outputs]


def _file_only(convert: bulk_stats.Converter) -> Converter:
    """A converter of :mod:`framework.ingest.bulk_stats` (one table of the kind's type) as a :data:`Converter`."""
    return lambda batch, target: [convert(batch, target.instrument, target.spec.step)]


#: Kind name -> how its files' chunks become catalog tables.
CONVERTERS: dict[str, Converter] = {
    **{k.name: rest_twin for k in KINDS.values() if k.bulk is not None and k.shape is not Shape.CUSTOM},
    **{name: _file_only(convert) for name, convert in bulk_stats.CONVERTERS.items()},
}


# -- one file ----------------------------------------------------------------------------------------------------


def file_span(file: BulkFile, target: Target) -> tuple[int, int]:
    """The closed ``ts_init`` interval (ns) the file covers (see the module notes); the whole time line for a
    file whose name gives no period."""
    if file.start_ms is None or file.end_ms is None:
        return 0, 2**63 - 1
    shift = target.shift_ms
    return (file.start_ms + shift) * NS_PER_MS, (file.end_ms + shift) * NS_PER_MS - 1


def missing_spans(store: CatalogStore, target: Target, file: BulkFile) -> list[tuple[int, int]]:
    """What of the file's span some output of ``target`` does not hold yet (empty: the file is held). The last
    interval then runs through the span's end millisecond: a file may hold a row stamped at the next midnight,
    which is written but not declared held."""
    lo, hi = file_span(file, target)
    missing = merge_intervals(iv for series, _ in target.outputs for iv in store.missing(series, lo, hi))
    if missing and missing[-1][1] == hi:
        missing[-1] = (missing[-1][0], min(hi + NS_PER_MS, 2**63 - 1))
    return missing


@dataclass
class FileResult:
    """What importing one file did."""

    rows: int = 0  # rows handed to the catalog (new ones; the store drops the held)
    read: bool = False  # False: the catalog held its span, the file was not opened
    csv_bytes: int = 0  # CSV bytes read


@dataclass
class _Route:
    """One missing interval: the rows it takes and, per output, the appender writing them."""

    lo: int  # first ts_init taken (id-keyed kinds: from the millisecond's start)
    hi: int  # last ts_init taken
    end: int  # declared complete up to here
    apps: list[SeriesAppender | None]


class _Router:
    """Rows of a task's files into appenders, one per missing interval and output. An interval that goes on where
    the previous file's ended keeps its appenders, so consecutive files stream into their periods' files as one
    stream would (a month of daily kline files is one monthly file written once, not rewritten every day)."""

    def __init__(self, store: CatalogStore, outputs: list[Series]) -> None:
        self.store, self.outputs = store, outputs
        self.routes: list[_Route] = []
        self.rows = 0  # rows of the first output handed on

    def begin(self, target: Target, file: BulkFile, missing: list[tuple[int, int]]) -> None:
        """A file's missing intervals: the first continues the last open one when they touch."""
        _, span_end = file_span(file, target)
        by_id = target.kind.paging is Paging.ID
        new = []
        for a, b in missing:
            # id-keyed rows: the held rows may end inside a millisecond whose later trades are not held yet
            lo = a - a % NS_PER_MS if by_id else a
            new.append(_Route(lo, b, min(b, span_end), [None] * len(self.outputs)))
        last = self.routes[-1] if self.routes else None
        if last is not None and new and new[0].lo <= last.hi + 1:
            last.hi, last.end = max(last.hi, new[0].hi), max(last.end, new[0].end)
            self._finish(self.routes[:-1])
            self.routes = [last, *new[1:]]
        else:
            self._finish(self.routes)
            self.routes = new

    def add(self, tables: Sequence[pa.Table]) -> None:
        """Converted tables (one per output) into the routes their rows fall in (rows of held spans dropped)."""
        for i, table in enumerate(tables):
            if not table.num_rows:
                continue
            ts = table.column("ts_init")
            bounds = pc.min_max(ts)
            lo, hi = bounds["min"].as_py(), bounds["max"].as_py()
            for route in self.routes:
                if hi < route.lo or lo > route.hi:
                    continue
                part = table
                if lo < route.lo or hi > route.hi:
                    t = ts.to_numpy()
                    part = table.filter(pa.array((t >= route.lo) & (t <= route.hi)))
                if part.num_rows:
                    self._appender(route, i).add(part)
                    self.rows += part.num_rows if i == 0 else 0

    def _appender(self, route: _Route, i: int) -> SeriesAppender:
        app = route.apps[i]
        if app is None:
            app = route.apps[i] = self.store.appender(self.outputs[i], start=route.lo, spill_rows=SPILL_ROWS)
        return app

    def declare(self) -> None:
        """Every open interval is complete up to its end (a file is done): periods it completes are written."""
        for route in self.routes:
            if route.end >= route.lo:
                for i in range(len(self.outputs)):
                    self._appender(route, i).add(_NOTHING, end=route.end)

    def _finish(self, routes: list[_Route]) -> None:
        for route in routes:
            for app in route.apps:
                if app is not None:
                    app.close()

    def close(self, exc: BaseException | None = None) -> None:
        """Write what the appenders hold and close them. On an exception (a bad line, Ctrl-C) the unfinished
        periods are dropped: what a failed file leaves is whole periods or nothing, and a rerun reads it again."""
        routes, self.routes = self.routes, []
        for route in routes:
            for app in route.apps:
                if app is None:
                    continue
                if exc is None:
                    app.close()
                else:
                    app.flush_on_error = False
                    app.__exit__(type(exc), exc, exc.__traceback__)


def import_file(store: CatalogStore, target: Target, file: BulkFile, converter: Converter,
                events: Events | None = None, router: _Router | None = None) -> FileResult:
    """Write what the catalog lacks of one file (see the module notes); a file it holds is not opened.

    ``events`` hears ``("start", key, csv bytes, 0)``, ``("chunk", key, rows, bytes)`` per chunk and
    ``("done", key, 0, 0)`` (``key``: the file's path; a held file only says done). ``router``: the task's, to
    go on with the previous file's appenders (else the file's own, closed at its end)."""
    result = FileResult()
    key = str(file.path)
    missing = missing_spans(store, target, file)
    if not missing:
        if events is not None:
            events("done", key, 0, 0)
        return result
    result.read = True
    verify_checksum(file.path, file.checksum)
    if events is not None:
        events("start", key, csv_size(file.path), 0)
    own = router is None
    router = router or _Router(store, [s for s, _ in target.outputs])
    router.begin(target, file, missing)
    before_file = router.rows
    start = FileStart()
    try:
        for i, chunk in enumerate(read_chunks(file.path, file.layout, start=start)):
            if i == 0:
                bulk_checks.check_file(file, start.header, start.first)
            bulk_checks.check_batch(file, chunk.columns)
            try:
                tables = converter(chunk.columns, target)
            except (ValueError, pa.ArrowInvalid) as exc:
                chunk.recheck()  # a line the file rules refuse: their message
                raise located(chunk, exc) from None
            before = router.rows
            router.add(tables)
            result.csv_bytes += chunk.csv_bytes
            if events is not None:
                events("chunk", key, router.rows - before, chunk.csv_bytes)
        router.declare()
        if own:
            router.close()
    except BaseException as exc:
        if own:
            router.close(exc)
        raise
    result.rows = router.rows - before_file
    if events is not None:
        events("done", key, 0, 0)
    return result


_INDEXED = re.compile(r"(\w+)\[(\d+)\]")
#: Names converters give a column that differ from the file's (a TradeTick's size is the file's quantity).
_ALIASES = {"size": ("q", "qty"), "price": ("p", "price")}


def located(chunk: ColumnChunk, exc: BaseException) -> FrameworkError:
    """A converter's refusal (``size[490] = 0 is not positive``) as one line naming the file, line and column."""
    text = str(exc)
    m = _INDEXED.search(text)
    if m is None or int(m[2]) >= chunk.columns.num_rows:
        return FrameworkError(f"{chunk.label}, lines {chunk.first_line}-: {text}")
    name, row = m[1], int(m[2])
    return chunk.problem(row, f"{_column_name(chunk.layout, name)}{text[m.end():]}")


def _column_name(lay: Layout, name: str) -> str:
    for i, col in enumerate(lay.columns):
        if name in (col.field, col.name) or col.field in _ALIASES.get(name, ()):
            return f"{col.name} (column {i + 1})"
    return name


# -- a series' files -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    """Files of one series that share catalog periods, imported in order by one worker (picklable)."""

    catalog: str
    spec: SeriesSpec
    instrument: Instrument
    files: tuple[BulkFile, ...]


@dataclass
class TaskResult:
    """What a task did: rows written, files read, files found held."""

    rows: int = 0
    files_read: int = 0
    files_held: int = 0
    csv_bytes: int = 0  # read


def run_task(task: Task, events: Events | None = None, store: CatalogStore | None = None) -> TaskResult:
    """Import a task's files in order (the worker's function: the same in process, in a pool and on Ray);
    ``events``: progress (:func:`import_file`)."""
    lean_memory()
    store = store or CatalogStore(task.catalog, recover=False)  # the run recovered the catalog when it opened it
    target = file_target(task.spec, task.instrument)
    converter = converter_for(task.spec.kind)
    out = TaskResult()
    router = _Router(store, [s for s, _ in target.outputs])
    try:
        for file in task.files:
            done = import_file(store, target, file, converter, events, router)
            out.rows += done.rows
            out.csv_bytes += done.csv_bytes
            out.files_read += done.read
            out.files_held += not done.read
    except BaseException as exc:
        router.close(exc)
        raise
    router.close()
    return out


def lean_memory() -> None:
    """Arrow buffers from jemalloc, freed pages returned to the system after ``DECAY_MS``: Arrow's default pool
    (mimalloc) keeps them, ~60 MB more resident for the same work (the memory bound is what matters here). The
    pool is the process's: a worker process, or the command's for the rest of its run."""
    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:  # a pyarrow built without jemalloc: the default pool
        return
    pa.set_memory_pool(pool)
    pa.jemalloc_set_decay_ms(DECAY_MS)


def converter_for(kind: str) -> Converter:
    """The kind's converter (a usage error for a kind whose files are recognised but not imported)."""
    try:
        return CONVERTERS[kind]
    except KeyError:
        raise FrameworkError(f"bulk files of {kind} are not imported yet") from None


def plan_tasks(catalog: str, store: CatalogStore, spec: SeriesSpec, instrument: Instrument,
               files: Sequence[BulkFile]) -> list[Task]:
    """The series' files (oldest first) grouped into tasks that share no catalog period: a file joins the task
    of every earlier file whose periods it touches (a month and its days; daily kline files of one month)."""
    target = file_target(spec, instrument)
    groups: list[list[BulkFile]] = []
    owner: dict[tuple[int, int], int] = {}  # (output index, period start) -> group
    for file in files:
        lo, hi = file_span(file, target)
        keys = set()
        for i, (series, _) in enumerate(target.outputs):
            period = series.period or store.period
            t = lo
            while t <= min(hi + NS_PER_MS, 2**63 - 1):
                ps, pe = period.bounds(t)
                keys.add((i, ps))
                if pe >= 2**63 - 2:
                    break
                t = pe + 1
        joined = sorted({owner[k] for k in keys if k in owner})
        if not joined:
            groups.append([file])
            index = len(groups) - 1
        else:
            index = joined[0]
            for other in joined[1:]:  # merge later groups into the first, keeping file order
                groups[index] += groups[other]
                groups[other] = []
                for k, v in owner.items():
                    if v == other:
                        owner[k] = index
            groups[index].append(file)
        for k in keys:
            owner[k] = index
    return [Task(catalog, spec, instrument, tuple(sorted(g, key=BulkFile.sort_key))) for g in groups if g]


def csv_size(p: Path) -> int:
    """The CSV bytes of a bulk file: its size, or its zip member's (0 when unreadable: reading it will say)."""
    try:
        if p.suffix.lower() == ".zip":
            with zipfile.ZipFile(p) as zf:
                return sum(i.file_size for i in zf.infolist() if not i.is_dir())
        return p.stat().st_size
    except (OSError, zipfile.BadZipFile):
        return 0
