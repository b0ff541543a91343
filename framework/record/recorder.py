"""``record``: live series into the catalog, gap-free, buffered, crash-safe, resumable.

Streamed kinds (aggTrades, klines) come from ``MarketFeed`` sequences: every id / closed bar once, in order,
gaps after reconnects fetched over REST. Rows are buffered and written through ``CatalogStore`` every
``flush_secs`` or ``flush_rows`` (atomic files: a ``kill -9`` loses only the buffer). On start each sequence
resumes after what the catalog holds (the last trade id, the last bar) and ``catch_up`` fetches the gap from
REST before live rows follow, so a restarted recorder leaves the catalog complete and without duplicates
(the store also drops any id it already holds). An empty series starts at the exchange's newest row.
Trades are written in hour files (a flush rewrites only the current hour, not the whole day so far) and each
completed day is merged into one day file, the layout ``ingest`` writes.

A gap since the catalog's newest row longer than ``max_backfill`` is not fetched at start: one warning says how
big it is, the series starts at the exchange's newest row and the gap stays missing (rows decide what is held:
a write declares a span covered only when its rows continue the held ones). SIGINT, SIGTERM and ``duration``
stop every phase (set-up, the start's catch-up, live) within seconds; what was fetched is written, and the next
start resumes after it.

REST-only kinds (open interest, long/short ratios, taker volume, funding) are filled by the ``ingest``
machinery (``Ingestor``) every ``poll_interval_secs`` over the last ``backfill_days``: only what the catalog
lacks is fetched, and what was once written stays, so history grows beyond the 30 days Binance serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from functools import partial
from operator import attrgetter
from pathlib import Path
from typing import Any

import pyarrow as pa
from nautilus_trader.model.instruments import Instrument

from framework.binance.config import BinanceUrls
from framework.binance.endpoints import Market
from framework.binance.http import BinanceRestClient
from framework.binance.intervals import fixed_ms
from framework.catalog.health import require_readable
from framework.catalog.health import require_writable
from framework.catalog.holdings import Holdings
from framework.catalog.series import CatalogStoreError
from framework.catalog.series import Period
from framework.catalog.series import Series
from framework.catalog.store import CatalogStore
from framework.data import parsing
from framework.errors import FrameworkError
from framework.ingest.command import ingest_command
from framework.ingest.config import IngestConfig
from framework.ingest.config import MarketSelection
from framework.ingest.runner import Ingestor
from framework.ingest.targets import kline_series
from framework.live.feed import MarketFeed
from framework.live.feed import first_failure
from framework.output import warn as print_warning
from framework.record.backfill import FINAL_CATCH_UP_S
from framework.record.backfill import CatchUp
from framework.record.backfill import held_until
from framework.record.backfill import report_progress
from framework.record.config import STREAMED
from framework.record.config import RecordConfig
from framework.timeunits import DAY_MS
from framework.timeunits import NS_PER_DAY
from framework.timeunits import NS_PER_MS
from framework.values import format_duration_ms
from framework.values import format_time_ms

log = logging.getLogger("framework.record")
#: Recorded trades go into hour files, merged into the usual day file once the day is complete: a flush into
#: a partial period rewrites that period's file, and a busy symbol's day file grows past a million rows
#: (``benchmarks/bench_record.py``).
RECORD_TRADES_PERIOD = "1h"


def trades_table(inst: Instrument, rows: list[Any]) -> pa.Table:
    """aggTrade rows (a, p, q, m, T) in the catalog's ``TradeTick`` layout."""
    return pa.Table.from_batches([parsing.trade_record_batch(
        inst, [r.p for r in rows], [r.q for r in rows], [r.m for r in rows], [str(r.a) for r in rows],
        [r.T for r in rows])])


