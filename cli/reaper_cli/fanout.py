"""Run one piece of work in every target account-Region: at most ``--max-parallel`` at once,
one progress bar on stderr, a target's error reported on its row without stopping the
others, then one summary table (or, with --json, one JSON document).

Exit status: 0 when every target succeeded, 1 when any failed (its row says why).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from reaper.errors import ReaperError
from rich.table import Table

from reaper_cli.errors import FAILURE, CliError, aws_setup_line, client_error_line
from reaper_cli.render import Output
from reaper_cli.targets import Target, TargetSessions


@dataclass
class Done:
    """What one target's work returns: counts for the summary, details for --json."""

    counts: dict[str, int] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TargetResult:
    target: Target
    done: Done | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_json(self) -> dict[str, Any]:
        return {
            "account": self.target.account,
            "region": self.target.region,
            "result": "ok" if self.ok else "failed",
            "counts": self.done.counts if self.done else {},
            "error": self.error,
            **(self.done.details if self.done else {}),
        }


Work = Callable[[Target, boto3.session.Session], Done]


def error_line(error: BaseException) -> str:
    """The same one line the CLI prints for a whole command, for one target."""
    if isinstance(error, CliError):
        return error.message
    if isinstance(error, ClientError):
        return client_error_line(error)
    if isinstance(error, ReaperError):
        return aws_setup_line(error) or f"{error.code}: {error.message}"
    return aws_setup_line(error) or str(error)


def run_all(
    targets: Sequence[Target],
    sessions: TargetSessions,
    work: Work,
    output: Output,
    *,
    label: str,
    max_parallel: int,
) -> list[TargetResult]:
    def one(target: Target) -> TargetResult:
        try:
            return TargetResult(target, work(target, sessions.session(target)), None)
        except (CliError, ClientError, BotoCoreError, ReaperError) as exc:
            return TargetResult(target, None, error_line(exc))

    results: list[TargetResult] = []
    with output.bar() as progress:
        task = progress.add_task(label, total=len(targets))
        with ThreadPoolExecutor(min(max_parallel, len(targets)), "target") as pool:
            for future in as_completed([pool.submit(one, t) for t in targets]):
                results.append(future.result())
                progress.advance(task)
    return sorted(results, key=lambda r: r.target)


def report(
    title: str, results: Sequence[TargetResult], columns: Sequence[str], output: Output
) -> int:
    """The summary (account, Region, result, the counts in ``columns``, error)."""
    failed = sum(not r.ok for r in results)
    if output.json:
        output.emit(
            {
                "command": title,
                "targets": [r.as_json() for r in results],
                "summary": {"targets": len(results), "ok": len(results) - failed, "failed": failed},
            }
        )
        return FAILURE if failed else 0
    table = Table(title=title, title_justify="left")
    for name in ("account", "Region", "result", *columns):
        table.add_column(name, no_wrap=True, justify="right" if name in columns else "left")
    table.add_column("error", overflow="fold")
    for result in results:
        counts = result.done.counts if result.done else {}
        table.add_row(
            result.target.account,
            result.target.region,
            "[green]ok[/]" if result.ok else "[red]failed[/]",
            *(str(counts.get(c, "-")) if result.ok else "-" for c in columns),
            result.error or "",
        )
    output.out.print(table)
    output.out.print(f"{len(results)} target(s): {len(results) - failed} ok, {failed} failed.")
    return FAILURE if failed else 0
