"""What every command that takes a YAML config shares to refuse a mistake in one line (``backtest``, ``live``).

* ``import_path("pkg.module:Class", where)``: the object a ``module:Name`` path names (strategy, actor or config
  classes), or a ``UsageError`` naming the key, with the closest name when the class is misspelt.
* ``explain(error, Root)``: msgspec's ``ValidationError`` in YAML terms: the key path and, for an unknown key,
  the closest valid one.
"""

from __future__ import annotations

import difflib
import importlib
import typing
from typing import Any

import msgspec

from framework.errors import UsageError


def import_path(path: str, where: str) -> Any:
    """The attribute ``path`` ("package.module:Name") names; a ``UsageError`` starting with ``where`` when the
    path is malformed, the module does not import or has no such name (with the closest one)."""
    module_name, _, attr = path.partition(":")
    if not attr:
        raise UsageError(f"{where}: {path!r} is not 'package.module:ClassName'")
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # noqa: BLE001 - any import failure is the user's to fix
        raise UsageError(f"{where}: cannot import {module_name}: {type(e).__name__}: {e}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        names = [n for n in dir(module) if not n.startswith("_")]
        close = difflib.get_close_matches(attr, names, n=1)
        hint = f"did you mean '{close[0]}'?" if close else "check the class name"
        raise UsageError(f"{where}: {module_name} has no {attr}; {hint}") from None


def explain(error: msgspec.ValidationError, root: type) -> str:
    """msgspec's message with the key path in YAML terms and, for an unknown key, the closest valid one
    (``root``: the Struct class that was being converted)."""
    text = str(error)
    message, _, where = text.partition(" - at `$")
    path = where.rstrip("`").lstrip(".")
    key_path = path.replace("[", ".").replace("]", "")
    if message.startswith("Object contains unknown field"):
        field = message.split("`")[1]
        valid = sorted(_fields_at(root, key_path))
        close = difflib.get_close_matches(field, valid, n=1, cutoff=0.5) or [v for v in valid if v.startswith(field)]
        hint = f"did you mean '{close[0]}'?" if close else f"valid keys: {', '.join(valid)}"
        where_text = f"{key_path}." if key_path else ""
        return f"unknown key '{where_text}{field}'; {hint}"
    return f"{key_path or 'config'}: {message}"


def _fields_at(root: type, key_path: str) -> list[str]:
    """Field names of the struct reached by ``key_path`` from ``root`` (empty if it is not a struct)."""
    cls: Any = root
    for part in filter(None, key_path.split(".")):
        if part.isdigit():
            continue
        if not (isinstance(cls, type) and issubclass(cls, msgspec.Struct)):
            return []
        fields = {f.encode_name: f.type for f in msgspec.structs.fields(cls)}
        cls = _struct_in(fields.get(part))
    if isinstance(cls, type) and issubclass(cls, msgspec.Struct):
        return [f.encode_name for f in msgspec.structs.fields(cls)]
    return []


def _struct_in(tp: Any) -> Any:
    """The Struct class inside an annotation such as ``X | None`` or ``list[X]``."""
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return tp
    for arg in typing.get_args(tp):
        found = _struct_in(arg)
        if found is not None:
            return found
    return None
