"""What the web workstation's tests share: a catalog built from ``examples/data`` by the real ``ingest``, and a real
``serve`` process on a free loopback port (its printed URL read back for the port and token).

Use in a test module: ``from tests.web_support import example_catalog  # noqa: F401`` (a fixture), and
``with running_server(catalog) as server: server.get("/api/instruments")``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
#: Where the browser tests save a screenshot of each page they look at (git-ignored), for a person to look.
SCREENSHOTS = REPO / "screenshots"
#: The operating system's Chromium (Debian's ``chromium`` package); Playwright's own browsers are never downloaded.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
RAW_SCALE = Decimal(10) ** 16
URL_LINE = re.compile(r"serving (?P<catalog>.+) at (?P<url>http://(?P<host>[^/]+)/\?token=(?P<token>\S+))")


def build_example_catalog(folder: Path) -> Path:
    """``examples/data`` ingested into ``folder`` (spot BTCUSDT 1h, futures LINKUSDT 1m), offline."""
    subprocess.run([sys.executable, "-m", "framework.main", "ingest", "--from-files", str(REPO / "examples" / "data"),
                    "--offline", "--catalog", str(folder)], cwd=REPO, check=True, capture_output=True, timeout=300)
    return folder


#: Half an hour of BTCUSDT USD-M from the local exchange: every perpetual series and the trades (about 50k).
MARKET_INGEST = """
start: "2024-08-08T23:30:00Z"
end: "2024-08-09T00:00:00Z"
markets:
  futures:
    symbols: [BTCUSDT]
    kinds: [agg_trades, klines, funding, open_interest, top_position_ratio, top_account_ratio,
            global_account_ratio, taker_volume]
    intervals: [1m]
    periods: [5m]
"""


def build_market_catalog(folder: Path) -> Path:
    """The example catalog plus half an hour of BTCUSDT perpetual data with trades, ingested offline."""
    build_example_catalog(folder)
    config = folder.parent / "market_ingest.yaml"
    config.write_text(MARKET_INGEST)
    subprocess.run([sys.executable, "-m", "framework.main", "ingest", str(config), "--offline", "--catalog",
                    str(folder)], cwd=REPO, check=True, capture_output=True, timeout=600)
    return folder


@pytest.fixture(scope="session")
def market_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``build_market_catalog`` once per test session."""
    return build_market_catalog(tmp_path_factory.mktemp("web-market") / "catalog")


@pytest.fixture(scope="session")
def example_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A catalog holding the repository's example data (built once per test session)."""
    return build_example_catalog(tmp_path_factory.mktemp("web") / "catalog")


#: The one Playwright and browser of the session: [playwright, browser, users]. Every test module that imports the
#: ``browser`` fixture gets a session fixture of its own, and a second ``sync_playwright()`` while one runs fails
#: ("Sync API inside the asyncio loop"): the modules share this one, closed when the last of them ends.
_SHARED: list[Any] = []


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium from the operating system, driven by Playwright (one per test session)."""
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (scripts/setup.sh does it as root; or "
                    "apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    if not _SHARED:
        p = sync_playwright().start()
        _SHARED[:] = [p, p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS), 0]
    _SHARED[2] += 1
    try:
        yield _SHARED[1]
    finally:
        _SHARED[2] -= 1
        if _SHARED[2] == 0:
            p, launched, _ = _SHARED
            _SHARED.clear()
            launched.close()
            p.stop()


def screenshot(page: Any, name: str) -> Path:
    """Save ``page`` as ``screenshots/<name>.png``."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def catalog_rows(folder: Path) -> Any:
    """Every row of a catalog series folder, straight from its parquet files (plain pyarrow), in time order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = [pq.read_table(f) for f in sorted(folder.glob("*.parquet"))]
    return pa.concat_tables([t for t in tables if t.num_rows]).sort_by("ts_event")


def exact(column: Any) -> list[Decimal]:
    """A Nautilus fixed-point column decoded exactly (raw / 10**16, the high-precision build)."""
    return [Decimal(int.from_bytes(b, "little", signed=True)) / RAW_SCALE for b in column.to_pylist()]


def catalog_bars(catalog: Path, bar_type: str, interval_ms: int) -> Any:
    """A bar series decoded exactly from its files, as a float DataFrame indexed by open time (epoch ms)."""
    import numpy as np
    import pandas as pd

    table = catalog_rows(catalog / "data" / "bar" / bar_type)
    frame = pd.DataFrame({c: [float(v) for v in exact(table.column(c))] for c in ("open", "high", "low", "close",
                                                                                 "volume")})
    frame.index = table.column("ts_event").to_numpy().astype(np.int64) // 1_000_000 - interval_ms
    return frame


@dataclass
class Server:
    """A running ``serve`` process: its base URL and token, and small HTTP helpers."""

    proc: subprocess.Popen
    base: str
    token: str
    url: str  # the page URL it printed (with ?token=)

    def request(self, path: str, *, method: str = "GET", headers: dict[str, str] | None = None,
                body: Any = None, token: bool = True) -> tuple[int, Any]:
        """(status, decoded JSON or text) of one request; ``token``: send the X-Token header."""
        sent = dict(headers or {})
        if token:
            sent.setdefault("X-Token", self.token)
        data = None if body is None else json.dumps(body).encode()
        if data is not None:
            sent["Content-Type"] = "application/json"
        req = urllib.request.Request(self.base + path, data=data, headers=sent, method=method)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                status, raw, kind = r.status, r.read(), r.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            status, raw, kind = e.code, e.read(), e.headers.get("Content-Type", "")
        return status, json.loads(raw) if "json" in kind else raw.decode(errors="replace")

    def get(self, path: str, **kw: Any) -> Any:
        """The JSON of a GET that must succeed."""
        status, data = self.request(path, **kw)
        assert status == 200, (path, status, data)
        return data


@contextlib.contextmanager
def running_server(catalog: Path, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
                   ) -> Iterator[Server]:
    """``python -m framework.main serve --catalog <catalog> --port 0 <args>`` until the block ends (SIGTERM)."""
    log = catalog.parent / f"serve-{os.getpid()}-{time.monotonic_ns()}.log"  # beside the (temporary) catalog
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "framework.main", "serve", "--catalog", str(catalog),
                                 "--port", "0", *args], cwd=cwd or REPO, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})}, text=True)
    try:
        deadline = time.monotonic() + 120
        match = None
        while match is None:
            text = log.read_text()
            match = URL_LINE.search(text)
            if proc.poll() is not None and match is None:
                raise AssertionError(f"serve exited {proc.returncode}:\n{text}")
            if time.monotonic() > deadline:
                raise AssertionError(f"serve printed no URL in 120 s:\n{text}")
            time.sleep(0.05)
        yield Server(proc, f"http://{match['host']}", match["token"], match["url"])
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
