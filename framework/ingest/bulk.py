"""Binance bulk files (data.binance.vision) read into the row Structs the REST client decodes.

``ingest --from-files DIR`` uses this module in three steps:

1. :func:`discover` walks DIR and names every file: a :class:`BulkFile` (market, kind, symbol, interval,
   period) or a :class:`Skipped` entry with the reason. Nothing is dropped silently.
2. :func:`iter_batches` streams one file (CSV, or a zip holding one CSV) as lists of at most ``batch_rows``
   :class:`~framework.binance.schemas.Kline`, ``SpotAggTrade``/``FuturesAggTrade`` or ``SpotTrade``/
   ``FuturesTrade``: the very Structs ``/klines``, ``/aggTrades`` and ``/historicalTrades`` decode to, so one
   downstream path (dedupe, Nautilus parsing, catalog write) serves REST and files.
3. :class:`Deduper`, :func:`dedupe`, :func:`merge_sorted` and :func:`read_series` apply the REST path's rule:
   a row is identified by its key (klines: open time, aggTrades: ``a``, trades: ``id``); keys only go up;
   rows at or below a known cut-off ("already have up to X") are dropped.

File facts (data.binance.vision)
--------------------------------
* Names: ``<SYMBOL>-<interval>-<YYYY-MM>[-DD]`` (klines), ``<SYMBOL>-aggTrades-<date>``,
  ``<SYMBOL>-trades-<date>``; ``.zip`` (one CSV inside) with an optional ``.zip.CHECKSUM`` (SHA-256)
  beside it.
* Layout: ``data/spot/{daily,monthly}/{klines,aggTrades,trades}/<SYMBOL>[/<interval>]/<file>`` and
  ``data/futures/um/{daily,monthly}/<type>/...`` with type ``klines``, ``markPriceKlines``,
  ``indexPriceKlines``, ``premiumIndexKlines``, ``aggTrades`` or ``trades``.
  ``futures/cm`` (COIN-M) and ``option`` are reported as unsupported.
* Spot CSVs have no header, USD-M CSVs have one (older USD-M files have none). Spot timestamps are in
  microseconds from 2025-01-01, milliseconds before.
* Columns: klines are the same 12 columns for both markets; aggTrades are 8 columns on spot (``is_best_match``
  last) and 7 on USD-M; trades are 7 on spot (``isBestMatch`` last) and 6 on USD-M.

Market
------
The path decides when it follows the data.binance.vision layout. Otherwise the ``market`` argument decides;
without one, the content: the column count for aggTrades/trades, and for klines the USD-M header
(``open_time,...,count,...,ignore``) or microsecond times (spot only). A kline file that says neither is
reported as skipped, with the fix.

Parsing rules
-------------
* Header: the first non-empty line is a header when its first field is not an integer. Its names are not
  checked (sources add their own), only its column count.
* Timestamps (open/close time, ``T``, ``time``): a value >= 10**14 is microseconds and is floored to ms.
  Decided per value: ms times stay below 10**14 until the year 5138 and µs times are above it for every
  date after 1973-03-03, so the rule cannot misread Binance data, and files mixing both (e.g. a month
  spanning the 2025 switch, or concatenated files) come out right. A value still >= 10**14 after that
  (ns, garbage) is an error. Sub-millisecond digits are dropped: the REST rows carry ms, and both paths must
  give equal rows.
* Decimals stay the file's exact strings (trailing zeros kept, no float round trip); they must look like
  ``-?digits[.digits]``. Booleans are ``true``/``false``/``True``/``False``. Blank lines are skipped.
* A malformed line raises one :class:`~framework.errors.FrameworkError` naming the file (and zip member), the
  line number, the column and the problem. Rows of earlier batches may already have been delivered by then.

Speed
-----
The fast engine (``engine="arrow"``) reads with ``pyarrow.csv`` (integers and booleans typed by Arrow,
decimals read as strings and checked with one vectorised regex per column) and builds Structs column-wise;
about 1M rows/s (the first call in a process pays ~0.3 s of lazy imports). On any Arrow error or failed check
it re-reads the file with the line-by-line engine (``engine="python"``, the reference implementation, about
4x slower), which pins the first bad line for the error message.
"""

