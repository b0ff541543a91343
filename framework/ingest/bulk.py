"""Binance bulk files (data.binance.vision): which file is what, and its rows as the REST client's Structs.

1. :func:`discover` walks a folder and names every file: a :class:`BulkFile` (market, kind, symbol, interval,
   period) or a :class:`Skipped` entry with the reason. Nothing is dropped silently. ``ingest --from-files``
   starts here, then reads the files column-wise (``framework.ingest.bulk_import``).
2. :func:`iter_batches` streams one file (CSV, or a zip holding one CSV) as lists of at most ``batch_rows``
   :class:`~framework.binance.schemas.Kline`, ``SpotAggTrade``/``FuturesAggTrade`` or ``SpotTrade``/
   ``FuturesTrade``: the very Structs ``/klines``, ``/aggTrades`` and ``/historicalTrades`` decode to (the file
   rows of ``fundingRate`` and ``metrics`` have Structs of their own), checked against the path
   (``framework.ingest.bulk_checks``). Rows that REST and files both provide are deduplicated by the catalog's
   store, by id or time, as REST pages are.

File facts (data.binance.vision)
--------------------------------
* Names: ``<SYMBOL>-<interval>-<YYYY-MM>[-DD]`` (klines; the site writes the month interval ``1mo``),
  ``<SYMBOL>-<type>-<date>`` for the others (``aggTrades``, ``trades``, ``fundingRate``, ``metrics``);
  ``.zip`` (one CSV inside) with an optional ``.zip.CHECKSUM`` (SHA-256) beside it.
* Layout: ``data/spot/{daily,monthly}/{klines,aggTrades,trades}/<SYMBOL>[/<interval>]/<file>`` and
  ``data/futures/um/{daily,monthly}/<type>/...`` with type ``klines``, ``markPriceKlines``,
  ``indexPriceKlines``, ``premiumIndexKlines``, ``aggTrades``, ``trades``, ``fundingRate`` (monthly) or
  ``metrics`` (daily). ``futures/cm`` (COIN-M) and ``option`` are reported as unsupported.
* Spot CSVs have no header, USD-M CSVs have one (older USD-M files have none). Spot timestamps are in
  microseconds from 2025-01-01, milliseconds before.
* Columns: klines are the same 12 columns for both markets; aggTrades are 8 columns on spot (``is_best_match``
  last) and 7 on USD-M; trades are 7 on spot (``isBestMatch`` last) and 6 on USD-M. The columns of every kind
  are declared in ``framework.data.kinds`` (a row's ``bulk``).
* One ``metrics`` file feeds five kinds (open interest, the three long/short ratios, taker volume): discovery
  gives one :class:`BulkFile` per kind for it (see ``framework.ingest.bulk_stats`` for what lands).
* Kline intervals without a catalog series are skipped with the reason: ``1mo`` (calendar months have no
  fixed length) and ``3d`` (no Nautilus bar type).

Market
------
The path decides when it follows the data.binance.vision layout. Otherwise the ``market`` argument decides;
without one, the content: the column count for aggTrades/trades, and for klines the USD-M header
(``open_time,...,count,...,ignore``) or microsecond times (spot only). A kline file that says neither is
reported as skipped, with the fix.

Reading one file (the CSV engines, the column layouts from ``framework.data.kinds``) is
:mod:`framework.ingest.bulk_csv`'s job; what a file's content must agree with (its path's market, symbol and
dates) is :mod:`framework.ingest.bulk_checks`'."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any
from typing import Literal
from typing import NamedTuple

from framework.binance.endpoints import Market
from framework.binance.intervals import INTERVAL_MS
from framework.binance.intervals import KLINE_INTERVALS
from framework.binance.intervals import bar_spec
from framework.data.kinds import KINDS
from framework.data.kinds import Step
from framework.errors import FrameworkError
from framework.ingest import bulk_checks
from framework.ingest.bulk_columns import struct_batches as arrow_batches
from framework.ingest.bulk_csv import BULK_KINDS
from framework.ingest.bulk_csv import DEFAULT_BATCH_ROWS
from framework.ingest.bulk_csv import FUTURES_KLINE_HEADER
from framework.ingest.bulk_csv import INT_RE
from framework.ingest.bulk_csv import KLINES
from framework.ingest.bulk_csv import LAYOUTS
from framework.ingest.bulk_csv import US_THRESHOLD
from framework.ingest.bulk_csv import Layout
from framework.ingest.bulk_csv import is_header
from framework.ingest.bulk_csv import layout
from framework.ingest.bulk_csv import open_text
from framework.ingest.bulk_csv import python_batches
from framework.ingest.bulk_csv import rebatch
from framework.ingest.bulk_csv import verify_checksum

#: The kline kinds: files named by their interval (``<SYMBOL>-1m-2024-01.zip``), one directory per interval.
KLINE_KINDS = tuple(k.name for k in BULK_KINDS if k.step is Step.INTERVAL)
#: data.binance.vision directory name -> the kinds its files feed (``metrics``: five; the others: one).
_DIR_KINDS: dict[str, tuple[str, ...]] = {}
for _k in BULK_KINDS:
    _DIR_KINDS[_k.bulk.directory] = (*_DIR_KINDS.get(_k.bulk.directory, ()), _k.name)
#: The word that names the other kinds' files (``<SYMBOL>-aggTrades-2024-01-01.zip``) -> their kinds.
_NAME_KINDS = {d: kinds for d, kinds in _DIR_KINDS.items() if kinds[0] not in KLINE_KINDS}
_FREQUENCIES = ("daily", "monthly")
#: The site's names of intervals that differ from Binance's (``1M`` would clash with ``1m`` on some disks).
_SITE_INTERVALS = {"1mo": "1M"}

_NAME_RE = re.compile(
    r"(?P<symbol>\w+)-(?P<what>[A-Za-z0-9]+)-(?P<period>[0-9]{4}-[0-9]{2}(?:-[0-9]{2})?)\.(?P<ext>csv|zip)")
_CHECKSUM_SUFFIX = ".CHECKSUM"


# -- discovery -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BulkFile:
    """One recognised bulk file."""

    path: Path
    market: Market
    kind: str  # the data kind it feeds (a name of data.kinds: klines, agg_trades, funding, open_interest ...)
    symbol: str
    interval: str | None  # kline interval, or the statistics' period (metrics: 5m); None for trades and funding
    period: str  # "2023-02" (monthly), "2023-02-01" (daily); "" when the file name has none
    checksum: Path | None = None  # the data.binance.vision ``.CHECKSUM`` beside a zip

    @property
    def daily(self) -> bool:
        """Whether the file holds one day (else a month)."""
        return len(self.period) == 10

    @property
    def start_ms(self) -> int | None:
        """Start of the period the file name gives (ms; None when it gives none)."""
        return _period_bounds(self.period)[0] if self.period else None

    @property
    def end_ms(self) -> int | None:
        """Exclusive end of the period (ms)."""
        return _period_bounds(self.period)[1] if self.period else None

    @property
    def series(self) -> tuple[Market, str, str, str | None]:
        """The series the file belongs to: (market, kind, symbol, interval)."""
        return self.market, self.kind, self.symbol, self.interval

    @property
    def layout(self) -> Layout:
        """Its columns and row Struct."""
        return layout(self.kind, self.market)

    def sort_key(self) -> tuple:
        """Order within a series: oldest first, a month before its days."""
        return (self.market, self.kind, self.symbol, self.interval or "", self.start_ms or 0, self.daily,
                str(self.path))


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file :func:`discover` did not take, and why."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class Discovery:
    """What :func:`discover` found: the bulk files, and every other file with the reason."""

    files: list[BulkFile] = field(default_factory=list)  # in series order, each series oldest first
    skipped: list[Skipped] = field(default_factory=list)

    def series(self) -> dict[tuple[Market, str, str, str | None], list[BulkFile]]:
        """The files by series, each list oldest first."""
        return group_series(self.files)


def _period_bounds(period: str) -> tuple[int, int]:
    parts = [int(x) for x in period.split("-")]
    if len(parts) == 3:
        start = datetime(parts[0], parts[1], parts[2], tzinfo=UTC)
        end_ms = int(start.timestamp() * 1000) + 86_400_000
        return int(start.timestamp() * 1000), end_ms
    y, m = parts
    start = datetime(y, m, 1, tzinfo=UTC)
    end = datetime(y + m // 12, m % 12 + 1, 1, tzinfo=UTC)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


class _PathInfo(NamedTuple):
    market: Market
    frequency: str
    kind: str
    symbol: str
    interval: str | None


def _path_info(path: Path) -> _PathInfo | str | None:
    """What a data.binance.vision directory layout says about ``path``: info, a reason to skip, or None."""
    dirs = path.parts[:-1]
    for i in range(len(dirs) - 1, -1, -1):
        if dirs[i] in ("spot", "futures", "option"):
            break
    else:
        return None
    rest = dirs[i:]
    if rest[0] == "option":
        return "options data is not supported"
    if rest[0] == "futures":
        if len(rest) < 2 or rest[1] not in ("um", "cm"):
            return None
        if rest[1] == "cm":
            return "COIN-M futures (futures/cm) are not supported: only spot and USD-M"
        market, rest = Market.FUTURES, rest[2:]
    else:
        market, rest = Market.SPOT, rest[1:]
    if not rest or rest[0] not in _FREQUENCIES:
        return None  # a directory that happens to be called spot/futures: the path says nothing
    if len(rest) < 2:
        return "no data type directory under the daily/monthly directory"
    frequency, dtype = rest[0], rest[1]
    kinds = _DIR_KINDS.get(dtype)
    if kinds is None:
        return f"unsupported data type {dtype!r} (supported: {', '.join(_DIR_KINDS)})"
    kind = kinds[0]
    if (kind, market) not in LAYOUTS:
        return f"{dtype} exist only for USD-M futures"
    want = 4 if kind in KLINE_KINDS else 3  # dtype, symbol[, interval] below the frequency
    if len(rest) != want:
        layout_ = f"{frequency}/{dtype}/<SYMBOL>" + ("/<interval>" if kind in KLINE_KINDS else "")
        return f"path does not follow the data.binance.vision layout {layout_}/<file>"
    interval = _SITE_INTERVALS.get(rest[3], rest[3]) if kind in KLINE_KINDS else None
    return _PathInfo(market, frequency, kind, rest[2], interval)


def _sniff(path: Path) -> tuple[list[str] | None, list[str] | None]:
    """(header fields or None, first data row or None) of a bulk file."""
    header = first = None
    with open_text(path) as (fh, _):
        for fields in csv.reader(fh):
            if not fields or fields == [""]:
                continue
            if header is None and first is None and is_header(fields):
                header = fields
                continue
            first = fields
            break
    return header, first


def _content_market(path: Path, kind: str) -> Market | str:
    """The market a file's content shows, or the reason it shows none."""
    try:
        header, first = _sniff(path)
    except (FrameworkError, OSError, UnicodeDecodeError, csv.Error) as exc:
        return f"unreadable: {exc}"
    row = header or first
    if row is None:
        return "empty file"
    width = len(row)
    if kind in KLINE_KINDS:
        if header is not None and tuple(h.strip() for h in header) == FUTURES_KLINE_HEADER:
            return Market.FUTURES
        if first is not None and INT_RE.fullmatch(first[0]) and int(first[0]) >= US_THRESHOLD:
            return Market.SPOT
        return ("spot and USD-M kline files have the same columns and this one shows neither (no "
                "data/spot/... or data/futures/um/... path, no USD-M header, millisecond times): "
                "move it into the data.binance.vision layout or pass the market")
    markets = [m for m in Market if (kind, m) in LAYOUTS]
    for market in markets:
        if LAYOUTS[(kind, market)].width == width:
            return market
    widths = " or ".join(f"{LAYOUTS[(kind, m)].width} ({'USD-M' if m is Market.FUTURES else 'spot'})"
                         for m in markets)
    return f"{width} columns; {KINDS[kind].bulk.directory} files have {widths}"


