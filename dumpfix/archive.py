"""``--jobs N``: load a custom or directory archive with ``pg_restore -j N`` as the tables' owner.

A table owner cannot switch FK triggers off (``--disable-triggers`` needs a
superuser), and pg_restore's parallel workers each load in their own
transaction, so no ordering or deferral works across them. Instead the FKs of
the loaded tables come off for the load and go back after it, checked once
each (see pending.py for how that survives an interrupted load).

With ``--dsn`` the three steps run now; with ``-o DIR`` they are written as
files with a POSIX shell script and a PowerShell script that run them.
Loading in parallel is not atomic: a failed load leaves part of the data
(and every FK back in place); the plain-SQL pipe through psql is the atomic way.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from dumpfix import pending, programs
from dumpfix.catalog import Catalog, QName
from dumpfix.errors import DumpfixError
from dumpfix.live import connect  # its one-line errors, timeouts and conninfo handling
from dumpfix.output import sigterm_as_interrupt
from dumpfix.pending import Pending
from dumpfix.toc import Toc, entry_tables, loaded_tables, read_toc

Say = Callable[[str], None]


@dataclass(frozen=True)
class ParallelOptions:
    archive: str | None
    jobs: int
    dsn: str | None
    schema: tuple[Path, ...]
    #: -o DIR: write the plan there instead of running it.
    output: str | None
    #: Only put back the FKs an earlier run left off.
    finish: bool


@dataclass(frozen=True)
class Finished:
    """What the post step did: FKs validated, and those that failed (one line each)."""

    validated: int
    failures: tuple[str, ...]
    #: FKs on partitioned tables that could not come back at all (PostgreSQL < 18), one line each.
    still_off: tuple[str, ...]
    #: Whether the run that took them off had finished loading (None: nothing was pending).
    loaded: bool | None


def run_parallel(options: ParallelOptions, say: Say) -> int:
    """The parallel load, its written plan, or --finish; DumpfixError (exit 2) on any failure."""
    if options.finish:
        if not options.dsn:
            raise DumpfixError("--finish needs --dsn URL: the database whose FKs an earlier run left off")
        done = finish(options.dsn, options.jobs)
        if done.loaded is None:
            say(f"nothing to finish: no {pending.TABLE} in the --dsn database")
            return 0
        _report_finished(done, say)
        if not done.loaded:
            raise DumpfixError(_PARTIAL)
        return 0
    if not options.archive:
        raise DumpfixError("--jobs needs an archive: a pg_dump -Fc file or -Fd folder")
    if options.output is None and not options.dsn:
        raise DumpfixError("--jobs loads into --dsn URL, or writes the plan into -o DIR (with --schema or --dsn)")
    toc = read_toc(options.archive)
    catalog = _catalog(options)
    fks = taken_off(catalog, toc)
    order = "largest tables first" if toc.by_size else "in the archive's order (a -Fc archive does not tell sizes)"
    say(
        f"{len(toc.tables())} tables with {toc.pg_restore}, {options.jobs} jobs, {order}; "
        f"{len(fks)} FKs off during the load, then back and validated"
    )
    if options.output is not None:
        write_plan(Path(options.output), toc, fks, options.jobs)
        say(
            f"wrote the plan into {options.output}: run `sh {shlex.quote(os.path.join(options.output, 'restore.sh'))} URL` "
            f"(Windows: restore.ps1 -Dsn URL)"
        )
        return 0
    assert options.dsn is not None
    return load(options.dsn, toc, fks, options.jobs, say, _Schedule.of(catalog, toc, fks))


_PARTIAL = (
    "an earlier parallel load was interrupted before pg_restore finished: its FKs are back in place, "
    "but the tables hold part of the archive's data; empty them and run again"
)


def _catalog(options: ParallelOptions) -> Catalog:
    if options.dsn:
        from dumpfix.live import load_catalog

        return load_catalog(options.dsn)
    if not options.schema:
        raise DumpfixError("-o DIR with --jobs needs the target's schema: --schema FILE_OR_DIR (or --dsn URL)")
    from dumpfix.schema import load_schema

    return load_schema(options.schema)


def taken_off(catalog: Catalog, toc: Toc) -> list[Pending]:
    """The enforced FKs declared on a table the archive loads (or on a partition root of one).

    An FK only checks rows of its own table: loading the referenced table fires nothing.
    """
    declared = {name for table in loaded_tables(toc, list(catalog.tables)) for name in _with_parents(catalog, table)}
    return [Pending.of(fk) for fk in catalog.foreign_keys if fk.enforced and fk.table in declared]


def _with_parents(catalog: Catalog, table: QName) -> list[QName]:
    """table and the partitioned tables above it, up to its root (an FK declared on any
    of them checks its rows)."""
    chain: list[QName] = []
    name: QName | None = table
    while name is not None and name not in chain:
        chain.append(name)
        known = catalog.tables.get(name)
        name = None if known is None else known.parent
    return chain


@dataclass(frozen=True)
class _Schedule:
    """What the early validation (_Early) goes by: per FK taken off (its table as stored,
    its name), the data entries it waits for, those of its table and of the table it
    references (their partitions' too); and each data entry's table, as pg_restore -v names it."""

    waits: dict[tuple[str, str], frozenset[int]]
    names: dict[str, int]

    @classmethod
    def of(cls, catalog: Catalog, toc: Toc, fks: list[Pending]) -> _Schedule:
        entries = entry_tables(toc, list(catalog.tables))
        under: dict[QName, set[int]] = {}
        for dump_id, table in entries.items():
            for name in _with_parents(catalog, table):
                under.setdefault(name, set()).add(dump_id)
        refs = {(fk.table, fk.name): fk.ref_table for fk in catalog.foreign_keys}
        waits = {
            (str(p.table), p.name): frozenset(under.get(p.table, set()) | under.get(refs[(p.table, p.name)], set()))
            for p in fks
        }
        return cls(waits, {f"{q.schema}.{q.name}": dump_id for dump_id, q in entries.items()})


class _Early:
    """FKs put back and validated while pg_restore goes on: each once the data entries it
    waits for are loaded (pg_restore -v says which), on one connection of its own beside
    the load's, as the finish step would: put back, then validated and struck off if the
    table still lists it as pending (PENDING_VALIDATION: not one that was NOT VALID in the
    schema, which stays so). One that fails is left to the finish step, which tries it
    again and names it."""

    _FINISHED = re.compile(rb"pg_restore: finished item (\d+) ")
    _PROCESSING = re.compile(rb'pg_restore: processing data for table "(.*)"')

    def __init__(self, dsn: str, schedule: _Schedule, jobs: int) -> None:
        self.dsn = dsn
        self.waits = {fk: set(ids) for fk, ids in schedule.waits.items()}
        self.serial = jobs <= 1  # pg_restore -j 1 says only where each table's data begins
        self.names = schedule.names
        self.current: int | None = None
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.validated = 0

    def line(self, line: bytes) -> None:
        """A line of pg_restore -v's stderr."""
        if self.serial:
            m = self._PROCESSING.match(line)
            if m is not None:
                if self.current is not None:
                    self.done(self.current)
                self.current = self.names.get(m.group(1).decode("utf-8", "replace"))
            return
        m = self._FINISHED.match(line)
        if m is not None:
            self.done(int(m.group(1)))

    def done(self, dump_id: int) -> None:
        for fk, ids in list(self.waits.items()):
            ids.discard(dump_id)
            if not ids:
                del self.waits[fk]
                self.pool.submit(self._validate, *fk)

    def _validate(self, table: str, name: str) -> None:
        import psycopg

        try:
            _execute(self.dsn, pending.restore_one(table, name))
            with connect(self.dsn) as conn:
                if conn.execute(pending.pending_validation_of(table, name)).fetchone() is None:
                    return
                conn.execute(pending.validate_step(table, name))
                conn.commit()
            self.validated += 1
        except (psycopg.Error, DumpfixError):
            pass  # the finish step puts it back and validates it, and names what fails

    def close(self) -> None:
        """Wait for the validation running; those not begun are the finish step's."""
        self.pool.shutdown(wait=True, cancel_futures=True)


def load(dsn: str, toc: Toc, fks: list[Pending], jobs: int, say: Say, schedule: _Schedule | None = None) -> int:
    """Pre step, pg_restore -j, post step; the FKs go back however the load ends, and each
    once its tables are loaded if it can (_Early)."""
    started = time.monotonic()
    earlier = finish(dsn, jobs)  # a second run finishes the first one before anything else
    if earlier.loaded is not None:
        _report_finished(earlier, say)
        if not earlier.loaded:
            raise DumpfixError(_PARTIAL)
        say("the earlier run had loaded the archive already: nothing loaded again")
        return 0
    _execute(dsn, pending.pre_step(fks))
    failure: str | None = None
    early = _Early(dsn, schedule or _Schedule({}, {}), jobs)
    with sigterm_as_interrupt():
        try:
            try:
                failure = _pg_restore(dsn, toc, jobs, early.line)
            finally:
                early.close()
            if failure is None:
                _execute(dsn, pending.LOADED)
        except KeyboardInterrupt:
            finish(dsn, jobs)  # nothing stays unprotected
            say("interrupted: every FK is back in place; the tables hold part of the archive's data")
            raise
        except Exception:
            finish(dsn, jobs)
            raise
        done = finish(dsn, jobs)
        done = dataclasses.replace(done, validated=done.validated + early.validated)
    if failure is not None:
        _raise_failures(done)
        raise DumpfixError(
            f"pg_restore failed: {failure}; every FK is back in place, but the tables hold "
            "part of the archive's data (a parallel load is not atomic)"
        )
    _raise_failures(done)
    say(
        f"loaded {len(toc.tables())} tables in {time.monotonic() - started:.1f} s; "
        f"{done.validated} FKs back and validated"
    )
    return 0


def _report_finished(done: Finished, say: Say) -> None:
    _raise_failures(done)
    say(f"finished an earlier run: {done.validated} FKs back in place and validated")


def _raise_failures(done: Finished) -> None:
    """Orphan rows: the FKs are in place (NOT VALID) and pending, or on PostgreSQL < 18 an FK
    on a partitioned table still off; one line names each and a key."""
    parts = []
    if done.failures:
        parts.append(
            f"{len(done.failures)} FK(s) are back in place, NOT VALID (they check new rows), but rows break them: "
            + "; ".join(done.failures)
        )
    if done.still_off:
        parts.append(f"{len(done.still_off)} FK(s) could not be put back: " + "; ".join(done.still_off))
    if parts:
        raise DumpfixError(". ".join(parts) + ": fix those rows, then run `dumpfix --finish --dsn URL`")


def _pg_restore(dsn: str, toc: Toc, jobs: int, on_line: Callable[[bytes], None] | None = None) -> str | None:
    """Run the load; its error in one line when it fails, None when it succeeds."""
    with tempfile.TemporaryDirectory(prefix="dumpfix-") as folder:
        listing = os.path.join(folder, "restore.list")
        with open(listing, "w", encoding="utf-8") as f:
            f.write(toc.list_file())
        args = [
            toc.pg_restore.path,
            "-j",
            str(jobs),
            "--verbose",  # where each table's data is loaded: on_line hears it
            "--data-only",
            "--exit-on-error",
            "-L",
            listing,
            "-d",
            dsn,
            toc.archive,
        ]
        # Interrupted, it is killed with its workers (programs.run) before the FKs go back.
        result = programs.run(args, stdout=subprocess.DEVNULL, check=False, on_line=on_line)
    return None if result.returncode == 0 else result.message


def _execute(dsn: str, sql: str) -> None:
    """One transaction of SQL; a server error becomes one line (exit 2)."""
    import psycopg

    with connect(dsn) as conn:
        try:
            conn.execute(sql)
            conn.commit()
        except psycopg.Error as e:
            raise DumpfixError(f"--dsn: {_one_line(e)}") from None


def finish(dsn: str, jobs: int) -> Finished:
    """Put back what dumpfix.pending_fks lists, validate in parallel, then drop the table if all passed."""
    import psycopg

    with connect(dsn) as conn:
        row = conn.execute(f"SELECT pg_catalog.to_regclass('{pending.TABLE}') IS NOT NULL").fetchone()
        if not row or not row[0]:
            return Finished(0, (), (), None)
        done = conn.execute(f"SELECT coalesce(bool_and(loaded), true) FROM {pending.TABLE}").fetchone()
        loaded = bool(done and done[0])
        warnings: list[str] = []
        conn.add_notice_handler(lambda d: warnings.append(d.message_primary or ""))
        try:
            conn.execute(pending.RESTORE)
            conn.commit()
        except psycopg.Error as e:
            raise DumpfixError(f"--dsn: cannot put the FKs back: {_one_line(e)}") from None
        still_off = tuple(w.removeprefix(pending.OFF_PREFIX) for w in warnings if w.startswith(pending.OFF_PREFIX))
        todo = [(t, n) for t, n in conn.execute(pending.PENDING_VALIDATION).fetchall()]
        conn.rollback()
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(lambda fk: _validate(dsn, *fk), todo))
    failures = tuple(r for r in results if r is not None)
    if not failures and not still_off:
        _execute(dsn, pending.FINISH)
    return Finished(len(todo) - len(failures), failures, still_off, bool(loaded))


