"""The command line: options become one Options value; run() does the work; main() maps errors."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NoReturn

import click
from click.core import ParameterSource

from dumpfix import __version__
from dumpfix.catalog import Catalog
from dumpfix.cleanup import Cleanup
from dumpfix.config import find_pyproject, load_config
from dumpfix.errors import DumpfixError, PlanError
from dumpfix.explain import explain
from dumpfix.fix import Analysis, analyse, write
from dumpfix.live import inspect, restore_check
from dumpfix.migration import cycle_fks, deferrable_migration, deferrable_revert, schema_fks
from dumpfix.output import open_output
from dumpfix.picture import graph_format, picture, render
from dumpfix.plan import Method, Role, Settings
from dumpfix.progress import CountingWriter, Progress
from dumpfix.refusals import needs, refuse_missing
from dumpfix.report import Mode, Report, changes
from dumpfix.schema import load_schema, schema_files
from dumpfix.source import Pipe, Source, open_input, open_source
from dumpfix.stream import Fallback, stream, streamable
from dumpfix.verify import Verifier, VerifyFailure


@dataclass(frozen=True)
class Options:
    inputs: tuple[str, ...]
    output: str | None
    schema: tuple[Path, ...]
    explain: bool
    verbose: bool
    settings: Settings = Settings()
    cleanup: Cleanup = Cleanup()
    #: Read the catalog from this database, and the role too when detect_role is set.
    dsn: str | None = None
    detect_role: bool = False
    mode: Mode = Mode.WRITE
    #: Only errors on stderr.
    quiet: bool = False
    #: Draw progress on stderr (a terminal, not --quiet).
    progress: bool = False
    #: Write the FK graph here (.dot/.gv or .mmd/.md).
    graph: str | None = None
    #: "migration" or "revert": print that SQL instead of a dump.
    print_deferrable: str | None = None
    #: --verify: restore into this scratch server instead of a throwaway one.
    server_dsn: str | None = None


class _SharedError(Exception):
    """The schema (or --dsn) failed: every file would fail the same way, so the run stops."""

    def __init__(self, error: DumpfixError) -> None:
        super().__init__(str(error))
        self.error = error


class _Shared:
    """What every file of a run shares, loaded once on first use (after the first input
    opened, so that a missing input is reported before a slow --dsn connection)."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.loaded: tuple[Catalog | None, Settings] | None = None
        self._schema_files: set[Path] | None = None
        self.verifier: Verifier | None = None

    def is_schema_file(self, path: str) -> bool:
        """Whether path is one of the --schema files (or in a --schema folder): pre-commit
        hands the hooks every .sql file, the schema's too, and a schema is no dump."""
        if path == "-" or not self.options.schema:
            return False
        if self._schema_files is None:
            found: set[Path] = set()
            for given in self.options.schema:
                try:
                    found.update(f.resolve() for f in schema_files(Path(given)))
                except (OSError, DumpfixError):
                    continue  # reported when the schema is loaded
            self._schema_files = found
        return Path(path).resolve() in self._schema_files

    def get(self) -> tuple[Catalog | None, Settings]:
        if self.loaded is None:
            try:
                self.loaded = self._load()
            except DumpfixError as e:
                raise _SharedError(e) from e
        return self.loaded

    def _load(self) -> tuple[Catalog | None, Settings]:
        options = self.options
        catalog, settings = None, options.settings
        if options.dsn:
            live = inspect(options.dsn)
            catalog = live.catalog
            if options.detect_role:
                settings = replace(settings, role=live.role)
            if settings.target_version is None:  # --dsn names the server restored into
                settings = replace(settings, target_version=live.server_major, target_minor=live.server_minor)
            elif settings.target_version != live.server_major:
                raise DumpfixError(
                    f"--target-version {settings.target_version}, but the --dsn server is PostgreSQL "
                    f"{live.server_major}: leave --target-version out (--dsn tells it)"
                )
        elif options.schema:
            catalog = load_schema(options.schema)
        return catalog, settings