from __future__ import annotations

import csv
import hashlib
import heapq
import io
import re
import zipfile
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from itertools import batched
from itertools import chain
from operator import attrgetter
from pathlib import Path
from typing import Any
from typing import Literal
from typing import NamedTuple

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from framework.binance import schemas as s
from framework.binance.endpoints import KLINE_INTERVALS
from framework.binance.endpoints import Market
from framework.errors import FrameworkError

DEFAULT_BATCH_ROWS = 100_000
#: Timestamps at or above this are microseconds (see the module notes).
US_THRESHOLD = 10**14
_BLOCK_BYTES = 4 << 20  # Arrow read block (~50k rows); batches are re-cut to ``batch_rows``

KLINES = "klines"
MARK_KLINES = "mark_klines"
INDEX_KLINES = "index_klines"
PREMIUM_KLINES = "premium_klines"
AGG_TRADES = "agg_trades"
TRADES = "trades"
KLINE_KINDS = (KLINES, MARK_KLINES, INDEX_KLINES, PREMIUM_KLINES)
BULK_KINDS = (*KLINE_KINDS, AGG_TRADES, TRADES)

#: data.binance.vision directory name -> kind.
_DIR_KINDS = {
    "klines": KLINES,
    "markPriceKlines": MARK_KLINES,
    "indexPriceKlines": INDEX_KLINES,
    "premiumIndexKlines": PREMIUM_KLINES,
    "aggTrades": AGG_TRADES,
    "trades": TRADES,
}
_NAME_KINDS = {"aggTrades": AGG_TRADES, "trades": TRADES}
_FREQUENCIES = ("daily", "monthly")

_NAME_RE = re.compile(
    r"(?P<symbol>\w+)-(?P<what>[A-Za-z0-9]+)-(?P<period>[0-9]{4}-[0-9]{2}(?:-[0-9]{2})?)\.(?P<ext>csv|zip)")
_INT_RE = re.compile(r"-?[0-9]+")
_DEC_RE = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_DEC_RE2 = r"^-?[0-9]+(\.[0-9]+)?$"  # the same for Arrow (RE2)
_BOOLS = {"true": True, "false": False, "True": True, "False": False}
_CHECKSUM_SUFFIX = ".CHECKSUM"


# -- layouts -------------------------------------------------------------------------------------------------


class Col(NamedTuple):
    field: str  # the Struct field
    name: str  # the data.binance.vision column name (for messages)
    type: Literal["int", "ts", "dec", "bool", "text"]


