"""The catalog on S3-compatible object storage, against a real S3 server (moto's, on loopback).

The store's promises, kept without rename, flock or fsync (``framework.catalog.objectwrites``): the same files
and bytes as on disk; a writer killed with SIGKILL before any request that changes the catalog leaves the
visible catalog sound (no partial or empty object, no two files holding the same rows) and the next run ends
where an uninterrupted one does; two writers of one series lose and double no row; a crashed writer's lease
is taken over. Results are read back with Nautilus's own ``ParquetDataCatalog`` over s3.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from nautilus_trader.model.data import TradeTick

from framework.catalog import CatalogStore
from framework.catalog import Series
from framework.catalog import storage
from framework.catalog.health import check
from framework.catalog.layout import JOURNAL
from framework.catalog.layout import STAGE_PREFIX
from framework.catalog.leases import Lease
from framework.catalog.location import open_location
from framework.catalog.nautilus_paths import file_interval
from framework.catalog.objectstore import ObjectStore
from framework.catalog.series import CatalogStoreError
from tests.s3_support import S3Server
from tests.s3_support import bucket_fixture  # noqa: F401 (fixture "bucket")
from tests.s3_support import cli_env
from tests.s3_support import s3_env_fixture  # noqa: F401 (fixture "s3_env")
from tests.s3_support import s3_server_fixture  # noqa: F401 (fixture "s3_server")
from tests.test_catalog_store import DAY
from tests.test_catalog_store import DAY0
from tests.test_catalog_store import INSTR
from tests.test_catalog_store import KILL_N
from tests.test_catalog_store import _ingest
from tests.test_catalog_store import make_trades
from tests.test_catalog_store import snapshot
from tests.test_catalog_store import take
from tests.test_catalog_store import write_trades

ROOT = Path(__file__).resolve().parents[1]
TRADES = Series.trades(INSTR)


def s3_snapshot(server: S3Server, url: str) -> dict[str, bytes]:
    """Every object under the catalog's ``data/`` (hidden ones included): relative key -> bytes."""
    fs = server.client()
    prefix = url.removeprefix("s3://") + "/"
    return {k[len(prefix):]: fs.cat_file(k) for k in sorted(fs.find(prefix + "data"))}


def nautilus_trade_ids(url: str) -> list[int]:
    """Trade ids as Nautilus's own ParquetDataCatalog reads them over s3."""
    rows = open_location(url).nautilus_catalog().query(TradeTick, identifiers=[INSTR])
    return [int(t.trade_id.value) for t in rows]


def test_store_on_s3_writes_the_bytes_of_a_local_store(s3_server: S3Server, bucket: str, tmp_path: Path) -> None:
    url = f"s3://{bucket}/cat"
    remote, local = CatalogStore(url), CatalogStore(tmp_path / "cat")
    d = make_trades(30_000, 2.5)
    noon = DAY0 + DAY // 2
    for store in (remote, local):
        write_trades(store, take(d, d["ts_event"] <= noon), start=DAY0, end=noon)  # a partial first day
        write_trades(store, take(d, d["ts_event"] > noon), start=noon + 1)  # merged into it, then new days
        write_trades(store, take(d, slice(0, 30_000)))  # all held: nothing new
        store.write_table(TRADES, store.read_table(TRADES).slice(0, 0), DAY0 + 2 * DAY, DAY0 + 3 * DAY - 1)
    assert [f.name for f in remote.files(TRADES)] == [f.name for f in local.files(TRADES)]
    assert s3_snapshot(s3_server, url) == snapshot(local.root)  # same names and bytes, nothing hidden left
    report = remote.consolidate(TRADES)
    local.consolidate(TRADES)
    assert len(report.removed) == 3 and s3_snapshot(s3_server, url) == snapshot(local.root)
    assert remote.check(TRADES) == [] and check(url).healthy
    ids = nautilus_trade_ids(url)
    assert ids == sorted(ids) and len(set(ids)) == len(ids) == 30_000
    assert not [k for k in s3_server.keys(bucket) if "/.locks/" in k]  # every lease given back
    held = remote.holdings(TRADES)
    assert held.last_id == int(d["trade_id"][-1]) and held.covered_until == local.holdings(TRADES).covered_until