def run(options: Options) -> int:
    """Fix, check or rewrite each input; the Report turns the outcomes into the exit code."""
    if options.print_deferrable:
        return print_migration(options)
    say = _echo(options)
    report = Report(options.mode, options.quiet, say, options.output)
    shared = _Shared(options)
    with _verifier(options, shared):
        for path in options.inputs:
            try:
                report.done(_name(path), process(options, shared, path))
            except _SharedError as e:
                _traceback(options)
                report.failure(str(e.error))
                break
            except VerifyFailure as e:
                report.unverified(str(e))
            except DumpfixError as e:
                _traceback(options)
                located = e.location or options.mode is Mode.WRITE
                report.failure(str(e) if located else f"{_name(path)}: {e}")
    return report.exit_code


@contextmanager
def _verifier(options: Options, shared: _Shared) -> Iterator[None]:
    """--verify: one scratch server (and role) for the run, removed however it ends."""
    if options.mode is not Mode.VERIFY:
        yield
        return
    with Verifier(options.server_dsn, options.schema, options.dsn) as verifier:
        shared.verifier = verifier
        yield


def _verify(options: Options, shared: _Shared, path: str, source: Source, analysis: Analysis) -> None:
    """Restore one dump on the scratch server and show the comparison; VerifyFailure if it differs."""
    assert shared.verifier is not None
    verdict = shared.verifier.verify(_name(path), source, analysis)
    if not options.quiet and verdict.table():
        click.echo(verdict.table(), err=True)
    if not verdict.ok:
        raise VerifyFailure(verdict.summary())
    _echo(options)(verdict.summary())


def process(options: Options, shared: _Shared, path: str) -> list[str]:
    """Read, plan and (unless checking) write one dump; returns what changed, in words."""
    say = _echo(options)
    if options.mode is not Mode.WRITE and shared.is_schema_file(path):
        return []  # the schema, not a dump: nothing to check or rewrite (a rewrite refuses it)
    named = options.mode is not Mode.WRITE  # several files: say which one each line is about
    prefix = f"{_name(path)}: " if named else ""
    cleanup = options.cleanup
    if options.dsn and (path == "-" or os.path.exists(path)):
        # The server --dsn names is the one restored into: drop what it rejects (and
        # refuse a --target-version it contradicts before any notice about the input).
        target_version = shared.get()[1].target_version
        if cleanup.target_version is None:
            cleanup = replace(cleanup, target_version=target_version)
    streaming = (
        options.mode is Mode.WRITE
        and path == "-"
        and (options.output is not None or not _stdout_is_file())
        and streamable(*shared.get())
    )
    with _progress(options, path) as bar, open_input(path, cleanup, bar, streaming) as opened:
        if isinstance(opened, Pipe):  # its reading line goes on while the output is written
            try:
                return _streamed(options, shared, opened, say, prefix)
            except Fallback:
                opened = opened.whole()
        source = opened
        if bar is not None:
            bar.close()  # the reading line, if any
        if options.mode is Mode.IN_PLACE and source.archive:
            raise DumpfixError(f"a pg_dump {source.archive}-format archive: --in-place would turn it into plain SQL")
        if bar is not None:
            bar.start(len(source.buf))
        analysis = _analyse(options, shared, source, bar)
        if bar is not None:
            bar.close()  # the planning line: notices come next
        _tell(analysis, say, prefix)
        if options.dsn:
            _refuse_unrestorable(options.dsn, analysis, say, prefix)
        _show(options, analysis, prefix if named else "")
        found = changes(analysis, source)
        if options.mode is Mode.WRITE:
            _write(analysis, options.output, bar)
        elif options.mode is Mode.IN_PLACE and found:
            _write(analysis, path, bar)
        elif options.mode is Mode.VERIFY:
            _verify(options, shared, path, source, analysis)
    return found


def _streamed(options: Options, shared: _Shared, pipe: Pipe, say: Any, prefix: str) -> list[str]:
    """A pipe's output written as it is read (stream.py); what the user is told comes at
    the end, when the whole input has been seen."""
    catalog, settings = shared.get()
    assert catalog is not None

    def before_commit(analysis: Analysis) -> None:
        if options.dsn:
            _refuse_unrestorable(options.dsn, analysis, say, prefix, look_at_rows=False)

    with open_output(options.output) as out:
        source, analysis = stream(pipe, catalog, settings, out, before_commit)
    _tell(analysis, say, prefix)
    _show(options, analysis, prefix)
    return changes(analysis, source)


