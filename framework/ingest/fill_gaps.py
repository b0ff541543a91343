"""``ingest --fill-gaps``: fetch over REST exactly the holes the gap report lists, and nothing else.

The holes are read afresh from the catalog, between the first and last row each series holds (the edges are
``ingest --start/--end``'s business):

* id-paged series (aggTrades, trades): every id missing between the first and last id held, fetched by
  ``fromId`` pages of that range only (a day no file covered is such a hole too: aggregate ids run on across
  days). An id Binance does not serve either (the published files and the API share some holes) stays missing
  and is named in the report's note;
* time-paged series (klines, funding, the statistics): every period missing on the series' grid, fetched by
  time windows of those periods only. Statistics older than the 30 days Binance serves over REST are not
  requested; the note says where they are (the ``metrics`` files).

Which series: the selection given (a YAML or ``--market/--symbols/--kinds``), else those of the catalog's last
gap report (``--report``, default ``<catalog>/ingest_report.json``: what the import before listed). Rows are
written as REST ingest writes them (same conversion, same store), so the filled catalog equals a REST ingest
of the same span.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from framework.binance.endpoints import Market
from framework.catalog.location import nautilus_catalog
from framework.data import parsing
from framework.data.instruments import instrument_id_for
from framework.data.kinds import KINDS
from framework.data.kinds import Paging
from framework.data.kinds import Step
from framework.errors import UsageError
from framework.ingest.config import SeriesSpec
from framework.ingest.fetch import Fetcher
from framework.ingest.fetch import Span
from framework.ingest.report import SeriesReport
from framework.ingest.report import missing_periods
from framework.ingest.runner import REPORT_ROWS
from framework.ingest.runner import Ingestor
from framework.ingest.runner import SeriesSink
from framework.ingest.targets import Target
from framework.ingest.targets import target_for
from framework.timeunits import NS_PER_MS


@dataclass(frozen=True)
class Hole:
    """One hole of a series: a closed range of ids or of Binance times (ms), and the ns the rows around it end
    and start at (where the rows written into it begin and end)."""

    lo: int
    hi: int
    after_ns: int  # ts_init of the last row held before the hole
    before_ns: int  # ts_init of the first row held after it


def specs_from_names(names: Iterable[str], source: str) -> list[SeriesSpec]:
    """Series from their names in a gap report (``futures BTCUSDT klines 1m``: ``SeriesSpec.name``)."""
    specs = []
    for name in names:
        parts = str(name).split()
        if len(parts) not in (3, 4) or parts[0] not in {m.value for m in Market} or parts[2] not in KINDS:
            raise UsageError(f"--fill-gaps: {source}: {name!r} is not a series name; give the selection (a YAML or "
                             "--market/--symbols/--kinds)")
        specs.append(SeriesSpec(Market(parts[0]), parts[2], parts[1], parts[3] if len(parts) == 4 else None))
    return specs


def specs_from_report(path: Path) -> list[SeriesSpec]:
    """The series of a gap report file."""
    try:
        names = [s["series"] for s in msgspec.json.decode(path.read_bytes())["series"]]
    except FileNotFoundError:
        raise UsageError(f"--fill-gaps: no gap report at {path} to take the series from; give the selection (a YAML "
                         "or --market/--symbols/--kinds) or run the import first") from None
    except (OSError, msgspec.DecodeError, KeyError, TypeError) as e:
        raise UsageError(f"--fill-gaps: {path} is not an ingest gap report ({e}); give the selection instead") \
            from None
    return specs_from_names(names, str(path))


def _int64(table: pa.Table, column: str) -> np.ndarray:
    return pc.cast(table.column(column), pa.int64()).to_numpy() if table.num_rows else np.empty(0, np.int64)


def id_holes(ingestor: Ingestor, t: Target) -> Iterator[Hole]:
    """The ids missing between the first and last id the series holds, piece by piece."""
    assert ingestor.store is not None
    prev_id = prev_ns = None
    for piece in ingestor.store.iter_files(t.series, columns=["trade_id", "ts_init"], batch_rows=REPORT_ROWS):
        ids, ts = _int64(piece, "trade_id"), _int64(piece, "ts_init")
        order = np.argsort(ids, kind="stable")
        ids, ts = ids[order], ts[order]
        if prev_id is not None and len(ids) and ids[0] > prev_id + 1:
            yield Hole(prev_id + 1, int(ids[0]) - 1, prev_ns, int(ts[0]))
        for i in np.flatnonzero(np.diff(ids) > 1):
            yield Hole(int(ids[i]) + 1, int(ids[i + 1]) - 1, int(ts[i]), int(ts[i + 1]))
        if len(ids):
            prev_id, prev_ns = int(ids[-1]), int(ts[-1])


def time_holes(ingestor: Ingestor, t: Target) -> list[Hole]:
    """The periods missing on the series' grid between the first and last row it holds."""
    assert ingestor.store is not None and t.step_ms is not None
    held = np.unique(_int64(ingestor.store.read_table(t.series, columns=["ts_init"]), "ts_init"))
    if len(held) < 2:
        return []
    times = held // NS_PER_MS - t.shift_ms
    holes = []
    for lo, hi in missing_periods(times, t.step_ms, int(times[0]), int(times[-1])):
        i = int(np.searchsorted(times, lo))
        holes.append(Hole(lo, hi, int(held[i - 1]), int(held[i])))
    return holes


