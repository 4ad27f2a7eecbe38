"""dumpfix: rewrite pg_dump data-only dumps so that they restore without FK violations."""

__version__ = "0.1.0"