def _interval_problem(interval: str) -> str | None:
    """Why klines of ``interval`` have no catalog series (None: they have one)."""
    if INTERVAL_MS[interval] is None:
        return (f"{interval} klines are not imported: calendar months have no fixed length; import the 1d files "
                "and resample")
    try:
        bar_spec(interval)
    except ValueError:
        return f"{interval} klines are not imported: Nautilus has no bar of that step; import the 1d files"
    return None


def classify(path: str | Path, market: Market | str | None = None) -> BulkFile | Skipped:
    """Name one file: a :class:`BulkFile`, or a :class:`Skipped` with the reason.

    ``market`` applies to files whose path does not follow the data.binance.vision layout; without it the
    content decides (see the module notes).
    """
    path = Path(path)
    m = _NAME_RE.fullmatch(path.name)
    if m is None:
        return Skipped(path, "not a data.binance.vision file name (<SYMBOL>-<interval|aggTrades|trades>-"
                             "<YYYY-MM>[-DD].csv|zip)")
    symbol, what, period = m["symbol"], _SITE_INTERVALS.get(m["what"], m["what"]), m["period"]
    try:
        _period_bounds(period)
    except ValueError:
        return Skipped(path, f"{period!r} is not a valid date")
    if what in KLINE_INTERVALS:
        kind, interval = KLINES, what
        if problem := _interval_problem(what):
            return Skipped(path, problem)
    elif what in _NAME_KINDS:
        kind, interval = _NAME_KINDS[what][0], None
    else:
        return Skipped(path, f"unsupported data type {what!r} (supported: {', '.join((KLINES, *_NAME_KINDS))})")

    info = _path_info(path)
    if isinstance(info, str):
        return Skipped(path, info)
    if info is not None:
        if (kind in KLINE_KINDS) != (info.kind in KLINE_KINDS):
            return Skipped(path, f"file name says {kind}, directory says {info.kind}")
        if info.symbol != symbol:
            return Skipped(path, f"file name says {symbol}, directory says {info.symbol}")
        if info.interval != interval:
            return Skipped(path, f"file name says interval {interval}, directory says {info.interval}")
        if (info.frequency == "daily") != (len(period) == 10):
            return Skipped(path, f"a {info.frequency} directory holds a file for {period}")
        kind, chosen = info.kind, info.market
    elif market is not None:
        chosen = Market(market)
    else:
        found = _content_market(path, kind)
        if not isinstance(found, Market):  # (Market is a StrEnum: test for it, not for str)
            return Skipped(path, found)
        chosen = found
    if (kind, chosen) not in LAYOUTS:
        return Skipped(path, f"{kind} exist only for USD-M futures")
    if interval is None:
        interval = KINDS[kind].bulk.step  # metrics: 5-minute rows
    checksum = path.with_name(path.name + _CHECKSUM_SUFFIX)
    return BulkFile(path, chosen, kind, symbol, interval, period, checksum if checksum.is_file() else None)