def _validate(dsn: str, table: str, name: str) -> str | None:
    """VALIDATE one FK on a connection of its own; the violation in words when it fails."""
    import psycopg

    with connect(dsn) as conn:
        try:
            conn.execute(pending.validate_step(table, name))
            conn.commit()
        except psycopg.Error as e:
            detail = e.diag.message_detail
            return f"FK {name} on {table}: " + (" ".join(detail.split()) if detail else _one_line(e))
    return None


def _one_line(error: BaseException) -> str:
    diag = getattr(error, "diag", None)
    text = getattr(diag, "message_primary", None) or str(error)
    return " ".join(text.split())


def write_plan(folder: Path, toc: Toc, fks: list[Pending], jobs: int) -> None:
    """The three steps as files, and the scripts that run them (see the scripts' headers)."""
    from dumpfix.scripts import powershell, shell

    folder.mkdir(parents=True, exist_ok=True)
    validate = folder / "validate"
    validate.mkdir(exist_ok=True)
    for old in validate.glob("*.sql"):
        old.unlink()
    files = {
        "pre.sql": pending.pre_step(fks),
        "restore.list": toc.list_file(),
        "loaded.sql": pending.LOADED,
        "post.sql": pending.RESTORE,
        "finish.sql": pending.FINISH,
    }
    for i, fk in enumerate((p for p in fks if p.validated), 1):
        files[f"validate/{i:04d}.sql"] = pending.validate_step(str(fk.table), fk.name)
    archive = os.path.abspath(toc.archive)
    files["restore.sh"] = shell(archive, jobs)
    files["restore.ps1"] = powershell(archive, jobs)
    for name, text in files.items():
        with open(folder / name, "w", encoding="utf-8", newline="\r\n" if name.endswith(".ps1") else "\n") as f:
            f.write(text)
    os.chmod(folder / "restore.sh", 0o755)
