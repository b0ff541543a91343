"""What every route of the web workstation shares: the one-line JSON error and the query-value readers.

A handler raises ``ApiError`` (or any ``framework.errors.UsageError``, e.g. a ``framework.values.BadValue``) for a
request it cannot serve; the server's error middleware turns it into ``400 {"error": "<one line>"}``. The
``query_*`` readers check one query parameter each and name it in their error, so a feature module never hand-rolls
a 400. ``json_response`` writes JSON with the framework's encoder (msgspec: fast, NaN -> null is the caller's job).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec
from aiohttp import web

from framework.errors import UsageError

_encoder = msgspec.json.Encoder()


class ApiError(UsageError):
    """A request the server cannot serve: answered ``status`` (400 by default) with ``{"error": message}``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def json_response(data: Any, status: int = 200) -> web.Response:
    """``data`` as a JSON response (msgspec-encodable: dicts, lists, numbers, strings, None, Structs)."""
    return web.Response(body=_encoder.encode(data), status=status, content_type="application/json")


def error_body(message: str) -> bytes:
    """The one error shape of the API: ``{"error": "<one line>"}``."""
    line = " ".join(str(message).split()) or "error"
    return _encoder.encode({"error": line})


def query_text(request: web.Request, name: str, *, default: str | None = None,
               choices: Iterable[str] | None = None) -> str:
    """Query parameter ``name``; missing without a ``default`` or not one of ``choices`` -> ``ApiError``."""
    value = request.query.get(name)
    if value is None or value == "":
        if default is None:
            raise ApiError(f"missing query parameter {name!r}")
        value = default
    if choices is not None:
        allowed = list(choices)
        if value not in allowed:
            raise ApiError(f"{name}={value!r} is not one of {', '.join(allowed)}")
    return value


def query_int(request: web.Request, name: str, *, default: int | None = None, minimum: int | None = None,
              maximum: int | None = None) -> int | None:
    """Query parameter ``name`` as a whole number within ``[minimum, maximum]`` (``default`` when absent)."""
    value = request.query.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ApiError(f"{name}={value!r} is not a whole number") from None
    if minimum is not None and number < minimum or maximum is not None and number > maximum:
        bounds = f"from {minimum}" if maximum is None else f"from {minimum} to {maximum}"
        raise ApiError(f"{name}={number} is out of range; use a whole number {bounds}")
    return number


def query_float(request: web.Request, name: str, *, default: float | None = None,
                minimum: float | None = None) -> float | None:
    """Query parameter ``name`` as a finite number of at least ``minimum`` (``default`` when absent)."""
    value = request.query.get(name)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except ValueError:
        raise ApiError(f"{name}={value!r} is not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ApiError(f"{name}={value!r} is not a finite number")
    if minimum is not None and number < minimum:
        raise ApiError(f"{name}={value} must be at least {minimum:g}")
    return number


async def json_body(request: web.Request, cls: type | None = None) -> Any:
    """The request's JSON body (converted to ``cls`` when given); malformed -> ``ApiError`` naming the problem."""
    raw = await request.read()
    try:
        data = msgspec.json.decode(raw) if raw else None
        return data if cls is None else msgspec.convert(data, cls)
    except msgspec.ValidationError as e:  # before DecodeError: a subclass of it
        raise ApiError(f"request body: {e}") from None
    except msgspec.DecodeError as e:
        raise ApiError(f"request body is not JSON ({e})") from None
