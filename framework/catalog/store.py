"""``CatalogStore``: period-chunked, deduplicating, crash-safe writes into a Nautilus ``ParquetDataCatalog``.

Layout and naming are Nautilus 1.231's own (``data/<class>/<identifier>/<start>_<end>.parquet``, start/end =
the closed ``ts_init`` interval the file covers, in Nautilus's file-timestamp format), so ``catalog.query``,
``get_intervals``, ``consolidate_data`` and a ``BacktestNode`` read what this writes, and so do plain
``pyarrow.parquet.read_table`` / ``pandas.read_parquet``. What the store adds:

**Period chunks.** A write covers a closed interval ``[start, end]`` (by default the rows' first and last
``ts_init``; the caller passes wider bounds when it knows it fetched everything in them, e.g. the request's
start and the time the fetch ran to). The interval is cut at period boundaries (UTC days by default, any
fixed length or calendar months, per store or per series) and each piece becomes at most one file per
period, named by the piece's bounds. A complete period's file is ``[period_start, period_end]``; files are
disjoint and, written in order, contiguous (``end + 1 == next start``), as ``consolidate_data`` asserts.

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

**Dedupe.** Rows whose key is already held are dropped (existing rows win): ``trade_id`` for ``TradeTick``,
``ts_init`` for ``Bar``, the whole row for other classes unless the series names a key. Rows are stored
sorted by ``(ts_init, key)`` (numeric ``trade_id`` order), so a file's bytes depend only on the rows and
bounds it holds, never on how the writes were split: an interrupted and resumed ingest produces
byte-identical files, and writing what is already held touches no file.

**Crash safety.** A file is written under a hidden temporary name in its own directory (``.cstmp-*.tmp``:
Nautilus lists ``*.parquet`` only and pyarrow/pandas datasets skip dot files), fsynced, then
``os.replace``-d onto its final name. New files of one write are encoded in parallel threads and renamed in
period order. Replacing files by one with another name goes: rename the old files to hidden
``.cstrash-*.trash`` names, rename the new file in, delete the trash. Recovery (on open, and under the series
lock before every write) deletes temporaries and, for each trash file, deletes it if a visible file covers
its interval (the new file made it) or renames it back (it did not). So after a ``kill -9`` anywhere the
visible catalog is the state before or after one file operation: never a half-written file, never two
files holding the same rows. A Ctrl-C (any exception) mid-write runs the same recovery on the way out.
Writers of one series serialise on an ``flock`` under ``<catalog>/.locks/``. A period streamed by
``SeriesAppender`` fills ``.csstream-<pid>-*.tmp`` without the lock; recovery removes it once that process is gone.

**What do I hold.** ``holdings(series)`` lists the files (names only), the merged covered intervals and the last
``ts_init`` held (parquet footer statistics of the last non-empty file), without reading the data; for trades,
``last_id`` reads one column of that one file on first use (Binance ids grow with time). ``missing(series, start,
end)`` gives the gaps to fetch; ``ts_bounds`` the first and last ``ts_init`` from the footers.

Local filesystems only (the atomicity rests on POSIX ``rename``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import itertools
import os
import threading
import time
import uuid
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from dataclasses import field
from functools import cached_property
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from nautilus_trader.model.data import Bar
from nautilus_trader.model.data import CustomData
from nautilus_trader.model.data import TradeTick
from nautilus_trader.persistence.catalog.parquet import ParquetDataCatalog
from nautilus_trader.persistence.catalog.parquet import _parse_filename_timestamps
from nautilus_trader.persistence.catalog.parquet import _timestamps_to_filename
from nautilus_trader.persistence.funcs import class_to_filename
from nautilus_trader.persistence.funcs import urisafe_identifier
from nautilus_trader.serialization.arrow.serializer import ArrowSerializer

from framework.data import arrow_tables as fast

if TYPE_CHECKING:
    from framework.catalog.appender import SeriesAppender

try:  # POSIX advisory locks; elsewhere writers are not serialised
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

NS_PER_DAY = 86_400_000_000_000
TMP_PREFIX = ".cstmp-"
TRASH_PREFIX = ".cstrash-"
STREAM_PREFIX = ".csstream-"  # + "<pid>-": a period file being streamed (SeriesAppender), kept while its writer lives
DEFAULT_ROWS_PER_GROUP = 5_000  # ParquetDataCatalog's default max_rows_per_group: same bytes as write_data
#: A zero-row file is ~1.5-4 KB (schema and metadata only): only files up to this size get their footer read
#: to tell whether they hold rows, so listing a big series stays a directory scan.
SMALL_FILE_BYTES = 64 * 1024


class CatalogStoreError(RuntimeError):
    """A write the store refuses (schema mismatch, rows outside the bounds, a locked series...)."""


# -- periods ------------------------------------------------------------------------------------------------


class Period:
    """Fixed UTC chunk periods: a fixed length from the Unix epoch ("1D", "6h", "7D", a ``pd.Timedelta``, an
    int of ns) or calendar months ("month"). Periods are closed intervals ``[start, next_start - 1]``."""

    def __init__(self, spec: str | int | pd.Timedelta | Period = "1D") -> None:
        if isinstance(spec, Period):
            self.months, self.length, self.spec = spec.months, spec.length, spec.spec
            return
        self.spec = str(spec)
        self.months = isinstance(spec, str) and spec.lower() in ("month", "1month", "ms", "1ms")
        if self.months:
            self.length = 0
        else:
            length = spec if isinstance(spec, int) else pd.Timedelta(spec).value
            if length <= 0:
                raise ValueError(f"period must be positive, got {spec!r}")
            self.length = int(length)

    def __repr__(self) -> str:
        return f"Period({self.spec!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Period) and (self.months, self.length) == (other.months, other.length)

    def __hash__(self) -> int:
        return hash((self.months, self.length))

    def bounds(self, ts: int) -> tuple[int, int]:
        """The closed period ``[start, end]`` containing ``ts``."""
        if not self.months:
            start = (ts // self.length) * self.length
            return start, start + self.length - 1
        utc = dt.UTC
        epoch = dt.datetime(1970, 1, 1, tzinfo=utc)
        day = epoch + dt.timedelta(microseconds=ts // 1000)
        first = dt.datetime(day.year, day.month, 1, tzinfo=utc)
        nxt = dt.datetime(day.year + day.month // 12, day.month % 12 + 1, 1, tzinfo=utc)
        us = dt.timedelta(microseconds=1)
        return (first - epoch) // us * 1000, (nxt - epoch) // us * 1000 - 1

    def segments(self, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
        """``(seg_start, seg_end, period_start, period_end)`` for each period meeting ``[start, end]``."""
        ts = start
        while ts <= end:
            ps, pe = self.bounds(ts)
            yield ts, min(end, pe), ps, pe
            ts = pe + 1


# -- series -------------------------------------------------------------------------------------------------


def _default_key(data_cls: type) -> tuple[str, ...] | None:
    if data_cls is TradeTick:
        return ("trade_id",)
    if issubclass(data_cls, Bar):
        return ("ts_init",)
    return None  # the whole row


@dataclass(frozen=True)
class Series:
    """One series of the catalog: a data class and its identifier (instrument id, bar type or None).

    ``key``: the columns that identify a row for dedupe (default: ``trade_id`` for trades, ``ts_init`` for
    bars, every column otherwise). ``period``: chunk period for this series (default: the store's).
    """

    data_cls: type
    identifier: str | None
    key: tuple[str, ...] | None = None
    period: Period | None = None

    @classmethod
    def trades(cls, instrument_id: Any, period: Any = None) -> Series:
        return cls(TradeTick, str(instrument_id), period=Period(period) if period is not None else None)

    @classmethod
    def bars(cls, bar_type: Any, period: Any = None) -> Series:
        return cls(Bar, str(bar_type), period=Period(period) if period is not None else None)

    @classmethod
    def custom(
        cls, data_cls: type, identifier: Any = None, key: Sequence[str] | None = None, period: Any = None
    ) -> Series:
        return cls(
            data_cls,
            None if identifier is None else str(identifier),
            key=tuple(key) if key is not None else None,
            period=Period(period) if period is not None else None,
        )

    @property
    def dedupe_key(self) -> tuple[str, ...] | None:
        return self.key if self.key is not None else _default_key(self.data_cls)

    @property
    def class_dir(self) -> str:
        return class_to_filename(self.data_cls)

    def __str__(self) -> str:
        return f"{self.data_cls.__name__}[{self.identifier}]" if self.identifier else self.data_cls.__name__


@dataclass(frozen=True)
class FileSpan:
    name: str
    start: int
    end: int


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[None]:
    """A reader's failure on a damaged file becomes one line naming it and ``catalog repair``."""
    from framework.catalog.health import naming_damage  # health imports this module

    with naming_damage(path):
        yield


def _read(path: Path, columns: Sequence[str] | None = None) -> pa.Table:
    """``pq.read_table`` naming a damaged file."""
    with _reading(path):
        return pq.read_table(path, columns=columns)


@lru_cache(maxsize=1 << 16)
def _footer_rows(path: str, inode: int, size: int, mtime_ns: int) -> int:
    """Rows a file holds from its footer (-1: unreadable; the health checks name it). Cached by identity:
    a catalog file is never changed in place, only replaced (a new inode)."""
    if size == 0:
        return 0
    try:
        return pq.read_metadata(path).num_rows
    except Exception:  # noqa: BLE001 (any reader failure: not ours to judge here, see framework.catalog.health)
        return -1


def holds_no_rows(entry: os.DirEntry[str] | Path) -> bool:
    """Whether a catalog file holds no rows (a zero-row parquet file, or zero bytes); cheap for big files."""
    try:
        st = entry.stat()
    except FileNotFoundError:
        return False
    if st.st_size > SMALL_FILE_BYTES:
        return False
    return _footer_rows(str(entry if isinstance(entry, Path) else entry.path), st.st_ino, st.st_size,
                        st.st_mtime_ns) == 0


def file_name(start_ns: int, end_ns: int) -> str:
    """The catalog file name of the closed ns interval [start_ns, end_ns] (Nautilus's naming)."""
    return _timestamps_to_filename(start_ns, end_ns)


@lru_cache(maxsize=1 << 16)
def file_interval(name: str) -> tuple[int, int] | None:
    """The closed ns interval a catalog file name declares (a name never changes meaning: cached, since
    listing a series parses every name on every write)."""
    return _parse_filename_timestamps(name)


def merge_intervals(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Closed intervals -> sorted disjoint ones (overlapping or adjacent ones joined)."""
    out: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1] + 1:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


@dataclass(frozen=True)
class Holdings:
    """What the catalog holds for one series (from file names and parquet footers)."""

    series: Series
    files: tuple[FileSpan, ...]
    last_ts: int | None  # largest ts_init held (None: no rows)
    rows_in_last_file: int = 0
    last_file: Path | None = None  # the newest file with rows

    @cached_property
    def last_id(self) -> int | None:
        """Largest numeric ``trade_id`` held (trades only; reads that one column of the newest file, on first use:
        a day of trades is tens of MB)."""
        if self.last_file is None:
            return None
        with _reading(self.last_file):
            if "trade_id" not in pq.read_schema(self.last_file).names:
                return None
            num = numeric_array(pq.read_table(self.last_file, columns=["trade_id"]).column(0))
        return int(num.max()) if num is not None and len(num) else None

    @property
    def intervals(self) -> list[tuple[int, int]]:
        """Covered closed intervals, adjacent files merged."""
        return merge_intervals((f.start, f.end) for f in self.files)

    @property
    def covered_from(self) -> int | None:
        return self.files[0].start if self.files else None

    @property
    def covered_until(self) -> int | None:
        return max(f.end for f in self.files) if self.files else None

    @property
    def contiguous(self) -> bool:
        return all(a.end + 1 == b.start for a, b in itertools.pairwise(self.files))

    def missing(self, start: int, end: int) -> list[tuple[int, int]]:
        """Closed sub-intervals of ``[start, end]`` not covered by any file."""
        gaps: list[tuple[int, int]] = []
        cursor = start
        for s, e in self.intervals:
            if e < cursor:
                continue
            if s > end:
                break
            if s > cursor:
                gaps.append((cursor, min(end, s - 1)))
            cursor = max(cursor, e + 1)
            if cursor > end:
                break
        if cursor <= end:
            gaps.append((cursor, end))
        return gaps


@dataclass
class WriteReport:
    series: Series
    rows_in: int = 0  # rows handed to the write
    rows_new: int = 0  # rows the catalog did not hold before
    rows_duplicate: int = 0  # rows dropped: already held or repeated in the input
    written: list[str] = field(default_factory=list)  # files (re)written
    renamed: list[tuple[str, str]] = field(default_factory=list)  # bounds extended without new rows
    removed: list[str] = field(default_factory=list)  # files replaced by a merged one

    @property
    def changed(self) -> bool:
        return bool(self.written or self.renamed or self.removed)


# -- helpers ------------------------------------------------------------------------------------------------


def ts_init_array(table: pa.Table) -> np.ndarray:
    """A table's ``ts_init`` column as an int64 numpy array (no copy when it is one chunk)."""
    col = table.column("ts_init")
    if col.num_chunks != 1:
        col = col.combine_chunks()
    else:
        col = col.chunk(0)
    return col.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def numeric_array(col: pa.ChunkedArray | pa.Array) -> np.ndarray | None:
    """A column as an int64/float numpy array if it is numeric or a numeric string, else None."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    t = col.type
    if pa.types.is_integer(t):
        return col.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    if pa.types.is_floating(t) or pa.types.is_boolean(t):
        return col.to_numpy(zero_copy_only=False)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        try:
            return pc.cast(col, pa.int64()).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
    return None


def _key_columns(table: pa.Table, key: tuple[str, ...] | None) -> list[str]:
    if key is None:
        return list(table.column_names)
    missing = [c for c in key if c not in table.column_names]
    if missing:
        raise CatalogStoreError(f"dedupe key columns {missing} not in table columns {table.column_names}")
    return list(key)


def _sorted_unique(ts: np.ndarray, k: np.ndarray | None, key_is_ts: bool) -> bool:
    """True when rows are strictly increasing in (ts, key) and the key has no repeats."""
    if len(ts) <= 1:
        return True
    dts = np.diff(ts)
    if key_is_ts:
        return bool((dts > 0).all())
    if k is None or (dts < 0).any():
        return False
    dk = np.diff(k)
    if not ((dts > 0) | (dk > 0)).all():
        return False
    return bool((dk > 0).all()) or np.unique(k).size == len(k)


def _sort_indices(table: pa.Table, cols: list[str]) -> pa.Array:
    """Stable order by ts_init then the key columns (numeric strings compared as numbers)."""
    arrays: list[pa.Array] = [table.column("ts_init").combine_chunks()]
    names = ["ts_init"]
    for i, c in enumerate(cols):
        if c == "ts_init":
            continue
        col = table.column(c).combine_chunks()
        num = numeric_array(col) if (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)) else None
        if num is not None:
            col = pa.array(num)
        t = col.type
        if not (
            pa.types.is_integer(t)
            or pa.types.is_floating(t)
            or pa.types.is_boolean(t)
            or pa.types.is_string(t)
            or pa.types.is_large_string(t)
            or pa.types.is_binary(t)
            or pa.types.is_fixed_size_binary(t)
            or pa.types.is_temporal(t)
            or pa.types.is_decimal(t)
        ):
            continue  # not orderable (lists, structs): keep input order among equals
        arrays.append(col)
        names.append(f"k{i}")
    helper = pa.Table.from_arrays(arrays, names=names)
    return pc.sort_indices(helper, sort_keys=[(n, "ascending") for n in names])


def _key_frame(table: pa.Table, cols: list[str]) -> pd.DataFrame:
    data = {}
    for c in cols:
        col = table.column(c).combine_chunks()
        if pa.types.is_fixed_size_binary(col.type) or pa.types.is_binary(col.type):
            data[c] = col.to_pylist()
        else:
            data[c] = col.to_pandas()
    return pd.DataFrame(data)


def _not_in(new: pa.Table, held: pa.Table, cols: list[str]) -> np.ndarray:
    """Mask of ``new`` rows whose key is not in ``held``."""
    if held.num_rows == 0 or new.num_rows == 0:
        return np.ones(new.num_rows, dtype=bool)
    if len(cols) == 1:
        value_set = held.column(cols[0]).combine_chunks()
        return ~pc.is_in(new.column(cols[0]).combine_chunks(), value_set=value_set).to_numpy(
            zero_copy_only=False
        )
    idx_new = pd.MultiIndex.from_frame(_key_frame(new, cols))
    idx_held = pd.MultiIndex.from_frame(_key_frame(held, cols))
    return ~np.asarray(idx_new.isin(idx_held))


def _table_rows(table: pa.Table, mask: np.ndarray) -> pa.Table:
    return table if mask.all() else table.filter(pa.array(mask))


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink in ``path`` durable (fsync of the folder; a no-op where it cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


# -- the store ----------------------------------------------------------------------------------------------


class FetchClaim:
    """The right to fetch one series into a catalog, held by one run at a time: an ``flock`` on a file under
    ``<catalog>/.locks/fetch/`` that names the holder's pid. A second ``ingest`` of the same series waits for
    it (then finds the rows held) instead of spending the weight again. Writes still take the series lock; the
    kernel drops the claim when its process dies (``kill -9`` included)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Take the claim if it is free (True), else False at once."""
        if self._fd is not None:
            return True
        if fcntl is None:  # pragma: no cover (no advisory locks here: runs are not serialised)
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def holder(self) -> str:
        """The pid of the process holding the claim, as it wrote it ("?" when unknown)."""
        try:
            return self.path.read_text().strip() or "?"
        except OSError:
            return "?"

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None



class CatalogStore:
    """Period-chunked, deduplicating, crash-safe writer and coverage oracle over a ``ParquetDataCatalog``.

    Parameters
    ----------
    path : catalog root (created if missing).
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
        path: str | os.PathLike[str],
        *,
        period: Any = "1D",
        durable: bool = True,
        rows_per_group: int = DEFAULT_ROWS_PER_GROUP,
        recover: bool = True,
        lock_timeout: float = 60.0,
        io_threads: int = 4,
    ) -> None:
        self.root = Path(path).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.period = Period(period)
        self.durable = durable
        self.rows_per_group = int(rows_per_group)
        self.lock_timeout = lock_timeout
        self.io_threads = max(1, int(io_threads))
        self.catalog = ParquetDataCatalog(str(self.root), max_rows_per_group=self.rows_per_group)
        # (thread, series directory) pairs this store has locked: reentrant per thread; another thread of this
        # process takes the flock on its own descriptor, so it waits like any other writer
        self._held: set[tuple[int, Path]] = set()
        if recover:
            self.recover()

    # -- paths and locks ------------------------------------------------------------------------------------

    def series_dir(self, series: Series) -> Path:
        d = self.root / "data" / series.class_dir
        return d / urisafe_identifier(series.identifier) if series.identifier is not None else d

    def _lock_path(self, series_dir: Path) -> Path:
        rel = series_dir.relative_to(self.root / "data")
        return self.root / ".locks" / rel.parent / f"{rel.name}.lock"

    def fetch_claim(self, series: Series) -> FetchClaim:
        """The claim one run holds while it fetches ``series`` (see ``FetchClaim``)."""
        rel = self.series_dir(series).relative_to(self.root / "data")
        return FetchClaim(self.root / ".locks" / "fetch" / rel.parent / f"{rel.name}.lock")

    @contextlib.contextmanager
    def _locked(self, series_dir: Path, wait: bool = True) -> Iterator[bool]:
        """Exclusive lock of one series; yields False (not taken) when ``wait`` is False and it is busy."""
        held = (threading.get_ident(), series_dir)
        if fcntl is None or held in self._held:  # no locks here / this thread holds it already
            yield True
            return
        lock_path = self._lock_path(series_dir)
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + self.lock_timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as e:
                    if e.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                    if not wait:
                        yield False
                        return
                    if time.monotonic() > deadline:
                        raise CatalogStoreError(f"{series_dir} is locked by another writer") from None
                    time.sleep(0.05)
            self._held.add(held)
            try:
                yield True
            finally:
                self._held.discard(held)
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    # -- listing and recovery -------------------------------------------------------------------------------

    @staticmethod
    def _list(series_dir: Path) -> list[FileSpan]:
        """The visible files with rows, by interval (zero-row files count as absent: rows decide coverage)."""
        spans: list[FileSpan] = []
        try:
            entries = list(os.scandir(series_dir))
        except FileNotFoundError:
            return spans
        for entry in entries:
            name = entry.name
            if not name.endswith(".parquet") or name.startswith(".") or not entry.is_file():
                continue
            interval = file_interval(name)
            if interval is not None and not holds_no_rows(entry):
                spans.append(FileSpan(name, interval[0], interval[1]))
        spans.sort(key=lambda f: (f.start, f.end))
        return spans

    def _recover_dir(self, series_dir: Path) -> list[str]:
        """Undo or finish an interrupted write in one directory (the caller holds its lock)."""
        actions: list[str] = []
        try:
            entries = [e.name for e in os.scandir(series_dir)]
        except FileNotFoundError:
            return actions
        for name in entries:
            if name.startswith(TMP_PREFIX) or (name.startswith(STREAM_PREFIX) and not writer_alive(name)):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(series_dir / name)
                actions.append(f"removed temporary {name}")
            elif name.endswith(".parquet") and not name.startswith(".") and holds_no_rows(series_dir / name):
                # a zero-row file (older versions wrote them): it holds nothing and would overlap new files
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(series_dir / name)
                actions.append(f"removed empty {name}")
        trash = [n for n in entries if n.startswith(TRASH_PREFIX)]
        if trash:
            visible = self._list(series_dir)
            for name in sorted(trash):
                original = name[len(TRASH_PREFIX) : -len(".trash")] + ".parquet"
                interval = file_interval(original)
                covered = interval is not None and any(
                    f.start <= interval[1] and interval[0] <= f.end for f in visible
                )
                if covered or interval is None:
                    os.unlink(series_dir / name)
                    actions.append(f"removed replaced {original}")
                else:
                    os.rename(series_dir / name, series_dir / original)
                    actions.append(f"restored {original}")
        if actions and self.durable:
            fsync_dir(series_dir)
        return actions

    def recover(self) -> list[str]:
        """Clean every series directory not locked by a live writer; returns what was done."""
        actions: list[str] = []
        data = self.root / "data"
        if not data.exists():
            return actions
        for dirpath, _dirnames, filenames in os.walk(data):
            if not any(n.startswith((TMP_PREFIX, TRASH_PREFIX, STREAM_PREFIX)) for n in filenames):
                continue
            d = Path(dirpath)
            with self._locked(d, wait=False) as got:
                if got:
                    actions += [f"{d.relative_to(self.root)}: {a}" for a in self._recover_dir(d)]
        return actions

    # -- what do I hold -------------------------------------------------------------------------------------

    def files(self, series: Series) -> list[FileSpan]:
        return self._list(self.series_dir(series))

    def holdings(self, series: Series) -> Holdings:
        """Files, covered intervals and last ts_init from names and footers, without reading the data (the
        last trade id, ``Holdings.last_id``, reads one column of the newest file when asked for).

        Takes no lock: a writer replacing a file meanwhile makes it list again (the answer is then a state
        the catalog was in)."""
        d = self.series_dir(series)
        for attempt in range(5):
            try:
                return self._holdings(series, d)
            except FileNotFoundError:
                if attempt == 4:
                    raise
                time.sleep(0.01)
        raise AssertionError("unreachable")  # pragma: no cover

    def _holdings(self, series: Series, d: Path) -> Holdings:
        files = self._list(d)
        for f in reversed(files):
            with _reading(d / f.name):
                meta = pq.read_metadata(d / f.name)
                if meta.num_rows == 0:
                    continue
                return Holdings(series, tuple(files), _ts_init_bound(d / f.name, meta), meta.num_rows, d / f.name)
        return Holdings(series, tuple(files), None)

    def ts_bounds(self, series: Series) -> tuple[int, int] | None:
        """First and last ``ts_init`` held (parquet footers; None: no rows)."""
        d = self.series_dir(series)
        held = self.holdings(series)
        if held.last_ts is None:
            return None
        for f in held.files:
            with _reading(d / f.name):
                meta = pq.read_metadata(d / f.name)
                if meta.num_rows:
                    return _ts_init_bound(d / f.name, meta, smallest=True), held.last_ts
        return None  # pragma: no cover (emptied meanwhile)

    def missing(self, series: Series, start: int, end: int) -> list[tuple[int, int]]:
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
        for f in self._list(d):
            if (start is None or f.end >= start) and (end is None or f.start <= end):
                if batch_rows is None:
                    with _reading(d / f.name):
                        table = pq.read_table(d / f.name, columns=columns)
                    yield table
                    continue
                with _reading(d / f.name):
                    pf = pq.ParquetFile(d / f.name)
                with pf:
                    for batch in pf.iter_batches(batch_size=batch_rows, columns=columns):
                        yield pa.Table.from_batches([batch])

    def check(self, series: Series) -> list[str]:
        """Problems a reader would hit in one series: overlapping, unreadable or empty files, rows outside a
        file's bounds, leftovers (empty list: clean). The whole catalog: ``framework.catalog.health.check``."""
        from framework.catalog.health import Health
        from framework.catalog.health import check_folder

        d = self.series_dir(series)
        found = Health(self.root)
        check_folder(d, found)
        problems = [f"overlap {a.name} / {b.name}" for a, b in found.overlapping]
        problems += [f"{f.path.name}: unreadable ({f.problem})" for f in found.unreadable]
        problems += [f"{f.path.name}: empty ({f.problem})" for f in found.empty]
        for f in self._list(d):
            if f.name in {u.path.name for u in found.unreadable}:
                continue
            ts = _read(d / f.name, columns=["ts_init"]).column(0)
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
        self._check_identity(series, table)
        key_cols = _key_columns(table, series.dedupe_key)
        table, dropped = self._normalize(table, key_cols)
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
        with self._locked(d):
            self._recover_dir(d)
            files = self._list(d)
            pending: list[tuple[pa.Table, str]] = []  # new files for untouched periods, published in order
            try:
                for seg_s, seg_e, ps, pe in period.segments(start, end):
                    lo = int(np.searchsorted(ts, seg_s, side="left"))
                    hi = int(np.searchsorted(ts, seg_e, side="right"))
                    files = self._write_segment(
                        d,
                        files,
                        pending,
                        table.slice(lo, hi - lo),
                        key_cols,
                        seg_s,
                        seg_e,
                        ps,
                        pe,
                        report,
                    )
                    if len(pending) >= 64:
                        self._flush(d, pending)
                self._flush(d, pending)
            except BaseException:
                self._recover_dir(d)  # Ctrl-C or an error mid-replacement: put the directory back in order
                raise
            finally:
                if self.durable and report.changed:
                    fsync_dir(d)
        report.rows_duplicate = report.rows_in - report.rows_new
        return report

    def _check_identity(self, series: Series, table: pa.Table) -> None:
        meta = table.schema.metadata or {}
        if series.data_cls is TradeTick:
            got = meta.get(b"instrument_id", b"").decode()
            if got != series.identifier:
                raise CatalogStoreError(f"table is for instrument {got!r}, series is {series}")
        elif series.data_cls is Bar:
            got = meta.get(b"bar_type", b"").decode()
            if got != series.identifier:
                raise CatalogStoreError(f"table is for bar type {got!r}, series is {series}")

    @staticmethod
    def _normalize(table: pa.Table, key_cols: list[str]) -> tuple[pa.Table, int]:
        """Sort by (ts_init, key) and drop repeated keys (first kept); one chunk per column."""
        table = table.combine_chunks()
        n = table.num_rows
        if n <= 1:
            return table, 0
        ts = ts_init_array(table)
        key_is_ts = key_cols == ["ts_init"]
        k = None if key_is_ts or len(key_cols) != 1 else numeric_array(table.column(key_cols[0]))
        if _sorted_unique(ts, k, key_is_ts):
            return table, 0
        table = table.take(_sort_indices(table, key_cols)).combine_chunks()
        if len(key_cols) == 1:
            col = table.column(key_cols[0]).combine_chunks()
            num = numeric_array(col)
            if num is not None:
                _, first = np.unique(num, return_index=True)
            else:
                first = pd.Index(col.to_pandas()).duplicated(keep="first")
                first = np.flatnonzero(~first)
        else:
            first = np.flatnonzero(~_key_frame(table, key_cols).duplicated(keep="first").to_numpy())
        if len(first) == n:
            return table, 0
        mask = np.zeros(n, dtype=bool)
        mask[first] = True
        return table.filter(pa.array(mask)).combine_chunks(), n - int(mask.sum())

    def _write_segment(
        self,
        d: Path,
        files: list[FileSpan],
        pending: list[tuple[pa.Table, str]],
        rows: pa.Table,
        key_cols: list[str],
        seg_s: int,
        seg_e: int,
        ps: int,
        pe: int,
        report: WriteReport,
    ) -> list[FileSpan]:
        # The files this piece merges with: those overlapping it, and those inside its period that touch it.
        group = [f for f in files if f.start <= seg_e and seg_s <= f.end]
        lo = min([seg_s] + [f.start for f in group])
        hi = max([seg_e] + [f.end for f in group])
        grew = True
        while grew:
            grew = False
            for f in files:
                if f in group:
                    continue
                if (f.end + 1 == lo and f.start >= ps) or (f.start == hi + 1 and f.end <= pe):
                    group.append(f)
                    lo, hi = min(lo, f.start), max(hi, f.end)
                    grew = True
        group.sort(key=lambda f: f.start)
        name = _timestamps_to_filename(lo, hi)

        if not group:
            if rows.num_rows == 0:  # nothing to hold: no file (rows decide coverage)
                return files
            pending.append((rows, name))
            report.written.append(name)
            report.rows_new += rows.num_rows
            return sorted([*files, FileSpan(name, lo, hi)], key=lambda f: (f.start, f.end))

        unchanged_bounds = len(group) == 1 and (group[0].start, group[0].end) == (lo, hi)
        if rows.num_rows == 0 and unchanged_bounds:
            return files
        self._flush(d, pending)  # earlier periods first: the catalog only ever grows in order
        if rows.num_rows == 0 and len(group) == 1:
            # only the bounds grow: rename (atomic), the bytes stay the same
            os.rename(d / group[0].name, d / name)
            report.renamed.append((group[0].name, name))
            return sorted(
                [f for f in files if f != group[0]] + [FileSpan(name, lo, hi)],
                key=lambda f: (f.start, f.end),
            )

        # Dedupe against what the group holds: the key columns first, the whole files only if rows are new.
        held_keys = pa.concat_tables([_read(d / f.name, columns=key_cols) for f in group])
        new = _table_rows(rows, _not_in(rows, held_keys, key_cols))
        if new.num_rows == 0 and unchanged_bounds:
            return files
        held = [_read(d / f.name) for f in group]
        schema = held[0].schema
        for t in held[1:] + ([new] if new.num_rows else []):
            if not t.schema.equals(schema, check_metadata=True):
                raise CatalogStoreError(
                    f"{d.name}: schema/metadata differ from the held file {group[0].name} "
                    f"(held {schema.metadata}, new {t.schema.metadata}); "
                    "a precision change needs a new series",
                )
        merged = pa.concat_tables([*held, new]) if new.num_rows else pa.concat_tables(held)
        if new.num_rows:
            merged = merged.take(_sort_indices(merged, key_cols))
        merged = merged.combine_chunks()
        self._publish(d, merged, name, group)
        report.written.append(name)
        report.removed += [f.name for f in group if f.name != name]
        report.rows_new += new.num_rows
        return sorted(
            [f for f in files if f not in group] + [FileSpan(name, lo, hi)], key=lambda f: (f.start, f.end)
        )

    @staticmethod
    def temp_path(d: Path, stem: str) -> Path:
        """A fresh hidden temporary in ``d`` (recovery deletes leftovers; readers never list them)."""
        return d / f"{TMP_PREFIX}{stem}-{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp"

    @staticmethod
    def stream_path(d: Path) -> Path:
        """A hidden temporary in ``d`` for a file written over many calls without the series lock: recovery
        leaves it while the process that named it lives."""
        return d / f"{STREAM_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp"

    def sync_file(self, path: Path) -> None:
        """fsync ``path`` when the store is durable."""
        if self.durable:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def _write_temp(self, d: Path, table: pa.Table, name: str) -> Path:
        """Write ``table`` to a hidden temporary next to ``d/name`` (fsynced when durable)."""
        if table.num_rows == 0:
            raise CatalogStoreError(f"{d.name}/{name}: refusing to write a file without rows")
        tmp = self.temp_path(d, name[: -len(".parquet")])
        if any(col.num_chunks > 1 for col in table.columns):
            table = table.combine_chunks()
        try:
            pq.write_table(table, str(tmp), row_group_size=self.rows_per_group)
            self.sync_file(tmp)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return tmp

    def _flush(self, d: Path, pending: list[tuple[pa.Table, str]]) -> None:
        """Write the pending new files (in parallel: encoding and fsync release the GIL), then rename them in
        period order, so an interruption leaves a prefix of them."""
        if not pending:
            return
        if len(pending) == 1 or self.io_threads <= 1:
            tmps = [self._write_temp(d, t, n) for t, n in pending]
        else:
            with ThreadPoolExecutor(max_workers=self.io_threads) as pool:
                futures = [pool.submit(self._write_temp, d, t, n) for t, n in pending]
                tmps = [f.result() for f in futures]
        for tmp, (_, name) in zip(tmps, pending, strict=True):
            os.replace(tmp, d / name)
        pending.clear()

    def _publish(self, d: Path, table: pa.Table, name: str, replaced: list[FileSpan]) -> None:
        """Write ``table`` as ``d/name`` atomically, replacing the files in ``replaced``."""
        self.install(d, self._write_temp(d, table, name), name, replaced)

    @staticmethod
    def install(d: Path, tmp: Path, name: str, replaced: Sequence[FileSpan]) -> None:
        """Rename the finished temporary ``tmp`` onto ``d/name``, replacing the files in ``replaced`` (crash-safe:
        the replaced files go to trash names first, which recovery rolls back or forward). A temporary without
        rows is refused (deleted, ``CatalogStoreError``): the catalog never holds an empty file."""
        if pq.read_metadata(tmp).num_rows == 0:
            os.unlink(tmp)
            raise CatalogStoreError(f"{d.name}/{name}: refusing to publish a file without rows")
        if not replaced or (len(replaced) == 1 and replaced[0].name == name):
            os.replace(tmp, d / name)
            return
        trash = []
        for f in replaced:
            t = d / f"{TRASH_PREFIX}{f.name[: -len('.parquet')]}.trash"
            os.rename(d / f.name, t)
            trash.append(t)
        os.replace(tmp, d / name)
        for t in trash:
            os.unlink(t)

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
        table = fast.trade_ticks_table(str(instrument_id), price_precision, size_precision, **columns)
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
        table = fast.bars_table(str(bar_type), price_precision, size_precision, **columns)
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
        with _reading(self.series_dir(series) / files[-1].name):
            schema = pq.read_schema(self.series_dir(series) / files[-1].name)
        return self.write_table(series, schema.empty_table(), start, end)

    def appender(
        self,
        series: Series,
        start: int | None = None,
        max_buffer_rows: int = 1_000_000,
        spill_rows: int = 100_000,
    ) -> SeriesAppender:
        """A buffered writer for a stream of pages (see ``framework.catalog.appender.SeriesAppender``)."""
        from framework.catalog.appender import SeriesAppender

        return SeriesAppender(self, series, start, max_buffer_rows, spill_rows)

    # -- maintenance ----------------------------------------------------------------------------------------

    def consolidate(self, series: Series, start: int | None = None, end: int | None = None) -> WriteReport:
        """Crash-safe ``consolidate_data``: merge each run of contiguous files inside ``[start, end]`` into
        one file (same atomic replace as writes). Merging a partial last period is fine: later writes merge
        into the consolidated file (rewriting it whole, so consolidate complete periods)."""
        report = WriteReport(series)
        d = self.series_dir(series)
        with self._locked(d):
            self._recover_dir(d)
            files = [
                f
                for f in self._list(d)
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
                    tables = [pq.read_table(d / f.name) for f in run]
                    merged = pa.concat_tables(tables).combine_chunks()
                    name = _timestamps_to_filename(run[0].start, run[-1].end)
                    self._publish(d, merged, name, run)
                    report.written.append(name)
                    report.removed += [f.name for f in run]
            except BaseException:
                self._recover_dir(d)
                raise
            if self.durable and report.changed:
                fsync_dir(d)
        return report


def _ts_init_bound(path: Path, meta: pq.FileMetaData, smallest: bool = False) -> int:
    """Largest (``smallest``: least) ``ts_init`` of a file with rows: the footer statistics, else the column."""
    value = _footer_max(meta, "ts_init", smallest)
    if value is None:
        column = pq.read_table(path, columns=["ts_init"]).column(0)
        value = (pc.min if smallest else pc.max)(column).as_py()
    return int(value)


def _footer_max(meta: pq.FileMetaData, column: str, smallest: bool = False) -> int | None:
    """Largest (``smallest``: least) value of a top-level integer column from the row-group statistics (None
    if unavailable)."""
    if meta.num_row_groups == 0:
        return None
    first = meta.row_group(0)
    idx = next((j for j in range(first.num_columns) if first.column(j).path_in_schema == column), -1)
    if idx < 0:
        return None
    pick = min if smallest else max
    best = None
    for i in range(meta.num_row_groups):
        stats = meta.row_group(i).column(idx).statistics
        if stats is None or not stats.has_min_max:
            return None
        value = stats.min if smallest else stats.max
        best = value if best is None else pick(best, value)
    return None if best is None else int(best)


def series_locked(root: str | Path, series_dir: str | Path) -> bool:
    """Whether a writer holds the lock of the series in ``series_dir`` of the catalog at ``root`` now (its
    ``.cstmp-``/``.cstrash-`` files are then a write in progress, not leftovers). Never creates the lock file."""
    if fcntl is None:
        return False
    rel = Path(series_dir).relative_to(Path(root) / "data")
    try:
        fd = os.open(Path(root) / ".locks" / rel.parent / f"{rel.name}.lock", os.O_RDWR)
    except OSError:
        return False  # no lock file: no writer ever locked it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def writer_alive(temp_name: str) -> bool:
    """Whether the process that named a temporary still runs: a stream temporary (``.csstream-<pid>-...``) or a
    write temporary (``.cstmp-<stem>-<pid>-<hex>.tmp``); False for any other name (a ``.cstrash-`` file names
    no writer: see ``series_locked``)."""
    try:
        if temp_name.startswith(STREAM_PREFIX):
            pid = int(temp_name[len(STREAM_PREFIX):].split("-", 1)[0])
        elif temp_name.startswith(TMP_PREFIX) and temp_name.endswith(".tmp"):
            pid = int(temp_name[: -len(".tmp")].rsplit("-", 2)[1])
        else:
            return False
        os.kill(pid, 0)
    except (ValueError, IndexError, ProcessLookupError):
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def _identifier_of(obj: Any) -> str | None:
    if hasattr(obj, "bar_type"):
        return str(obj.bar_type)
    if hasattr(obj, "instrument_id"):
        return obj.instrument_id.value
    return None
