"""What happened to each file of a run, and the exit code that follows (black's Report).

One bad file does not stop the others: each outcome is recorded and the run
ends with 2 if any file failed, else 1 if ``--check`` found a dump to
rewrite, else 0. Every line goes to stderr; stdout carries only SQL.
"""

from __future__ import annotations

import bisect
import enum
from collections.abc import Callable

from dumpfix.fix import Analysis
from dumpfix.layout import Unit
from dumpfix.plan import Method
from dumpfix.source import Source


class Mode(enum.Enum):
    """What the run does with each dump; decided once from the flags."""

    WRITE = "write"  # one IN to -o OUT or stdout
    CHECK = "check"  # write nothing; exit 1 when a dump would change
    IN_PLACE = "in-place"  # rewrite each file that would change, atomically
    VERIFY = "verify"  # restore each dump on a scratch server; exit 1 when one differs


class Report:
    def __init__(self, mode: Mode, quiet: bool, echo: Callable[[str], None], output: str | None = None) -> None:
        self.mode = mode
        self.quiet = quiet
        self.echo = echo
        #: WRITE's -o file: a run that writes one says what it wrote there (stdout: nothing).
        self.output = output if output != "-" else None
        self.changed = 0
        self.unchanged = 0
        self.failed = 0
        #: --verify: dumps that did not restore as they hold.
        self.mismatched = 0

    def done(self, name: str, changes: list[str]) -> None:
        """A file was read and planned: changes is empty when it restores as it is."""
        if self.mode is Mode.WRITE and self.output is not None and not self.quiet:
            what = ", ".join(changes) if changes else "unchanged, it restores as it is"
            self.echo(f"{'fixed' if changes else 'copied'} {name} -> {self.output}: {what}")
        if not changes:
            self.unchanged += 1
            return
        self.changed += 1
        if self.mode in (Mode.WRITE, Mode.VERIFY) or self.quiet:
            return
        verb = "would rewrite" if self.mode is Mode.CHECK else "rewrote"
        self.echo(f"{verb} {name}: {', '.join(changes)}")

    def unverified(self, message: str) -> None:
        """--verify: a dump did not restore, or not as it holds (exit 1, unless an error)."""
        self.mismatched += 1
        self.echo(f"error: {message}")

    def failure(self, message: str) -> None:
        self.failed += 1
        self.echo(f"error: {message}")

    @property
    def exit_code(self) -> int:
        if self.failed:
            return 2
        if self.mode is Mode.CHECK and self.changed or self.mismatched:
            return 1
        return 0


def changes(analysis: Analysis, source: Source) -> list[str]:
    """Why the output differs from the input, in counts: empty when it does not.

    e.g. ``2 cycles, 3 FK columns loaded as NULL, 4 tables moved``.
    """
    plan = analysis.plan
    parts: list[str] = []
    if not analysis.unchanged:
        cycles = [cy for cy in plan.cycles if not cy.across]  # an FK cut at the dump's DDL is no cycle
        if cycles:
            parts.append(count_of(len(cycles), "cycle"))
        nulled = sum(len(r.nulled) for r in plan.rewrites.values())
        if nulled:
            parts.append(count_of(nulled, "FK column") + " loaded as NULL")
        moved = moved_tables(plan.layout.units, plan.order)
        if moved:
            parts.append(count_of(moved, "table") + " moved")
        altered = sum(1 for cy in plan.cycles for c in cy.cuts if c.method is Method.OWNER)
        if altered:
            parts.append(count_of(altered, "FK") + " altered for the load")
        if plan.superuser:
            parts.append("FK checks off for the load (superuser)")
        if plan.bulk_fks:
            parts.append(count_of(len(plan.bulk_fks), "FK") + " off for the load, then validated")
        if plan.transaction:
            parts.append("one transaction")
    if source.utf16:
        parts.append("UTF-16 to UTF-8")
    if analysis.notices:
        parts.append(count_of(len(analysis.notices), "clean-up"))
    return parts


def moved_tables(before: list[Unit], after: list[Unit]) -> int:
    """Tables whose data must move: those outside the longest run kept in the input's order."""
    index = {u: i for i, u in enumerate(before)}
    positions = [index[u] for u in after]
    kept = _longest_increasing(positions)
    return len({after[i].table for i in range(len(after)) if i not in kept})


def _longest_increasing(values: list[int]) -> set[int]:
    """Indexes of one longest strictly increasing subsequence (patience sorting)."""
    tails: list[int] = []  # values
    tail_at: list[int] = []  # their indexes
    back: list[int] = [-1] * len(values)
    for i, v in enumerate(values):
        k = bisect.bisect_left(tails, v)
        if k == len(tails):
            tails.append(v)
            tail_at.append(i)
        else:
            tails[k] = v
            tail_at[k] = i
        back[i] = tail_at[k - 1] if k else -1
    kept: set[int] = set()
    i = tail_at[-1] if tail_at else -1
    while i >= 0:
        kept.add(i)
        i = back[i]
    return kept


def count_of(n: int, noun: str) -> str:
    """n and its noun, plural where n is not 1: ``3 cycles``, ``1 table``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"
