"""The bad-input table: ordinary mistakes, each with the exit code and the one line a user must get.

Each module here holds the rows of one command (``CASES``); ``tests/test_bad_input.py`` runs them all as real
processes. A new option adds its rows to its command's module. In ``argv``, ``env`` and the expected message,
``{tmp}`` is the case's own empty folder (also the working directory, so a default ``catalog/`` lands there),
``{repo}`` the checkout and ``{fixtures}`` ``tests/fixtures/binance``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

#: The AWS variables emptied (an empty one counts as unset): a catalog on object storage has no credentials.
NO_AWS = {var: "" for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL")}
#: Credentials and an endpoint where nothing listens (loopback port 9): the object store cannot be reached.
AWS_NOWHERE = {**NO_AWS, "AWS_ACCESS_KEY_ID": "key", "AWS_SECRET_ACCESS_KEY": "secret",
               "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_REGION": "us-east-1"}
NO_CREDENTIALS = "no credentials for object storage; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
UNREACHABLE = "cannot reach the object store at http://127.0.0.1:9; check AWS_ENDPOINT_URL"


@dataclass(frozen=True)
class Case:
    """One mistake: the command line, the exit code it must end with and a fragment its message must hold."""

    id: str
    argv: list[str]
    exit_code: int
    message: str
    setup: Callable[[Path], None] | None = None  # prepares {tmp} (files to be wrong about)
    env: dict[str, str] = field(default_factory=dict)
    timeout: float = 120.0
    check: Callable[[Path], None] | None = None  # more assertions on {tmp} afterwards (e.g. nothing written)


def config(tmp: Path, name: str, text: str) -> Path:
    """Write ``text`` as ``{tmp}/name`` (for cases whose mistake is in a YAML file)."""
    path = tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def yaml_case(id: str, command: str, text: str, exit_code: int, message: str, *extra: str, **kw) -> Case:
    """A case whose mistake is a YAML file given to ``command`` (written to ``{tmp}/bad.yaml``)."""
    return Case(id, [command, "{tmp}/bad.yaml", *extra], exit_code, message,
                setup=lambda tmp: config(tmp, "bad.yaml", text), **kw)
