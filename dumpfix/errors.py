"""One root exception: the CLI turns any DumpfixError into one line on stderr and exit 2."""

from __future__ import annotations


class DumpfixError(Exception):
    """An error in the user's input or usage; never a bug in dumpfix."""

    exit_code = 2

    def __init__(self, message: str, location: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}" if self.location else self.message
        # One line, always: names from a hostile schema may hold line breaks.
        return text.replace("\r", "\\r").replace("\n", "\\n")


class DumpError(DumpfixError):
    """The dump cannot be read: truncated, not SQL, unknown format."""


class MismatchError(DumpError):
    """The dump does not fit the schema's table: a dump of another version of the schema.

    A DumpError, so that its ``line N`` names the input file as the splitter's do."""


class SchemaError(DumpfixError):
    """A schema source cannot be read or parsed."""


class PlanError(DumpfixError):
    """No strategy available to the restoring role can load a cycle."""
