"""Reading and listing catalog files wherever they are: a local ``Path`` or an ``ObjectPath`` on object storage.

The catalog's modules name files as paths and read them through these functions, which take the local
filesystem or the path's ``ObjectStore`` as the path says, so the store, the appender, holdings and health
have one code path for both. On object storage a listing gives sizes and ETags (no stat), a footer is one
ranged GET of the file's tail, and a whole file one GET.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Hashable
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from pathlib import PurePath

import pyarrow as pa
import pyarrow.parquet as pq

from framework.catalog.objectstore import CatalogPath
from framework.catalog.objectstore import ObjectPath

FOOTER_READ = 64 * 1024  # bytes of a file's tail read for its footer (a second read when the footer is larger)


@dataclass(frozen=True)
class Entry:
    """One file of a folder: its name, size and version (what changes when it is replaced: inode and mtime
    on disk, the ETag on object storage)."""

    name: str
    size: int
    version: Hashable


def is_remote(path: PurePath | str) -> bool:
    """Whether ``path`` lies on object storage."""
    return isinstance(path, ObjectPath)


def list_dir(d: CatalogPath) -> list[Entry]:
    """The files directly in folder ``d`` (empty when it does not exist)."""
    if isinstance(d, ObjectPath):
        return [Entry(e.name, e.size, e.etag) for e in d.store.ls(d)]
    out = []
    try:
        with os.scandir(d) as it:
            for e in it:
                try:
                    if e.is_file():
                        st = e.stat()
                        out.append(Entry(e.name, st.st_size, (st.st_ino, st.st_mtime_ns)))
                except FileNotFoundError:  # replaced meanwhile
                    continue
    except (FileNotFoundError, NotADirectoryError):
        pass
    return out


def walk(top: CatalogPath) -> Iterator[tuple[CatalogPath, list[str]]]:
    """Each folder under ``top`` holding files, with their names (folders in sorted order)."""
    if isinstance(top, ObjectPath):
        for d, entries in sorted(top.store.find(top).items(), key=lambda kv: kv[0].key):
            yield d, [e.name for e in entries]
        return
    for dirpath, _dirs, names in sorted(os.walk(top)):
        if names:
            yield Path(dirpath), names


def holds_anything(d: CatalogPath) -> bool:
    """Whether a folder exists (on object storage: whether any object lies under it)."""
    if isinstance(d, ObjectPath):
        return d.store.has_prefix(d)
    return Path(d).is_dir()


def subfolders(d: CatalogPath) -> list[str]:
    """The names of the visible folders directly in ``d`` (none when it does not exist)."""
    if isinstance(d, ObjectPath):
        return d.store.subfolders(d)
    try:
        with os.scandir(d) as it:
            return [e.name for e in it if e.is_dir() and not e.name.startswith(".")]
    except (FileNotFoundError, NotADirectoryError):
        return []


def version(path: CatalogPath) -> Hashable:
    """What changes when the file is replaced (FileNotFoundError when it is gone)."""
    if isinstance(path, ObjectPath):
        entry = path.store.head(path)
        if entry is None:
            raise FileNotFoundError(str(path))
        return entry.etag
    st = Path(path).stat()
    return st.st_ino, st.st_size, st.st_mtime_ns


def read_table(path: CatalogPath, columns: Sequence[str] | None = None) -> pa.Table:
    """A parquet file's rows (``columns`` only, when given)."""
    if isinstance(path, ObjectPath):
        return pq.read_table(pa.BufferReader(path.store.get(path)), columns=columns)
    return pq.read_table(path, columns=columns)


def read_metadata(path: CatalogPath, size: int | None = None) -> pq.FileMetaData:
    """A parquet file's footer (on object storage: a ranged read of its tail; ``size`` saves a HEAD)."""
    if isinstance(path, ObjectPath):
        return pq.read_metadata(pa.BufferReader(_tail(path, size)))
    return pq.read_metadata(path)


def read_schema(path: CatalogPath) -> pa.Schema:
    """A parquet file's Arrow schema (from its footer)."""
    if isinstance(path, ObjectPath):
        return pq.read_schema(pa.BufferReader(_tail(path, None)))
    return pq.read_schema(path)


@contextlib.contextmanager
def parquet_file(path: CatalogPath) -> Iterator[pq.ParquetFile]:
    """A ``pq.ParquetFile`` over the file (read row group by row group), closed on exit."""
    if isinstance(path, ObjectPath):
        with path.store.open(path) as fh, pq.ParquetFile(fh) as pf:
            yield pf
        return
    # no pre-buffering: it caches the whole file's column chunks as the row groups are read (a day of trades:
    # ~130 MB of trade ids held to the end), where a streaming reader wants one row group in memory
    with pq.ParquetFile(path, pre_buffer=False) as pf:
        yield pf


def head_and_tail(path: CatalogPath) -> tuple[int, bytes, bytes]:
    """A file's size, first 4 and last 8 bytes (what tells a parquet file from a damaged one)."""
    if isinstance(path, ObjectPath):
        entry = path.store.head(path)
        if entry is None:
            raise FileNotFoundError(str(path))
        if entry.size < 12:
            return entry.size, b"", b""
        return entry.size, path.store.get(path, 0, 4), path.store.get(path, entry.size - 8, entry.size)
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size < 12:
            return size, b"", b""
        head = fh.read(4)
        fh.seek(size - 8)
        return size, head, fh.read(8)


def delete(path: CatalogPath) -> bool:
    """Delete one file; False when it was already gone."""
    if isinstance(path, ObjectPath):
        return path.store.delete(path)
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def publish_file(local: Path, target: CatalogPath) -> None:
    """Put the finished local file ``local`` at ``target``, replacing what is there in one step (a rename on
    disk, where ``local`` must be on the same filesystem; one PUT on object storage). ``local`` is consumed."""
    if isinstance(target, ObjectPath):
        target.store.put_file(local, target, create=False)
        os.unlink(local)
        return
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    os.replace(local, target)


def scratch_dir(root: CatalogPath, name: str) -> Path:
    """A private local folder for files made before they are published into the catalog at ``root``: inside
    it on disk (so a rename publishes them), in the local spool for object storage. The caller removes it."""
    if isinstance(root, ObjectPath):
        d = root.store.spool / name
    else:
        d = Path(root) / name
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    return d


def _tail(path: ObjectPath, size: int | None) -> bytes:
    """The last bytes of an object, enough to hold its parquet footer."""
    if size is None:
        entry = path.store.head(path)
        if entry is None:
            raise FileNotFoundError(str(path))
        size = entry.size
    if size < 12:
        raise OSError(f"{path}: {size} bytes, too short for parquet")
    tail = path.store.get(path, max(0, size - FOOTER_READ), size)
    footer = int.from_bytes(tail[-8:-4], "little") + 8
    if footer > len(tail) and footer <= size:
        tail = path.store.get(path, size - footer, size)
    return tail
