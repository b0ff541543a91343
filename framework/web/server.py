"""The web workstation's HTTP server: the app factory, the access token, JSON errors, static files, the page shell.

``make_app(ctx)`` builds the aiohttp application: the page (``/``), its static files (``/static/...``), and every
feature module's ``/api/...`` routes (``FEATURES``: each exposes ``add_routes(app, ctx)``; a feature whose module is
not there yet is skipped). ``serve(ctx, host, port)`` runs it until SIGINT/SIGTERM.

Security, in one place (the ``guard`` middleware):

* every ``/api/...`` request (websockets included) carries the access token: header ``X-Token``, or for reads
  (GET/HEAD, and so websocket upgrades) the query parameter ``token``; changes (POST/PUT/PATCH/DELETE) accept the
  header only, so a link or a form cannot change anything;
* errors under ``/api/`` are JSON, one line: ``400 {"error": ...}`` for a request the server cannot serve
  (``ApiError``, any ``UsageError``), ``422`` for data that cannot be read (a damaged catalog file: a
  ``FrameworkError``), 401/403 for the token, 404/405 from routing, and 500 only for a bug (logged with its
  traceback) -- the server keeps running in every case;
* static files come from the package's ``static/`` folder only (aiohttp refuses paths that leave it); the API
  reads the catalog and runs folders only, each feature through names it checks, never a path from the request.
"""

from __future__ import annotations

import asyncio
import errno
import html
import importlib
import importlib.util
import logging
import secrets
import signal
import time
from collections.abc import Awaitable
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from framework.errors import FrameworkError
from framework.errors import UsageError
from framework.web.api import ApiError
from framework.web.api import error_body
from framework.web.context import WebContext

log = logging.getLogger("framework.web")

STATIC = Path(__file__).resolve().parent / "static"
#: Feature modules: each exposes ``add_routes(app, ctx)``; one not present yet is skipped.
FEATURES = ("framework.web.market", "framework.web.runs", "framework.web.live", "framework.web.alerts",
            "framework.web.paper")
#: Feature scripts the page loads after ``app.js`` when they exist (they plug in through ``window.workstation``).
FEATURE_SCRIPTS = ("runs.js", "live.js", "alerts.js")
CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
TOKEN_HEADER = "X-Token"
CTX_KEY = web.AppKey("ctx", WebContext)


def new_token() -> str:
    """A fresh access token (URL-safe, 128 bits of randomness)."""
    return secrets.token_urlsafe(16)


def _check_token(request: web.Request, token: str) -> None:
    given = request.headers.get(TOKEN_HEADER)
    if given is None and request.method not in CHANGES:
        given = request.query.get("token")
    if given is None:
        if request.method in CHANGES and "token" in request.query:
            raise ApiError(f"changes need the token in the {TOKEN_HEADER} header, not the URL", 401)
        raise ApiError(f"missing access token: send the {TOKEN_HEADER} header (or ?token= on reads); serve "
                       "printed it with the URL", 401)
    if not secrets.compare_digest(given.encode(), token.encode()):
        raise ApiError("wrong access token: use the one serve printed with the URL", 403)


@web.middleware
async def guard(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                ) -> web.StreamResponse:
    """Token check on ``/api/``, and every failure under ``/api/`` as a one-line JSON error."""
    api = request.path.startswith("/api/") or request.path == "/api"
    started = time.perf_counter()
    try:
        if api:
            _check_token(request, request.app[CTX_KEY].token)
        response = await handler(request)
        if api and not response.prepared:  # the server's own time, for benchmarks and the browser's devtools
            response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
        return response
    except ApiError as e:
        return _error(e.status, str(e))
    except UsageError as e:
        return _error(400, str(e))
    except FrameworkError as e:
        return _error(422, str(e))
    except web.HTTPException as e:
        if not api or e.status < 400:
            raise
        return _error(e.status, f"{request.method} {request.path}: {e.reason.lower()}")
    except asyncio.CancelledError:
        raise
    except Exception as e:  # noqa: BLE001  a bug: logged with its traceback, the server keeps serving
        log.exception("%s %s failed", request.method, request.path_qs)
        if not api:
            raise
        return _error(500, f"internal error ({type(e).__name__}); the server log has the traceback")


def _error(status: int, message: str) -> web.Response:
    return web.Response(body=error_body(message), status=status, content_type="application/json")


async def _index(request: web.Request) -> web.Response:
    """The page shell, with the feature scripts that exist; no data (the page asks the API with the token)."""
    page = (STATIC / "index.html").read_text()
    tags = "\n".join(f'<script src="/static/{html.escape(name)}"></script>' for name in FEATURE_SCRIPTS
                     if (STATIC / name).is_file())
    return web.Response(text=page.replace("<!--feature-scripts-->", tags), content_type="text/html",
                        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


def feature_modules() -> list:
    """The feature modules present (``FEATURES`` whose file exists), imported."""
    return [importlib.import_module(name) for name in FEATURES if importlib.util.find_spec(name) is not None]


def make_app(ctx: WebContext) -> web.Application:
    """The web workstation's application for ``ctx``: the page, static files and every feature's API."""
    app = web.Application(middlewares=[guard], client_max_size=1024**2)
    app[CTX_KEY] = ctx
    app.router.add_get("/", _index)
    app.router.add_static("/static", STATIC, follow_symlinks=False, append_version=False)
    for module in feature_modules():
        add_routes = getattr(module, "add_routes", None)
        if add_routes is not None:
            add_routes(app, ctx)
    return app


def page_url(host: str, port: int, token: str) -> str:
    """The URL to open: the token rides in the page's URL, which reads it and sends it as a header."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/?token={token}"


async def serve(ctx: WebContext, host: str, port: int, on_ready: Callable[[str], None]) -> None:
    """Run the server on ``host:port`` until SIGINT/SIGTERM; ``on_ready(url)`` once it listens (port 0: the
    port taken). A port in use or a host that cannot be bound is a ``FrameworkError`` (one line)."""
    runner = web.AppRunner(make_app(ctx), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as e:
        await runner.cleanup()
        if e.errno == errno.EADDRINUSE:
            raise FrameworkError(f"--port {port}: already in use on {host}; choose another --port (0 takes a free "
                                 "one) or stop what holds it") from None
        reason = str(e.strerror or e).rsplit(": ", 1)[-1]  # asyncio wraps it in "error while attempting to bind"
        raise FrameworkError(f"--host {host} --port {port}: cannot listen there ({reason}); use an address of this "
                             "machine, e.g. 127.0.0.1") from None
    bound = runner.addresses[0][1] if runner.addresses else port
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        on_ready(page_url(host, bound, ctx.token))
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await runner.cleanup()