@dataclass
class Recording:
    """One streamed series: its rows waiting for the next flush and how to write them.

    ``key``/``step`` give a row's place in the sequence (aggTrade id by 1, bar open time by the interval):
    a write declares the span since what is held (``covered``) only when its first row continues the last row
    held (``last_key``), so a span the recording skipped is never declared held, and never a whole period
    without rows (no empty files)."""

    name: str
    outputs: list[tuple[Series, Callable[[list[Any]], pa.Table]]]  # every series the rows land in
    covered: int | None  # ns: end of the file holding the newest row (None: nothing held)
    rows: list[Any] = field(default_factory=list)
    written: int = 0
    consolidate_days: bool = False  # merge each completed day's files into one day file
    key: Callable[[Any], int] = attrgetter("a")
    step: int = 1
    last_key: int | None = None  # key of the newest row held or written
    newest_key: int | None = None  # key of the newest row received (written or buffered)

    def add(self, row: Any, filled: bool) -> None:
        """Buffer one row (the feed callback; ``filled``: it came from REST after a gap)."""
        self.rows.append(row)
        self.newest_key = self.key(row)

    def write(self, store: CatalogStore, rows: list[Any]) -> None:
        """Write ``rows`` (taken from the buffer) into every output series; never zero rows."""
        if not rows:
            return
        continues = self.last_key is not None and self.key(rows[0]) == self.last_key + self.step
        top = bottom = None
        for series, convert in self.outputs:
            table = convert(rows)
            ts = table.column("ts_init")
            first, last = int(ts[0].as_py()), int(ts[-1].as_py())
            start = self._declared_start(series.period or store.period, first) if continues else None
            store.write_table(series, table, start=start)
            top = last if top is None else max(top, last)
            bottom = first if bottom is None else min(bottom, first)
        assert top is not None and bottom is not None
        if self.consolidate_days:
            # the days this write completed (the held one among them when the rows continue it)
            since = self.covered if continues and self.covered is not None else bottom
            for day in range(since // NS_PER_DAY, top // NS_PER_DAY):
                for series, _ in self.outputs:
                    store.consolidate(series, day * NS_PER_DAY, (day + 1) * NS_PER_DAY - 1)
        self.covered = top if self.covered is None else max(self.covered, top)
        self.last_key = self.key(rows[-1])
        self.written += len(rows)

    def _declared_start(self, period: Period, first: int) -> int | None:
        """Right after what is held (the files stay contiguous), but never across a whole period without rows:
        the held file's period is completed (a rename), the rows' period starts the new file."""
        if self.covered is None:
            return None
        after = self.covered + 1
        own = period.bounds(first)[0]
        if after >= own or after >= period.bounds(own - 1)[0]:
            return after
        return own


@dataclass
class RecordSummary:
    """What a ``record`` run did: rows written per series, the feeds' counters, polls, its length."""

    written: dict[str, int]
    feeds: dict[str, dict[str, Any]]
    polls: int
    seconds: float

    def lines(self) -> list[str]:
        """The summary as the lines printed at the end of a run."""
        out = [f"recorded for {self.seconds:.0f} s"]
        out += [f"  {name}: {rows:,} rows written" for name, rows in self.written.items()]
        for market, s in self.feeds.items():
            seqs = s["sequences"].values()
            out.append(f"  {market} streams: {s['frames']:,} frames, {s['reconnects']} reconnects, "
                       f"{s['malformed']} malformed frames skipped, {sum(q['gaps'] for q in seqs)} gaps filled "
                       f"({sum(q['filled'] for q in seqs):,} rows from REST), "
                       f"{sum(q['duplicates'] for q in seqs)} duplicates dropped, "
                       f"{sum(q['unfilled'] for q in seqs)} rows unfillable")
        if self.polls:
            out.append(f"  REST-only series refreshed {self.polls} time(s)")
        return out


def check_catalog(catalog: str | Path) -> None:
    """One line before anything starts when the catalog cannot be written (a read-only mount, no permission, a
    path under a file: else the first flush fails minutes later) or holds a damaged file (naming it and the
    repair). ``record`` calls it before the local exchange starts; ``Recorder`` again for direct use."""
    require_writable(catalog)
    require_readable(catalog)


class Recorder:
    """Runs one record configuration until ``stop`` is set (or ``cfg.duration`` passes), in every phase:
    set-up, the start's catch-up and the live recording stop alike, and what was fetched is flushed."""

    def __init__(self, cfg: RecordConfig, client: BinanceRestClient, urls: BinanceUrls,
                 warn: Callable[[str], None] | None = None, offline: bool = False):
        """``offline``: the exchange is the local one (``--offline``): commands printed for the user say so."""
        cfg.validate()
        self.offline = offline
        self.cfg = cfg
        self.client = client
        self.urls = urls
        check_catalog(cfg.catalog)
        self.store = CatalogStore(cfg.catalog)
        self.feeds: dict[Market, MarketFeed] = {}
        self.recordings: list[Recording] = []
        self.catch_ups: list[CatchUp] = []
        self.polls = 0
        self.warn = warn or print_warning
        self._flush_lock = asyncio.Lock()
        self._now_ms: dict[Market, int] = {}

    # -- setup -----------------------------------------------------------------------------------

    def _ingest_config(self, kinds: Callable[[str], bool], start_ms: int) -> IngestConfig:
        markets = {}
        for name, sel in self.cfg.markets.items():
            chosen = [k for k in sel.kinds if kinds(k)]
            if chosen:
                markets[name] = MarketSelection(sel.symbols, chosen, sel.intervals, sel.periods)
        return IngestConfig(catalog=self.cfg.catalog, start=str(start_ms), end="now", markets=markets)

    async def _setup(self) -> None:
        everything = Ingestor(self._ingest_config(lambda k: True, 0), self.client, progress=False)
        instruments = await everything.instruments()  # one line for an unlisted symbol, before any write
        everything.write_instruments(list(instruments.values()))
        for name, sel in self.cfg.markets.items():
            market = Market(name)
            streamed = [k for k in sel.kinds if k in STREAMED]
            if not streamed:
                continue
            self._now_ms[market] = (await self.client.get(market, "time")).serverTime
            feed = self.feeds[market] = MarketFeed(market, self.client, self.urls.ws(market),
                                                   self.cfg.streams_per_connection, self.cfg.latency_warn_ms)
            for symbol in dict.fromkeys(s.symbol for s in everything.specs if s.market is market):  # selectors resolved
                inst = instruments[(market, symbol)]
                if "agg_trades" in streamed:
                    await self._record_trades(feed, inst)
                if "klines" in streamed:
                    for interval in sel.intervals:
                        await self._record_klines(feed, inst, interval)

    def _resume_at(self, market: Market, held: Holdings) -> bool:
        """Whether the start fetches the gap since the catalog's newest row (within ``max_backfill``)."""
        if held.last_ts is None:
            return False
        limit = self.cfg.max_backfill_ms
        return limit is None or self._now_ms[market] - held.last_ts // NS_PER_MS <= limit

    async def _say_skipped(self, rec: Recording, market: Market, held: Holdings, what: str,
                           fill: dict[str, str]) -> None:
        """The warning for a gap past ``max_backfill``, said once the stream's start is fixed, with the ingest
        command that fills it (``fill``: its symbol, kind, interval). Offline, that command's local exchange is
        frozen at the server time read now, after the start: it reaches every row before the first recorded one
        (the overlap is written once)."""
        if held.last_ts is None:
            return
        end_ms = (await self.client.get(market, "time")).serverTime
        given = self.cfg.max_backfill
        since = format_time_ms(held.last_ts // NS_PER_MS)
        command = ingest_command(market, start=since, end="now", catalog=self.cfg.catalog, offline=self.offline,
                                 offline_start=format_time_ms(end_ms), **fill)
        ago = format_duration_ms(self._now_ms[market] - held.last_ts // NS_PER_MS, approx=True)
        self.warn(f"{rec.name}: the catalog ends {since}, {ago} ago, "
                  f"more than max_backfill {given if isinstance(given, str) else f'{given:g}s'}: starting at the "
                  f"newest {what}; the gap stays in the gap report (fill it with `{command}`, or start record "
                  "with --backfill all to fetch such a gap)")

    async def _record_trades(self, feed: MarketFeed, inst: Instrument) -> None:
        symbol = inst.raw_symbol.value
        series = Series.trades(inst.id, period=RECORD_TRADES_PERIOD)
        held = self.store.holdings(series)
        rec = Recording(f"{feed.market.value} {symbol} agg_trades", [(series, partial(trades_table, inst))],
                        held_until(held), consolidate_days=True, last_key=held.last_id)
        self.recordings.append(rec)
        last_id = held.last_id if self._resume_at(feed.market, held) else None
        # nothing held, or a gap past max_backfill: start at the exchange's newest aggTrade
        seq = feed.agg_trades(symbol, rec.add, last_id=last_id)
        await seq.start_at_latest()
        if last_id is not None:
            self.catch_ups.append(CatchUp.watch(rec, last_id, seq))
        else:
            await self._say_skipped(rec, feed.market, held, "trade", {"symbol": symbol, "kind": "agg_trades"})

    async def _record_klines(self, feed: MarketFeed, inst: Instrument, interval: str) -> None:
        symbol = inst.raw_symbol.value
        length = fixed_ms(interval)
        bar_type = parsing.kline_bar_type(inst.id, interval)
        bars, stats = kline_series(bar_type)
        held = self.store.holdings(bars)
        last_open = None if held.last_ts is None else held.last_ts // NS_PER_MS - length  # bars are stamped at their close

        def bar_table(rows: list[Any]) -> pa.Table:
            return pa.Table.from_batches([parsing.bar_record_batch(rows, bar_type, inst)])

        def stats_table(rows: list[Any]) -> pa.Table:
            return parsing.kline_stats_table(rows, bar_type)

        rec = Recording(f"{feed.market.value} {symbol} klines {interval}", [(bars, bar_table), (stats, stats_table)],
                        held_until(held), key=attrgetter("open_time"), step=length, last_key=last_open)
        self.recordings.append(rec)
        if not self._resume_at(feed.market, held):
            last_open = None
        # nothing held, or a gap past max_backfill: start after the last closed bar
        seq = feed.klines(symbol, interval, rec.add, last_open=last_open)
        await seq.start_at_latest()
        if last_open is not None:
            self.catch_ups.append(CatchUp.watch(rec, last_open, seq))
        else:
            fill = {"symbol": symbol, "kind": "klines", "interval": interval}
            await self._say_skipped(rec, feed.market, held, "closed bar", fill)

    # -- running ---------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> RecordSummary:
        """Record until ``stop`` is set (or ``duration`` passes): set up, catch up, stream, poll, flush; the summary."""
        started = time.monotonic()
        stopping = asyncio.ensure_future(self._until_stopped(stop))
        tasks: list[asyncio.Future] = []
        try:
            setup = asyncio.ensure_future(self._setup())
            tasks.append(setup)
            await asyncio.wait([setup, stopping], return_when=asyncio.FIRST_COMPLETED)
            if not setup.done():
                return self._summary(started)  # stopped while setting up (finally: nothing buffered yet)
            setup.result()
            for feed in self.feeds.values():
                await feed.start()
            # resume: whatever happened since the catalog's last row comes from REST, ahead of live rows
            catch_up = asyncio.ensure_future(self._catch_up())
            jobs = [self._flusher(), self._status(started), self._feed_failures()]
            if any(k not in STREAMED for sel in self.cfg.markets.values() for k in sel.kinds):
                jobs.append(self._poller())
            tasks += [catch_up, *(asyncio.ensure_future(job) for job in jobs)]
            waiting = {stopping, *tasks[1:]}
            while True:
                done, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                # the background tasks run until cancelled: one that ends has failed (e.g. a flush) and ends the
                # run; the catch-up ends when it has caught up (or fails, and ends the run too)
                for task in done - {stopping}:
                    task.result()
                if stopping in done:
                    break
            if catch_up.done():
                # a clean stop: everything the exchange has up to now (bounded: a stop is a stop)
                await self._final_catch_up()
            else:
                log.info("stopped during the start's catch-up; the next start resumes after what was written")
        finally:
            for task in (stopping, *tasks):
                task.cancel()
            await asyncio.gather(stopping, *tasks, return_exceptions=True)
            for feed in self.feeds.values():
                await feed.stop()
            await self.flush()
        return self._summary(started)

    def _summary(self, started: float) -> RecordSummary:
        return RecordSummary({r.name: r.written for r in self.recordings},
                             {m.value: f.stats() for m, f in self.feeds.items()}, self.polls,
                             time.monotonic() - started)

    async def _until_stopped(self, stop: asyncio.Event) -> None:
        """Returns on ``stop`` or when ``duration`` has passed since the run began."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=self.cfg.duration)

    async def _catch_up(self) -> None:
        """The start's catch-up, with progress on stderr when it takes a while (``CatchUp``)."""
        progress = asyncio.ensure_future(report_progress(self.catch_ups))
        try:
            await asyncio.gather(*(f.catch_up() for f in self.feeds.values()))
        finally:
            progress.cancel()
            await asyncio.gather(progress, return_exceptions=True)

    async def _final_catch_up(self) -> None:
        final = asyncio.ensure_future(asyncio.gather(*(f.catch_up() for f in self.feeds.values())))
        done, _ = await asyncio.wait([final], timeout=FINAL_CATCH_UP_S)
        if final in done:
            final.result()
            return
        final.cancel()
        await asyncio.gather(final, return_exceptions=True)
        log.info("the stop's catch-up took over %.0f s; the next start resumes after what was written",
                 FINAL_CATCH_UP_S)

    async def _feed_failures(self) -> None:
        """Ends the run when a feed gives a connection up (the exchange refuses its streams)."""
        feed = await first_failure(self.feeds.values())
        assert feed.error is not None
        raise FrameworkError(f"{feed.refusal()}; remove it from markets.{feed.market.value}.symbols")

    async def _flusher(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(min(0.2, self.cfg.flush_secs))
            buffered = sum(len(r.rows) for r in self.recordings)
            if buffered >= self.cfg.flush_rows or (buffered and time.monotonic() - last >= self.cfg.flush_secs):
                await self.flush()
                last = time.monotonic()

    async def flush(self) -> None:
        """Write every buffered row (in a thread: the streams keep flowing meanwhile)."""
        async with self._flush_lock:
            batches = [(r, r.rows) for r in self.recordings if r.rows]
            for rec, _ in batches:
                rec.rows = []
            if batches:
                write = asyncio.ensure_future(asyncio.to_thread(self._write, batches))
                try:
                    await asyncio.shield(write)
                except asyncio.CancelledError:
                    # a cancelled await would leave the thread writing while the final flush starts: let it land
                    await write
                    raise

    def _write(self, batches: list[tuple[Recording, list[Any]]]) -> None:
        for rec, rows in batches:
            try:
                rec.write(self.store, rows)
            except (OSError, CatalogStoreError) as e:
                raise FrameworkError(f"writing {rec.name} into {self.cfg.catalog} failed ({e}); fix the catalog "
                                     "folder and run again: the recording resumes after what it holds") from e

    async def _poller(self) -> None:
        """The REST-only kinds, refreshed through ingest (fetches only what the catalog lacks)."""
        polled = lambda k: k not in STREAMED  # noqa: E731
        while True:
            try:
                server_ms = (await self.client.get(Market.FUTURES, "time")).serverTime
                cfg = self._ingest_config(polled, server_ms - int(self.cfg.backfill_days * DAY_MS))
                await Ingestor(cfg, self.client, progress=False).run()
                self.polls += 1
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 (an outage must not stop the streams' recording)
                log.warning("refreshing the REST-only series failed (%s); retrying in %.0f s", e,
                            self.cfg.poll_interval_secs)
            await asyncio.sleep(self.cfg.poll_interval_secs)

    async def _status(self, started: float) -> None:
        while True:
            await asyncio.sleep(self.cfg.status_secs)
            parts = [f"{r.name} {r.written:,} (+{len(r.rows):,} buffered)" for r in self.recordings]
            for market, feed in self.feeds.items():
                s = feed.stats()
                p99 = max((v["p99"] for v in s["latency_ms"].values()), default=0.0)
                parts.append(f"{market.value}: {s['frames']:,} frames, {s['reconnects']} reconnects, "
                             f"{s['malformed']} malformed, latency p99 {p99:.0f} ms")
            log.info("record %.0fs: %s", time.monotonic() - started, "; ".join(parts))

