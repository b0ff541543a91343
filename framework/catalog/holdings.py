"""What the catalog holds for a series, from file names and parquet footers, without reading the data.

A series' files are the visible ``*.parquet`` files of its folder that hold rows: a zero-row file (older
versions wrote them to mark a span covered) counts as absent, so rows decide coverage; the store's recovery
deletes them. A file with rows declares its whole name interval covered. ``Holdings`` answers "what do I
hold": the files, their merged intervals, the gaps in a span, and the last ``ts_init`` (footer statistics of
the newest file with rows); for trades, ``last_id`` reads one column of that file on first use. Reading a
damaged file raises the one-line ``framework.catalog.health.DamagedCatalogFile``. Files are listed and read
through ``framework.catalog.storage``: the same on disk and on object storage (where a footer is a ranged GET).
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Hashable
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from functools import lru_cache
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from framework.catalog import storage
from framework.catalog.dedupe import numeric_array
from framework.catalog.health import naming_damage
from framework.catalog.layout import is_data_file
from framework.catalog.nautilus_paths import file_interval
from framework.catalog.objectstore import CatalogPath
from framework.catalog.series import FileSpan
from framework.catalog.series import Series
from framework.catalog.series import merge_intervals

#: A zero-row file is ~1.5-4 KB (schema and metadata only): only files up to this size get their footer read
#: to tell whether they hold rows, so listing a big series stays a directory scan.
SMALL_FILE_BYTES = 64 * 1024


@contextlib.contextmanager
def reading(path: CatalogPath) -> Iterator[None]:
    """A reader's failure on a damaged file becomes one line naming it and ``catalog repair``."""
    with naming_damage(path):
        yield


def read_file(path: CatalogPath, columns: Sequence[str] | None = None) -> pa.Table:
    """``pq.read_table`` naming a damaged file."""
    with reading(path):
        return storage.read_table(path, columns=columns)


@lru_cache(maxsize=1 << 16)
def _footer_rows(path: CatalogPath, version: Hashable, size: int) -> int:
    """Rows a file holds from its footer (-1: unreadable; the health checks name it). Cached by identity:
    a catalog file is never changed in place, only replaced (a new inode, a new ETag)."""
    if size == 0:
        return 0
    try:
        return storage.read_metadata(path, size).num_rows
    except Exception:  # noqa: BLE001 (any reader failure: not ours to judge here, see framework.catalog.health)
        return -1


def holds_no_rows_entry(path: CatalogPath, size: int, version: Hashable) -> bool:
    """Whether the file at ``path`` (of that size and version, from a listing) holds no rows; cheap for big
    files (only files up to ``SMALL_FILE_BYTES`` get their footer read)."""
    return size <= SMALL_FILE_BYTES and _footer_rows(path, version, size) == 0


def holds_no_rows(path: Path) -> bool:
    """Whether a local catalog file holds no rows (a zero-row parquet file, or zero bytes)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    return holds_no_rows_entry(path, st.st_size, (st.st_ino, st.st_mtime_ns))


def list_files(series_dir: CatalogPath) -> list[FileSpan]:
    """The visible files with rows, by interval (zero-row files count as absent: rows decide coverage)."""
    spans: list[FileSpan] = []
    for entry in storage.list_dir(series_dir):
        name = entry.name
        if not is_data_file(name):
            continue
        interval = file_interval(name)
        if interval is not None and not holds_no_rows_entry(series_dir / name, entry.size, entry.version):
            spans.append(FileSpan(name, interval[0], interval[1]))
    spans.sort(key=lambda f: (f.start, f.end))
    return spans


@dataclass(frozen=True)
class Holdings:
    """What the catalog holds for one series (from file names and parquet footers)."""

    series: Series
    files: tuple[FileSpan, ...]
    last_ts: int | None  # largest ts_init held (None: no rows)
    rows_in_last_file: int = 0
    last_file: CatalogPath | None = None  # the newest file with rows

    @cached_property
    def last_id(self) -> int | None:
        """Largest numeric ``trade_id`` held (trades only; reads that one column of the newest file, on first
        use: a day of trades is tens of MB)."""
        if self.last_file is None:
            return None
        with reading(self.last_file):
            if "trade_id" not in storage.read_schema(self.last_file).names:
                return None
            num = numeric_array(storage.read_table(self.last_file, columns=["trade_id"]).column(0))
        return int(num.max()) if num is not None and len(num) else None

    @property
    def intervals(self) -> list[tuple[int, int]]:
        """Covered closed intervals, adjacent files merged."""
        return merge_intervals((f.start, f.end) for f in self.files)

    @property
    def covered_until(self) -> int | None:
        """Furthest end of any file (None: no files)."""
        return max(f.end for f in self.files) if self.files else None

    @property
    def contiguous(self) -> bool:
        """Whether the files follow each other without a gap (``end + 1 == next start``)."""
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


def read_holdings(series: Series, d: CatalogPath) -> Holdings:
    """The ``Holdings`` of the series whose files are in ``d``.

    Takes no lock: a writer replacing a file meanwhile makes it list again (the answer is then a state the
    catalog was in)."""
    for attempt in range(5):
        try:
            return _holdings(series, d)
        except FileNotFoundError:
            if attempt == 4:
                raise
            time.sleep(0.01)
    raise AssertionError("unreachable")  # pragma: no cover


def _holdings(series: Series, d: CatalogPath) -> Holdings:
    files = list_files(d)
    for f in reversed(files):
        with reading(d / f.name):
            meta = storage.read_metadata(d / f.name)
            if meta.num_rows == 0:
                continue
            return Holdings(series, tuple(files), ts_init_bound(d / f.name, meta), meta.num_rows, d / f.name)
    return Holdings(series, tuple(files), None)


def first_ts(held: Holdings, d: CatalogPath) -> int | None:
    """The least ``ts_init`` held (from the footer of the first file with rows; None: no rows)."""
    for f in held.files:
        with reading(d / f.name):
            meta = storage.read_metadata(d / f.name)
            if meta.num_rows:
                return ts_init_bound(d / f.name, meta, smallest=True)
    return None


def ts_init_bound(path: CatalogPath, meta: pq.FileMetaData, smallest: bool = False) -> int:
    """Largest (``smallest``: least) ``ts_init`` of a file with rows: footer statistics, else the column."""
    value = _footer_max(meta, "ts_init", smallest)
    if value is None:
        column = storage.read_table(path, columns=["ts_init"]).column(0)
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

