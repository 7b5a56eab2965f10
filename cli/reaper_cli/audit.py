"""``cc-reaper audit``: decisions from the audit table, by token or by time window."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from reaper.config import ReaperConfig
from reaper.models import Decision, Outcome
from reaper.wiring import build_audit_table

from reaper_cli.account import Account, Need
from reaper_cli.errors import USAGE, CliError
from reaper_cli.render import Output, decision_json, decisions_table

HELP = "read decisions from the audit table (by --token, or --since/--until)"
_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


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
    parser.add_argument("--limit", type=int, default=1000, help="at most this many (default 1000)")
    parser.set_defaults(run=run)


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
        decisions = list(audit.by_time(since, until))
        window = f"{since:%Y-%m-%d %H:%M}Z to {until:%Y-%m-%d %H:%M}Z"
    if args.outcome:
        decisions = [d for d in decisions if d.outcome.value in args.outcome]
    decisions = decisions[: args.limit]
    if output.json:
        for decision in decisions:
            output.emit(decision_json(decision))
        return 0
    output.out.print(decisions_table(f"Audit: {window}", decisions, when=True))
    output.out.print(f"{len(decisions)} decision(s).")
    return 0
