"""How decisions and requests read: tables whose "why" column is ``reaper.explain.why``,
JSON for scripts."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict
from datetime import datetime
from enum import Enum
from typing import Any

from reaper.explain import why
from reaper.models import Decision, Outcome
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

# Where nothing says how wide (a pipe, a CI log, no COLUMNS): wide enough for every table of
# the CLI with whole tokens (at 120 the status, unblock and leftovers tables cut columns).
NON_TERMINAL_WIDTH = 160
MIN_WIDTH = 40


def output_width() -> int | None:
    """A terminal's own width (None: rich asks it); elsewhere COLUMNS, or 160."""
    if sys.stdout.isatty():
        return None
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) >= MIN_WIDTH else NON_TERMINAL_WIDTH


class ReaderSafeStdout:
    """``sys.stdout`` until its reader goes away (``cc-reaper ... | head -1``), then a sink.

    The command runs to its end (a sweep still records what it cancelled), nothing is
    printed about the broken pipe, and ``main`` leaves with 141, a shell's status for a
    writer stopped by SIGPIPE (``seq 1000000 | head -1`` under ``set -o pipefail``).
    """

    def __init__(self) -> None:
        self.reader_gone = False

    @property
    def encoding(self) -> str:
        return str(getattr(sys.stdout, "encoding", None) or "utf-8")

    def isatty(self) -> bool:
        return sys.stdout.isatty()

    def write(self, text: str) -> int:
        if not self.reader_gone:
            try:
                sys.stdout.write(text)
            except BrokenPipeError:
                self.gone()
        return len(text)

    def flush(self) -> None:
        if not self.reader_gone:
            try:
                sys.stdout.flush()
            except BrokenPipeError:
                self.gone()

    def gone(self) -> None:
        """From now on write nowhere; Python's own flush at exit must not fail either."""
        self.reader_gone = True
        stdout_to_devnull()


def stdout_to_devnull() -> None:
    """Point the stdout descriptor at /dev/null: the interpreter's last flush at exit then
    succeeds instead of printing "Exception ignored ... BrokenPipeError" (Python's
    documented recipe). No-op where stdout has no descriptor (pytest's capture)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


class Output:
    """Tables on stdout (or JSON lines with --json); notes and progress on stderr."""

    def __init__(self, json_lines: bool) -> None:
        self.json = json_lines
        self.stdout = ReaderSafeStdout()
        self.out = Console(file=self.stdout, width=output_width(), highlight=False)  # type: ignore[arg-type]
        self.err = Console(stderr=True, highlight=False)

    @property
    def reader_gone(self) -> bool:
        """stdout's reader closed the pipe before the command ended."""
        return self.stdout.reader_gone

    def emit(self, value: Any) -> None:
        """One JSON line (never through rich: no markup, no wrapping)."""
        self.stdout.write(json.dumps(value, default=_plain, sort_keys=True) + "\n")

    def note(self, text: str) -> None:
        """One line on stderr, never wrapped (scripts and log readers grep it)."""
        self.err.print(text, soft_wrap=True)

    @property
    def quiet(self) -> bool:
        """No progress with --json, nor where nobody watches stderr (CI logs, pipes)."""
        return self.json or not self.err.is_terminal

    def spinner(self) -> Progress:
        """A transient progress line on stderr for waits of unknown length (off with --json)."""
        return Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=self.err,
            transient=True,
            disable=self.quiet,
        )

    def bar(self) -> Progress:
        """A transient progress bar on stderr for a known number of steps (off with --json)."""
        return Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.err,
            transient=True,
            disable=self.quiet,
        )


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"not JSON: {type(value).__name__}")


# A Decision's in-flight flags, never stored: not part of what the audit says.
NOT_AUDITED = frozenset({"follow_up_sent"})


def decision_json(decision: Decision) -> dict[str, Any]:
    return {
        k: _plain(v) if isinstance(v, datetime | Enum) else v
        for k, v in asdict(decision).items()
        if k not in NOT_AUDITED
    }


OUTCOME_STYLE = {
    Outcome.CANCELLED: "green",
    Outcome.CANCEL_COMPLETE: "green",
    Outcome.DRY_RUN: "yellow",
    Outcome.FAILED: "red",
    Outcome.INVALID: "red",
}


def decisions_table(title: str, decisions: list[Decision], *, when: bool = False) -> Table:
    """Tokens and the short enum columns never wrap (a token is copied whole); the date, the
    type and the "why" wrap, so the table fits COLUMNS=120 without cutting a token."""
    table = Table(title=title, title_justify="left")
    if when:
        table.add_column("decided at (UTC)")  # wraps at the space: date above time
    table.add_column("token", no_wrap=True, overflow="fold")
    table.add_column("type", overflow="fold")  # long TypeNames wrap, not cut
    for column in ("op", "source", "outcome"):
        table.add_column(column, no_wrap=True, overflow="fold")
    table.add_column("why", overflow="fold")
    for d in decisions:
        row = [d.token, d.type_name or "-", d.operation or "-", d.source.value, d.outcome.value]
        if when:
            row.insert(0, d.decided_at.strftime("%Y-%m-%d %H:%M:%S"))
        table.add_row(*row, why(d), style=OUTCOME_STYLE.get(d.outcome))
    return table
