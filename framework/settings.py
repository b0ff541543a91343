"""Layered settings: command-line flags beat environment, environment beats YAML, YAML beats defaults.

Every command describes its settings as one Nautilus config class; ``layered`` fills it from the
four sources, converts types (environment values are strings) and turns any mistake (unknown YAML key,
a value of the wrong type) into one readable ``UsageError``.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec
import yaml

from framework.errors import UsageError

_CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def read_yaml(path: str | Path | None, command: str = "collect") -> dict[str, Any]:
    """A YAML mapping from ``path`` (empty when None); ``command`` names the examples a mistake points to."""
    if path is None:
        return {}
    path = Path(path)
    if not path.is_file():
        examples = sorted(p.name for p in (_CONFIGS / command).glob("*.yaml"))
        hint = f"configs/{command}/{examples[0]}" if examples else f"a file under configs/{command}/"
        raise UsageError(f"config file {path} does not exist; pass a YAML file, e.g. {hint}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        at = f" at line {where.line + 1}" if where else ""
        raise UsageError(f"{path}: not valid YAML{at}: {getattr(e, 'problem', e)}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a mapping of settings at the top level, got {type(data).__name__}")
    return data


def make_importable(config_path: str | Path | None) -> None:
    """Put the folder of a YAML file first on the import path, so a strategy module beside it imports.

    Class paths in a config (``strategies.examples.ema_cross:EmaCross``, ``my_strategy:MyStrategy``) resolve
    against that folder first, then the current directory and the installed packages.
    """
    if config_path is None:
        return
    folder = str(Path(config_path).resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)


def layered(
    cls: type[msgspec.Struct],
    *,
    yaml_values: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    env_names: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
    source: str = "config",
) -> Any:
    """Build ``cls`` from defaults < YAML < environment (``env_names``: field -> variable) < flags."""
    fields = {f.name for f in msgspec.structs.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in (yaml_values or {}).items():
        if key not in fields:
            close = difflib.get_close_matches(key, sorted(fields), n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"valid keys: {', '.join(sorted(fields))}"
            raise UsageError(f"{source}: unknown key '{key}'; {hint}")
        values[key] = value
    for name, var in (env_names or {}).items():
        if env is not None and env.get(var) not in (None, ""):
            values[name] = env[var]
    for name, value in (flags or {}).items():
        if value is not None and name in fields:
            values[name] = value
    try:
        return msgspec.convert(values, cls, strict=False)
    except msgspec.ValidationError as e:
        raise UsageError(f"{source}: {_explain(e, env_names)}") from None


def _explain(error: msgspec.ValidationError, env_names: Mapping[str, str] | None) -> str:
    text = str(error)
    # msgspec says "Expected `int`, got `str` - at `$.kline_limit`"; name the variable too.
    if "$." in text:
        field = text.rsplit("$.", 1)[1].rstrip("`").split(".")[0].split("[")[0]
        var = (env_names or {}).get(field)
        also = f" (environment variable {var})" if var else ""
        return f"bad value for '{field}'{also}: {text.split(' - at ')[0]}"
    return text
