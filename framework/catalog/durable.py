"""Durable file operations: a catalog file appears whole or not at all, and an interrupted write is undone.

A file is written under a hidden temporary name in its own folder (``layout.temp_path``), fsynced, then
``os.replace``-d onto its final name. New files of one write are encoded in parallel threads and renamed in
period order. Replacing files by one with another name goes: rename the old files to hidden trash names,
rename the new file in, delete the trash. Recovery (``recover_dir``, under the series lock) deletes
temporaries and, for each trash file, deletes it if a visible file covers its interval (the new file made it)
or renames it back (it did not). So after a ``kill -9`` anywhere the visible catalog is the state before or
after one file operation: never a half-written file, never two files holding the same rows. Every rename,
replace and unlink of a write goes through this module (``tests/test_catalog_store.py`` kills a writer at each).

On disk the atomicity rests on POSIX ``rename``. A folder on object storage (an ``ObjectPath``) has no rename:
there the same calls take ``framework.catalog.objectwrites``'s protocol (one conditional PUT per new file,
a staged and journalled replacement, the same promises), so the store and the appender have one code path.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from framework.catalog import objectwrites
from framework.catalog.holdings import holds_no_rows
from framework.catalog.holdings import list_files
from framework.catalog.layout import JOURNAL
from framework.catalog.layout import PARQUET
from framework.catalog.layout import STAGE_PREFIX
from framework.catalog.layout import STREAM_PREFIX
from framework.catalog.layout import TMP_PREFIX
from framework.catalog.layout import TRASH_PREFIX
from framework.catalog.layout import is_data_file
from framework.catalog.layout import temp_path
from framework.catalog.layout import trash_name
from framework.catalog.layout import trashed_file
from framework.catalog.layout import writer_alive
from framework.catalog.nautilus_paths import file_interval
from framework.catalog.objectstore import CatalogPath
from framework.catalog.objectstore import ObjectPath
from framework.catalog.series import CatalogStoreError
from framework.catalog.series import FileSpan

DEFAULT_ROWS_PER_GROUP = 5_000  # ParquetDataCatalog's default max_rows_per_group: same bytes as write_data


def fsync_dir(path: CatalogPath) -> None:
    """Make a rename or unlink in ``path`` durable (fsync of the folder; a no-op where it cannot be opened, and
    on object storage, where a completed request is durable)."""
    if isinstance(path, ObjectPath):
        return
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


@dataclass(frozen=True)
class FileWriter:
    """How a store writes catalog files: parquet row group size, fsync or not, threads encoding new files.

    ``durable``: fsync each file before it is renamed in and the folder after (power-loss safety; a
    ``kill -9`` is survived either way). ``io_threads``: new files of one write are encoded (and fsynced) in
    parallel, then renamed into the catalog one by one, in period order.
    """

    rows_per_group: int = DEFAULT_ROWS_PER_GROUP
    durable: bool = True
    io_threads: int = 4

    def sync_file(self, path: Path) -> None:
        """fsync ``path`` when durable."""
        if self.durable:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def sync_dir(self, d: CatalogPath) -> None:
        """fsync the folder ``d`` (its renames and unlinks) when durable."""
        if self.durable:
            fsync_dir(d)

    def write_temp(self, d: CatalogPath, table: pa.Table, name: str) -> Path:
        """Write ``table`` to a hidden temporary next to ``d/name`` (fsynced when durable; for object storage a
        local file in the spool, which needs no fsync: the upload is what makes it durable)."""
        if table.num_rows == 0:
            raise CatalogStoreError(f"{d.name}/{name}: refusing to write a file without rows")
        tmp = temp_path(d, name[: -len(PARQUET)])
        if any(col.num_chunks > 1 for col in table.columns):
            table = table.combine_chunks()
        try:
            pq.write_table(table, str(tmp), row_group_size=self.rows_per_group)
            if not isinstance(d, ObjectPath):
                self.sync_file(tmp)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return tmp

    def write_new(self, d: CatalogPath, pending: list[tuple[pa.Table, str]]) -> None:
        """Write the pending new files (in parallel: encoding and fsync release the GIL), then rename them in
        period order, so an interruption leaves a prefix of them; ``pending`` is emptied."""
        if not pending:
            return
        if len(pending) == 1 or self.io_threads <= 1:
            tmps = [self.write_temp(d, t, n) for t, n in pending]
        else:
            with ThreadPoolExecutor(max_workers=self.io_threads) as pool:
                futures = [pool.submit(self.write_temp, d, t, n) for t, n in pending]
                tmps = [f.result() for f in futures]
        try:
            for i, (tmp, (_, name)) in enumerate(zip(tmps, pending, strict=True)):
                if isinstance(d, ObjectPath):
                    objectwrites.publish_new(d, tmp, name)
                else:
                    os.replace(tmp, d / name)
        except BaseException:
            for tmp in tmps[i + 1:]:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
            raise
        pending.clear()

    def publish(self, d: CatalogPath, table: pa.Table, name: str, replaced: Sequence[FileSpan]) -> None:
        """Write ``table`` as ``d/name`` atomically, replacing the files in ``replaced``."""
        install(d, self.write_temp(d, table, name), name, replaced)


def install(d: CatalogPath, tmp: Path, name: str, replaced: Sequence[FileSpan]) -> None:
    """Rename the finished temporary ``tmp`` onto ``d/name``, replacing the files in ``replaced`` (crash-safe:
    the replaced files go to trash names first, which recovery rolls back or forward; on object storage
    ``objectwrites.install``). A temporary without rows is refused (deleted, ``CatalogStoreError``): the
    catalog never holds an empty file."""
    if pq.read_metadata(tmp).num_rows == 0:
        os.unlink(tmp)
        raise CatalogStoreError(f"{d.name}/{name}: refusing to publish a file without rows")
    if isinstance(d, ObjectPath):
        objectwrites.install(d, tmp, name, replaced)
        return
    if not replaced or (len(replaced) == 1 and replaced[0].name == name):
        os.replace(tmp, d / name)
        return
    trash = []
    for f in replaced:
        t = d / trash_name(f.name)
        os.rename(d / f.name, t)
        trash.append(t)
    os.replace(tmp, d / name)
    for t in trash:
        os.unlink(t)


def rename(d: CatalogPath, old: str, new: str) -> None:
    """Give a file new bounds without touching its bytes (one atomic rename; ``objectwrites.rename``)."""
    if isinstance(d, ObjectPath):
        objectwrites.rename(d, old, new)
        return
    os.rename(d / old, d / new)


def recover_dir(series_dir: CatalogPath, durable: bool) -> list[str]:
    """Undo or finish an interrupted write in one series folder (the caller holds its lock); what was done."""
    if isinstance(series_dir, ObjectPath):
        return objectwrites.recover_dir(series_dir)
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
        elif is_data_file(name) and holds_no_rows(series_dir / name):
            # a zero-row file (older versions wrote them): it holds nothing and would overlap new files
            with contextlib.suppress(FileNotFoundError):
                os.unlink(series_dir / name)
            actions.append(f"removed empty {name}")
    trash = [n for n in entries if n.startswith(TRASH_PREFIX)]
    if trash:
        visible = list_files(series_dir)
        for name in sorted(trash):
            original = trashed_file(name)
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
    if actions and durable:
        fsync_dir(series_dir)
    return actions


def has_leftovers(names: Sequence[str]) -> bool:
    """Whether a folder listing holds a write's temporaries or trash (what ``recover_dir`` looks at)."""
    return any(n.startswith((TMP_PREFIX, TRASH_PREFIX, STREAM_PREFIX, STAGE_PREFIX, JOURNAL)) for n in names)
