"""``ingest --from-files``: data.binance.vision files under a folder into the catalog, then the gap report.

The files are named (``bulk.discover``; what is not taken is warned about with the reason), their instruments
found without the network (``Ingestor.file_instruments``), each series' fetch claim taken (another run of the
same series waits), and the files imported as tasks (``bulk_import.plan_tasks``) by the chosen engine
(``bulk_parallel``: this process, ``--workers N`` processes, or Ray), with one progress display (files done of
the total, rows/s, ETA). The report then says what the catalog holds of each series over the files' span.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

from framework.binance.endpoints import Market
from framework.catalog.health import require_readable
from framework.catalog.store import CatalogStore
from framework.errors import UsageError
from framework.ingest import bulk
from framework.ingest.bulk_import import Task
from framework.ingest.bulk_import import converter_for
from framework.ingest.bulk_import import file_target
from framework.ingest.bulk_import import plan_tasks
from framework.ingest.bulk_parallel import check_engine
from framework.ingest.bulk_parallel import run_tasks
from framework.ingest.config import SeriesSpec
from framework.ingest.progress import Progress
from framework.ingest.report import SeriesReport

if TYPE_CHECKING:  # runner.py imports this module (Ingestor.import_files)
    from framework.ingest.runner import Ingestor

log = logging.getLogger("framework.ingest")


async def import_files(ingestor: Ingestor, root: Path, market: Market | None = None, workers: int = 1,
                       engine: str = "process", ray_address: str | None = None) -> list[SeriesReport]:
    """Import the bulk files under ``root`` into ``ingestor``'s catalog and report each series (see the module
    notes); ``market``: of files whose path does not say it."""
    check_engine(str(ingestor.cfg.catalog), engine, workers, ray_address)
    found = bulk.discover(root, market)
    for skipped in found.skipped:
        log.warning("skipped %s", skipped)
    groups = found.series()
    if not groups:
        more = f" ({len(found.skipped)} skipped, see the warnings)" if found.skipped else ""
        raise UsageError(f"--from-files {root}: no Binance bulk file found{more}")
    specs = [SeriesSpec(m, kind, symbol, interval) for (m, kind, symbol, interval) in groups]
    for spec in specs:
        try:
            converter_for(spec.kind)
        except Exception as e:  # noqa: BLE001 (the one line, as a usage error)
            raise UsageError(f"{spec.name}: {e}") from None
    ingestor.specs = specs
    require_readable(ingestor.catalog_path)
    instruments = ingestor.file_instruments()
    ingestor._open_store()
    ingestor.write_instruments(list(instruments.values()))
    store = ingestor.store
    assert store is not None
    targets = [file_target(spec, instruments[(spec.market, spec.symbol)]) for spec in specs]
    claims = []
    try:
        for target in targets:
            claims.append(await ingestor._claim(target))
        tasks: list[Task] = []
        for spec, files in zip(specs, groups.values(), strict=True):
            tasks += plan_tasks(str(store.root), store, spec, instruments[(spec.market, spec.symbol)], files)
        files = {str(f.path): f"{f.market} {f.kind} {f.interval or ''}" for f in found.files}
        rows = await _run(tasks, files, ingestor.progress, workers, engine, ray_address, store)
    finally:
        for claim in claims:
            claim.release()
    reports = []
    for spec, target, files in zip(specs, targets, groups.values(), strict=True):
        ingestor.fetched[spec.name] = rows.get(spec, 0)
        reports.append(ingestor.file_report(target, files))
    return reports


async def _run(tasks: list[Task], files: dict[str, str], terminal: bool, workers: int, engine: str,
               ray_address: str | None, store: CatalogStore) -> dict[SeriesSpec, int]:
    """Run the tasks off the event loop, which draws the progress (``files``: each file's key and its group, files
    of a group being alike in size); rows written by series."""
    progress = Progress(files, unit="files", terminal=terminal)
    loop = asyncio.get_running_loop()

    def apply(what: str, key: str, a: int, b: int) -> None:
        if what == "start":
            progress.plan(key, a)
        elif what == "chunk":
            progress.advance(key, a, pages=b)
        else:
            progress.finish(key)

    def events(what: str, key: str, a: int, b: int) -> None:  # from worker threads: into the loop's thread
        loop.call_soon_threadsafe(apply, what, key, a, b)

    async with progress:
        results = await asyncio.to_thread(run_tasks, tasks, events, workers, engine, ray_address, store)
    rows: dict[SeriesSpec, int] = defaultdict(int)
    for task, result in zip(tasks, results, strict=True):
        rows[task.spec] += result.rows
    return rows
