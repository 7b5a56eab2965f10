"""How decisions and requests read: tables whose "why" column is ``reaper.explain.why``,
JSON for scripts."""

from __future__ import annotations

import json
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

NON_TERMINAL_WIDTH = 160


class Output:
    """Tables on stdout (or JSON lines with --json); notes and progress on stderr."""

    def __init__(self, json_lines: bool) -> None:
        self.json = json_lines
        width = None if sys.stdout.isatty() else NON_TERMINAL_WIDTH
        self.out = Console(width=width, highlight=False)
        self.err = Console(stderr=True, highlight=False)

    def emit(self, value: Any) -> None:
        """One JSON line (never through rich: no markup, no wrapping)."""
        sys.stdout.write(json.dumps(value, default=_plain, sort_keys=True) + "\n")

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


def decision_json(decision: Decision) -> dict[str, Any]:
    return {
        k: _plain(v) if isinstance(v, datetime | Enum) else v for k, v in asdict(decision).items()
    }


OUTCOME_STYLE = {
    Outcome.CANCELLED: "green",
    Outcome.CANCEL_COMPLETE: "green",
    Outcome.DRY_RUN: "yellow",
    Outcome.FAILED: "red",
    Outcome.INVALID: "red",
}


def decisions_table(title: str, decisions: list[Decision], *, when: bool = False) -> Table:
    table = Table(title=title, title_justify="left")
    if when:
        table.add_column("decided at (UTC)", no_wrap=True)
    for column in ("token", "type", "op", "source", "outcome"):
        table.add_column(column, no_wrap=True)
    table.add_column("why", overflow="fold")
    for d in decisions:
        row = [d.token, d.type_name or "-", d.operation or "-", d.source.value, d.outcome.value]
        if when:
            row.insert(0, d.decided_at.strftime("%Y-%m-%d %H:%M:%S"))
        table.add_row(*row, why(d), style=OUTCOME_STYLE.get(d.outcome))
    return table
