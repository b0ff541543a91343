"""Where a catalog's files go: a series' folder, its lock files, and the hidden names a write works under.

``<root>/data/<class folder>/[<identifier folder>/]`` holds a series' files (folder and file names are
Nautilus's: ``framework.catalog.nautilus_paths``). Locks live under ``<root>/.locks/``, mirroring that tree:
``.locks/<class>/<identifier>.lock`` for writers, ``.locks/fetch/<class>/<identifier>.lock`` for fetch claims.
A write's temporaries sit beside the files under hidden names, which Nautilus (it lists ``*.parquet``) and
pyarrow/pandas datasets (they skip dot files) never read:

* ``.cstmp-<stem>-<pid>-<hex>.tmp``: a file being written under the series lock;
* ``.csstream-<pid>-<hex>.tmp``: a period file streamed without the lock (``SeriesAppender``), kept by
  recovery while its writer lives;
* ``.cstrash-<stem>.trash``: a file being replaced, kept aside until its replacement is in.

On object storage (``framework.catalog.objectwrites``) a file is encoded in this process's local spool
(``ObjectStore.spool``) and appears with one PUT; a series' lease is ``.locks/<class>/<identifier>.lease``, and a
replacement leaves, while it runs, hidden objects beside the files:

* ``.csstage-<stem>-<hex>.stage``: the replacing file's bytes, staged before the replaced files go;
* ``.csjournal.json``: the replacement in progress (the staged object, the final name, the replaced files and
  their ETags), which recovery finishes.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from pathlib import PurePath

from framework.catalog.nautilus_paths import identifier_folder
from framework.catalog.objectstore import CatalogPath
from framework.catalog.objectstore import ObjectPath
from framework.catalog.series import Series

TMP_PREFIX = ".cstmp-"
TRASH_PREFIX = ".cstrash-"
STREAM_PREFIX = ".csstream-"  # + "<pid>-": a period streamed by SeriesAppender, kept while its writer lives
STAGE_PREFIX = ".csstage-"  # object storage: a replacing file's bytes, named by the journal
JOURNAL = ".csjournal.json"  # object storage: the replacement in progress in a series folder
PARQUET = ".parquet"
TRASH = ".trash"


def _as_path(p: str | PurePath) -> CatalogPath:
    return p if isinstance(p, (Path, ObjectPath)) else Path(p)


def series_dir(root: CatalogPath, series: Series) -> CatalogPath:
    """The folder of one series' files in the catalog at ``root``."""
    d = root / "data" / series.class_dir
    return d / identifier_folder(series.identifier) if series.identifier is not None else d


def lock_path(root: str | PurePath, series_dir: str | PurePath) -> CatalogPath:
    """The lock file writers of the series in ``series_dir`` take (an ``flock``; on object storage the lease
    object, ``.lease``)."""
    root = _as_path(root)
    rel = _as_path(series_dir).relative_to(root / "data")
    return root / ".locks" / rel.parent / f"{rel.name}{_lock_suffix(root)}"


def fetch_claim_path(root: CatalogPath, series_dir: CatalogPath) -> CatalogPath:
    """The lock file (object storage: lease) of the claim to fetch the series in ``series_dir``."""
    rel = series_dir.relative_to(root / "data")
    return root / ".locks" / "fetch" / rel.parent / f"{rel.name}{_lock_suffix(root)}"


def _lock_suffix(root: CatalogPath) -> str:
    return ".lease" if isinstance(root, ObjectPath) else ".lock"


def is_data_file(name: str) -> bool:
    """Whether a name in a series folder is a catalog file (what Nautilus and datasets read)."""
    return name.endswith(PARQUET) and not name.startswith(".")


def temp_path(d: CatalogPath, stem: str) -> Path:
    """A fresh hidden temporary in ``d`` (recovery deletes leftovers; readers never list them); for a folder
    on object storage, a local file in the spool (it is uploaded whole)."""
    return _local(d) / f"{TMP_PREFIX}{stem}-{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp"


def stream_path(d: CatalogPath) -> Path:
    """A hidden temporary in ``d`` for a file written over many calls without the series lock: recovery
    leaves it while the process that named it lives (object storage: a local file in the spool)."""
    return _local(d) / f"{STREAM_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp"


def _local(d: CatalogPath) -> Path:
    """Where a temporary for folder ``d`` is written: ``d`` itself, or the spool of its object store."""
    return d.store.spool if isinstance(d, ObjectPath) else d


def stage_name(name: str) -> str:
    """A fresh hidden name for the staged bytes of a file replacing others on object storage."""
    return f"{STAGE_PREFIX}{name[: -len(PARQUET)]}-{uuid.uuid4().hex[:8]}.stage"


def trash_name(name: str) -> str:
    """The hidden name a catalog file is kept under while a new file replaces it."""
    return f"{TRASH_PREFIX}{name[: -len(PARQUET)]}{TRASH}"


def trashed_file(trash: str) -> str:
    """The catalog file name a trash name was made from (``trash_name``'s inverse)."""
    return trash[len(TRASH_PREFIX) : -len(TRASH)] + PARQUET


def writer_alive(temp_name: str) -> bool:
    """Whether the process that named a temporary still runs: a stream temporary (``.csstream-<pid>-...``) or
    a write temporary (``.cstmp-<stem>-<pid>-<hex>.tmp``); False for any other name (a ``.cstrash-`` file
    names no writer: see ``framework.catalog.locks.series_locked``)."""
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
