"""Leases: who may write (or fetch) a series on object storage, where there is no ``flock``.

A lease is one small object, ``<catalog>/.locks/<class>/<identifier>.lease`` (``fetch/`` for fetch claims),
holding its owner (a random id, host, boot id, pid) and its time to live. The conditional PUTs of S3 make it a
lock:

* **take**: PUT with ``If-None-Match: *``; of two writers exactly one creates it, the other gets 412;
* **keep**: a thread of the holder rewrites it every ``ttl / 3`` with ``If-Match: <its ETag>``; a 412 means it
  was taken over, and the holder stops writing;
* **take over a stale one**: a lease is stale when the server's clock (the ``Date`` of our GET) is ``ttl`` past
  its ``Last-Modified`` (one clock, no skew between machines), or at once when its owner ran on this machine
  and that process is gone (``kill -9``). It is replaced with ``If-Match: <the stale ETag>``: of several
  contenders one wins;
* **give back**: DELETE with ``If-Match: <its ETag>``.

The holder counts its lease valid until ``ttl - margin`` after the last renewal it *sent* (its monotonic clock),
and the write protocol (``framework.catalog.objectwrites``) checks that before every request that changes the
catalog. So a holder that stalls (a paused VM) stops before another may take over; what remains is a stall of
more than ``margin`` seconds between that check and the request itself, and even then a new file cannot
overwrite another's (files are created with ``If-None-Match``).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
import weakref
from functools import cache
from pathlib import Path

from framework.catalog.objectstore import ObjectPath
from framework.catalog.objectstore import ObjectStoreError
from framework.catalog.objectstore import PreconditionFailed
from framework.catalog.series import CatalogStoreError

TTL = 30.0  # seconds a lease lives without renewal
MARGIN = 8.0  # a holder stops writing this long before its lease could be taken over
POLL = 0.2  # seconds between attempts while waiting for a busy lease


@cache
def _machine() -> tuple[str, str]:
    """This machine: host name and boot id (a pid means something only on the same host and boot)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = ""
    return socket.gethostname(), boot


def _gone(body: dict) -> bool:
    """Whether the lease's owner ran on this machine (this boot) and its process has ended."""
    host, boot = _machine()
    if body.get("host") != host or body.get("boot") != boot or not boot:
        return False
    try:
        os.kill(int(body["pid"]), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, KeyError, ValueError, TypeError):
        return False
    return False


class Lease:
    """One lease object (``path``) as seen by this process: taken, renewed in the background, given back."""

    def __init__(self, path: ObjectPath, what: str = "writer", ttl: float = TTL) -> None:
        self.path = path
        self.what = what
        self.ttl = ttl
        self.owner = uuid.uuid4().hex
        self.etag: str | None = None
        self.valid_until = 0.0  # monotonic: the holder may change the catalog until then
        self.lost = False

    def _body(self) -> bytes:
        host, boot = _machine()
        return json.dumps({"owner": self.owner, "what": self.what, "host": host, "boot": boot,
                           "pid": os.getpid(), "ttl": self.ttl}).encode()

    @property
    def held(self) -> bool:
        """Whether this process holds the lease now (taken, not lost, not past its validity)."""
        return self.etag is not None and not self.lost and time.monotonic() < self.valid_until

    def try_acquire(self) -> bool:
        """Take the lease if it is free or stale (True), else False at once."""
        store = self.path.store
        sent = time.monotonic()
        try:
            self.etag = store.put(self.path, self._body(), create=True)
        except PreconditionFailed:
            try:
                body, etag, modified, now = store.get_versioned(self.path)
            except FileNotFoundError:
                return False  # given back meanwhile: the next attempt creates it
            if not self._stale(body, modified, now):
                return False
            sent = time.monotonic()
            try:
                self.etag = store.put(self.path, self._body(), if_match=etag)
            except (PreconditionFailed, FileNotFoundError):
                return False  # another contender took it over first
        self.valid_until = sent + self.ttl - MARGIN
        self.lost = False
        _RENEWER.add(self)
        return True

    def _stale(self, raw: bytes, modified: object, now: object) -> bool:
        try:
            body = json.loads(raw)
            ttl = float(body.get("ttl", TTL))
        except (ValueError, TypeError, AttributeError):
            return True  # not a lease we wrote: nobody holds it
        age = (now - modified).total_seconds()  # type: ignore[operator]
        return age > ttl or _gone(body)

    def acquire(self, timeout: float) -> None:
        """Take the lease, waiting up to ``timeout`` seconds for its holder; ``CatalogStoreError`` after."""
        deadline = time.monotonic() + timeout
        while not self.try_acquire():
            if time.monotonic() > deadline:
                raise CatalogStoreError(f"{self.path.parent}: {self.holder()} holds {self.path.name}; waited "
                                        f"{timeout:.0f} s (a lease of a crashed writer lapses {self.ttl:.0f} s after "
                                        "its last renewal)")
            time.sleep(POLL)

    def renew(self) -> None:
        """Rewrite the lease over the version we hold (a lost condition: it was taken over; stop writing)."""
        if self.etag is None or self.lost:
            return
        sent = time.monotonic()
        try:
            self.etag = self.path.store.put(self.path, self._body(), if_match=self.etag)
        except (PreconditionFailed, FileNotFoundError):
            self.lost = True
            return
        except ObjectStoreError:
            return  # the store is unreachable now: try again; the lease lapses if this lasts
        self.valid_until = sent + self.ttl - MARGIN

    def check(self) -> None:
        """Raise ``CatalogStoreError`` unless this process may still change what the lease guards."""
        if not self.held:
            why = "it was taken over" if self.lost else "it could not be renewed in time"
            raise CatalogStoreError(f"{self.path.parent}: lease {self.path.name} lost ({why}); nothing more is "
                                    "written, the next write recovers the series")

    def release(self) -> None:
        """Give the lease back (only the version we hold: a lease taken over meanwhile stays)."""
        _RENEWER.discard(self)
        etag, self.etag = self.etag, None
        if etag is not None and not self.lost:
            try:
                self.path.store.delete(self.path, if_match=etag)
            except ObjectStoreError:
                pass  # it lapses by itself

    def holder(self) -> str:
        """Who holds the lease now, as its object says ("?" when unknown)."""
        try:
            body = json.loads(self.path.store.get(self.path))
            return f"pid {body.get('pid', '?')} on {body.get('host', '?')}"
        except (FileNotFoundError, ValueError, ObjectStoreError):
            return "?"


def busy(path: ObjectPath) -> bool:
    """Whether another holder's live lease exists at ``path`` (a checker's question; takes nothing)."""
    probe = Lease(path)
    try:
        body, _etag, modified, now = path.store.get_versioned(path)
    except FileNotFoundError:
        return False
    return not probe._stale(body, modified, now)


class _Renewer:
    """One daemon thread renewing every lease this process holds, each ``ttl / 3`` after its last renewal."""

    def __init__(self) -> None:
        self._leases: weakref.WeakSet[Lease] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, lease: Lease) -> None:
        with self._lock:
            self._leases.add(lease)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="catalog-leases", daemon=True)
                self._thread.start()

    def discard(self, lease: Lease) -> None:
        with self._lock:
            self._leases.discard(lease)

    def _run(self) -> None:
        while True:
            time.sleep(0.5)
            with self._lock:
                due = [x for x in self._leases
                       if x.etag is not None and x.valid_until - time.monotonic() < x.ttl - MARGIN - x.ttl / 3]
            for lease in due:
                lease.renew()


_RENEWER = _Renewer()