def fed_kinds(file: BulkFile) -> list[BulkFile]:
    """``file`` once for every kind its directory feeds (a ``metrics`` file: the five statistics; others: itself)."""
    kinds = _DIR_KINDS[KINDS[file.kind].bulk.directory]
    return [file] if len(kinds) == 1 else [replace(file, kind=k) for k in kinds]


def discover(root: str | Path, market: Market | str | None = None) -> Discovery:
    """Every bulk file under ``root`` (a directory or one file), and every other file with the reason it is
    not.

    ``.CHECKSUM`` files are attached to their zip. When both ``X.zip`` and ``X.csv`` are present in the same
    directory (an extracted copy), the zip is read and the CSV is reported as a duplicate.
    """
    root = Path(root)
    if not root.exists():
        raise FrameworkError(f"{root}: no such file or directory")
    paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    present = set(paths)
    found = Discovery()
    for path in paths:
        if path.name.endswith(_CHECKSUM_SUFFIX):
            if path.with_name(path.name[: -len(_CHECKSUM_SUFFIX)]) not in present:
                found.skipped.append(Skipped(path, "checksum file without its data file"))
            continue
        if path.suffix.lower() == ".csv" and path.with_suffix(".zip") in present:
            zipped = path.with_suffix(".zip").name
            found.skipped.append(Skipped(path, f"same data as {zipped} (read instead)"))
            continue
        result = classify(path, market)
        if isinstance(result, Skipped):
            found.skipped.append(result)
        else:
            found.files += fed_kinds(result)
    found.files.sort(key=BulkFile.sort_key)
    return found