def _stdout_is_file() -> bool:
    """Whether stdout is a file (`dumpfix - > fixed.sql`): nobody reads it while it is
    written, and a streamed output that ends in a failing statement would stay behind
    half-written; such a pipe is read whole first (an -o file is named only when complete)."""
    try:
        return stat.S_ISREG(os.fstat(sys.stdout.fileno()).st_mode)
    except (AttributeError, OSError, ValueError):
        return False


def _tell(analysis: Analysis, say: Any, prefix: str) -> None:
    """What the user hears of an input: what the output leaves out, tables passed through."""
    for notice in analysis.notices:
        say(f"{prefix}{notice}")
    for table in analysis.plan.unknown:  # only with --pass-unknown: refused otherwise
        say(f"{prefix}warning: {table} is not in the schema: its data passes through where it stands")


def _show(options: Options, analysis: Analysis, prefix: str) -> None:
    """--explain on stderr and --graph into its file."""
    if options.explain:
        click.echo(f"{prefix}{explain(analysis)}", err=True)
    if options.graph:
        _write_graph(analysis, options.graph)


def _analyse(options: Options, shared: _Shared, source: Source, bar: Progress | None) -> Analysis:
    catalog, settings = shared.get()
    try:
        return analyse(source.input, catalog=catalog, settings=settings, progress=bar, cleanup=source.cleanup)
    except PlanError as e:
        if options.dsn and options.detect_role:  # the message names a --role nobody typed
            raise PlanError(f"{e.message} (--role {settings.role.value}: what --dsn's role may do)") from None
        raise


def _refuse_unrestorable(dsn: str, analysis: Analysis, say: Any, prefix: str, look_at_rows: bool = True) -> None:
    """--dsn names the target: refuse an output its role could not restore, all that lacks
    in one line, and warn about tables that hold rows already (the load adds to them, or
    fails on their keys). look_at_rows=False while a streamed load holds the tables'
    locks (reading a row would wait for the load, which waits for this)."""
    plan = analysis.plan
    tables = [u.table for u in plan.layout.units if u.table.schema != "pg_temp"] if look_at_rows else []
    found = restore_check(dsn, needs(analysis.buf, analysis.items, plan), tables)
    refuse_missing(found.missing, found.role)
    for table in found.filled:
        say(f"{prefix}warning: {table} already holds rows in the --dsn database: the dump's rows add to them")


def _write(analysis: Analysis, path: str | None, bar: Progress | None) -> None:
    with open_output(path) as out:
        if bar is None:
            write(analysis, out)
        else:
            bar.start(len(analysis.buf))
            write(analysis, CountingWriter(out, bar))  # type: ignore[arg-type]
            bar.close()


def _write_graph(analysis: Analysis, path: str) -> None:
    text = render(picture(analysis), graph_format(path))
    with open_output(path) as out:
        out.write(text.encode("utf-8"))


@contextmanager
def _progress(options: Options, path: str) -> Iterator[Progress | None]:
    if not options.progress:
        yield None
        return
    passes = ("planning",) if options.mode is Mode.CHECK else ("planning", "writing")
    bar = Progress(_name(path), sys.stderr, passes=passes)
    try:
        yield bar
    finally:
        bar.close()


def print_migration(options: Options) -> int:
    """--print-deferrable-migration / --print-deferrable-revert: SQL on stdout (or -o)."""
    # The cycles of the row-by-row plan: the FKs that a DEFERRABLE migration lets load.
    options = replace(options, settings=replace(options.settings, bulk=False))
    shared = _Shared(options)
    try:
        if options.inputs:
            with open_source(options.inputs[0], options.cleanup) as source:
                fks = cycle_fks(_analyse(options, shared, source, None))
        else:
            catalog, _ = shared.get()
            if catalog is None:
                raise DumpfixError("no schema: give --schema FILE_OR_DIR or --dsn URL (or a dump: its cycles' FKs)")
            fks = schema_fks(catalog)
    except _SharedError as e:
        raise e.error from None
    sql = deferrable_migration(fks) if options.print_deferrable == "migration" else deferrable_revert(fks)
    with open_output(options.output) as out:
        out.write(sql.encode("utf-8"))
    return 0


