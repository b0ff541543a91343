"""``record``: live series into the catalog, gap-free, buffered, crash-safe, resumable.

Streamed kinds (aggTrades, klines) come from ``MarketFeed`` sequences: every id / closed bar once, in order,
gaps after reconnects fetched over REST. Rows are buffered and written through ``CatalogStore`` every
``flush_secs`` or ``flush_rows`` (atomic files: a ``kill -9`` loses only the buffer). On start each sequence
resumes after what the catalog holds (the last trade id, the last bar) and ``catch_up`` fetches the gap from
REST before live rows follow, so a restarted recorder leaves the catalog complete and without duplicates
(the store also drops any id it already holds). An empty series starts at the exchange's newest row.
Trades are written in hour files (a flush rewrites only the current hour, not the whole day so far) and each
completed day is merged into one day file, the layout ``ingest`` writes.

REST-only kinds (open interest, long/short ratios, taker volume, funding) are filled by the ``ingest``
machinery (``Ingestor``) every ``poll_interval_secs`` over the last ``backfill_days``: only what the catalog
lacks is fetched, and what was once written stays, so history grows beyond the 30 days Binance serves.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from functools import partial
from typing import Any

import pyarrow as pa
from nautilus_trader.model.instruments import Instrument

from framework.binance.config import BinanceUrls
from framework.binance.endpoints import Market
from framework.binance.http import BinanceRestClient
from framework.catalog.store import CatalogStore
from framework.catalog.store import CatalogStoreError
from framework.catalog.store import Series
from framework.data import parsing
from framework.errors import FrameworkError
from framework.ingest.config import IngestConfig
from framework.ingest.config import MarketSelection
from framework.ingest.kinds import step_ms
from framework.ingest.runner import Ingestor
from framework.ingest.runner import kline_series
from framework.live.feed import MarketFeed
from framework.record.config import STREAMED
from framework.record.config import RecordConfig

log = logging.getLogger("framework.record")
NS = 1_000_000  # ns per ms
DAY_MS = 86_400_000
NS_PER_DAY = DAY_MS * NS
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
    """One streamed series: its rows waiting for the next flush and how to write them."""

    name: str
    outputs: list[tuple[Series, Callable[[list[Any]], pa.Table]]]  # every series the rows land in
    covered: int | None  # ns the catalog holds up to (the next write starts after it)
    rows: list[Any] = field(default_factory=list)
    written: int = 0
    consolidate_days: bool = False  # merge each completed day's files into one day file

    def add(self, row: Any, filled: bool) -> None:
        self.rows.append(row)

    def write(self, store: CatalogStore, rows: list[Any]) -> None:
        """Write ``rows`` (taken from the buffer) into every output series, touching what is held."""
        top = self.covered
        bottom = self.covered  # a first write: its first row
        for series, convert in self.outputs:
            table = convert(rows)
            start = None if self.covered is None else self.covered + 1
            store.write_table(series, table, start=start)
            ts = table.column("ts_init")
            last = int(ts[-1].as_py())
            top = last if top is None else max(top, last)
            bottom = int(ts[0].as_py()) if bottom is None else bottom
        if self.consolidate_days and bottom is not None and top is not None:
            for day in range(bottom // NS_PER_DAY, top // NS_PER_DAY):  # the days this write completed
                for series, _ in self.outputs:
                    store.consolidate(series, day * NS_PER_DAY, (day + 1) * NS_PER_DAY - 1)
        self.covered = top
        self.written += len(rows)


@dataclass
class RecordSummary:
    written: dict[str, int]
    feeds: dict[str, dict[str, Any]]
    polls: int
    seconds: float

    def lines(self) -> list[str]:
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


class Recorder:
    """Runs one record configuration until ``stop`` is set (or ``cfg.duration`` passes)."""

    def __init__(self, cfg: RecordConfig, client: BinanceRestClient, urls: BinanceUrls):
        cfg.validate()
        self.cfg = cfg
        self.client = client
        self.urls = urls
        self.store = CatalogStore(cfg.catalog)
        self.feeds: dict[Market, MarketFeed] = {}
        self.recordings: list[Recording] = []
        self.polls = 0
        self._flush_lock = asyncio.Lock()

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
            feed = self.feeds[market] = MarketFeed(market, self.client, self.urls.ws(market),
                                                   self.cfg.streams_per_connection, self.cfg.latency_warn_ms)
            for symbol in sel.symbols:
                inst = instruments[(market, symbol.upper())]
                if "agg_trades" in streamed:
                    await self._record_trades(feed, inst)
                if "klines" in streamed:
                    for interval in sel.intervals:
                        await self._record_klines(feed, inst, interval)

    async def _record_trades(self, feed: MarketFeed, inst: Instrument) -> None:
        symbol = inst.raw_symbol.value
        series = Series.trades(inst.id, period=RECORD_TRADES_PERIOD)
        held = self.store.holdings(series)
        rec = Recording(f"{feed.market.value} {symbol} agg_trades", [(series, partial(trades_table, inst))],
                        held.covered_until, consolidate_days=True)
        self.recordings.append(rec)
        # nothing held: start at the exchange's newest aggTrade
        await feed.agg_trades(symbol, rec.add, last_id=held.last_id).start_at_latest()

    async def _record_klines(self, feed: MarketFeed, inst: Instrument, interval: str) -> None:
        symbol = inst.raw_symbol.value
        length = step_ms(interval)
        bar_type = parsing.kline_bar_type(inst.id, interval)
        bars, stats = kline_series(bar_type)
        held = self.store.holdings(bars)
        last_open = None if held.last_ts is None else held.last_ts // NS - length  # bars are stamped at their close

        def bar_table(rows: list[Any]) -> pa.Table:
            return pa.Table.from_batches([parsing.bar_record_batch(rows, bar_type, inst)])

        def stats_table(rows: list[Any]) -> pa.Table:
            return parsing.kline_stats_table(rows, bar_type)

        rec = Recording(f"{feed.market.value} {symbol} klines {interval}", [(bars, bar_table), (stats, stats_table)],
                        held.covered_until)
        self.recordings.append(rec)
        # nothing held: start after the last closed bar
        await feed.klines(symbol, interval, rec.add, last_open=last_open).start_at_latest()

    # -- running ---------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> RecordSummary:
        started = time.monotonic()
        await self._setup()
        for feed in self.feeds.values():
            await feed.start()
        # resume: whatever happened since the catalog's last row comes from REST, ahead of live rows
        catch_up = asyncio.gather(*(f.catch_up() for f in self.feeds.values()))
        jobs = [self._flusher(), self._status(started)]
        if any(k not in STREAMED for sel in self.cfg.markets.values() for k in sel.kinds):
            jobs.append(self._poller())
        tasks = [asyncio.ensure_future(job) for job in jobs]
        stopped = asyncio.ensure_future(stop.wait())
        try:
            # the background tasks run until cancelled: one that ends has failed (e.g. a flush) and ends the run
            done, _ = await asyncio.wait([stopped, *tasks], timeout=self.cfg.duration,
                                         return_when=asyncio.FIRST_COMPLETED)
            for task in done - {stopped}:
                task.result()
            await catch_up
            # a clean stop: everything the exchange has up to now, then the last flush
            await asyncio.gather(*(f.catch_up() for f in self.feeds.values()))
        finally:
            for task in (stopped, catch_up, *tasks):
                task.cancel()
            await asyncio.gather(stopped, catch_up, *tasks, return_exceptions=True)
            for feed in self.feeds.values():
                await feed.stop()
            await self.flush()
        return RecordSummary({r.name: r.written for r in self.recordings},
                             {m.value: f.stats() for m, f in self.feeds.items()}, self.polls,
                             time.monotonic() - started)

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