def group_series(files: Iterable[BulkFile]) -> dict[tuple[Market, str, str, str | None], list[BulkFile]]:
    """Files by series (market, kind, symbol, interval), each list oldest first (a month before its days)."""
    out: dict[tuple[Market, str, str, str | None], list[BulkFile]] = {}
    for f in sorted(files, key=BulkFile.sort_key):
        out.setdefault(f.series, []).append(f)
    return out


# -- reading -------------------------------------------------------------------------------------------------


def _resolve(source: BulkFile | str | Path, kind: str | None, market: Market | str | None) -> BulkFile:
    """A BulkFile for ``source``; an explicit kind/market fills in what the name and path do not say."""
    if isinstance(source, BulkFile):
        return source
    path = Path(source)
    if not path.is_file():
        raise FrameworkError(f"{path}: no such file")
    m = _NAME_RE.fullmatch(path.name)
    if m is None and kind is not None and market is not None:  # any name, when the caller says what it is
        layout(kind, market)  # validates the pair
        return BulkFile(path, Market(market), kind, "", None, "")
    found = classify(path, market)
    if isinstance(found, Skipped):
        raise FrameworkError(str(found))
    if kind is not None and kind != found.kind:
        # A loose mark/index/premium kline file is named like a kline file: only the caller can tell.
        if kind in KLINE_KINDS and found.kind == KLINES and _path_info(path) is None:
            layout(kind, found.market)
            return replace(found, kind=kind)
        raise FrameworkError(f"{path}: holds {found.kind}, not {kind}")
    return found


