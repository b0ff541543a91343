"""The local exchange's stream control messages: SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET/GET_PROPERTY.

Ids are taken as Binance takes them: unsigned integers, strings of up to 36 characters, or null. Incoming
messages per connection are limited as Binance limits them (``MessageLimiter``, ``binance.limits.MESSAGE_LIMIT``).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

import msgspec

METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")

RequestId = int | str | None
MAX_ID_CHARS = 36  # Binance accepts ids that are unsigned integers, strings up to 36 characters, or null
MAX_ID = 2**64 - 1


def _valid_id(value: object) -> bool:
    """A request id Binance accepts (the official SDKs send UUID strings, other clients integers)."""
    if value is None:
        return True
    if type(value) is int:
        return 0 <= value <= MAX_ID
    return type(value) is str and len(value) <= MAX_ID_CHARS


class RequestError(Exception):
    """A control message Binance would refuse: ``{"error": {"code", "msg"}, "id"}``."""

    def __init__(self, msg: str, request_id: RequestId = None, code: int = 2):
        super().__init__(msg)
        self.code, self.msg, self.request_id = code, msg, request_id

    def reply(self) -> dict:
        """The error reply Binance sends."""
        return {"error": {"code": self.code, "msg": self.msg}, "id": self.request_id}


@dataclass(frozen=True)
class Request:
    """A valid control message."""

    method: str
    params: list
    id: RequestId


def parse_request(text: str | bytes) -> Request:
    """A live control message (SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET/GET_PROPERTY)."""
    try:
        body = msgspec.json.decode(text)
    except msgspec.DecodeError as e:
        raise RequestError(f"Invalid JSON: {e}", code=3) from None
    if not isinstance(body, dict):
        raise RequestError("Invalid request: expected a JSON object")
    request_id = body.get("id")
    if not _valid_id(request_id):
        raise RequestError("Invalid request: request ID must be an unsigned integer, a string of at most "
                           f"{MAX_ID_CHARS} characters or null")
    method, params = body.get("method"), body.get("params", [])
    if method not in METHODS:
        expected = ", ".join(METHODS)
        raise RequestError(f"Invalid request: unknown variant {method}, expected one of {expected}",
                           request_id)
    if not isinstance(params, list) or not all(isinstance(p, str | bool) for p in params):
        raise RequestError("Invalid request: params must be a list of strings", request_id)
    return Request(method, params, request_id)


class MessageLimiter:
    """Incoming messages per second on one connection (a sliding one-second window of wall time)."""

    def __init__(self, per_second: int):
        self.per_second = per_second
        self._times: deque[float] = deque()

    def allow(self) -> bool:
        """Count one incoming message; False when it is over the limit (Binance then closes the socket)."""
        now = time.monotonic()
        while self._times and now - self._times[0] >= 1.0:
            self._times.popleft()
        self._times.append(now)
        return len(self._times) <= self.per_second
