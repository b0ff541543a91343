"""The write protocol on object storage: the store's promises kept without rename, flock or fsync.

What an S3-compatible store gives: an object becomes visible only when its PUT (or multipart upload) completes,
whole; ``If-None-Match: *`` creates a key only if it is free and ``If-Match: <etag>`` changes or deletes only
the version read; listings are strongly consistent. On those:

* **A new file** is encoded in the local spool and uploaded with one PUT under its final name with
  ``If-None-Match: *``. A writer killed before the PUT completes leaves nothing visible, and no write can
  overwrite a file it did not read.
* **Writers of a series** hold its lease (``framework.catalog.leases``) instead of an ``flock``; every request
  below that changes the catalog first checks that the lease is still ours (``guard``).
* **Replacing files** (a partial period merged with new rows, consolidation, bounds that grow) cannot be one
  step: (1) the new bytes are uploaded under a hidden stage name (``.csstage-...stage``), (2) a journal
  ``.csjournal.json`` is created (``If-None-Match``) naming the stage, the final name and each replaced file
  with its ETag, (3) the replaced files are deleted (``If-Match`` their ETag), (4) the stage is copied to the
  final name (server side), (5) the stage, then the journal, are deleted. A reader lists ``*.parquet`` only,
  so it sees the old files or the new one (for a moment neither: rows are missing, never doubled).
* **Recovery** (``recover_dir``, under the lease, before every write as on disk) finishes an interrupted
  replacement: a journal whose stage exists is rolled forward from step 3 (the stage holds every row, so
  nothing is lost whatever step was cut); a journal without its stage had reached step 5 and is dropped; a
  stage no journal names (cut before step 2) is deleted; a zero-row file is deleted.

So after a ``kill -9`` anywhere the visible catalog is the state before or after one file operation, as on
disk, and the next write (or ``catalog repair``) completes it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from framework.catalog.holdings import holds_no_rows_entry
from framework.catalog.layout import JOURNAL
from framework.catalog.layout import STAGE_PREFIX
from framework.catalog.layout import is_data_file
from framework.catalog.layout import stage_name
from framework.catalog.locks import series_lease
from framework.catalog.objectstore import ObjectPath
from framework.catalog.objectstore import PreconditionFailed
from framework.catalog.series import CatalogStoreError
from framework.catalog.series import FileSpan


def guard(d: ObjectPath) -> None:
    """Raise unless this process holds the lease of the series in ``d`` now (checked before each change)."""
    lease = series_lease(d)
    if lease is None:
        raise CatalogStoreError(f"{d}: a write without the series' lease (a bug: writes go through the store)")
    lease.check()


def publish_new(d: ObjectPath, tmp: Path, name: str) -> None:
    """Upload the finished local file ``tmp`` as the new file ``d/name`` (one PUT, only if the key is free)."""
    guard(d)
    try:
        d.store.put_file(tmp, d / name, create=True)
    except PreconditionFailed:
        raise CatalogStoreError(f"{d / name} exists already: another writer made it while this one held the "
                                "series' lease (was it taken over?); run the command again") from None
    finally:
        _drop(tmp)


def install(d: ObjectPath, tmp: Path, name: str, replaced: Sequence[FileSpan]) -> None:
    """Publish ``tmp`` as ``d/name`` replacing the files in ``replaced`` (staged, journalled, see above)."""
    if not replaced:
        publish_new(d, tmp, name)
        return
    stage = d / stage_name(name)
    guard(d)
    try:
        d.store.put_file(tmp, stage, create=True)
    finally:
        _drop(tmp)
    _replace(d, stage, name, [f.name for f in replaced])


def rename(d: ObjectPath, old: str, new: str) -> None:
    """Give a file new bounds: a server-side copy staged and journalled like any replacement (no rename in S3,
    and copying first would show both names, i.e. every row twice)."""
    stage = d / stage_name(new)
    guard(d)
    d.store.copy(d / old, stage)
    _replace(d, stage, new, [old])


def _replace(d: ObjectPath, stage: ObjectPath, name: str, replaced: list[str]) -> None:
    """Steps 2-5: the journal, the replaced files out, the staged file in, the stage and journal gone."""
    etags = {e.name: e.etag for e in d.store.ls(d)}
    journal = {"stage": stage.name, "new": name, "old": [[n, etags[n]] for n in replaced if n in etags]}
    guard(d)
    try:
        d.store.put(d / JOURNAL, json.dumps(journal).encode(), create=True)
    except PreconditionFailed:
        d.store.delete(stage)
        raise CatalogStoreError(f"{d}: another replacement is in progress (its journal {JOURNAL} exists); "
                                "run the command again (recovery finishes it)") from None
    _roll_forward(d, journal)


def _roll_forward(d: ObjectPath, journal: dict) -> None:
    """Finish a journalled replacement whose stage exists (each step may have been done already)."""
    stage = d / journal["stage"]
    for name, etag in journal["old"]:
        guard(d)
        d.store.delete(d / name, if_match=etag)  # only the version replaced (the new file may share its name)
    guard(d)
    d.store.copy(stage, d / journal["new"])
    d.store.delete(stage)
    d.store.delete(d / JOURNAL)


def recover_dir(d: ObjectPath) -> list[str]:
    """Finish or undo an interrupted write in one series folder (the caller holds its lease); what was done."""
    actions: list[str] = []
    entries = d.store.ls(d)
    names = {e.name for e in entries}
    named_stage = None
    if JOURNAL in names:
        try:
            journal = json.loads(d.store.get(d / JOURNAL))
            named_stage = journal["stage"]
            journal["new"], journal["old"]  # noqa: B018 (a journal we wrote has every key)
        except FileNotFoundError:
            return actions + recover_dir(d)  # finished by another process meanwhile: look again
        except (ValueError, KeyError, TypeError):
            # never ours (a journal is written whole by one PUT): its stage may hold the only copy of rows
            raise CatalogStoreError(f"{d / JOURNAL} is not a journal this framework wrote; look at it and at the "
                                    f"{STAGE_PREFIX}* objects beside it, then delete them") from None
        guard(d)
        if named_stage in names:
            _roll_forward(d, journal)
            actions.append(f"finished replacing {', '.join(n for n, _ in journal['old']) or 'nothing'} by "
                           f"{journal['new']}")
        else:
            d.store.delete(d / JOURNAL)
            actions.append("removed a finished replacement's journal")
        entries = d.store.ls(d)  # the roll forward changed the folder
    for e in entries:
        if e.name.startswith(STAGE_PREFIX) and e.name != named_stage:
            guard(d)
            d.store.delete(d / e.name)
            actions.append(f"removed temporary {e.name}")
        elif is_data_file(e.name) and holds_no_rows_entry(d / e.name, e.size, e.etag):
            guard(d)
            d.store.delete(d / e.name, if_match=e.etag)
            actions.append(f"removed empty {e.name}")
    return actions


def _drop(tmp: Path) -> None:
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
