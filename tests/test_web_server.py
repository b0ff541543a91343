"""``serve``: the process (URL line, token, clean stop, port in use), the access token on every API call, JSON
errors, static files and path traversal, over real sockets against a real ``serve`` process."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.web_support import REPO
from tests.web_support import Server
from tests.web_support import example_catalog  # noqa: F401
from tests.web_support import running_server


@pytest.fixture(scope="module")
def server(example_catalog: Path) -> Server:  # noqa: F811
    with running_server(example_catalog) as s:
        yield s


def test_prints_the_page_url_with_a_fresh_token_and_binds_loopback(server: Server) -> None:
    assert server.base.startswith("http://127.0.0.1:")
    assert len(server.token) >= 16
    status, page = server.request("/", token=False)
    assert status == 200 and "lightweight-charts.standalone.production.js" in page
    assert server.token not in page  # the page reads the token from its own URL; the server never embeds it


def test_every_api_call_needs_the_token(server: Server) -> None:
    status, body = server.request("/api/instruments", token=False)
    assert status == 401 and "X-Token" in body["error"]
    status, body = server.request("/api/instruments", headers={"X-Token": "wrong-token"})
    assert status == 403 and "wrong access token" in body["error"]
    status, _ = server.request(f"/api/instruments?token={server.token}", token=False)
    assert status == 200  # reads may carry it in the URL (notebooks, the websocket)
    status, body = server.request("/api/nothing-here")
    assert status == 404 and body["error"].startswith("GET /api/nothing-here")


def test_changes_take_the_token_from_the_header_only(server: Server) -> None:
    status, body = server.request(f"/api/settings?token={server.token}", method="PUT", body={}, token=False)
    assert status == 401 and "X-Token header" in body["error"]


@pytest.mark.parametrize("path", [
    "/static/../context.py", "/static/%2e%2e/context.py", "/static/..%2fcontext.py", "/static/vendor/../../server.py",
    "/static/%2e%2e/%2e%2e/%2e%2e/pyproject.toml", "/static//etc/passwd", "/../../etc/passwd",
    "/static/..\\context.py",
])
def test_no_path_leaves_the_static_folder(server: Server, path: str) -> None:
    status, body = server.request(path, token=False)
    assert status in (403, 404), (path, status)
    assert "WebContext" not in str(body) and "root:" not in str(body)


def test_static_files_and_the_vendored_chart_library_are_served(server: Server) -> None:
    status, js = server.request("/static/vendor/lightweight-charts.standalone.production.js", token=False)
    assert status == 200 and "Lightweight Charts" in js and "Apache License" in js
    status, app = server.request("/static/app.js", token=False)
    assert status == 200 and "window.workstation" in app


def _serve(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "framework.main", "serve", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def test_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        proc = _serve("--catalog", str(tmp_path / "cat"), "--port", str(port), cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip().splitlines() == [f"error: --port {port}: already in use on 127.0.0.1; choose another "
                                                "--port (0 takes a free one) or stop what holds it"]


def test_given_token_is_used_and_sigterm_stops_cleanly(tmp_path: Path) -> None:
    with running_server(tmp_path / "missing", "--token", "my-secret-token", cwd=REPO) as s:
        assert s.token == "my-secret-token"
        proc = s.proc
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def test_a_missing_or_empty_catalog_is_a_message_not_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty" / "data").mkdir(parents=True)
    for folder, message in ((tmp_path / "missing", "No catalog at"), (tmp_path / "empty", "holds no klines yet")):
        with running_server(folder) as s:
            answer = s.get("/api/instruments")
            assert answer["instruments"] == [] and message in answer["message"]
            assert "ingest --from-files examples/data --offline" in answer["message"]
            status, body = s.request("/api/bars?instrument=BTCUSDT.BINANCE")
            assert status == 400 and body["error"].endswith("the catalog holds no bars")
    assert not (tmp_path / "missing").exists()  # the server never creates the catalog


def test_a_damaged_file_is_one_line_and_the_rest_is_served(example_catalog: Path, tmp_path: Path) -> None:  # noqa: F811
    catalog = tmp_path / "catalog"
    shutil.copytree(example_catalog, catalog)
    damaged = sorted((catalog / "data" / "bar" / "BTCUSDT.BINANCE-1-HOUR-LAST-EXTERNAL").glob("2022-01*.parquet"))[0]
    damaged.write_bytes(damaged.read_bytes()[:-300])
    with running_server(catalog) as s:
        status, body = s.request("/api/bars?instrument=BTCUSDT.BINANCE&interval=1h")
        assert status == 422, body
        assert str(damaged) in body["error"] and "catalog repair" in body["error"]
        assert len(s.get("/api/bars?instrument=LINKUSDT-PERP.BINANCE&interval=1h")["time"]) == 672


def _get_routes() -> list[str]:
    """Every GET route of the app without path parameters (the market API's and the feature modules')."""
    from framework.web.context import WebContext
    from framework.web.server import make_app

    app = make_app(WebContext(catalog=Path("/nonexistent"), runs=Path("/nonexistent"), token="x" * 16,
                              state_db=Path("/nonexistent.sqlite")))
    paths = {r.resource.canonical for r in app.router.routes() if r.method == "GET" and r.resource is not None}
    return sorted(p for p in paths if "{" not in p and p.startswith("/api/"))


def test_api_keys_never_reach_the_page(example_catalog: Path, tmp_path: Path) -> None:  # noqa: F811
    secrets = {"API_KEY": "key-do-not-leak-1234567890", "API_SECRET": "secret-do-not-leak-0987654321"}
    routes = _get_routes()
    assert "/api/bars" in routes and "/api/instruments" in routes
    with running_server(example_catalog, env=secrets, cwd=tmp_path) as s:
        seen = [s.request("/", token=False)[1], s.request("/static/app.js", token=False)[1]]
        query = "?instrument=LINKUSDT-PERP.BINANCE&interval=1h&limit=10&chart=x&name=rsi"
        for route in routes:
            seen.append(s.request(route + query)[1])
    text = repr(seen)
    assert "do-not-leak" not in text


@pytest.mark.parametrize("query", [
    "/api/bars?instrument=../../../../etc/passwd", "/api/bars?instrument=%2Fetc%2Fpasswd",
    "/api/bars?instrument=LINKUSDT-PERP.BINANCE/../../..", "/api/perp?instrument=..",
])
def test_request_values_are_names_never_paths(server: Server, query: str) -> None:
    status, body = server.request(query)
    assert status == 400 and "is not in the catalog" in body["error"], body
