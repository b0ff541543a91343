"""Sweeps: one YAML, many runs, in parallel worker processes or on Ray, ranked by a summary metric.

``sweep.grid`` maps dotted keys of the YAML (``strategies.0.config.fast_period``) to value lists and runs their
cartesian product; ``sweep.list`` gives the overrides of each run explicitly. Every variant is validated in
the parent before any work starts. Each variant runs :func:`run_variant` (a plain top-level function, so a
``ProcessPoolExecutor`` with the spawn context and a Ray task run the very same code; without ``--ray-address``
Ray starts on this machine with ``workers`` CPUs, with one it joins that cluster) into
``<out>/runs/<index>/`` (on Ray the run goes to a temporary folder of the worker's machine and its files come
back to the driver, which writes them: the cluster needs no shared filesystem, only the catalog's location,
e.g. ``s3://``, readable from every node, and the framework installed there); the ranked table goes to ``<out>/ranking.csv`` and stdout. Each run gets a fresh
process (Nautilus sets its logger up once per process, so a reused one would write no ``nautilus.log`` for its
second run, and a strategy's class state would leak between runs), and each has the YAML's folder on its
import path, as the parent has (a strategy module beside the YAML imports there too).
"""

from __future__ import annotations

import copy
import itertools
import multiprocessing
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from framework.backtest.config import SweepSpec
from framework.backtest.config import resolve
from framework.errors import UsageError
from framework.output import require_writable_folder
from framework.settings import make_importable
from framework.values import parse_count

LOCAL_RAY_OBJECT_STORE = 80 * 1024**2  # summaries are small; Ray's default reserves 30 % of RAM
TEXT_SUFFIXES = {".yaml", ".json", ".log", ".csv"}  # files of a run folder that may name the folder
RANK_COLUMNS = ("total_pnl", "trading_pnl", "total_return", "sharpe", "sortino", "max_drawdown", "win_rate", "trades", "fees", "funding_paid")


def set_key(raw: dict[str, Any], dotted: str, value: Any, source: str) -> None:
    """Set ``raw[a][b][0][c] = value`` for ``dotted = "a.b.0.c"``; every step but the last must exist."""
    parts = dotted.split(".")
    node: Any = raw
    for depth, part in enumerate(parts[:-1]):
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError, TypeError):
            at = ".".join(parts[: depth + 1])
            raise UsageError(f"{source}: sweep key '{dotted}': '{at}' does not exist in the config; "
                             "use a dotted path such as strategies.0.config.fast_period") from None
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise UsageError(f"{source}: sweep key '{dotted}' does not lead to a mapping or a list")