def _echo(options: Options) -> Any:
    def say(line: str) -> None:
        if not options.quiet or line.startswith("error: "):
            click.echo(f"dumpfix: {line}", err=True)

    return say


def _terminal(stream: Any) -> bool:
    """Progress only for a person watching: never into pipes, files or CI logs."""
    return hasattr(stream, "isatty") and stream.isatty()


def _traceback(options: Options) -> None:
    if options.verbose:
        import traceback  # here: needed only after a failure, and its import costs every run 2 ms

        traceback.print_exc()


def _name(path: str) -> str:
    return "<stdin>" if path == "-" else path


EXAMPLES = """
\b
Examples:
  dumpfix backup.sql -o fixed.sql --schema schema.sql
  pg_dump --data-only "$SRC" | dumpfix - --schema migrations/ | psql -v ON_ERROR_STOP=1 "$DST"
  pg_dump --data-only "$SRC" | dumpfix - --dsn "$DST" | psql -v ON_ERROR_STOP=1 "$DST"
  dumpfix --check backups/*.sql.gz --schema schema.sql
  dumpfix --in-place backup.sql --schema schema.sql --graph plan.mmd
  dumpfix --verify backups/*.sql --schema schema.sql
  dumpfix --print-deferrable-migration --schema schema.sql > defer_fks.sql

\b
Settings can live in pyproject.toml under [tool.dumpfix], e.g. schema = ["db/schema.sql"].
Exit codes: 0 ok, 1 --check found a dump to rewrite, 2 error.
--verify exits 1 when a dump does not restore, or not as it holds.
"""


class _SettingsError(click.ClickException):
    """A bad pyproject.toml, found while click parses: one line and exit 2 like any error."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"dumpfix: error: {self.message}", err=True)


def _read_config(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Make [tool.dumpfix] of pyproject.toml the defaults, so that flags override it."""
    try:
        path = Path(value) if value else find_pyproject(Path.cwd())
        if path is None:
            return None
        known = [p.name for p in ctx.command.params if p.name and p.name not in _NOT_SETTINGS]
        config = load_config(path, known)
    except DumpfixError as e:
        raise _SettingsError(str(e)) from None
    by_name = {p.name: p for p in ctx.command.params}
    for key, setting in config.values.items():
        try:
            by_name[key].type_cast_value(ctx, setting)
        except click.BadParameter as e:
            raise _SettingsError(f"{path}: [tool.dumpfix] {key.replace('_', '-')}: {e.message}") from None
    ctx.default_map = {**(ctx.default_map or {}), **config.values}
    return str(path)


#: Parameters that name this run's files or actions, not settings a project keeps.
_NOT_SETTINGS = frozenset(
    {
        "inputs",
        "output",
        "config",
        "check",
        "in_place",
        "verify",
        "server_dsn",
        "graph",
        "print_deferrable_migration",
        "print_deferrable_revert",
        "help",
        "version",
        "jobs",
        "finish",
    }
)


class _Version(click.ParamType):
    """A server version as --target-version takes it: a major (18) or major.minor (18.4)."""

    name = "version"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[int, int | None]:
        if isinstance(value, tuple):
            return value
        text = str(value).strip()
        major, _, minor = text.partition(".")
        if not major.isdigit() or (minor and not minor.isdigit()) or not 12 <= int(major) <= 99:
            self.fail(f"{text!r} is not a PostgreSQL version from 12 on, such as 15 or 18.4", param, ctx)
        return int(major), int(minor) if minor else None


_VERSION = _Version()


