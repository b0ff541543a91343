"""Who may write or fetch a series now: locks under ``<catalog>/.locks/`` (``layout``).

Writers of one series serialise on its lock (``SeriesLocks``); one run at a time fetches a series
(``FetchClaim``); ``series_locked`` tells a checker whether a writer is at work. On disk a lock is an
``flock``, which the kernel drops when its process dies (``kill -9`` included; without ``fcntl`` nothing is
locked). On object storage it is a lease object (``framework.catalog.leases``), renewed while held and taken
over once stale; ``series_lease`` gives the write protocol the lease it must check before each request.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import time
from collections.abc import Iterator

from framework.catalog.layout import lock_path
from framework.catalog.leases import Lease
from framework.catalog.leases import busy
from framework.catalog.objectstore import CatalogPath
from framework.catalog.objectstore import ObjectPath
from framework.catalog.series import CatalogStoreError

try:  # POSIX advisory locks; elsewhere writers are not serialised
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

_LEASES: dict[ObjectPath, Lease] = {}  # series folders on object storage whose lease this process holds


def series_lease(series_dir: ObjectPath) -> Lease | None:
    """The lease this process holds on the series in ``series_dir`` (None: not held)."""
    return _LEASES.get(series_dir)


class SeriesLocks:
    """The series locks of one store: an exclusive ``flock`` per series folder (a lease on object storage),
    reentrant per thread (another thread of this process takes the flock on its own descriptor, or waits for
    this process's lease, so it waits like any other writer)."""

    def __init__(self, root: CatalogPath, timeout: float) -> None:
        self.root = root
        self.timeout = timeout  # seconds to wait for another writer of the same series
        self._held: set[tuple[int, CatalogPath]] = set()  # (thread, series folder) pairs locked through this object

    @contextlib.contextmanager
    def hold(self, series_dir: CatalogPath, wait: bool = True) -> Iterator[bool]:
        """Exclusive lock of one series; yields False (not taken) when ``wait`` is False and it is busy."""
        held = (threading.get_ident(), series_dir)
        if held in self._held:  # this thread holds it already
            yield True
            return
        if isinstance(series_dir, ObjectPath):
            with self._hold_lease(series_dir, held, wait) as got:
                yield got
            return
        if fcntl is None:  # no locks here
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
                    if not _waited(wait, deadline, series_dir):
                        yield False
                        return
            self._held.add(held)
            try:
                yield True
            finally:
                self._held.discard(held)
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _hold_lease(self, series_dir: ObjectPath, held: tuple[int, CatalogPath], wait: bool) -> Iterator[bool]:
        """The series' lease on object storage (another thread of this process waits for it like any writer)."""
        deadline = time.monotonic() + self.timeout
        while series_dir in _LEASES:  # another thread of this process writes the series
            if not _waited(wait, deadline, series_dir):
                yield False
                return
        lease = Lease(lock_path(self.root, series_dir), "series writer")
        if wait:
            lease.acquire(max(0.0, deadline - time.monotonic()))
        elif not lease.try_acquire():
            yield False
            return
        _LEASES[series_dir] = lease
        self._held.add(held)
        try:
            yield True
        finally:
            self._held.discard(held)
            _LEASES.pop(series_dir, None)
            lease.release()


def series_locked(root: str | CatalogPath, series_dir: str | CatalogPath) -> bool:
    """Whether a writer holds the lock of the series in ``series_dir`` of the catalog at ``root`` now (its
    ``.cstmp-``/``.cstrash-`` files are then a write in progress, not leftovers). Creates no lock file."""
    if isinstance(series_dir, ObjectPath):
        return busy(lock_path(root, series_dir))  # type: ignore[arg-type]
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
    ``<catalog>/.locks/fetch/`` that names the holder's pid (on object storage a lease object there). A second
    ``ingest`` of the same series waits for it (then finds the rows held) instead of spending the weight again.
    Writes still take the series lock; the kernel drops the claim when its process dies (``kill -9`` included;
    a lease lapses)."""

    def __init__(self, path: CatalogPath) -> None:
        self.path = path
        self._fd: int | None = None
        self._lease = Lease(path, "fetch claim") if isinstance(path, ObjectPath) else None

    def acquire(self) -> bool:
        """Take the claim if it is free (True), else False at once."""
        if self._lease is not None:
            return self._lease.held or self._lease.try_acquire()
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
        if self._lease is not None:
            return self._lease.holder().removeprefix("pid ")
        try:
            return self.path.read_text().strip() or "?"
        except OSError:
            return "?"

    def release(self) -> None:
        """Give the claim up (a no-op when not held)."""
        if self._lease is not None:
            self._lease.release()
        elif self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _waited(wait: bool, deadline: float, series_dir: object) -> bool:
    """One beat of waiting for a series held by another writer: False when the caller does not wait, an error past
    the deadline, else a short sleep (both lock kinds, flock and lease, wait the same way)."""
    if not wait:
        return False
    if time.monotonic() > deadline:
        raise CatalogStoreError(f"{series_dir} is locked by another writer") from None
    time.sleep(0.05)
    return True
