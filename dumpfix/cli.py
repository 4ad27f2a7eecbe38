"""The command line: options become one Options value; run() does the work; main() maps errors."""

from __future__ import annotations

import sys
import traceback
from dataclasses import dataclass, replace
from pathlib import Path

import click

from dumpfix import __version__
from dumpfix.cleanup import Cleanup
from dumpfix.errors import DumpfixError, PlanError
from dumpfix.explain import explain
from dumpfix.fix import analyse, write
from dumpfix.live import inspect
from dumpfix.output import open_output
from dumpfix.plan import Method, Role, Settings
from dumpfix.source import open_source


@dataclass(frozen=True)
class Options:
    input: str
    output: str | None
    schema: tuple[Path, ...]
    explain: bool
    verbose: bool
    settings: Settings = Settings()
    cleanup: Cleanup = Cleanup()
    #: Read the catalog from this database, and the role too when detect_role is set.
    dsn: str | None = None
    detect_role: bool = False


def run(options: Options) -> int:
    with open_source(options.input, options.cleanup) as source:
        for notice in source.notices:
            click.echo(f"dumpfix: {notice}", err=True)
        catalog, settings = None, options.settings
        if options.dsn:
            live = inspect(options.dsn)
            catalog = live.catalog
            if options.detect_role:
                settings = replace(settings, role=live.role)
            if settings.target_version is None:  # --dsn names the server restored into
                settings = replace(settings, target_version=live.server_major)
        try:
            analysis = analyse(source.buf, options.schema, catalog=catalog, settings=settings)
        except PlanError as e:
            if options.dsn and options.detect_role:  # the message names a --role nobody typed
                raise PlanError(f"{e.message} (--role {settings.role.value}: what --dsn's role may do)") from None
            raise
        for table in analysis.plan.unknown:
            click.echo(f"dumpfix: warning: {table} is not in the schema: its data stays where it is", err=True)
        if options.explain:
            click.echo(explain(analysis), err=True)
        with open_output(options.output) as out:
            write(analysis, out)
    return 0


EXAMPLES = """
\b
Examples:
  dumpfix backup.sql -o fixed.sql --schema schema.sql
  pg_dump --data-only "$SRC" | dumpfix - --schema migrations/ | psql -v ON_ERROR_STOP=1 "$DST"
"""


@click.command(epilog=EXAMPLES, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("input", metavar="IN")
@click.option("-o", "--output", metavar="OUT", help="Write here (atomically) instead of stdout.")
@click.option(
    "--schema",
    "schema",
    multiple=True,
    type=click.Path(path_type=Path),
    help="SQL file or folder of .sql files (e.g. pg_dump --schema-only, migrations). Repeatable.",
)
@click.option(
    "--dsn",
    metavar="URL",
    help="Read the schema from this database (the restore target) instead of --schema, which "
    "cannot be given too; its role's privileges give the default --role. Needs dumpfix[dsn].",
)
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role]),
    help="What the restoring role may do: user (INSERT/UPDATE/TEMP), owner (owns the tables), superuser. "
    "Default: what the --dsn role may do, else owner.",
)
@click.option(
    "--strategy",
    type=click.Choice([m.value for m in Method]),
    help="Force one way of loading every FK cycle instead of the cheapest the role allows.",
)
@click.option("--wrap", is_flag=True, help="Load everything in one transaction with constraints deferred.")
@click.option(
    "--target-version",
    type=click.IntRange(12, 99),
    metavar="N",
    help="Major version of the server the output is for: drop settings it rejects (SET transaction_timeout before 17).",
)
@click.option(
    "--strip-restrict",
    is_flag=True,
    help="Remove \\restrict/\\unrestrict (for loaders other than a recent psql). They stop psql from "
    "running meta-commands hidden in the data: use only on dumps of databases you trust.",
)
@click.option("--explain", is_flag=True, help="Describe the plan on stderr.")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks on errors.")
@click.version_option(__version__, prog_name="dumpfix")
def command(
    input: str,
    output: str | None,
    schema: tuple[Path, ...],
    dsn: str | None,
    role: str | None,
    strategy: str | None,
    wrap: bool,
    target_version: int | None,
    strip_restrict: bool,
    explain: bool,
    verbose: bool,
) -> None:
    """Rewrite a pg_dump data-only dump IN so that it restores without FK violations.

    IN is a file or - for stdin; the result goes to stdout unless -o is given.
    """
    if dsn and schema:
        raise click.UsageError("--schema and --dsn both give the schema: use one")
    settings = Settings(Role(role) if role else Role.OWNER, Method(strategy) if strategy else None, wrap)
    options = Options(input, output, schema, explain, verbose, settings, Cleanup(target_version, strip_restrict))
    options = replace(options, dsn=dsn, detect_role=role is None)
    try:
        code = run(options)
    except DumpfixError as e:
        if verbose:
            traceback.print_exc()
        click.echo(f"dumpfix: error: {e}", err=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo("dumpfix: interrupted", err=True)
        sys.exit(130)
    sys.exit(code)


def main(argv: list[str] | None = None) -> int:
    try:
        command.main(args=argv, prog_name="dumpfix", standalone_mode=False)
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.ClickException as e:
        e.show()
        return 2
    except click.exceptions.Abort:
        click.echo("dumpfix: interrupted", err=True)
        return 130
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 0
    return 0
