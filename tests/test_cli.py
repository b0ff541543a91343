"""The command line as a user meets it: real processes, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "framework.main", *args], env=ENV, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("command", [[], ["collect"], ["local-exchange"]])
def test_help_exits_zero(command: list[str]) -> None:
    proc = cli(*command, "--help")
    assert proc.returncode == 0 and "usage:" in proc.stdout


def test_local_exchange_prints_its_urls_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    config = tmp_path / "ex.yaml"
    config.write_text("speed: 0\nstart: recorded\nseed: 7\n")
    proc = subprocess.Popen([sys.executable, "-m", "framework.main", "local-exchange", str(config), "--port", "0"],
                            env=ENV, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        urls = json.loads(line)
        assert set(urls) == {"spot_http", "futures_http", "spot_ws", "futures_ws"}
        with urllib.request.urlopen(urls["futures_http"] + "/fapi/v1/time", timeout=10) as resp:
            assert resp.status == 200 and resp.headers["X-MBX-USED-WEIGHT-1M"] == "1"
            server_time = json.loads(resp.read())["serverTime"]
        assert server_time == 1723161660000  # speed 0 from the end of the recordings
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