@dataclass(frozen=True)
class Layout:
    """The columns of one (kind, market) CSV and the Struct its rows become."""

    kind: str
    market: Market
    row_type: type
    columns: tuple[Col, ...]

    @property
    def width(self) -> int:
        return len(self.columns)

    @property
    def header(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def describe(self) -> str:
        return f"{'USD-M' if self.market is Market.FUTURES else 'spot'} {self.kind}"


def _layout(kind: str, market: Market, row_type: type, names: str, types: str) -> Layout:
    """A layout from the file's column names and value types, paired in order with the row Struct's fields (the
    rows are built positionally, so the column order is the Struct's field order)."""
    columns = zip(row_type.__struct_fields__, names.split(), types.split(), strict=True)
    return Layout(kind, market, row_type, tuple(Col(*c) for c in columns))


_KLINES = ("open_time open high low close volume close_time quote_volume count taker_buy_volume "
           "taker_buy_quote_volume ignore", "ts dec dec dec dec dec ts dec int dec dec text")
_AGG = ("agg_trade_id price quantity first_trade_id last_trade_id transact_time is_buyer_maker",
        "int dec dec int int ts bool")
_TRADE = ("id price qty quote_qty time is_buyer_maker", "int dec dec dec ts bool")
_SPOT_EXTRA = (" is_best_match", " bool")  # spot trade files end with one more column


def _spot(names_types: tuple[str, str]) -> tuple[str, str]:
    return names_types[0] + _SPOT_EXTRA[0], names_types[1] + _SPOT_EXTRA[1]


LAYOUTS: dict[tuple[str, Market], Layout] = {
    (KLINES, Market.SPOT): _layout(KLINES, Market.SPOT, s.Kline, *_KLINES),
    **{(k, Market.FUTURES): _layout(k, Market.FUTURES, s.Kline, *_KLINES) for k in KLINE_KINDS},
    (AGG_TRADES, Market.SPOT): _layout(AGG_TRADES, Market.SPOT, s.SpotAggTrade, *_spot(_AGG)),
    (AGG_TRADES, Market.FUTURES): _layout(AGG_TRADES, Market.FUTURES, s.FuturesAggTrade, *_AGG),
    (TRADES, Market.SPOT): _layout(TRADES, Market.SPOT, s.SpotTrade, *_spot(_TRADE)),
    (TRADES, Market.FUTURES): _layout(TRADES, Market.FUTURES, s.FuturesTrade, *_TRADE),
}

#: The header of USD-M kline files (spot files have none): the one content sign of a USD-M kline file.
FUTURES_KLINE_HEADER = LAYOUTS[(KLINES, Market.FUTURES)].header


def layout(kind: str, market: Market | str) -> Layout:
    try:
        return LAYOUTS[(kind, Market(market))]
    except (KeyError, ValueError):
        raise FrameworkError(f"no bulk-file layout for {market} {kind}") from None


def row_type(kind: str, market: Market | str) -> type:
    """The Struct a row of this kind and market decodes to (the same as the REST client's)."""
    return layout(kind, market).row_type


# -- discovery -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BulkFile:
    """One recognised bulk file."""

    path: Path
    market: Market
    kind: str  # klines, mark_klines, index_klines, premium_klines, agg_trades, trades (names of ingest.kinds)
    symbol: str
    interval: str | None  # kline interval; None for trades
    period: str  # "2023-02" (monthly), "2023-02-01" (daily); "" when the file name has none
    checksum: Path | None = None  # the data.binance.vision ``.CHECKSUM`` beside a zip

    @property
    def daily(self) -> bool:
        return len(self.period) == 10

    @property
    def start_ms(self) -> int | None:
        return _period_bounds(self.period)[0] if self.period else None

    @property
    def end_ms(self) -> int | None:
        """Exclusive end of the period (ms)."""
        return _period_bounds(self.period)[1] if self.period else None

    @property
    def series(self) -> tuple[Market, str, str, str | None]:
        return self.market, self.kind, self.symbol, self.interval

    @property
    def layout(self) -> Layout:
        return layout(self.kind, self.market)

    def sort_key(self) -> tuple:
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
    files: list[BulkFile] = field(default_factory=list)  # in series order, each series oldest first
    skipped: list[Skipped] = field(default_factory=list)

    def series(self) -> dict[tuple[Market, str, str, str | None], list[BulkFile]]:
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
    kind = _DIR_KINDS.get(dtype)
    if kind is None:
        return f"unsupported data type {dtype!r} (supported: {', '.join(_DIR_KINDS)})"
    if market is Market.SPOT and kind not in (KLINES, AGG_TRADES, TRADES):
        return f"{dtype} exist only for USD-M futures"
    want = 4 if kind in KLINE_KINDS else 3  # dtype, symbol[, interval] below the frequency
    if len(rest) != want:
        layout_ = f"{frequency}/{dtype}/<SYMBOL>" + ("/<interval>" if kind in KLINE_KINDS else "")
        return f"path does not follow the data.binance.vision layout {layout_}/<file>"
    return _PathInfo(market, frequency, kind, rest[2], rest[3] if kind in KLINE_KINDS else None)


@contextmanager
def _open_binary(path: Path) -> Iterator[tuple[io.BufferedIOBase, str]]:
    """The CSV bytes of ``path`` (a CSV, or a zip holding exactly one CSV) and a label for messages."""
    if path.suffix.lower() != ".zip":
        with open(path, "rb") as fh:
            yield fh, str(path)
        return
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise FrameworkError(f"{path}: not a readable zip ({exc}); download it again") from None
    with zf:
        members = [m for m in zf.infolist() if not m.is_dir()]
        if len(members) != 1 or not members[0].filename.lower().endswith(".csv"):
            names = ", ".join(m.filename for m in members) or "nothing"
            raise FrameworkError(f"{path}: a bulk zip must hold exactly one CSV file; it holds {names}")
        with zf.open(members[0]) as fh:
            yield fh, f"{path} [{members[0].filename}]"


@contextmanager
def _open_text(path: Path) -> Iterator[tuple[io.TextIOBase, str]]:
    with _open_binary(path) as (fh, label):
        text = io.TextIOWrapper(fh, encoding="utf-8-sig", newline="")
        try:
            yield text, label
        finally:
            text.detach()


def _is_header(fields: list[str]) -> bool:
    return not _INT_RE.fullmatch(fields[0].strip().lstrip("\ufeff"))


def _sniff(path: Path) -> tuple[list[str] | None, list[str] | None]:
    """(header fields or None, first data row or None) of a bulk file."""
    header = first = None
    with _open_text(path) as (fh, _):
        for fields in csv.reader(fh):
            if not fields or fields == [""]:
                continue
            if header is None and first is None and _is_header(fields):
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
        if first is not None and _INT_RE.fullmatch(first[0]) and int(first[0]) >= US_THRESHOLD:
            return Market.SPOT
        return ("spot and USD-M kline files have the same columns and this one shows neither (no "
                "data/spot/... or data/futures/um/... path, no USD-M header, millisecond times): "
                "move it into the data.binance.vision layout or pass the market")
    for market in Market:
        if LAYOUTS[(kind, market)].width == width:
            return market
    widths = " or ".join(f"{LAYOUTS[(kind, m)].width} ({LAYOUTS[(kind, m)].describe()})" for m in Market)
    return f"{width} columns; {kind} files have {widths}"


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
    symbol, what, period = m["symbol"], m["what"], m["period"]
    try:
        _period_bounds(period)
    except ValueError:
        return Skipped(path, f"{period!r} is not a valid date")
    if what in KLINE_INTERVALS:
        kind, interval = KLINES, what
    elif what in _NAME_KINDS:
        kind, interval = _NAME_KINDS[what], None
    else:
        return Skipped(path, f"unsupported data type {what!r} (supported: klines, aggTrades, trades)")

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
    checksum = path.with_name(path.name + _CHECKSUM_SUFFIX)
    return BulkFile(path, chosen, kind, symbol, interval, period, checksum if checksum.is_file() else None)


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
        (found.skipped if isinstance(result, Skipped) else found.files).append(result)
    found.files.sort(key=BulkFile.sort_key)
    return found


def group_series(files: Iterable[BulkFile]) -> dict[tuple[Market, str, str, str | None], list[BulkFile]]:
    """Files by series (market, kind, symbol, interval), each list oldest first (a month before its days)."""
    out: dict[tuple[Market, str, str, str | None], list[BulkFile]] = {}
    for f in sorted(files, key=BulkFile.sort_key):
        out.setdefault(f.series, []).append(f)
    return out


def verify_checksum(file: BulkFile) -> None:
    """Compare the zip's SHA-256 with its ``.CHECKSUM`` (``<hex>  <name>``); raise on a mismatch."""
    if file.checksum is None:
        return
    text = file.checksum.read_text(encoding="utf-8", errors="replace").split()
    expected = text[0].lower() if text else ""
    if not re.fullmatch(r"[0-9a-f]{64}", expected):
        raise FrameworkError(f"{file.checksum}: not a SHA-256 checksum file")
    digest = hashlib.sha256()
    with open(file.path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    if digest.hexdigest() != expected:
        raise FrameworkError(f"{file.path}: SHA-256 {digest.hexdigest()} does not match {file.checksum.name} "
                             f"({expected}); the download is damaged: fetch it again")


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
        verify_checksum(file)
    lay = file.layout
    if engine == "python":
        return _python_batches(file.path, lay, batch_rows)
    if engine == "arrow":
        return _rebatch(_arrow_batches(file.path, lay), batch_rows)
    raise ValueError(f"unknown engine {engine!r}")


def read_rows(source: BulkFile | str | Path, **kwargs: Any) -> list[Any]:
    """All rows of one file in one list (small files, tests); see :func:`iter_batches`."""
    return [row for batch in iter_batches(source, **kwargs) for row in batch]


def _rebatch(batches: Iterable[list[Any]], n: int) -> Iterator[list[Any]]:
    pending: list[Any] = []
    for batch in batches:
        if not pending and len(batch) == n:
            yield batch
            continue
        pending.extend(batch)
        while len(pending) >= n:
            yield pending[:n]
            pending = pending[n:]
    if pending:
        yield pending


def _problem(label: str, line: int, text: str) -> FrameworkError:
    return FrameworkError(f"{label}, line {line}: {text}")


def _width_problem(lay: Layout, width: int, what: str = "fields") -> str:
    text = f"{width} {what}, expected {lay.width} for {lay.describe()} ({','.join(lay.header)})"
    for other in Market:
        alt = LAYOUTS.get((lay.kind, other))
        if other is not lay.market and alt is not None and alt.width == width:
            text += f"; {width} is the {alt.describe()} layout: is the market right?"
    return text


def _converter(col: Col) -> Callable[[str], Any]:
    """str -> value, raising ValueError with the problem."""
    match col.type:
        case "dec":
            def conv(v: str) -> str:
                if _DEC_RE.fullmatch(v) is None:
                    raise ValueError("not a decimal number")
                return v
        case "int":
            def conv(v: str) -> int:
                if _INT_RE.fullmatch(v) is None:
                    raise ValueError("not an integer")
                return int(v)
        case "ts":
            def conv(v: str) -> int:
                if _INT_RE.fullmatch(v) is None:
                    raise ValueError("not an integer timestamp")
                t = int(v)
                if t >= US_THRESHOLD:
                    t //= 1000
                    if t >= US_THRESHOLD:
                        raise ValueError("a timestamp neither in milliseconds nor in microseconds")
                return t
        case "bool":
            def conv(v: str) -> bool:
                b = _BOOLS.get(v)
                if b is None:
                    raise ValueError("not true/false")
                return b
        case _:
            def conv(v: str) -> str:
                return v
    return conv


def _python_batches(path: Path, lay: Layout, batch_rows: int) -> Iterator[list[Any]]:
    """The reference reader: line by line with the csv module; exact line numbers in errors."""
    convs = [(i, c, _converter(c)) for i, c in enumerate(lay.columns)]
    cls = lay.row_type
    with _open_text(path) as (fh, label):
        reader = csv.reader(fh, strict=True)
        batch: list[Any] = []
        started = False
        try:
            for fields in reader:
                if not fields or fields == [""]:
                    continue
                line = reader.line_num
                if not started:
                    started = True
                    if _is_header(fields):
                        if len(fields) != lay.width:
                            problem = "header with " + _width_problem(lay, len(fields), "columns")
                            raise _problem(label, line, problem)
                        continue
                if len(fields) != lay.width:
                    raise _problem(label, line, _width_problem(lay, len(fields)))
                values = []
                for i, col, conv in convs:
                    v = fields[i]
                    try:
                        values.append(conv(v))
                    except ValueError as exc:
                        raise _problem(label, line, f"{col.name} (column {i + 1}) is {v!r}: {exc}") from None
                batch.append(cls(*values))
                if len(batch) >= batch_rows:
                    yield batch
                    batch = []
        except csv.Error as exc:
            raise _problem(label, reader.line_num, f"not CSV: {exc}") from None
        except UnicodeDecodeError as exc:
            raise FrameworkError(f"{label}: not UTF-8 text ({exc})") from None
        if batch:
            yield batch


_ARROW_TYPES = {
    "int": pa.int64(), "ts": pa.int64(), "dec": pa.string(), "text": pa.string(), "bool": pa.bool_(),
}


class _Invalid(Exception):
    """The fast reader met something it will not accept; the reference reader names it."""


def _arrow_columns(batch: pa.RecordBatch, lay: Layout) -> list[list[Any]]:
    out = []
    for i, col in enumerate(lay.columns):
        arr = batch.column(i)
        if arr.null_count:
            raise _Invalid(f"empty {col.name}")
        if col.type == "dec" and not pc.all(pc.match_substring_regex(arr, _DEC_RE2)).as_py():
            raise _Invalid(f"{col.name} not a decimal")
        elif col.type == "ts":
            us = pc.greater_equal(arr, US_THRESHOLD)
            if pc.any(us).as_py():
                arr = pc.if_else(us, pc.divide(arr, 1000), arr)
                if pc.max(arr).as_py() >= US_THRESHOLD:
                    raise _Invalid(f"{col.name} out of range")
        out.append(arr.to_pylist())
    return out


def _arrow_batches(path: Path, lay: Layout) -> Iterator[list[Any]]:
    options = pcsv.ConvertOptions(
        column_types={c.field: _ARROW_TYPES[c.type] for c in lay.columns},
        null_values=[], true_values=["true", "True"], false_values=["false", "False"],
        strings_can_be_null=False, quoted_strings_can_be_null=False,
    )
    read = pcsv.ReadOptions(column_names=[c.field for c in lay.columns], block_size=_BLOCK_BYTES)
    cls = lay.row_type
    try:
        with _open_binary(path) as (fh, label):
            # Header: consume it (the reader goes on from here); no header: rewind.
            while (first := fh.readline()) and not first.removeprefix(b"\xef\xbb\xbf").strip():
                pass
            if not first:
                return
            fields = next(csv.reader([first.decode("utf-8-sig", errors="replace")]))
            if _is_header(fields):
                if len(fields) != lay.width:
                    raise _Invalid("header width")
            else:
                fh.seek(0)
            for batch in pcsv.open_csv(fh, read_options=read, convert_options=options):
                yield list(map(cls, *_arrow_columns(batch, lay)))
    except (pa.ArrowException, _Invalid, UnicodeDecodeError) as exc:
        # Re-read with the reference reader, which raises at the first bad line with its number.
        for _ in _python_batches(path, lay, DEFAULT_BATCH_ROWS):
            pass
        raise FrameworkError(f"{path}: cannot read {lay.describe()} rows: {exc}") from None


# -- dedupe --------------------------------------------------------------------------------------------------

#: What identifies a row: klines by open time, aggTrades by ``a``, trades by ``id`` (as in ``ingest.kinds``).
ROW_KEYS: dict[str, Callable[[Any], int]] = {
    **{k: attrgetter("open_time") for k in KLINE_KINDS},
    AGG_TRADES: attrgetter("a"),
    TRADES: attrgetter("id"),
}

KeyLike = str | Callable[[Any], int]


def row_key(kind: KeyLike) -> Callable[[Any], int]:
    """The key function of a kind name (or a key function, returned as is, e.g. ``DataKind.key``)."""
    if callable(kind):
        return kind
    try:
        return ROW_KEYS[kind]
    except KeyError:
        raise FrameworkError(f"no row key for {kind!r} (known: {', '.join(ROW_KEYS)})") from None


@dataclass
class DedupeStats:
    kept: int = 0
    cutoff: int = 0  # key at or below ``after``: already stored
    duplicates: int = 0  # same key and same content as the row kept before it
    conflicts: int = 0  # same key, different content: the first one seen was kept
    stale: int = 0  # key below the last kept one: overlapping files or rows out of order
    last_key: int | None = None  # the highest key kept

    @property
    def dropped(self) -> int:
        return self.cutoff + self.duplicates + self.conflicts + self.stale


class Deduper:
    """Keeps a row only when its key is above every key kept so far (and above ``after``).

    Feed it rows in ascending key order (files are; :func:`merge_sorted` makes several sources so). The first
    row of a key wins; later ones are counted as duplicates (equal) or conflicts (different content).
    """

    def __init__(self, key: KeyLike, after: int | None = None, stats: DedupeStats | None = None):
        self.key = row_key(key)
        self.after = after
        self.stats = stats if stats is not None else DedupeStats()
        self._last = after
        self._last_row: Any = None

    def __call__(self, rows: Iterable[Any]) -> list[Any]:
        key, last, last_row, after, st = self.key, self._last, self._last_row, self.after, self.stats
        out = []
        for row in rows:
            k = key(row)
            if last is None or k > last:
                out.append(row)
                last, last_row = k, row
            elif after is not None and k <= after:
                st.cutoff += 1
            elif k == last:
                if row == last_row:
                    st.duplicates += 1
                else:
                    st.conflicts += 1
            else:
                st.stale += 1
        self._last, self._last_row = last, last_row
        if out:
            st.kept += len(out)
            st.last_key = last
        return out


def dedupe(batches: Iterable[list[Any]], key: KeyLike, after: int | None = None,
           stats: DedupeStats | None = None) -> Iterator[list[Any]]:
    """One ascending stream of batches without repeated keys or keys <= ``after``; no empty batches."""
    keep = Deduper(key, after, stats)
    for batch in batches:
        if out := keep(batch):
            yield out


def merge_sorted(streams: Iterable[Iterable[list[Any]]], key: KeyLike, after: int | None = None,
                 batch_rows: int = DEFAULT_BATCH_ROWS,
                 stats: DedupeStats | None = None) -> Iterator[list[Any]]:
    """Merge ascending streams of batches (e.g. REST pages and a file) into one deduplicated stream.

    On equal keys the earlier stream wins: pass the preferred source first. Each stream holds one batch in
    memory at a time.
    """
    fn = row_key(key)
    rows = heapq.merge(*(chain.from_iterable(s) for s in streams), key=fn)
    keep = Deduper(fn, after, stats)
    for chunk in batched(rows, batch_rows):
        if out := keep(chunk):
            yield out


def read_series(files: Iterable[BulkFile], after: int | None = None, batch_rows: int = DEFAULT_BATCH_ROWS,
                stats: DedupeStats | None = None, **kwargs: Any) -> Iterator[list[Any]]:
    """The rows of one series' files, oldest file first, deduplicated (see :class:`Deduper`).

    A daily file inside a month already read adds only rows past the month's last key (counted ``stale``).
    ``kwargs`` go to :func:`iter_batches` (engine, verify).
    """
    ordered = sorted(files, key=BulkFile.sort_key)
    if len({f.series for f in ordered}) > 1:
        names = ", ".join(sorted({"/".join(str(x) for x in f.series if x) for f in ordered}))
        raise FrameworkError(f"read_series takes the files of one series; got {names}")
    if not ordered:
        return
    keep = Deduper(ordered[0].kind, after, stats)
    for file in ordered:
        for batch in iter_batches(file, batch_rows=batch_rows, **kwargs):
            if out := keep(batch):
                yield out
