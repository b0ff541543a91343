"""The gap report: per series, what the catalog holds and what is missing.

Periodic series (klines, funding, open interest, ratios) report missing periods on their grid; trade
series report missing id ranges (aggregate ids are contiguous on Binance, so any hole is a gap). A bulk import
also lists the days no file covers between its first and last file (by the dates of the file names).
``ingest --fill-gaps`` fetches the missing periods and ids over REST (``framework.ingest.fill_gaps``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from framework.data.kinds import DataKind


def iso(ms: int | None) -> str | None:
    """A ms time as ISO 8601 UTC with milliseconds (None stays None)."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ranges(values: np.ndarray) -> list[tuple[int, int]]:
    """Sorted unique integers -> closed runs of consecutive values."""
    if len(values) == 0:
        return []
    breaks = np.flatnonzero(np.diff(values) != 1)
    starts = np.concatenate(([values[0]], values[breaks + 1]))
    ends = np.concatenate((values[breaks], [values[-1]]))
    return [(int(a), int(b)) for a, b in zip(starts, ends)]


def missing_ids(ids: np.ndarray, lo: int | None = None, hi: int | None = None) -> list[tuple[int, int]]:
    """Id ranges absent from ``ids`` (sorted) between lo and hi (default: its own first and last)."""
    if len(ids) == 0:
        return [] if lo is None or hi is None or lo > hi else [(lo, hi)]
    lo = int(ids[0]) if lo is None else lo
    hi = int(ids[-1]) if hi is None else hi
    gaps: list[tuple[int, int]] = []
    if lo < ids[0]:
        gaps.append((lo, int(ids[0]) - 1))
    jumps = np.flatnonzero(np.diff(ids) > 1)
    gaps += [(int(ids[i]) + 1, int(ids[i + 1]) - 1) for i in jumps]
    if hi > ids[-1]:
        gaps.append((int(ids[-1]) + 1, hi))
    return gaps