def variants(raw: dict[str, Any], sweep: SweepSpec, source: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """``(params, raw config)`` of every run of the sweep (the ``sweep`` block removed)."""
    base = {k: v for k, v in raw.items() if k != "sweep"}
    if sweep.grid and sweep.runs:
        raise UsageError(f"{source}: sweep: set grid or list, not both")
    if sweep.grid:
        keys = list(sweep.grid)
        for key, values in sweep.grid.items():
            if not values:
                raise UsageError(f"{source}: sweep.grid.{key}: empty list; give at least one value")
        combos = [dict(zip(keys, values, strict=True)) for values in itertools.product(*sweep.grid.values())]
    elif sweep.runs:
        combos = [dict(c) for c in sweep.runs]
    else:
        raise UsageError(f"{source}: sweep: empty; give grid: {{key: [values]}} or list: [{{key: value}}, ...]")
    out = []
    for params in combos:
        variant = copy.deepcopy(base)
        for key, value in params.items():
            set_key(variant, key, value, source)
        out.append((params, variant))
    return out


def run_variant(raw: dict[str, Any], source: str, name: str, out: str) -> dict[str, Any]:
    """Resolve and run one variant into ``out``; returns its summary (runs in a worker process or Ray task).
    ``source`` is the YAML's absolute path: its folder goes on the import path first."""
    from framework.backtest import runner

    make_importable(source)
    resolved = resolve(raw, source, default_name=name, run_dir=out)
    return runner.run(resolved, Path(out))


def run_variant_remote(raw: dict[str, Any], source: str, name: str, out: str) -> dict[str, Any]:
    """A Ray task: run one variant into a temporary folder of the machine it lands on and return that folder's
    files with the summary, so the driver writes ``out`` itself and no shared filesystem is needed."""
    with tempfile.TemporaryDirectory(prefix="sweep-run-") as tmp:
        summary = run_variant(raw, source, name, tmp)
        files = {}
        for path in sorted(Path(tmp).rglob("*")):
            if path.is_file():
                data = path.read_bytes()
                if path.suffix in TEXT_SUFFIXES:  # the logs and configs name their folder: name the driver's
                    data = data.replace(tmp.encode(), out.encode())
                files[path.relative_to(tmp).as_posix()] = data
    return {"summary": summary, "files": files}


def unpack_run(packed: dict[str, Any], out: str) -> dict[str, Any]:
    """Write a run folder returned by :func:`run_variant_remote` under ``out``; returns its summary."""
    root = Path(out)
    for rel, data in packed["files"].items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return packed["summary"]


def _run_job(job: tuple[int, tuple]) -> tuple[int, dict[str, Any]]:
    index, args = job
    return index, run_variant(*args)


def _process_pool(jobs: list[tuple], workers: int, progress: Callable[[], None]) -> list[dict[str, Any]]:
    results: list[dict[str, Any] | None] = [None] * len(jobs)
    # multiprocessing.Pool, not ProcessPoolExecutor: its max_tasks_per_child races with a shutdown after a
    # failure in CPython 3.12 (a traceback from the executor's thread); Pool.terminate stops at once
    pool = multiprocessing.get_context("spawn").Pool(processes=workers, maxtasksperchild=1)
    try:
        for index, summary in pool.imap_unordered(_run_job, list(enumerate(jobs))):
            results[index] = summary
            progress()
        pool.close()
    except BaseException:  # a failed run fails the sweep: the runs not started yet never start
        pool.terminate()
        raise
    finally:
        pool.join()
    return results  # type: ignore[return-value]


def _ray(jobs: list[tuple], workers: int, progress: Callable[[], None], address: str | None) -> list[dict[str, Any]]:
    try:
        import ray
    except ImportError:
        raise UsageError("--engine ray needs Ray: pip install 'ray>=2.9' (or the project's [ray] extra)") from None
    root = str(Path(__file__).resolve().parents[2])
    folder = str(Path(jobs[0][1]).parent)  # the YAML's folder (jobs carry its absolute path)
    started = not ray.is_initialized()
    if started:
        # Ray 2.60 removed local_mode (ray.init raises): on this machine Ray runs for real, kept small
        kwargs: dict[str, Any] = {"address": address} if address else {
            "num_cpus": workers, "num_gpus": 0, "object_store_memory": LOCAL_RAY_OBJECT_STORE}
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage-stats upload attempt
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False,
                 runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(dict.fromkeys([folder, root]))}}, **kwargs)
    try:
        task = ray.remote(max_calls=1)(run_variant_remote)  # a fresh worker per run (see the module docstring)
        pending = {task.remote(*job): i for i, job in enumerate(jobs)}
        results: list[dict[str, Any] | None] = [None] * len(jobs)
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                index = pending.pop(ref)
                try:
                    results[index] = unpack_run(ray.get(ref), jobs[index][3])
                except ray.exceptions.RayTaskError as e:  # the run's own error, not Ray's wrapper with its traceback
                    raise e.cause from e
                progress()
        return results  # type: ignore[return-value]
    finally:
        if started:
            ray.shutdown()


def run_sweep(raw: dict[str, Any], sweep: SweepSpec, source: str, name: str, out: Path, engine: str = "process",
              workers: int | None = None, ray_address: str | None = None,
              warn: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Run every variant and write ``<out>/ranking.csv`` (best first by ``sweep.rank_by``); ``warn`` gets each
    distinct warning of the variants (their span past the catalog's data) once."""
    if sweep.rank_by not in RANK_COLUMNS:
        raise UsageError(f"{source}: sweep.rank_by: unknown metric '{sweep.rank_by}'; use one of "
                         f"{', '.join(RANK_COLUMNS)}")
    try:
        parse_count(sweep.workers, "sweep.workers")
    except UsageError as e:
        raise UsageError(f"{source}: {e}") from None
    runs = variants(raw, sweep, source)
    warnings: dict[str, None] = {}
    for i, (_, variant) in enumerate(runs):  # fail before any work
        resolved = resolve(variant, f"{source} (sweep run {i})", default_name=name)
        warnings.update(dict.fromkeys(resolved.warnings))
        variant["catalog"] = resolved.catalog  # absolute: a Ray worker's current directory is not ours
    for line in warnings if warn else ():
        warn(line)
    require_writable_folder(out, "run folder", option="--out", error=UsageError)
    path = str(Path(source).resolve())
    jobs = [(variant, path, f"{name}-{i}", str((out / "runs" / str(i)).resolve())) for i, (_, variant) in enumerate(runs)]
    bar = tqdm(total=len(jobs), desc=f"sweep {name}", unit="run", file=sys.stderr)
    workers = workers or sweep.workers
    try:
        if engine == "ray":
            summaries = _ray(jobs, workers, bar.update, ray_address)
        else:
            summaries = _process_pool(jobs, workers, bar.update)
    finally:
        bar.close()
    rows = [{"run": i, **params, **{k: s.get(k) for k in RANK_COLUMNS}}
            for i, ((params, _), s) in enumerate(zip(runs, summaries, strict=True))]
    table = pd.DataFrame(rows).sort_values(sweep.rank_by, ascending=sweep.ascending, na_position="last",
                                           kind="stable")
    table.insert(0, "rank", range(1, len(table) + 1))
    table.to_csv(out / "ranking.csv", index=False)
    return table