async def fill_gaps(ingestor: Ingestor, specs: list[SeriesSpec]) -> list[SeriesReport]:
    """Fetch the holes of every series of ``specs`` the catalog holds (see the module notes) and report each."""
    assert ingestor.client is not None
    catalog = ingestor.catalog_path
    held = {i.id: i for i in nautilus_catalog(catalog).instruments()} if catalog.is_dir() else {}
    instruments = {(s.market, s.symbol): held[iid] for s in specs
                   if (iid := instrument_id_for(s.market, s.symbol)) in held}
    specs = [s for s in specs if (s.market, s.symbol) in instruments]  # held series have their instrument
    if not specs:
        raise UsageError(f"--fill-gaps: {catalog} holds none of the series asked for; import or ingest them first")
    ingestor.specs = specs
    now_ms = (await ingestor.client.get(specs[0].market, "time")).serverTime
    hours = await ingestor._funding_intervals()
    ingestor._open_store()
    assert ingestor.store is not None
    reports = []
    for spec in specs:
        t = target_for(spec, instruments[(spec.market, spec.symbol)], hours)
        if ingestor.store.ts_bounds(t.series) is None:
            continue  # nothing held: nothing between rows (a plain ingest fetches it)
        claim = await ingestor._claim(t)
        try:
            note = await _fill(ingestor, t, now_ms)
        finally:
            claim.release()
        bounds = ingestor.store.ts_bounds(t.series)
        first, last = (b // NS_PER_MS - t.shift_ms for b in bounds)
        report = ingestor._report(t, first, last + (t.step_ms or 0) if t.kind.step is Step.INTERVAL else last,
                                  now_ms, retention=False)
        if t.kind.paging is Paging.ID and report.missing_count:  # asked for, and not served
            note = (f"{report.missing_count} ids were asked for and Binance does not serve them either (the files "
                    "and the API share these holes)")
        report.note = note or report.note
        reports.append(report)
    if not reports:
        raise UsageError("--fill-gaps: the catalog holds none of the series asked for; import or ingest them first")
    return reports


async def _fill(ingestor: Ingestor, t: Target, now_ms: int) -> str | None:
    """Fetch ``t``'s holes into the catalog; a note when some cannot be fetched."""
    assert ingestor.store is not None
    name = t.spec.name
    fetcher = Fetcher(ingestor.client, t.spec.market, t.kind, t.spec.symbol, t.spec.step, t.step_ms,
                      ingestor.cfg.concurrency, columns=True)
    by_id = t.kind.paging is Paging.ID
    holes = list(id_holes(ingestor, t) if by_id else time_holes(ingestor, t))
    oldest = None if t.kind.retention_ms is None else now_ms - t.kind.retention_ms + (t.step_ms or 0)
    too_old = [h for h in holes if oldest is not None and h.lo < oldest]
    ingestor.fetched[name] = 0
    for hole in holes:
        lo = hole.lo if oldest is None or by_id else max(hole.lo, -(-oldest // t.step_ms) * t.step_ms)
        if lo > hole.hi:
            continue
        with SeriesSink(ingestor.store, t, start=hole.after_ns + 1) as sink:
            async for rows in fetcher.pages(Span(lo, hole.hi)):
                if t.kind.step is Step.INTERVAL:
                    rows = parsing.closed_klines(rows, now_ms)
                sink.add(rows)
        ingestor.fetched[name] += sink.rows
    ingestor.requests[name] = fetcher.requests
    if too_old:
        return (f"{len(too_old)} holes lie (partly) beyond the 30 days Binance serves over REST: not fetched; the "
                f"{t.kind.bulk.directory if t.kind.bulk else 'published'} files hold them")
    return None
