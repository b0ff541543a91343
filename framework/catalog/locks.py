"""Who may write or fetch a series now: ``flock``-based locks under ``<catalog>/.locks/`` (``layout``).

Writers of one series serialise on its lock (``SeriesLocks``); one run at a time fetches a series
(``FetchClaim``); ``series_locked`` tells a checker whether a writer is at work. The kernel drops a lock
when its process dies (``kill -9`` included). Local filesystems only; without ``fcntl`` nothing is locked.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from framework.catalog.layout import lock_path
from framework.catalog.series import CatalogStoreError

try:  # POSIX advisory locks; elsewhere writers are not serialised
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]


class SeriesLocks:
    """The series locks of one store: an exclusive ``flock`` per series folder, reentrant per thread (another
    thread of this process takes the flock on its own descriptor, so it waits like any other writer)."""

    def __init__(self, root: Path, timeout: float) -> None:
        self.root = root
        self.timeout = timeout  # seconds to wait for another writer of the same series
        self._held: set[tuple[int, Path]] = set()  # (thread, series folder) pairs locked through this object

    @contextlib.contextmanager
    def hold(self, series_dir: Path, wait: bool = True) -> Iterator[bool]:
        """Exclusive lock of one series; yields False (not taken) when ``wait`` is False and it is busy."""
        held = (threading.get_ident(), series_dir)
        if fcntl is None or held in self._held:  # no locks here / this thread holds it already
            yield True
            return
        path = lock_path(self.root, series_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + self.timeout
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


def series_locked(root: str | Path, series_dir: str | Path) -> bool:
    """Whether a writer holds the lock of the series in ``series_dir`` of the catalog at ``root`` now (its
    ``.cstmp-``/``.cstrash-`` files are then a write in progress, not leftovers). Creates no lock file."""
    if fcntl is None:
        return False
    try:
        fd = os.open(lock_path(root, series_dir), os.O_RDWR)
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
        """Give the claim up (a no-op when not held)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
