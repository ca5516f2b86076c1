"""Typed errors shared by every stage.

Stages raise these; the CLI turns them into one line on stderr and an exit code
(see :data:`EXIT_CODES`). Anything else that escapes a stage is a bug and is
reported as an internal error.
"""

from __future__ import annotations

from pathlib import Path

#: Exit codes of the ``gptkit`` command, documented in docs/cli.md.
EXIT_OK = 0
EXIT_FAILURE = 1  # runtime failure: the work could not be completed (verify mismatch, crash, ...)
EXIT_USAGE = 2  # user error: bad option, bad config, missing or malformed input
EXIT_INTERRUPTED = 130  # Ctrl-C

EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_FAILURE: "runtime failure (work could not be completed, verification failed, internal error)",
    EXIT_USAGE: "usage error (bad option, invalid recipe/config, missing or malformed input)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C); rerun the same command to resume",
}


class GptkitError(Exception):
    """Base class: an error with a message meant for the user."""

    exit_code = EXIT_FAILURE


class UsageError(GptkitError):
    """The user asked for something invalid (option, value, combination)."""

    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """A recipe or override is invalid; the message names the key."""


class InputError(UsageError):
    """An input file is missing or malformed; the message names the file (and line)."""

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None):
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)
        self.path = path
        self.line = line


class StageFailure(GptkitError):
    """The stage could not finish for a reason that is not the user's input."""

    exit_code = EXIT_FAILURE


class DryRun(GptkitError):
    """A ``--dry-run`` stopped the command after preparing its work; ``text`` shows that work."""

    exit_code = EXIT_OK

    def __init__(self, message: str, text: str):
        super().__init__(message)
        self.text = text
