"""Catalog health: the files a reader or writer would trip over, found cheaply, and their repair.

A catalog is ``<root>/data/<class>/[<identifier>/]<start>_<end>.parquet`` (``framework.catalog.layout``). What
can be wrong with it:

* **empty**: a file without rows (a zero-row parquet file, or zero bytes). Older versions wrote them to mark
  a span covered; they hide that span from ``ingest`` and slow every reader. Holds nothing: repair deletes it.
* **unreadable**: not a parquet file (no ``PAR1`` magic at either end, a footer length past the file) or a
  footer that does not parse: a copy cut short, a disk that filled up. Nautilus, pyarrow and pandas stop with
  "Parquet magic bytes not found" naming no file. Its rows are lost: repair names it and the command that
  fetches its span again once it is deleted.
* **overlapping**: two files of one series whose name intervals overlap (files are disjoint by design).
* **leftover**: a temporary (``.cstmp-``, ``.csstream-``) or a replaced file kept aside (``.cstrash-``) by an
  interrupted write, or on object storage a staged file or journal (``.csstage-``, ``.csjournal.json``) of an
  interrupted replacement (a running writer's, its process alive or its series locked, are skipped); repair
  runs the store's recovery, which rolls it back or forward.

``require_readable`` is the cheap gate every command runs on the files it is about to read (two 4-byte reads
and a stat per file; on object storage, where an object appears only whole, the sizes of one listing);
``check`` is the full inspection behind ``python -m framework.main catalog check`` (footers read through
``framework.catalog.storage`` on disk and on object storage alike).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from pathlib import PurePath

from framework.catalog import storage
from framework.catalog.layout import JOURNAL
from framework.catalog.layout import STAGE_PREFIX
from framework.catalog.layout import STREAM_PREFIX
from framework.catalog.layout import TMP_PREFIX
from framework.catalog.layout import TRASH_PREFIX
from framework.catalog.layout import is_data_file
from framework.catalog.layout import writer_alive
from framework.catalog.location import catalog_root
from framework.catalog.location import is_object_url
from framework.catalog.location import open_location
from framework.catalog.locks import series_locked
from framework.catalog.nautilus_paths import class_folder
from framework.catalog.nautilus_paths import file_interval
from framework.catalog.objectstore import CatalogPath
from framework.catalog.objectstore import ObjectPath
from framework.errors import FrameworkError
from framework.output import require_writable_folder

LEFTOVER_PREFIXES = (TMP_PREFIX, TRASH_PREFIX, STREAM_PREFIX, STAGE_PREFIX, JOURNAL)

MAGIC = b"PAR1"


class DamagedCatalogFile(FrameworkError):
    """A catalog file that cannot be read; the message names it and the repair (exit code 1)."""


def repair_command(root: str | PurePath) -> str:
    """The command that repairs the catalog at ``root``."""
    return f"python -m framework.main catalog repair --catalog {root}"


def damaged(path: str | PurePath, problem: str, root: str | PurePath | None = None) -> DamagedCatalogFile:
    """The one-line error for an unreadable catalog file (``root``: the catalog; default: found from ``path``)."""
    root = root if root is not None else catalog_of(path)
    return DamagedCatalogFile(f"catalog file {path} is damaged ({problem}); run: {repair_command(root)}")


def catalog_of(path: str | PurePath) -> PurePath:
    """The catalog a file belongs to: the parent of its nearest ``data`` ancestor (else the file's folder)."""
    path = path if isinstance(path, PurePath) else Path(path)
    for parent in path.parents:
        if parent.name == "data":
            return parent.parent
    return path.parent


@contextlib.contextmanager
def naming_damage(path: str | PurePath) -> Iterator[None]:
    """Turn a reader's failure on ``path`` ("Parquet magic bytes not found", a bad footer) into the one-line
    ``DamagedCatalogFile`` naming it; a file that vanished meanwhile (a writer replaced it) passes through."""
    try:
        yield
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as e:  # pyarrow's ArrowInvalid / ArrowIOError are ValueError / OSError
        raise damaged(path, str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__) from None


def structural_problem(path: str | CatalogPath) -> str | None:
    """Why ``path`` cannot be a parquet file, from its size and its first and last 8 bytes (None: it can)."""
    try:
        size, head, tail = storage.head_and_tail(path if isinstance(path, PurePath) else Path(path))
    except FileNotFoundError:
        return None  # replaced meanwhile: the new one is read instead
    except OSError as e:
        return f"cannot be read: {e.strerror or e}"
    problem = _size_problem(size)
    if problem is not None:
        return problem
    if head != MAGIC or tail[4:] != MAGIC:
        return "no parquet magic bytes: truncated or not a parquet file"
    if int.from_bytes(tail[:4], "little") > size - 12:
        return "footer length past the file: truncated"
    return None


def _size_problem(size: int) -> str | None:
    if size == 0:
        return "zero bytes"
    if size < 12:
        return f"{size} bytes, too short for parquet"
    return None


def _data_dir(root: CatalogPath, folder: str | type | None) -> CatalogPath:
    if folder is None:
        return root / "data"
    if isinstance(folder, type):
        folder = class_folder(folder)
    return root / "data" / folder


def require_readable(catalog: str | PurePath, folders: str | type | list[str | type] | None = None) -> None:
    """Raise ``DamagedCatalogFile`` (one line naming the file and ``catalog repair``) when a file a command is
    about to read is not a parquet file. ``folders``: the data classes read (a class or its folder name, e.g.
    ``"trade_tick"``; default: the whole catalog). Cheap: a stat and two small reads per file; on object
    storage, where an object is never seen half-written, the sizes of one listing."""
    root = catalog_root(catalog)
    wanted = folders if isinstance(folders, list) else [folders]
    bad: list[tuple[CatalogPath, str]] = []
    for folder in dict.fromkeys(wanted):
        top = _data_dir(root, folder)
        if isinstance(top, ObjectPath):
            for d, entries in sorted(top.store.find(top).items(), key=lambda kv: kv[0].key):
                bad += [(d / e.name, p) for e in entries
                        if is_data_file(e.name) and (p := _size_problem(e.size)) is not None]
            continue
        for d, names in storage.walk(top):
            for name in sorted(names):
                if is_data_file(name) and (problem := structural_problem(d / name)) is not None:
                    bad.append((d / name, problem))
    if bad:
        path, problem = bad[0]
        more = f" (and {len(bad) - 1} more damaged file{'s' if len(bad) > 2 else ''})" if len(bad) > 1 else ""
        raise DamagedCatalogFile(f"catalog file {path} is damaged ({problem}){more}; run: {repair_command(root)}")


@dataclass(frozen=True)
class Finding:
    """One problem: the file (relative to the catalog) and what is wrong."""

    path: PurePath
    problem: str


@dataclass
class Health:
    """What ``check`` found in a catalog."""

    root: CatalogPath
    files: int = 0  # visible parquet files
    series: int = 0  # folders holding them
    empty: list[Finding] = field(default_factory=list)
    unreadable: list[Finding] = field(default_factory=list)
    overlapping: list[tuple[PurePath, PurePath]] = field(default_factory=list)
    leftovers: list[Finding] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        """Whether nothing was found."""
        return not (self.empty or self.unreadable or self.overlapping or self.leftovers)

    def summary(self) -> str:
        """``healthy: N files, M series`` or the count of each problem."""
        if self.healthy:
            return f"healthy: {self.files} files, {self.series} series"
        counts = [(len(self.empty), "empty file", "empty files"), (len(self.unreadable), "unreadable file",
                  "unreadable files"), (len(self.overlapping), "overlapping pair", "overlapping pairs"),
                  (len(self.leftovers), "leftover temporary", "leftover temporaries")]
        text = ", ".join(f"{n} {one if n == 1 else many}" for n, one, many in counts if n)
        return f"{text} among {self.files} files, {self.series} series"


def check(catalog: str | PurePath) -> Health:
    """Every file of the catalog: empty, unreadable (magic bytes and footer parsed), overlapping names per
    series folder, leftover temporaries."""
    root = catalog_root(catalog)
    health = Health(root)
    for d, _names in storage.walk(root / "data"):
        check_folder(d, health)
    return health


def check_folder(d: CatalogPath, health: Health) -> None:
    """The findings of one folder (a series' files) added to ``health`` (paths relative to ``health.root``)."""
    entries = sorted(storage.list_dir(d), key=lambda e: e.name)
    names = [e.name for e in entries]
    spans: list[tuple[int, int, PurePath]] = []
    for entry in entries:
        name = entry.name
        path = d / name
        rel = path.relative_to(health.root)
        if name.startswith(LEFTOVER_PREFIXES):
            # a running writer's temporaries (its pid alive, or the series locked) are its work, not leftovers
            if not (writer_alive(name) or (not name.startswith(STREAM_PREFIX) and series_locked(health.root, d))):
                health.leftovers.append(Finding(rel, "left by an interrupted write"))
            continue
        if not is_data_file(name):
            continue
        health.files += 1
        problem = structural_problem(path)
        if problem == "zero bytes":
            health.empty.append(Finding(rel, problem))
            continue
        if problem is None:
            try:
                rows = storage.read_metadata(path, entry.size).num_rows
            except Exception as e:  # noqa: BLE001 (any footer that does not parse is the finding)
                problem = f"footer does not parse: {str(e).strip().splitlines()[0] if str(e).strip() else e}"
        if problem is not None:
            health.unreadable.append(Finding(rel, problem))
            continue
        if rows == 0:
            health.empty.append(Finding(rel, "0 rows"))
            continue
        interval = file_interval(name)
        if interval is not None:
            spans.append((*interval, rel))
    if any(is_data_file(n) for n in names):
        health.series += 1
    spans.sort()
    reach: tuple[int, Path] | None = None  # the furthest end so far and its file
    for start, end, rel in spans:
        if reach is not None and start <= reach[0]:
            health.overlapping.append((reach[1], rel))
        if reach is None or end > reach[0]:
            reach = (end, rel)


def require_writable(catalog: str | PurePath, keep: bool = True) -> None:
    """One ``FrameworkError`` line naming the catalog folder and the fix when it cannot be created or written
    (``framework.output.require_writable_folder``), before anything is fetched. ``keep=False``: create nothing
    (a check ahead of requests that may still fail leaves nothing behind). On object storage: the location's
    checks (endpoint, credentials, bucket, a write allowed), which create nothing."""
    if is_object_url(catalog):
        open_location(catalog).require_ready(write=True)
        return
    require_writable_folder(catalog, "catalog folder", option="--catalog", create=keep)


def not_writable(root: str | PurePath, error: OSError) -> FrameworkError:
    """The one line for a catalog write refused by the file system (``error``)."""
    where = f" ({error.filename})" if error.filename and str(error.filename) != str(root) else ""
    return FrameworkError(f"catalog folder {root} cannot be written: {error.strerror or error}{where}; choose "
                          "another --catalog, or make it writable (remount read-write, or fix its permissions)")