# -- SIGKILL before each request that changes the catalog ---------------------------------------------------


def _child_main() -> None:  # python -c "from tests.test_s3_catalog import _child_main; _child_main()" URL N
    """Ingest like ``test_catalog_store._ingest``, SIGKILLed right before the N-th request that changes the
    catalog (PUT, copy or delete of anything but a lease)."""
    url, kill_at = sys.argv[1], int(sys.argv[2])
    count = itertools.count(1)

    def killing(method):  # noqa: ANN001, ANN202
        def call(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
            paths = [a for a in args if hasattr(a, "key")]
            if not any(".locks" in p.parts for p in paths) and next(count) == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            return method(self, *args, **kwargs)
        return call

    if kill_at:
        for name in ("put", "put_file", "copy", "delete"):
            setattr(ObjectStore, name, killing(getattr(ObjectStore, name)))
    print("ready", flush=True)
    _ingest(url)  # type: ignore[arg-type]


def _assert_visible_catalog_sound(url: str) -> None:
    """What a reader sees now, before any recovery: every *.parquet readable with rows, no overlapping files."""
    d = open_location(url).root / "data" / "trade_tick" / INSTR
    spans = [e for e in storage.list_dir(d) if e.name.endswith(".parquet")]
    bounds = sorted(file_interval(e.name) for e in spans)
    for a, b in itertools.pairwise(bounds):
        assert a[1] < b[0], f"overlapping files {a} {b}"
    for e in spans:
        assert storage.read_table(d / e.name).num_rows > 0


def test_sigkill_before_each_request_then_rerun_equals_uninterrupted(s3_server: S3Server, bucket: str,
                                                                     tmp_path: Path) -> None:
    ref = tmp_path / "ref"
    _ingest(ref)
    expected = snapshot(ref)
    url = f"s3://{bucket}/killed"
    cmd = [sys.executable, "-c", "from tests.test_s3_catalog import _child_main; _child_main()", url]
    # A resumed run starts by merging its page into the partial day: stage upload (1), journal (2), delete of
    # the replaced file (3), copy of the stage in (4), delete of the stage (5), of the journal (6); then new
    # files. Kill before each of them, in turn, on the same catalog.
    killed = 0
    for n in (3, 1, 2, 4, 5, 6, 9):
        proc = subprocess.run([*cmd, str(n)], cwd=ROOT, env=cli_env(), capture_output=True, text=True, timeout=120)
        killed += proc.returncode == -signal.SIGKILL
        assert proc.returncode in (0, -signal.SIGKILL), proc.stderr
        _assert_visible_catalog_sound(url)
        CatalogStore(url)  # opening recovers: the lease of the killed writer is taken over at once (same host)
        assert CatalogStore(url, recover=False).check(TRADES) == []
    assert killed >= 6
    _ingest(url)  # type: ignore[arg-type]
    assert s3_snapshot(s3_server, url) == expected  # no stage, journal, partial or empty object left
    ids = nautilus_trade_ids(url)
    assert len(ids) == KILL_N and len(set(ids)) == KILL_N


# -- two writers -----------------------------------------------------------------------------------------


def _writer_main() -> None:  # python -c "...; _writer_main()" URL PARITY
    """Write every page of a shared trade history whose index has the given parity, plus every third page
    (so the two writers overlap), each page its own write."""
    url, parity = sys.argv[1], int(sys.argv[2])
    d = make_trades(24_000, 2.0, seed=5)
    store = CatalogStore(url)
    for i, lo in enumerate(range(0, 24_000, 1_000)):
        if i % 2 == parity or i % 3 == 0:
            write_trades(store, take(d, slice(lo, lo + 1_000)))
    print("done", flush=True)


def test_two_writers_on_one_series_lose_and_double_nothing(s3_server: S3Server, bucket: str) -> None:
    url = f"s3://{bucket}/cat"
    cmd = [sys.executable, "-c", "from tests.test_s3_catalog import _writer_main; _writer_main()", url]
    procs = [subprocess.Popen([*cmd, str(p)], cwd=ROOT, env=cli_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for p in (0, 1)]
    outs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    store = CatalogStore(url)
    assert store.check(TRADES) == []
    d = make_trades(24_000, 2.0, seed=5)
    table = store.read_table(TRADES)
    assert table.column("trade_id").to_pylist() == [str(i) for i in d["trade_id"]]
    assert table.column("ts_init").to_pylist() == d["ts_event"].tolist()
    ids = nautilus_trade_ids(url)
    assert len(ids) == len(set(ids)) == 24_000


# -- leases ----------------------------------------------------------------------------------------------


def test_a_lease_is_exclusive_and_a_dead_holders_is_taken_over(bucket: str) -> None:
    root = open_location(f"s3://{bucket}/cat").root
    path = root / ".locks" / "trade_tick" / f"{INSTR}.lease"
    first, second = Lease(path), Lease(path)
    assert first.try_acquire() and not second.try_acquire()
    with pytest.raises(CatalogStoreError, match="holds"):
        second.acquire(timeout=0.5)
    first.release()
    assert second.try_acquire()
    second.release()
    # a lease left by a process of this machine that is gone: taken over at once, not after its ttl
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = Lease(path)
    orphan._body = lambda: (orphan.__class__._body(orphan).replace(  # type: ignore[method-assign]
        f'"pid": {os.getpid()}'.encode(), f'"pid": {int(dead.stdout)}'.encode()))
    assert orphan.try_acquire()
    orphan.etag = None  # forgotten by its (dead) holder: never renewed, never released
    taker = Lease(path)
    started = time.monotonic()
    assert taker.try_acquire() and time.monotonic() - started < 5
    # the orphan's holder, were it alive, would now find its lease taken over
    orphan.etag, orphan.valid_until = "\"stale\"", time.monotonic() + 60
    orphan.renew()
    assert orphan.lost
    with pytest.raises(CatalogStoreError, match="lost"):
        orphan.check()
    taker.release()


# -- recovery and health on object storage ----------------------------------------------------------------


def test_interrupted_replacement_is_found_by_check_and_finished_by_recovery(s3_server: S3Server,
                                                                            bucket: str) -> None:
    url = f"s3://{bucket}/cat"
    store = CatalogStore(url)
    d = make_trades(4_000, 1.0)
    noon = DAY0 + DAY // 2
    write_trades(store, take(d, d["ts_event"] <= noon), start=DAY0, end=noon)
    sd = store.series_dir(TRADES)
    (partial,) = [f.name for f in store.files(TRADES)]
    # a merge cut after its journal and the delete of the replaced file: the stage holds every row
    fs = s3_server.client()
    merged = store.read_table(TRADES)
    local = storage.scratch_dir(store.root, "t") / "m.parquet"
    pq.write_table(merged, local)
    stage = f"{STAGE_PREFIX}x-12345678.stage"
    fs.put_file(str(local), (sd / stage).key)
    etag = fs.info((sd / partial).key)["ETag"]
    fs.pipe_file((sd / JOURNAL).key, json.dumps({"stage": stage, "new": partial, "old": [[partial, etag]]}).encode())
    fs.rm_file((sd / partial).key)
    health = check(url)
    assert not health.healthy and len(health.leftovers) == 2 and health.files == 0  # rows missing, never doubled
    assert CatalogStore(url).recover() == []  # opening has finished it already
    assert [f.name for f in store.files(TRADES)] == [partial] and check(url).healthy
    assert store.read_table(TRADES).equals(merged)
    # a stage no journal names (cut before the journal) is deleted; a damaged object is named by check
    fs.put_file(str(local), (sd / f"{STAGE_PREFIX}y-87654321.stage").key)
    fs.pipe_file((sd / "2024-03-19T00-00-00-000000000Z_2024-03-19T23-59-59-999999999Z.parquet").key, b"PAR1junk")
    found = check(url)
    assert len(found.leftovers) == 1 and len(found.unreadable) == 1
    assert any("removed temporary" in a for a in CatalogStore(url, recover=False).recover())
