"""``ingest``: fetch what the catalog is missing, write it in period chunks, report the gaps.

For every series the catalog says which closed ns intervals it already covers; only the rest is fetched
(``Fetcher``: concurrent pages under the weight budget), converted to Nautilus's Arrow layout and streamed
into the store's appender, which writes each period once, atomically. A second run finds nothing missing
and writes nothing; a run killed anywhere loses only its unwritten buffer, which the next run refetches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections import deque
from collections.abc import Callable
from collections.abc import Coroutine
from concurrent.futures import Future
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from nautilus_trader.model.instruments import Instrument

from framework.binance.endpoints import Market
from framework.binance.http import BinanceRestClient
from framework.catalog.appender import SeriesAppender
from framework.catalog.health import require_readable
from framework.catalog.health import require_writable
from framework.catalog.location import catalog_root
from framework.catalog.location import nautilus_catalog
from framework.catalog.locks import FetchClaim
from framework.catalog.series import Series
from framework.catalog.series import merge_intervals
from framework.catalog.store import CatalogStore
from framework.data import parsing
from framework.data.instruments import instrument_id_for
from framework.data.kinds import KINDS
from framework.data.kinds import Paging
from framework.data.kinds import Step
from framework.errors import UsageError
from framework.ingest import bulk
from framework.ingest import bulk_run
from framework.ingest.config import IngestConfig
from framework.ingest.config import parse_span
from framework.ingest.config import plan_series
from framework.ingest.config import requested_symbols
from framework.ingest.fetch import FairShare
from framework.ingest.fetch import Fetcher
from framework.ingest.fetch import Span
from framework.ingest.instruments import listed
from framework.ingest.instruments import write_instruments
from framework.ingest.progress import Progress
from framework.ingest.report import SeriesReport
from framework.ingest.report import format_table
from framework.ingest.report import missing_file_days
from framework.ingest.report import retention_note
from framework.ingest.targets import Target
from framework.ingest.targets import target_for
from framework.output import warn
from framework.timeunits import NS_PER_MS
from framework.values import resolve_symbols

log = logging.getLogger("framework.ingest")
#: Pages are converted to Arrow in batches of at least this many rows (page by page, per-call overhead dominates;
#: 25k converts as fast as 50k here). Two batches of decoded rows are in memory at once (~300 bytes an aggTrade).
CONVERT_ROWS = 25_000
#: The gap report reads trade ids in pieces of this many rows (a day of BTCUSDT aggTrades is ~2.5M).
REPORT_ROWS = 50_000
#: Converted batches a sink may have queued or in hand while the caller decodes more pages.
INFLIGHT_BATCHES = 2
#: How often a run waiting for another run's claim on a series looks again (s).
CLAIM_POLL_S = 0.25
#: Series fetched at once by a REST run (each holds a sink: converted batches, open appenders); the rest queue.
ACTIVE_SERIES = 16


class SeriesSink:
    """Rows of one target on their way into the catalog: converted to Arrow in batches of ``CONVERT_ROWS``
    (per-page overhead dominates otherwise) and streamed into one appender per output.

    Conversion and writing run on worker threads, one per output (klines: bars and KlineStats side by side),
    while the caller decodes the next pages (Arrow casts and parquet encoding release the GIL; in ``ingest``
    the event loop keeps fetching).
    ``start``: the first ns the rows cover (default: where each output's holdings end). Leaving the ``with``
    block by an exception writes what was converted (the appenders' rule) and drops the unconverted rest.
    """

    def __init__(self, store: CatalogStore, target: Target, start: int | None = None) -> None:
        self._stack = contextlib.ExitStack()
        # batches go straight to their period's file (written by a thread) instead of waiting for the period end
        self._apps = [(self._stack.enter_context(store.appender(s, start=start, spill_rows=CONVERT_ROWS)), convert)
                      for s, convert in target.outputs]
        self._workers = [self._stack.enter_context(ThreadPoolExecutor(1, thread_name_prefix="ingest-convert"))
                         for _ in self._apps]
        self._jobs: deque[tuple[list[Future[None]], int]] = deque()
        self._pending: list[parsing.Rows] = []  # pages: lists of Structs or column batches
        self._pending_rows = 0
        self.rows = 0  # rows converted and handed to the appenders

    def __enter__(self) -> SeriesSink:
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            if exc[0] is None:
                self.flush(wait=True)
            else:  # let the batches in hand finish before the appenders close
                for jobs, _ in self._jobs:
                    for job in jobs:
                        try:
                            job.result()
                        except Exception as e:  # noqa: BLE001 (the exception on its way out wins; say this one)
                            log.warning("a batch was not written on the way out (%s); the next run refetches it", e)
        except BaseException as e:
            if not self._stack.__exit__(type(e), e, e.__traceback__):
                raise
        else:
            self._stack.__exit__(*exc)

    def add(self, rows: parsing.Rows) -> None:
        """Queue one page (Structs or the columns of ``columnar.decode_page``; one form per sink)."""
        if len(rows):
            self._pending.append(rows)
            self._pending_rows += len(rows)
        if self._pending_rows >= CONVERT_ROWS:
            self.flush()

    def flush(self, wait: bool = False) -> None:
        """Hand the pending rows to the workers (``INFLIGHT_BATCHES`` at most: memory holds that many + 1)."""
        if self._pending:
            batch, count = join_pages(self._pending), self._pending_rows
            self._pending, self._pending_rows = [], 0
            self._wait(INFLIGHT_BATCHES - 1)
            self._jobs.append(([worker.submit(_write, app, convert, batch)
                                for worker, (app, convert) in zip(self._workers, self._apps, strict=True)], count))
        if wait:
            self._wait(0)

    def _wait(self, most: int) -> None:
        """Until at most ``most`` batches are in the worker's hands."""
        while len(self._jobs) > most:
            jobs, rows = self._jobs.popleft()
            for job in jobs:
                job.result()
            self.rows += rows

    def complete(self, end_ns: int) -> None:
        """Declare every output complete up to ``end_ns`` (the fetch covered it all)."""
        self.flush(wait=True)
        for app, _ in self._apps:
            app.add(_NOTHING, end=end_ns)


def _write(app: SeriesAppender, convert: Callable[[parsing.Rows], pa.Table], batch: parsing.Rows) -> None:
    app.add(convert(batch))


def join_pages(pages: list[parsing.Rows]) -> parsing.Rows:
    """Pages as one batch of rows (column batches concatenated, Struct lists chained)."""
    if isinstance(pages[0], pa.RecordBatch):
        return pages[0] if len(pages) == 1 else pa.concat_batches(pages)
    return [row for page in pages for row in page]


class Ingestor:
    """Runs one ingest configuration against one Binance (real or local)."""

    def __init__(self, cfg: IngestConfig, client: BinanceRestClient | None, progress: bool | None = None,
                 files: bool = False, exchange_info: dict[Market, Any] | None = None):
        """``exchange_info``: decoded exchangeInfo answers by market to take instruments from instead of asking
        the exchange (bulk files import offline); ``client`` may then be None."""
        self.cfg = cfg
        self.exchange_info = exchange_info or {}
        self.client = client
        self.catalog_path = catalog_root(cfg.catalog)  # s3://: an ObjectPath (endpoint, credentials, bucket checked)
        if self.catalog_path.exists() and not self.catalog_path.is_dir():
            raise UsageError(f"catalog: {self.catalog_path} is a file; point catalog at a folder")
        self.specs = [] if files else plan_series(cfg)  # symbols named; selectors add theirs in ``instruments``
        self.store: CatalogStore | None = None
        self.progress = sys.stderr.isatty() if progress is None else progress
        # what a selector resolved to is printed for a command's run; runs inside another command log it
        self.say: Callable[[str], None] = log.info if progress is False else \
            (lambda line: print(line, file=sys.stderr, flush=True))
        self.fetched: dict[str, int] = {}
        self.requests: dict[str, int] = {}

    # -- setup -----------------------------------------------------------------------------------

    async def instruments(self) -> dict[tuple[Market, str], Instrument]:
        """Instruments of the requested symbols, selectors resolved against exchangeInfo (``values.resolve_symbols``;
        how many each gave is said) and the series planned for them; symbols the exchange does not list are one
        line naming them with the closest listed names, before any data is requested or written."""
        found: dict[tuple[Market, str], Instrument] = {}
        requested = requested_symbols(self.cfg) if self.cfg.markets else \
            {m: sorted({s.symbol for s in self.specs if s.market is m}) for m in {s.market for s in self.specs}}
        resolved: dict[Market, list[str]] = {}
        for market in sorted(requested):
            info = self.exchange_info.get(market)
            if info is None:
                assert self.client is not None
                info = await self.client.get(market, "exchange_info")
                self.client.apply_rate_limits(market, info)
            symbols, counts = resolve_symbols(requested[market], info.symbols, market.value,
                                              f"markets.{market.value}.symbols")
            for selector, count in counts.items():
                self.say(f"{market.value} {selector}: {count} symbols")
            resolved[market] = symbols
            found.update(listed(market, info, symbols))
        if self.cfg.markets:
            self.specs = plan_series(self.cfg, resolved)
        return found

    def file_instruments(self) -> dict[tuple[Market, str], Instrument]:
        """Instruments for a bulk import, never over the network: the catalog's when it holds them, else from
        the exchangeInfo given (``--exchange-info FILE`` or ``--offline``'s bundled one)."""
        held = {i.id: i for i in nautilus_catalog(self.catalog_path).instruments()} \
            if self.catalog_path.is_dir() else {}
        found: dict[tuple[Market, str], Instrument] = {}
        lacking: dict[Market, list[str]] = {}
        for spec in self.specs:
            inst = held.get(instrument_id_for(spec.market, spec.symbol))
            if inst is not None:
                found[(spec.market, spec.symbol)] = inst
            else:
                lacking.setdefault(spec.market, []).append(spec.symbol)
        for market, symbols in lacking.items():
            info = self.exchange_info.get(market)
            if info is None:
                names = ", ".join(sorted(set(symbols)))
                raise UsageError(f"--from-files: the catalog holds no {market.value} instrument for {names} and no "
                                 f"{market.value} exchangeInfo was given; pass --exchange-info FILE (Binance's "
                                 "exchangeInfo answer saved to a file) or --offline (the bundled one)")
            found.update(listed(market, info, sorted(set(symbols))))
        return found

    def write_instruments(self, instruments: list[Instrument]) -> None:
        """Write instruments that are new or changed, never visible half-written (``instruments.write_instruments``)."""
        write_instruments(self.catalog_path, instruments)

    async def _funding_intervals(self) -> dict[str, int]:
        if not any(KINDS[s.kind].step is Step.FUNDING for s in self.specs):
            return {}
        return parsing.funding_intervals(await self.client.get(Market.FUTURES, "funding_rate_info"))

    # -- running -------------------------------------------------------------------------------

    def _open_store(self) -> None:
        """The catalog, created if missing; an unwritable folder is one line (before anything is fetched)."""
        require_writable(self.catalog_path)
        self.store = CatalogStore(str(self.catalog_path))

    async def run(self) -> list[SeriesReport]:
        """Fetch what the catalog lacks for every planned series, then report each series.

        ``ACTIVE_SERIES`` series are fetched at once (the others queue in order) and share ``cfg.concurrency``
        requests in flight round-robin (``fetch.FairShare``), so no symbol waits behind another's whole history
        and the weight budget is spent across them; one ``Progress`` display covers the run.
        """
        assert self.client is not None
        # an unwritable folder or a damaged file: one line before any request (nothing created if it fails later)
        require_writable(self.catalog_path, keep=False)
        require_readable(self.catalog_path)
        instruments = await self.instruments()
        now_ms = (await self.client.get(self.specs[0].market, "time")).serverTime
        start_ms, end_ms = parse_span(self.cfg, now_ms, warn)
        funding_hours = await self._funding_intervals()
        self._open_store()
        self.write_instruments(list(instruments.values()))
        targets = [target_for(s, instruments[(s.market, s.symbol)], funding_hours) for s in self.specs]
        progress = Progress({t.spec.name: f"{t.kind.name} {t.spec.step}" for t in targets}, terminal=self.progress)
        share = FairShare(self.cfg.concurrency)
        admitted = asyncio.Semaphore(ACTIVE_SERIES)

        async def one(t: Target) -> None:
            async with admitted:
                claim = await self._claim(t)
                try:
                    await self._ingest(t, start_ms, end_ms, now_ms, share, progress)
                finally:
                    claim.release()
                progress.finish(t.spec.name)

        announced, self.client.on_wait = self.client.on_wait, progress.waiting  # the limiter's waits on the line
        try:
            async with progress:
                await _all_or_first_error([one(t) for t in targets])
        finally:
            self.client.on_wait = announced
        reports = [self._report(t, start_ms, end_ms, now_ms) for t in targets]
        self._say_empty(reports)
        return reports

    async def _claim(self, t: Target) -> FetchClaim:
        """The series' fetch claim; when another run holds it, say so and wait (it then holds the rows, and this
        run fetches only what it left missing) instead of fetching the same rows twice."""
        assert self.store is not None
        claim = self.store.fetch_claim(t.series)
        if not claim.acquire():
            print(f"waiting: another ingest (pid {claim.holder()}) is fetching {t.spec.name} into "
                  f"{self.catalog_path}; this run continues when it is done", file=sys.stderr, flush=True)
            started = time.monotonic()
            while not claim.acquire():
                await asyncio.sleep(CLAIM_POLL_S)
            print(f"{t.spec.name}: the other run is done after {time.monotonic() - started:.0f}s; fetching only "
                  "what it left missing", file=sys.stderr, flush=True)
        return claim

    @staticmethod
    def _say_empty(reports: list[SeriesReport]) -> None:
        """A series holding no row after the run is never a silent success."""
        for r in reports:
            if r.rows == 0:
                r.note = r.note or "no rows in the catalog for this series: Binance returned none for the span"
                warn(f"{r.series}: no rows; check the span and the symbol ({r.note})")

    def _bounds(self, t: Target, start_ms: int, end_ms: int, now_ms: int, retention: bool = True) -> tuple[int, int]:
        """The Binance-time span to hold for this series (ms, closed)."""
        lo, hi = start_ms, end_ms
        if retention and t.kind.retention_ms is not None:
            lo = max(lo, now_ms - t.kind.retention_ms + (t.step_ms or 0))
        if t.kind.step is Step.INTERVAL:
            hi = min(hi, now_ms) - t.step_ms  # only closed klines: open + interval <= now
        return lo, hi

    async def _ingest(self, t: Target, start_ms: int, end_ms: int, now_ms: int, share: FairShare,
                      progress: Progress) -> None:
        assert self.store is not None
        lo, hi = self._bounds(t, start_ms, end_ms, now_ms)
        if lo > hi:
            return
        name = t.spec.name
        self.fetched.setdefault(name, 0)
        shift = t.shift_ms
        # every output of the target must be complete: a kill between two of them refetches the span
        wanted = ((lo + shift) * NS_PER_MS, (hi + shift) * NS_PER_MS + NS_PER_MS - 1)
        missing = merge_intervals(iv for s, _ in t.outputs for iv in self.store.missing(s, *wanted))
        fetcher = Fetcher(self.client, t.spec.market, t.kind, t.spec.symbol, t.spec.step, t.step_ms,
                          self.cfg.concurrency, columns=True, share=share)
        for a_ns, b_ns in missing:
            # held rows may end inside a ms (a run stopped by an exception writes up to its last row): id-paged
            # kinds refetch that ms, whose later trades are not held yet (dedupe drops the ones that are)
            a_ms = (a_ns // NS_PER_MS if t.kind.paging is Paging.ID else -(-a_ns // NS_PER_MS)) - shift
            b_ms = b_ns // NS_PER_MS - shift
            if a_ms > b_ms:
                continue
            span = Span(a_ms, b_ms) if t.kind.paging is Paging.TIME else await fetcher.id_span(a_ms, b_ms)
            pages = 0 if span is None else len(
                fetcher.id_pages_for(span) if t.kind.paging is Paging.ID else fetcher.time_windows(span))
            progress.plan(name, pages)
            before = self.fetched[name]
            with SeriesSink(self.store, t, start=a_ns) as sink:
                if span is not None:
                    async for rows in fetcher.pages(span):
                        if t.kind.step is Step.INTERVAL:
                            rows = parsing.closed_klines(rows, now_ms)
                        sink.add(rows)
                        self.fetched[name] = before + sink.rows
                        progress.advance(name, len(rows))
                sink.complete(b_ns)  # the whole missing interval is now known complete
                self.fetched[name] = before + sink.rows
        self.requests[name] = fetcher.requests

    # -- bulk files -------------------------------------------------------------------------------

    async def import_files(self, root: Path, market: Market | None = None, workers: int = 1,
                           engine: str = "process", ray_address: str | None = None) -> list[SeriesReport]:
        """Import data.binance.vision files under ``root`` (``framework.ingest.bulk_run``: columns straight from the
        CSV, ``workers`` processes or Ray, the REST path's dedupe and chunking)."""
        return await bulk_run.import_files(self, root, market, workers, engine, ray_address)

    def file_report(self, t: Target, files: list[bulk.BulkFile]) -> SeriesReport:
        """What the catalog holds of ``t`` over the span of its bulk ``files``."""
        first = min(f.start_ms for f in files if f.start_ms is not None)
        last = max(f.end_ms for f in files if f.end_ms is not None)
        # a file's period ends before its end (klines: bounded by their open time + interval already)
        end = last if t.kind.step is Step.INTERVAL else last - 1
        report = self._report(t, first, end, last + (t.step_ms or 0), retention=False)
        report.missing_days = missing_file_days(f.period for f in files)
        return report

    # -- report -------------------------------------------------------------------------------

    def _report(self, t: Target, start_ms: int, end_ms: int, now_ms: int, retention: bool = True) -> SeriesReport:
        """What the catalog holds of ``t`` over ``[start_ms, end_ms]`` (``retention``: only the span Binance still
        serves over REST is checked; files are checked over their whole span)."""
        assert self.store is not None
        lo, hi = self._bounds(t, start_ms, end_ms, now_ms, retention)
        name = t.spec.name
        if t.kind.paging is Paging.ID:
            report = self._id_report(t.series, name)
        else:
            ts_ms = _int64(self.store.read_table(t.series, columns=["ts_init"]), "ts_init") // NS_PER_MS - t.shift_ms
            report = SeriesReport.for_periods(name, ts_ms, t.step_ms or 1, lo, hi)
            if t.kind.retention_ms is not None and start_ms < lo:
                report.note = retention_note(t.kind)
        report.fetched = self.fetched.get(name, 0)
        report.requests = self.requests.get(name, 0)
        return report

    def _id_report(self, series: Series, name: str) -> SeriesReport:
        """Missing id ranges from the trade ids alone, piece by piece (a year of trades does not fit in memory;
        first and last times come from the file footers)."""
        assert self.store is not None
        bounds = self.store.ts_bounds(series)
        first, last = (None, None) if bounds is None else (bounds[0] // NS_PER_MS, bounds[1] // NS_PER_MS)
        pieces = self.store.iter_files(series, columns=["trade_id"], batch_rows=REPORT_ROWS)
        try:
            return SeriesReport.for_id_chunks(name, (np.sort(_int64(p, "trade_id")) for p in pieces), first, last)
        except ValueError:  # ids out of order across pieces: all at once
            table = self.store.read_table(series, columns=["ts_init", "trade_id"])
            return SeriesReport.for_ids(name, np.sort(_int64(table, "trade_id")), _int64(table, "ts_init") // NS_PER_MS,
                                        None, None)


async def _all_or_first_error(coroutines: list[Coroutine[Any, Any, None]]) -> None:
    """Run them all at once; the first failure stops the others (each keeps what it wrote, as a killed run would)
    and is raised as it is."""
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _int64(table: pa.Table, column: str) -> np.ndarray:
    if table.num_rows == 0:
        return np.array([], dtype=np.int64)
    return pc.cast(table.column(column), pa.int64()).to_numpy()


_NOTHING = pa.table({"ts_init": pa.array([], pa.uint64())})


def write_report(reports: list[SeriesReport], path: Path) -> str:
    """Write the gap report JSON to ``path`` (atomically) and return it as a table for the terminal."""
    from framework.output import write_atomic

    write_atomic(path, msgspec.json.format(msgspec.json.encode({"series": reports}), indent=2))
    return format_table(reports)
