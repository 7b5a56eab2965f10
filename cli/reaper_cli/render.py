"""How decisions and requests read: one line of "why" from audited fields, JSON for scripts."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import datetime
from enum import Enum
from typing import Any

from reaper.models import Decision, Outcome
from rich.console import Console
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
        self.err.print(text)


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


def duration(seconds: int | float | None) -> str:
    if seconds is None:
        return "?"
    hours, rest = divmod(int(seconds), 3600)
    if hours >= 48:
        return f"{hours // 24}d{hours % 24:02d}h"
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def why(d: Decision) -> str:
    """One line a human reads, from the audited fields only."""
    age = duration(d.age_seconds)
    threshold = duration(d.threshold_minutes * 60 if d.threshold_minutes else None)
    reason = f"; reason: {d.reason}" if d.reason else ""
    if d.outcome in (Outcome.CANCELLED, Outcome.CANCEL_COMPLETE):
        after = d.status_after.value if d.status_after else "?"
        text = f"{d.status_seen} for {age} ≥ threshold {threshold} → {after}"
    elif d.outcome is Outcome.DRY_RUN:
        text = f"{d.status_seen} for {age} ≥ threshold {threshold}: would cancel (dry run)"
    elif d.outcome is Outcome.DEFERRED_CAP:
        text = f"stale ({age} ≥ {threshold}) but the run's cap of cancellations was used up"
    elif d.outcome is Outcome.DEFERRED_KILL_SWITCH:
        text = f"stale ({age} ≥ {threshold}) but the kill switch is engaged"
    elif d.outcome is Outcome.NOT_STALE:
        text = f"{age} old, under its threshold {threshold}"
    elif d.outcome is Outcome.WATCHING:
        text = f"{age} old, threshold {threshold}: re-check queued on the work queue"
    elif d.outcome is Outcome.FILTERED:
        text = f"{d.type_name} is excluded by config (include_types/exclude_types)"
    elif d.outcome is Outcome.TERMINAL:
        text = f"already {d.status_seen}: nothing to cancel"
    elif d.outcome is Outcome.NOT_FOUND:
        text = "Cloud Control does not know it (never existed, or older than 7 days)"
    else:
        text = f"{d.error_code}: {d.error_message}"
    return text + reason


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
