"""Bulk-import tasks run here: in this process, in worker processes or on a Ray cluster.

Every engine runs the same function on each task (``bulk_import.run_task``): in this process one task after
another (``workers`` 1), in ``workers`` processes of a spawn pool, or as Ray tasks (``--engine ray``; without an
address Ray starts on this machine with ``workers`` CPUs). Tasks of one series never share a catalog period
(``bulk_import.plan_tasks``), so parallel workers write different files; each write still takes the series'
lock, and the run holds every series' fetch claim, so another run waits. A failed task stops the run: the
tasks not started never start, and what the finished ones wrote stays (a rerun skips it).

On a Ray cluster whose workers do not share this machine's disk the catalog must be on object storage
(``s3://``; each node's AWS variables reach it, as for sweeps), and each task's files travel to its worker through
Ray's object store.

Progress events (``bulk_import.Events``) come back as they happen from the pool's workers (through a queue), and
per task from Ray.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import tempfile
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from framework.catalog.location import is_object_url
from framework.catalog.store import CatalogStore
from framework.errors import UsageError
from framework.ingest.bulk_import import Events
from framework.ingest.bulk_import import Task
from framework.ingest.bulk_import import TaskResult
from framework.ingest.bulk_import import csv_size
from framework.ingest.bulk_import import run_task

#: ``--engine`` values.
ENGINES = ("process", "ray")
#: Ray started on this machine: a small object store.
LOCAL_RAY_OBJECT_STORE = 256 * 1024 * 1024


def run_tasks(tasks: list[Task], events: Events, workers: int = 1, engine: str = "process",
              ray_address: str | None = None, store: CatalogStore | None = None) -> list[TaskResult]:
    """Run every task (see the module notes); results in task order."""
    if engine == "ray":
        return _ray(tasks, events, workers, ray_address)
    if workers <= 1 or len(tasks) <= 1:
        return [run_task(task, events, store=store) for task in tasks]
    return _pool(tasks, events, workers)


# -- worker processes -------------------------------------------------------------------------------------------

_queue: Any = None  # a worker's queue to the parent (set by the pool's initializer)


def _init_worker(events: Any) -> None:
    global _queue
    _queue = events


def _send(what: str, key: str, a: int, b: int) -> None:
    _queue.put((what, key, a, b))


def _run_in_worker(job: tuple[int, Task]) -> tuple[int, TaskResult]:
    index, task = job
    return index, run_task(task, _send)


def _drain(source: Any, events: Events, stop: threading.Event) -> None:
    """Parent side: the workers' events to ``events``, until stopped and empty."""
    while True:
        try:
            item = source.get(timeout=0.1)
        except queue.Empty:
            if stop.is_set():
                return
            continue
        except (EOFError, OSError):
            return
        events(*item)


def _pool(tasks: list[Task], events: Events, workers: int) -> list[TaskResult]:
    ctx = multiprocessing.get_context("spawn")
    source = ctx.Queue()
    stop = threading.Event()
    drainer = threading.Thread(target=_drain, args=(source, events, stop), daemon=True)
    drainer.start()
    results: list[TaskResult | None] = [None] * len(tasks)
    # multiprocessing.Pool (as sweeps use): terminate() stops the workers at once when a task fails
    pool = ctx.Pool(processes=min(workers, len(tasks)), initializer=_init_worker, initargs=(source,))
    try:
        for index, result in pool.imap_unordered(_run_in_worker, list(enumerate(tasks))):
            results[index] = result
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()
        stop.set()
        drainer.join()
    return results  # type: ignore[return-value]


# -- Ray ----------------------------------------------------------------------------------------------------------


def is_local_address(address: str | None) -> bool:
    """Whether a Ray address is this machine (none, ``local``, ``auto``, a loopback host)."""
    if not address or address in ("local", "auto"):
        return True
    host = address.removeprefix("ray://").rsplit(":", 1)[0].strip("[]")
    return host in ("localhost", "::1") or host.startswith("127.")


def check_engine(catalog: str, engine: str, workers: int, address: str | None) -> None:
    """Refuse what cannot run, in one line: a Ray address without ``--engine ray``, fewer than one worker, a
    catalog on this machine's disk for a Ray cluster elsewhere."""
    if workers < 1:
        raise UsageError(f"--workers {workers}: give 1 or more")
    if address and engine != "ray":
        raise UsageError("--ray-address is for --engine ray; add --engine ray or drop it")
    if engine == "ray" and not is_local_address(address) and not is_object_url(catalog):
        raise UsageError(f"--engine ray --ray-address {address}: the cluster's workers cannot write the local "
                         f"catalog {catalog}; put the catalog on object storage (--catalog s3://bucket/prefix) or "
                         "drop --ray-address to run Ray on this machine")


def run_shipped(task: Task, payload: dict[str, bytes] | None) -> TaskResult:
    """A Ray task: ``payload`` holds the files' bytes by name when the worker cannot read the driver's disk."""
    if payload is None:
        return run_task(task)
    with tempfile.TemporaryDirectory(prefix="bulk-files-") as tmp:
        files = []
        for f in task.files:
            path = Path(tmp) / f.path.name
            path.write_bytes(payload[f.path.name])
            checksum = None
            if f.checksum is not None:
                checksum = Path(tmp) / f.checksum.name
                checksum.write_bytes(payload[f.checksum.name])
            files.append(replace(f, path=path, checksum=checksum))
        return run_task(replace(task, files=tuple(files)))


def _payload(task: Task) -> dict[str, bytes]:
    out = {}
    for f in task.files:
        out[f.path.name] = f.path.read_bytes()
        if f.checksum is not None:
            out[f.checksum.name] = f.checksum.read_bytes()
    return out


def _ray(tasks: list[Task], events: Events, workers: int, address: str | None) -> list[TaskResult]:
    try:
        import ray
    except ImportError:
        raise UsageError("--engine ray needs Ray: pip install 'ray>=2.9' (or the project's [ray] extra)") from None
    ship = not is_local_address(address)
    started = not ray.is_initialized()
    if started:
        root = str(Path(__file__).resolve().parents[2])
        kwargs: dict[str, Any] = {"address": address} if address else {
            "num_cpus": workers, "num_gpus": 0, "object_store_memory": LOCAL_RAY_OBJECT_STORE}
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage-stats upload attempt
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False,
                 runtime_env={"env_vars": {"PYTHONPATH": root}}, **kwargs)
    try:
        remote = ray.remote(run_shipped)
        queued = list(enumerate(tasks))
        pending: dict[Any, int] = {}
        results: list[TaskResult | None] = [None] * len(tasks)
        most = workers * 2  # tasks in flight (shipped files wait in the object store meanwhile)
        while queued or pending:
            while queued and len(pending) < most:
                index, task = queued.pop(0)
                for f in task.files:
                    events("start", str(f.path), csv_size(f.path), 0)
                pending[remote.remote(task, _payload(task) if ship else None)] = index
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                index = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayTaskError as e:  # the task's own error, not Ray's wrapper
                    raise e.cause from e
                results[index] = result
                for f in tasks[index].files:
                    events("done", str(f.path), 0, 0)
                events("chunk", "", result.rows, 0)
        return results  # type: ignore[return-value]
    finally:
        if started:
            ray.shutdown()
