"""``cc-reaper audit``: decisions from the audit table, by token or by time window."""

from __future__ import annotations

import argparse
import re
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from reaper.config import ReaperConfig
from reaper.models import Decision, Outcome
from reaper.wiring import build_audit_table
from rich.table import Table

from reaper_cli import org_view
from reaper_cli.account import Account, Need
from reaper_cli.errors import USAGE, CliError
from reaper_cli.render import Output, decision_json, decisions_table
from reaper_cli.targets import accounts_list, regions_list

HELP = "read decisions from the audit table (by --token, or --since/--until)"
_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
PROGRESS_EVERY = 100  # decisions read between two updates of the progress line


def register(commands: argparse._SubParsersAction[Any]) -> None:
    parser = commands.add_parser("audit", help=HELP, description=HELP)
    parser.add_argument("--token", action="append", metavar="TOKEN", help="repeatable")
    parser.add_argument(
        "--since", default="24h", help="ISO-8601 time or age like 30m, 2h, 7d (default 24h)"
    )
    parser.add_argument("--until", default="now", help="ISO-8601 time, age or 'now' (default)")
    parser.add_argument(
        "--outcome",
        action="append",
        choices=[o.value for o in Outcome],
        help="only these outcomes (repeatable)",
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=1000,
        help="at most this many decisions, or groups with --group-by (default 1000)",
    )
    parser.add_argument(
        "--group-by",
        choices=list(GROUPS),
        help="a summary instead of the rows: decisions per group (and per outcome)",
    )
    org = parser.add_argument_group("organization (the central audit table)")
    org.add_argument(
        "--org",
        action="store_true",
        help="every member's events from the central table, in the current account and Region",
    )
    org.add_argument("--accounts", type=accounts_list, metavar="ID,ID", help="only these (--org)")
    org.add_argument("--regions", type=regions_list, metavar="R1,R2", help="only these (--org)")
    parser.set_defaults(run=run)


GROUPS: dict[str, Callable[[Decision], str | None]] = {
    "started-by": lambda d: d.started_by,
    "type": lambda d: d.type_name,
    "outcome": lambda d: d.outcome.value,
}


def summarize(group_by: str, decisions: list[Decision]) -> list[dict[str, Any]]:
    """One row per group, largest first: its count and (but by outcome) its outcomes."""
    key = GROUPS[group_by]
    groups: dict[str | None, Counter[str]] = {}
    for decision in decisions:
        groups.setdefault(key(decision), Counter())[decision.outcome.value] += 1
    rows = []
    for group, outcomes in groups.items():
        row: dict[str, Any] = {
            "groupBy": group_by,
            "group": group,
            "count": sum(outcomes.values()),
        }
        if group_by != "outcome":
            row["outcomes"] = dict(sorted(outcomes.items()))
        rows.append(row)
    return sorted(rows, key=lambda r: (-r["count"], r["group"] is None, r["group"] or ""))


def parse_time(text: str, now: datetime) -> datetime:
    """ISO-8601 (naive means UTC), 'now', or an age before now: 90s, 30m, 2h, 7d, 1w."""
    value = text.strip()
    if value.lower() == "now":
        return now
    relative = _RELATIVE.match(value.lower())
    if relative:
        return now - timedelta(**{_UNITS[relative[2]]: int(relative[1])})
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CliError(
            f"not a time: {text!r} (use ISO-8601 like 2025-01-31T12:00Z, or 30m, 2h, 7d)", USAGE
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def run(args: argparse.Namespace, account: Account, output: Output) -> int:
    now = datetime.now(UTC)
    if args.org or args.accounts or args.regions:
        return _org(args, account, output, now)
    audit = build_audit_table(account.settings(ReaperConfig(), Need.TABLE), account.clients)
    if args.token:
        decisions: list[Decision] = []
        for token in dict.fromkeys(args.token):
            decisions.extend(audit.by_token(token))
        decisions.sort(key=lambda d: d.decided_at)
        window = f"tokens {', '.join(args.token)}"
    else:
        since, until = parse_time(args.since, now), parse_time(args.until, now)
        if since >= until:
            raise CliError(f"--since ({since:%Y-%m-%dT%H:%M}Z) must be before --until", USAGE)
        # A week of sweeps is many pages of the by-time index: say how far the read is.
        decisions = []
        with output.spinner() as progress:
            task = progress.add_task("reading the audit")
            for decision in audit.by_time(since, until):
                decisions.append(decision)
                if len(decisions) % PROGRESS_EVERY == 0:
                    progress.update(task, description=f"reading the audit: {len(decisions)}")
        window = f"{since:%Y-%m-%d %H:%M}Z to {until:%Y-%m-%d %H:%M}Z"
    if args.outcome:
        decisions = [d for d in decisions if d.outcome.value in args.outcome]
    if args.group_by:
        return _print_summary(args.group_by, window, decisions, args.limit, output)
    decisions = decisions[: args.limit]
    if output.json:
        for decision in decisions:
            output.emit(decision_json(decision))
        return 0
    output.out.print(decisions_table(f"Audit: {window}", decisions, when=True))
    output.out.print(f"{len(decisions)} decision(s).")
    return 0


def _print_summary(
    group_by: str, window: str, decisions: list[Decision], limit: int, output: Output
) -> int:
    rows = summarize(group_by, decisions)[:limit]
    if output.json:
        for row in rows:
            output.emit(row)
        return 0
    unknown = "(not recorded)" if group_by == "started-by" else "-"
    # The title on its own line: a narrow table would wrap it.
    output.out.print(f"Audit by {group_by}: {window}")
    table = Table()
    table.add_column(group_by, overflow="fold")
    table.add_column("decisions", justify="right")
    outcomes = sorted({o for row in rows for o in row.get("outcomes", {})})
    for outcome in outcomes:
        table.add_column(outcome, justify="right")
    for row in rows:
        counts = [str(row["outcomes"].get(o, "")) for o in outcomes]
        table.add_row(row["group"] or unknown, str(row["count"]), *counts)
    output.out.print(table)
    output.out.print(f"{len(decisions)} decision(s) in {len(rows)} group(s).")
    return 0


def _org(args: argparse.Namespace, account: Account, output: Output, now: datetime) -> int:
    if not args.org:
        raise CliError("--accounts/--regions filter the central audit: add --org", USAGE)
    if args.token or args.outcome or args.group_by:
        raise CliError("--org reads by time: --token, --outcome, --group-by do not apply", USAGE)
    since, until = parse_time(args.since, now), parse_time(args.until, now)
    if since >= until:
        raise CliError(f"--since ({since:%Y-%m-%dT%H:%M}Z) must be before --until", USAGE)
    return org_view.run_audit(args, account, output, since, until)