def iter_batches(source: BulkFile | str | Path, *, kind: str | None = None,
                 market: Market | str | None = None, batch_rows: int = DEFAULT_BATCH_ROWS,
                 engine: Literal["arrow", "python"] = "arrow", verify: bool = True) -> Iterator[list[Any]]:
    """Rows of one bulk file, in file order, as lists of at most ``batch_rows`` REST row Structs.

    ``source`` is a :class:`BulkFile` or a path (then named by :func:`classify`; ``kind``/``market`` fill in
    what the name and path do not say). ``verify`` checks the zip against its ``.CHECKSUM`` first.
    """
    if batch_rows < 1:
        raise ValueError("batch_rows must be >= 1")
    file = _resolve(source, kind, market)
    if verify:
        verify_checksum(file.path, file.checksum)
    lay = file.layout
    if engine == "python":
        batches = python_batches(file.path, lay, batch_rows)
    elif engine == "arrow":
        batches = rebatch(arrow_batches(file.path, lay), batch_rows)
    else:
        raise ValueError(f"unknown engine {engine!r}")
    bulk_checks.check_file(file, *_sniff(file.path))
    return bulk_checks.checked(file, batches)


def read_rows(source: BulkFile | str | Path, **kwargs: Any) -> list[Any]:
    """All rows of one file in one list (small files, tests); see :func:`iter_batches`."""
    return [row for batch in iter_batches(source, **kwargs) for row in batch]
