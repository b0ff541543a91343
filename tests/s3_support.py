"""A real S3-compatible server for the tests: moto's standalone server (``moto[server]``) on loopback.

``s3_server`` (session) starts ``moto_server`` on a free port of 127.0.0.1 and stops it at the end; ``s3_env``
sets the AWS variables in this process (and gives them for subprocess CLIs); ``bucket`` creates a fresh bucket
per test. moto enforces S3's conditional writes (``If-None-Match``, ``If-Match``), which the catalog's write
protocol rests on. A test module imports the fixtures (``from tests.s3_support import bucket_fixture``...) and
names them by their fixture names (``s3_server``, ``s3_env``, ``bucket``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

MOTO_SERVER = Path(sys.executable).parent / "moto_server"
KEY, SECRET = "testing-key", "testing-secret"


def free_port() -> int:
    """A TCP port free on loopback now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class S3Server:
    """A running moto server: its endpoint and the AWS variables that point a client at it."""

    endpoint: str
    proc: subprocess.Popen

    @property
    def env(self) -> dict[str, str]:
        """AWS variables for this server (add to a subprocess's environment)."""
        return {"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_ENDPOINT_URL": self.endpoint,
                "AWS_REGION": "us-east-1"}

    def client(self):  # noqa: ANN201 (s3fs.S3FileSystem)
        """A plain s3fs client of this server (no caches), for setting up and inspecting buckets."""
        import s3fs

        return s3fs.S3FileSystem(key=KEY, secret=SECRET, endpoint_url=self.endpoint, skip_instance_cache=True,
                                 use_listings_cache=False, client_kwargs={"region_name": "us-east-1"})

    def make_bucket(self) -> str:
        """A new empty bucket's name."""
        name = f"t{uuid.uuid4().hex[:16]}"
        self.client().call_s3("create_bucket", Bucket=name)
        return name

    def keys(self, bucket: str) -> list[str]:
        """Every key of ``bucket`` (``bucket/...``), sorted."""
        return sorted(self.client().find(bucket))


def start_moto(port: int | None = None, env: dict[str, str] | None = None) -> S3Server:
    """Start ``moto_server`` on loopback and wait until it answers."""
    port = port or free_port()
    log = open(os.devnull, "wb")  # noqa: SIM115 (owned by the process)
    proc = subprocess.Popen([str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log,
                            env={**os.environ, **(env or {})})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return S3Server(f"http://127.0.0.1:{port}", proc)
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"moto_server exited with {proc.returncode}") from None
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("moto_server did not start within 30 s")


def stop(server: S3Server) -> None:
    """Stop the server (its process only)."""
    server.proc.terminate()
    try:
        server.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.proc.kill()


@pytest.fixture(scope="session", name="s3_server")
def s3_server_fixture() -> Iterator[S3Server]:
    """One moto server for the session, on a free loopback port."""
    server = start_moto()
    try:
        yield server
    finally:
        stop(server)


@pytest.fixture(name="s3_env")
def s3_env_fixture(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The AWS variables of the server, set in this process; returns them (for subprocesses)."""
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    return s3_server.env


@pytest.fixture(name="bucket")
def bucket_fixture(s3_server: S3Server, s3_env: dict[str, str]) -> str:
    """A fresh bucket for one test."""
    return s3_server.make_bucket()


def cli_env(extra: dict[str, str] | None = None, drop: tuple[str, ...] = ()) -> dict[str, str]:
    """This process's environment for a subprocess CLI, with ``extra`` set and ``drop`` removed, the checkout
    on the import path."""
    repo = str(Path(__file__).resolve().parents[1])
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(extra or {})
    env["PYTHONPATH"] = repo + os.pathsep + env.get("PYTHONPATH", "") if env.get("PYTHONPATH") else repo
    return env
