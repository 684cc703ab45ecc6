"""Errors a user can act on. The CLI prints their message (no traceback) and exits with `exit_code`."""

from __future__ import annotations


class CjmError(Exception):
    """Base of every error the tool raises for bad input or configuration."""

    exit_code = 2


class ConfigError(CjmError):
    """A configuration file is missing, unreadable or invalid.

    The message names the file, the key path (``personas[2].rule.all[0].op``) and what was expected.
    """

    def __init__(self, file: str, key: str | None, message: str):
        self.file, self.key, self.detail = file, key, message
        where = f"{file}: {key}" if key else file
        super().__init__(f"{where}: {message}")


class DataError(CjmError):
    """An input file cannot be read as configured (missing column, bad encoding, empty file ...).

    The message names the source, the file and, where known, the row and column.
    """

    exit_code = 1

    def __init__(self, source: str, location: str, message: str):
        self.source, self.location, self.detail = source, location, message
        super().__init__(f"{source}: {location}: {message}")


class MissingInput(DataError):
    """No file matches a source's location for the quarter: nothing of it can be read or checked,
    so the run stops at reading it rather than at the validation gate."""


class ValidationFailed(CjmError):
    """The validation gate failed: at least one expectation on an input did not hold.

    ``summary`` lists the failed checks; ``report`` is the path of the saved JSON result.
    """

    exit_code = 1

    def __init__(self, summary: str, report: str | None = None):
        self.summary, self.report = summary, report
        tail = f"\nfull result: {report}" if report else ""
        super().__init__(f"validation failed:\n{summary}{tail}")