@click.command(epilog=EXAMPLES, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("inputs", metavar="IN...", nargs=-1)
@click.option("-o", "--output", metavar="OUT", help="Write here (atomically) instead of stdout.")
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing; exit 1 if any dump would be rewritten (and say why), 0 if all restore as they are.",
)
@click.option("--in-place", is_flag=True, help="Rewrite each dump that needs it in its own file, atomically.")
@click.option(
    "--verify",
    is_flag=True,
    help="Restore each dump, as dumpfix would write it, into a scratch PostgreSQL as an ordinary owner role, "
    "and compare every table's rows and every sequence with the dump; exit 1 if one differs or the restore "
    "fails. Starts a throwaway server (dumpfix[verify]) unless --server-dsn is given.",
)
@click.option(
    "--server-dsn",
    metavar="URL",
    help="With --verify: restore on this scratch server instead; its role must be allowed to CREATE DATABASE "
    "and CREATE ROLE (verify makes its own database and role there and drops them).",
)
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
    "--bulk/--no-bulk",
    default=None,
    help="How a dump that needs a change loads by default for a role that may alter the tables (owner, "
    "superuser): every FK off during the load, then validated once each, in the load's one transaction; "
    "ALTER TABLE locks the tables (ACCESS EXCLUSIVE) until COMMIT. On PostgreSQL 18+: NOT ENFORCED, then "
    "ENFORCED; before, or with no version known: dropped, then added again with its comment. --bulk: also "
    "a dump that would restore as it is (faster: no per-row FK checks). --no-bulk: FK cycles loaded row "
    "by row instead, for a target other sessions use meanwhile.",
)
@click.option(
    "--no-staging",
    is_flag=True,
    help="Rewrite the rows of the tables loaded with NULLs instead of loading them through a temporary "
    "table of every row: slower to write, but the temporary tables hold only keys and FK values.",
)
@click.option(
    "--pass-unknown",
    is_flag=True,
    help="Pass the data of tables the schema lacks through unchanged (with a warning each) instead of "
    "refusing the dump; a schema that defines none of the dump's tables is refused all the same.",
)
@click.option(
    "--keep-inserts",
    is_flag=True,
    help="Write INSERT statements as the dump has them, not merged into multi-row INSERTs (where dumpfix "
    "changes the dump: a multi-row INSERT restores many times faster).",
)
@click.option(
    "--target-version",
    type=_VERSION,
    metavar="N[.M]",
    help="Version of the server the output is for (18, or 18.4 with the minor): drop settings it rejects "
    "(SET transaction_timeout before 17); from 18.4, the bulk load keeps DEFERRABLE FKs through NOT ENFORCED.",
)
@click.option(
    "--strip-restrict",
    is_flag=True,
    help="Remove \\restrict/\\unrestrict (for loaders other than a recent psql). They stop psql from "
    "running meta-commands hidden in the data: use only on dumps of databases you trust.",
)
@click.option("--explain", is_flag=True, help="Describe the plan on stderr.")
@click.option(
    "--graph",
    metavar="FILE",
    help="Draw the FK graph, cycles and cut FKs: Graphviz for .dot/.gv, Mermaid for .mmd/.md.",
)
@click.option(
    "--print-deferrable-migration",
    is_flag=True,
    help="Print the migration making the FKs DEFERRABLE INITIALLY DEFERRED (those in IN's cycles, or all of the schema's).",
)
@click.option(
    "--print-deferrable-revert",
    is_flag=True,
    help="Print the migration giving the FKs back their declared deferrability.",
)
@click.option(
    "--config",
    metavar="FILE",
    is_eager=True,
    expose_value=False,
    callback=_read_config,
    help="Read [tool.dumpfix] from this file instead of the nearest pyproject.toml.",
)
@click.option(
    "--jobs",
    type=click.IntRange(1, 256),
    metavar="N",
    help="Load a custom (-Fc) or directory (-Fd) archive with pg_restore -j N into --dsn as the tables' owner "
    "(FKs off, then back and validated), or write that plan and its scripts into -o DIR. Not atomic.",
)
@click.option(
    "--finish", is_flag=True, help="Put back (and validate) the FKs an interrupted --jobs load left off in --dsn."
)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors on stderr (no notices, no progress).")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks on errors.")
@click.version_option(__version__, prog_name="dumpfix")
@click.pass_context
def command(
    ctx: click.Context,
    inputs: tuple[str, ...],
    output: str | None,
    check: bool,
    in_place: bool,
    verify: bool,
    server_dsn: str | None,
    schema: tuple[Path, ...],
    dsn: str | None,
    role: str | None,
    strategy: str | None,
    wrap: bool,
    bulk: bool | None,
    no_staging: bool,
    pass_unknown: bool,
    keep_inserts: bool,
    target_version: tuple[int, int | None] | None,
    strip_restrict: bool,
    explain: bool,
    graph: str | None,
    print_deferrable_migration: bool,
    print_deferrable_revert: bool,
    jobs: int | None,
    finish: bool,
    quiet: bool,
    verbose: bool,
) -> None:
    """Rewrite pg_dump data-only dumps so that they restore without FK violations.

    IN is a file or - for stdin; the result goes to stdout unless -o is given.
    With --check or --in-place, IN... are any number of files (as pre-commit passes them).
    """
    if jobs is not None or finish:
        _parallel(inputs, output, schema, dsn, jobs, finish, quiet, verbose)
    if dsn and schema:
        # The command line beats pyproject.toml: a --dsn typed now replaces the file's schema.
        from_file = {ParameterSource.DEFAULT_MAP, ParameterSource.DEFAULT}
        if ctx.get_parameter_source("schema") in from_file:
            schema = ()
        elif ctx.get_parameter_source("dsn") in from_file:
            dsn = None
        else:
            raise click.UsageError("--schema and --dsn both give the schema: use one")
    given = {
        "bulk": bulk,
        "strategy": strategy,
        "no_staging": no_staging,
        "role": role == Role.USER.value,
        "wrap": wrap,
        "explain": explain,
        "strip_restrict": strip_restrict,
        "print_deferrable_migration": print_deferrable_migration,
        "print_deferrable_revert": print_deferrable_revert,
    }
    given.update(_strategy_staging=no_staging and strategy not in (None, Method.NULLS.value))
    dropped = _conflicts(ctx, given)
    # None: the FKs go off wherever the dump is rewritten and the role and options allow it.
    bulk = None if "bulk" in dropped else bulk
    strategy = None if "strategy" in dropped else strategy
    no_staging = no_staging and "no_staging" not in dropped
    role = None if "role" in dropped else role
    wrap = wrap and "wrap" not in dropped
    explain = explain and "explain" not in dropped
    strip_restrict = strip_restrict and "strip_restrict" not in dropped
    mode = _mode(inputs, output, check, in_place, graph, print_deferrable_migration, print_deferrable_revert, verify)
    if server_dsn and mode is not Mode.VERIFY:
        if ctx.get_parameter_source("server_dsn") not in (ParameterSource.DEFAULT_MAP, ParameterSource.DEFAULT):
            raise click.UsageError("--server-dsn goes with --verify")
    settings = Settings(
        Role(role) if role else Role.OWNER,
        Method(strategy) if strategy else None,
        wrap,
        target_version[0] if target_version else None,
        bulk,
        staging=not no_staging,
        pass_unknown=pass_unknown,
        target_minor=target_version[1] if target_version else None,
        keep_inserts=keep_inserts,
    )
    cleanup = Cleanup(settings.target_version, strip_restrict)
    options = Options(inputs, output, schema, explain, verbose, settings, cleanup)
    printing = "migration" if print_deferrable_migration else "revert" if print_deferrable_revert else None
    options = replace(options, dsn=dsn, detect_role=role is None, mode=mode, quiet=quiet, graph=graph)
    options = replace(options, print_deferrable=printing, progress=not quiet and _terminal(sys.stderr))
    options = replace(options, server_dsn=server_dsn)
    _exit(lambda: run(options), verbose)