def _days(period: str) -> tuple[date, date]:
    """First and last day of a file's period (``2024-01`` or ``2024-01-02``)."""
    parts = [int(x) for x in period.split("-")]
    if len(parts) == 3:
        day = date(*parts)
        return day, day
    first = date(parts[0], parts[1], 1)
    following = date(parts[0] + parts[1] // 12, parts[1] % 12 + 1, 1)
    return first, following - timedelta(days=1)


def missing_file_days(periods: Iterable[str]) -> list[tuple[str, str]]:
    """Runs of days (ISO dates, first and last) between the first and last of ``periods`` (file dates: ``2024-01``
    months, ``2024-01-02`` days) that no period covers."""
    spans = sorted(_days(p) for p in periods if p)
    gaps: list[tuple[str, str]] = []
    covered = None
    for first, last in spans:
        if covered is not None and first > covered + timedelta(days=1):
            gaps.append(((covered + timedelta(days=1)).isoformat(), (first - timedelta(days=1)).isoformat()))
        covered = last if covered is None else max(covered, last)
    return gaps


def retention_note(kind: DataKind) -> str:
    """The note of a series Binance serves only recent REST history of, and where older history is."""
    if kind.bulk is not None:
        return (f"Binance serves only the last 30 days over REST; older {kind.name}: the daily "
                f"{kind.bulk.directory} files of data.binance.vision (data/futures/um/daily/{kind.bulk.directory}/"
                "<SYMBOL>/), imported with ingest --from-files DIR")
    return "Binance serves only the last 30 days here and publishes no older history of it"


def missing_periods(times: np.ndarray, step_ms: int, lo: int, hi: int) -> list[tuple[int, int]]:
    """Runs of grid times in [lo, hi] absent from ``times`` (ms), as (first, last).

    The grid is every ``step_ms`` through the first time held (multiples of ``step_ms`` when none is held), so
    series whose periods do not start at multiples of their length since 1970 are gridded right: weekly klines
    open on Mondays (1970-01-01 was a Thursday)."""
    origin = int(times[0]) % step_ms if len(times) else 0
    first = lo + (origin - lo) % step_ms
    if first > hi:
        return []
    grid = np.arange(first, hi + 1, step_ms, dtype=np.int64)
    absent = grid[~np.isin(grid, times)]
    runs = ranges((absent - origin) // step_ms)
    return [(a * step_ms + origin, b * step_ms + origin) for a, b in runs]


@dataclass
class SeriesReport:
    """What the catalog holds of one series after a run: rows, first/last, the missing periods or id ranges."""

    series: str
    rows: int = 0
    first: str | None = None
    last: str | None = None
    unit: str = "periods"  # what `missing` counts: "periods" (times) or "ids"
    missing: list[tuple[int, int]] = field(default_factory=list)
    missing_count: int = 0
    fetched: int = 0  # rows written by this run
    requests: int = 0
    note: str | None = None
    missing_days: list[tuple[str, str]] = field(default_factory=list)  # bulk import: days no file covers

    @classmethod
    def for_periods(cls, series: str, times_ms: np.ndarray, step_ms: int, lo: int, hi: int) -> SeriesReport:
        """The report of a time series: grid times in [lo, hi] absent from ``times_ms``."""
        gaps = missing_periods(times_ms, step_ms, lo, hi)
        return cls(series, len(times_ms), iso(_first(times_ms)), iso(_last(times_ms)), "periods",
                   gaps, sum((b - a) // step_ms + 1 for a, b in gaps))

    @classmethod
    def for_ids(cls, series: str, ids: np.ndarray, times_ms: np.ndarray, lo: int | None, hi: int | None) -> SeriesReport:
        """The report of an id series: ids absent between its first and last (or lo and hi)."""
        gaps = missing_ids(ids, lo, hi)
        return cls(series, len(ids), iso(_first(times_ms)), iso(_last(times_ms)), "ids", gaps,
                   sum(b - a + 1 for a, b in gaps))

    @classmethod
    def for_id_chunks(cls, series: str, chunks: Iterable[np.ndarray], first_ms: int | None,
                      last_ms: int | None) -> SeriesReport:
        """:meth:`for_ids` over sorted id chunks in id order (e.g. pieces of the catalog's files), holding one
        chunk at a time; the first/last times come from elsewhere (file footers). Raises ``ValueError`` if a
        chunk's ids do not all follow the previous chunk's."""
        rows, gaps, prev = 0, [], None
        for ids in chunks:
            if not len(ids):
                continue
            if prev is not None and ids[0] <= prev:
                raise ValueError(f"{series}: id {int(ids[0])} after {prev}: chunks out of id order")
            gaps += missing_ids(ids, None if prev is None else prev + 1, None)
            rows += len(ids)
            prev = int(ids[-1])
        return cls(series, rows, iso(first_ms), iso(last_ms), "ids", gaps, sum(b - a + 1 for a, b in gaps))


def _first(a: np.ndarray) -> int | None:
    return int(a[0]) if len(a) else None


def _last(a: np.ndarray) -> int | None:
    return int(a[-1]) if len(a) else None


def format_table(reports: list[SeriesReport]) -> str:
    """The reports as the table printed after a run (a few gaps per series)."""
    head = f"{'series':<44}{'rows':>11}  {'first':<25}{'last':<25}{'missing':>10} {'written':>9}"
    lines = [head, "-" * len(head)]
    for r in reports:
        missing = f"{r.missing_count} {'ids' if r.unit == 'ids' else 'per'}"
        lines.append(f"{r.series:<44}{r.rows:>11}  {r.first or '-':<25}{r.last or '-':<25}{missing:>10} {r.fetched:>9}")
        if r.note:
            lines.append(f"    note: {r.note}")
        for a, b in r.missing_days[:3]:
            lines.append(f"    no file for {a}" + (f"..{b}" if b != a else ""))
        if len(r.missing_days) > 3:
            lines.append(f"    ... {len(r.missing_days) - 3} more runs of days without a file (see the JSON report)")
        for a, b in r.missing[:3]:
            shown = f"{a}..{b}" if r.unit == "ids" else f"{iso(a)}..{iso(b)}"
            lines.append(f"    missing {shown}")
        if len(r.missing) > 3:
            lines.append(f"    ... {len(r.missing) - 3} more gaps (see the JSON report)")
    return "\n".join(lines)
