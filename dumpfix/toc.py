"""An archive's table of contents, read by the pg_restore that can read it.

Parallel loading needs a custom (-Fc) or directory (-Fd) archive and a
pg_restore at least as new as the pg_dump that made it: pg_restore refuses
newer archives ("unsupported version in file header"). Several PostgreSQL
versions are often installed side by side and only one is on PATH, so every
pg_restore programs.py finds is a candidate (PATH's, pg_config's, the usual
install folders', newest first after PATH); the first that lists the archive
is the one used.

The list file (``pg_restore -L``) keeps the archive's data entries only,
largest tables first: a parallel load ends when its largest table is in,
so that table must start first. Sizes come from the data files of a -Fd
archive; a -Fc archive keeps its entries in dump order (its TOC has data
offsets, but not when pg_dump wrote to a pipe), and the plan says so.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from dumpfix import programs
from dumpfix.catalog import QName
from dumpfix.errors import DumpfixError
from dumpfix.source import archive_format

_ENTRY = re.compile(r"^(\d+); (\d+) (\d+) (.*)$")
#: TOC entry kinds that carry data: what a --data-only restore loads.
_DATA_KINDS = ("TABLE DATA ", "SEQUENCE SET ", "BLOBS ", "BLOB ", "LARGE OBJECT", "MATERIALIZED VIEW DATA ")
_DATA_SUFFIXES = (".dat", ".dat.gz", ".dat.lz4", ".dat.zst")


@dataclass(frozen=True)
class PgRestore:
    """A pg_restore program and its version (major, minor)."""

    path: str
    version: tuple[int, int]

    def __str__(self) -> str:
        return f"pg_restore {self.version[0]}.{self.version[1]} ({self.path})"


@dataclass(frozen=True)
class Entry:
    """One line of ``pg_restore -l``: its dump id, kind, and the rest (schema, tag, owner)."""

    line: str
    dump_id: int
    kind: str
    rest: str
    size: int | None = None


@dataclass(frozen=True)
class Toc:
    """What the archive loads, with the program that read it."""

    archive: str
    format: str  # "custom" or "directory"
    pg_restore: PgRestore
    entries: tuple[Entry, ...]
    #: True when the entries are ordered by the size of their data.
    by_size: bool

    def tables(self) -> list[Entry]:
        return [e for e in self.entries if e.kind == "TABLE DATA"]

    def list_file(self) -> str:
        """The text for ``pg_restore -L``: data entries, largest tables first, then the rest."""
        head = "; written by dumpfix: the archive's data entries, " + (
            "largest tables first\n" if self.by_size else "in the archive's order (sizes unknown)\n"
        )
        return head + "".join(e.line + "\n" for e in self.entries)


def loadable_format(path: str) -> str:
    """custom or directory; anything else cannot be loaded in parallel (one clear error)."""
    head = b""
    if not os.path.isdir(path):
        try:
            with open(path, "rb") as f:
                head = f.read(512)
        except OSError as e:
            raise DumpfixError(f"cannot open the archive: {e.strerror or e}", path) from None
    fmt = archive_format(path, head)
    if fmt in ("custom", "directory"):
        return fmt
    if fmt == "tar":
        raise DumpfixError(
            "a tar-format archive: pg_restore loads only custom (-Fc) and directory (-Fd) "
            "archives in parallel; dump with -Fd, or restore the plain way without --jobs",
            path,
        )
    if os.path.isdir(path):
        raise DumpfixError("is a folder, not a pg_dump directory-format archive (no toc.dat)", path)
    raise DumpfixError(
        "--jobs loads a pg_dump custom (-Fc) or directory (-Fd) archive; this is neither "
        "(a plain SQL dump: pipe it through dumpfix into psql without --jobs)",
        path,
    )


def read_toc(archive: str) -> Toc:
    """List the archive with the first pg_restore that can; say which were too old when none can."""
    fmt = loadable_format(archive)
    found = programs.candidates("pg_restore", installs=True)
    if not found:
        raise DumpfixError(
            "pg_restore is not on PATH (nor in the usual PostgreSQL folders): install the "
            "PostgreSQL client programs of the archive's version, or put their bin folder on PATH"
        )
    refused: list[str] = []
    last = ""
    for path in found:
        program = PgRestore(path, programs.version(path))
        result = programs.run([path, "-l", archive], check=False, location=archive)
        if result.returncode == 0:
            entries = _entries(result.stdout.decode("utf-8", "replace"))
            sized = _sized(archive, fmt, entries)
            return Toc(archive, fmt, program, tuple(sized or entries), sized is not None)
        last = result.message
        if "unsupported version" in last:
            refused.append(str(program))
    if refused:
        raise DumpfixError(
            f"this archive was made by a newer pg_dump than every pg_restore found ({', '.join(refused)}): "
            f'they stop with "{last}"; install the pg_restore of the pg_dump that made it (or newer) and put '
            "its bin folder first on PATH",
            archive,
        )
    raise DumpfixError(f"pg_restore -l cannot read the archive: {last}", archive)


def _entries(listing: str) -> list[Entry]:
    """The data entries of ``pg_restore -l`` output, in the archive's order."""
    entries = []
    for line in listing.splitlines():
        m = _ENTRY.match(line)
        if m is None:
            continue
        text = m.group(4)
        kind = next((k for k in _DATA_KINDS if text.startswith(k)), None)
        if kind is None:
            continue
        entries.append(Entry(line, int(m.group(1)), kind.strip(), text[len(kind) :]))
    return entries


def _sized(archive: str, fmt: str, entries: list[Entry]) -> list[Entry] | None:
    """Entries with their data sizes, largest tables first (then the rest); None when unknown."""
    if fmt != "directory":
        return None
    tables: list[Entry] = []
    rest: list[Entry] = []
    for entry in entries:
        if entry.kind != "TABLE DATA":
            rest.append(entry)
            continue
        size = 0
        for suffix in _DATA_SUFFIXES:
            try:
                size = os.path.getsize(os.path.join(archive, f"{entry.dump_id}{suffix}"))
                break
            except OSError:
                continue
        tables.append(Entry(entry.line, entry.dump_id, entry.kind, entry.rest, size))
    tables.sort(key=lambda e: -(e.size or 0))  # stable: equal sizes keep the archive's order
    return tables + rest


def loaded_tables(toc: Toc, known: list[QName]) -> set[QName]:
    """The catalog tables the archive loads."""
    return set(entry_tables(toc, known).values())


def entry_tables(toc: Toc, known: list[QName]) -> dict[int, QName]:
    """The catalog table each data entry loads, by its dump ID.

    ``pg_restore -l`` prints ``schema tag owner`` unquoted, so a name with a
    space is ambiguous: each entry is matched against the known names, longest first.
    """
    by_length = sorted(known, key=lambda q: -len(q.schema) - len(q.name))
    found: dict[int, QName] = {}
    for entry in toc.tables():
        text = entry.rest + " "
        match = next((q for q in by_length if text.startswith(f"{q.schema} {q.name} ")), None)
        if match is not None:
            found[entry.dump_id] = match
    return found