def _parallel(
    inputs: tuple[str, ...],
    output: str | None,
    schema: tuple[Path, ...],
    dsn: str | None,
    jobs: int | None,
    finish: bool,
    quiet: bool,
    verbose: bool,
) -> None:
    """--jobs / --finish: an archive loaded in parallel (archive.py); exits like any run."""
    from dumpfix.archive import ParallelOptions, run_parallel

    if len(inputs) > 1:
        raise click.UsageError("--jobs loads one archive")
    options = ParallelOptions(inputs[0] if inputs else None, jobs or 1, dsn, schema, output, finish)
    say = _echo(Options(inputs, output, schema, False, verbose, quiet=quiet))
    _exit(lambda: run_parallel(options, say), verbose)


def _exit(work: Callable[[], int], verbose: bool) -> NoReturn:
    """Run the work and exit with its code; an error is one line (a traceback with -v)
    and exit 2, Ctrl-C or SIGTERM exit 130."""
    try:
        code = work()
    except DumpfixError as e:
        if verbose:
            import traceback  # here: needed only after a failure

            traceback.print_exc()
        click.echo(f"dumpfix: error: {e}", err=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo("dumpfix: interrupted", err=True)
        sys.exit(130)
    sys.exit(code)


#: Options that cannot both apply: giving both is a usage error, not a silent choice.
#: (--wrap with --bulk is allowed: the bulk load is one transaction with constraints
#: deferred already, which is all --wrap asks.) --bulk counts only where typed (or set
#: in [tool.dumpfix]): by default it gives way to the options that load row by row. --check with --in-place, -o with them,
#: and several IN without them are decided in _mode.
_CONFLICTS: tuple[tuple[str, str, str], ...] = (
    ("bulk", "strategy", "--bulk keeps the dump's order with every FK off: no cycle strategy applies"),
    ("bulk", "role", "--bulk alters constraints, which --role user may not"),
    ("bulk", "no_staging", "--bulk stages nothing"),
    ("no_staging", "_strategy_staging", "only --strategy nulls stages tables"),
    *(
        (printing, other, "the migration is printed instead of a dump")
        for printing in ("print_deferrable_migration", "print_deferrable_revert")
        for other in ("bulk", "wrap", "explain", "strip_restrict", "no_staging")
    ),
)


def _conflicts(ctx: click.Context, given: dict[str, bool | str | None]) -> set[str]:
    """Settings to drop because another one excludes them; a usage error when both were typed.

    Like --dsn over a pyproject.toml schema: an option typed now beats a setting the
    project file keeps, which only makes a default. Two typed (or two kept in the file)
    that exclude each other are an error: which one was meant is for the user to say.
    """
    from_file = {ParameterSource.DEFAULT_MAP, ParameterSource.DEFAULT}
    dropped: set[str] = set()
    for a, b, why in _CONFLICTS:
        if not (given.get(a) and given.get(b)) or a in dropped or b in dropped:
            continue
        source_b = "strategy" if b == "_strategy_staging" else b
        a_file, b_file = ctx.get_parameter_source(a) in from_file, ctx.get_parameter_source(source_b) in from_file
        if a_file != b_file:
            dropped.add(a if a_file else source_b)
            continue
        second = _flag(source_b, ctx)
        where = " (both in [tool.dumpfix])" if a_file else ""
        raise click.UsageError(f"{_flag(a, ctx)} and {second} exclude each other{where}: {why}")
    return dropped


def _flag(name: str, ctx: click.Context) -> str:
    if name == "role":
        return "--role user"
    if name == "strategy":
        return f"--strategy {ctx.params.get('strategy')}"
    return "--" + name.replace("_", "-")


def _mode(
    inputs: tuple[str, ...],
    output: str | None,
    check: bool,
    in_place: bool,
    graph: str | None,
    migration: bool,
    revert: bool,
    verify: bool = False,
) -> Mode:
    """The one mode the flags ask for; contradictions are usage errors (exit 2)."""
    if migration or revert:
        if migration and revert or check or in_place or graph or verify:
            raise click.UsageError("--print-deferrable-migration/--print-deferrable-revert go alone")
        if len(inputs) > 1:
            raise click.UsageError("--print-deferrable-migration/--print-deferrable-revert take at most one IN")
        return Mode.WRITE
    if check and in_place:
        raise click.UsageError("--check and --in-place exclude each other")
    if verify:
        if check or in_place:
            raise click.UsageError(f"--verify and --{'check' if check else 'in-place'} exclude each other")
        if output is not None:
            raise click.UsageError("-o goes with a single IN, not with --verify")
        if not inputs:
            raise click.UsageError("missing IN: --verify needs dump files (or - for stdin)")
        if graph and len(inputs) > 1:
            raise click.UsageError("--graph draws one dump: give one IN")
        return Mode.VERIFY
    if check or in_place:
        if output is not None:
            raise click.UsageError(f"-o goes with a single IN, not with --{'check' if check else 'in-place'}")
        if in_place and "-" in inputs:
            raise click.UsageError("--in-place needs files, not - (stdin)")
        if graph and len(inputs) > 1:
            raise click.UsageError("--graph draws one dump: give one IN")
        return Mode.CHECK if check else Mode.IN_PLACE
    if not inputs:
        raise click.UsageError("missing IN: a dump file, or - for stdin")
    if len(inputs) > 1:
        raise click.UsageError("several IN files need --check or --in-place")
    return Mode.WRITE


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
