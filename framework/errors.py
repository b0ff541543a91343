"""Errors that reach the user as one readable line (no traceback)."""

from __future__ import annotations


class FrameworkError(Exception):
    """A failure the user can act on: the message names the problem and the fix. Exit code 1."""

    exit_code = 1


class UsageError(FrameworkError):
    """A mistake in the command line or a config file. Exit code 2."""

    exit_code = 2
