"""``cc-reaper leftovers``: after a cancelled CREATE or UPDATE, is the resource still there?

Cancelling a request stops Cloud Control, not necessarily the provisioning it had started: a
cancelled create can leave a resource behind. This asks Cloud Control's GetResource, with the
operator's credentials, about each resource whose create or update the reaper cancelled. Only
existence is kept: the resource's properties (which may hold secrets) are dropped on arrival,
never printed or stored.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from reaper.config import ReaperConfig
from reaper.models import Decision, Outcome
from reaper.wiring import build_audit_table
from rich.table import Table

from reaper_cli.account import Account, Need
from reaper_cli.audit import parse_time
from reaper_cli.errors import USAGE, CliError
from reaper_cli.render import Output
from reaper_cli.unblock import started_by

if TYPE_CHECKING:
    from mypy_boto3_cloudcontrol import CloudControlApiClient

HELP = "resources left behind by cancelled creates/updates: exists, gone or unknown"
CHECKED_OPERATIONS = ("CREATE", "UPDATE")
# GetResource calls in flight at once: Cloud Control's read quota is shared with the function.
DEFAULT_WORKERS = 4
MAX_WORKERS = 16


class Existence(StrEnum):
    EXISTS = "exists"
    GONE = "gone"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Check:
    """What GetResource said about one resource: never its properties."""

    existence: Existence
    error_code: str | None = None


@dataclass(frozen=True, slots=True)
class Leftover:
    decision: Decision
    check: Check

    def to_json(self) -> dict[str, Any]:
        d = self.decision
        return {
            "token": d.token,
            "typeName": d.type_name,
            "identifier": d.identifier,
            "operation": d.operation,
            "cancelledAt": d.decided_at.isoformat(),
            "startedBy": d.started_by,
            "userAgent": d.user_agent,
            "resource": self.check.existence.value,
            "errorCode": self.check.error_code,
            "functionLeftover": d.leftover,
        }


def register(commands: argparse._SubParsersAction[Any]) -> None:
    parser = commands.add_parser("leftovers", help=HELP, description=HELP)
    parser.add_argument(
        "--since", default="24h", help="ISO-8601 time or age like 30m, 2h, 7d (default 24h)"
    )
    parser.add_argument("--until", default="now", help="ISO-8601 time, age or 'now' (default)")
    parser.add_argument(
        "--workers",
        type=int,
        default=DEFAULT_WORKERS,
        help=f"GetResource calls at once (1 to {MAX_WORKERS}, default {DEFAULT_WORKERS})",
    )
    parser.set_defaults(run=run)


def cancelled_resources(decisions: Iterable[Decision]) -> list[Decision]:
    """Completed cancels of a CREATE or UPDATE whose identifier is known; the latest per token."""
    latest: dict[str, Decision] = {}
    for d in decisions:
        if (
            d.outcome is Outcome.CANCEL_COMPLETE
            and d.operation in CHECKED_OPERATIONS
            and d.type_name
            and d.identifier
        ):
            kept = latest.get(d.token)
            if kept is None or d.decided_at > kept.decided_at:
                latest[d.token] = d
    return sorted(latest.values(), key=lambda d: d.decided_at)


def check_resource(client: CloudControlApiClient, type_name: str, identifier: str) -> Check:
    """Exists, gone (ResourceNotFoundException) or unknown (any other error, with its code)."""
    try:
        response = client.get_resource(TypeName=type_name, Identifier=identifier)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", "Unknown"))
        if code == "ResourceNotFoundException":
            return Check(Existence.GONE)
        return Check(Existence.UNKNOWN, code)
    except BotoCoreError as exc:
        return Check(Existence.UNKNOWN, type(exc).__name__)
    # Only the fact of an answer is kept; the description (and its Properties) goes now.
    response.get("ResourceDescription", {}).pop("Properties", None)
    del response
    return Check(Existence.EXISTS)


def run(args: argparse.Namespace, account: Account, output: Output) -> int:
    if not 1 <= args.workers <= MAX_WORKERS:
        raise CliError(f"--workers must be 1 to {MAX_WORKERS}", USAGE)
    now = datetime.now(UTC)
    since, until = parse_time(args.since, now), parse_time(args.until, now)
    if since >= until:
        raise CliError(f"--since ({since:%Y-%m-%dT%H:%M}Z) must be before --until", USAGE)
    audit = build_audit_table(account.settings(ReaperConfig(), Need.TABLE), account.clients)
    cancelled = cancelled_resources(audit.by_time(since, until))
    client = account.clients.cloud_control
    # One GetResource per resource, however many of its requests were cancelled.
    resources = list(dict.fromkeys((d.type_name or "", d.identifier or "") for d in cancelled))
    checks: dict[tuple[str, str], Check] = {}
    with output.bar() as progress, ThreadPoolExecutor(max_workers=args.workers) as pool:
        task = progress.add_task("checking resources", total=len(resources))

        def check(resource: tuple[str, str]) -> tuple[tuple[str, str], Check]:
            result = check_resource(client, *resource)
            progress.advance(task)
            return resource, result

        checks.update(pool.map(check, resources))
    found = [Leftover(d, checks[(d.type_name or "", d.identifier or "")]) for d in cancelled]
    if output.json:
        for leftover in found:
            output.emit(leftover.to_json())
    else:
        window = f"{since:%Y-%m-%d %H:%M}Z to {until:%Y-%m-%d %H:%M}Z"
        output.out.print(_table(f"Cancelled creates and updates: {window}", found))
        counts = {e: sum(1 for f in found if f.check.existence is e) for e in Existence}
        output.out.print(
            f"{len(found)} cancelled request(s): {counts[Existence.EXISTS]} resource(s) exist, "
            f"{counts[Existence.GONE]} gone, {counts[Existence.UNKNOWN]} unknown."
        )
    return 1 if any(f.check.existence is Existence.UNKNOWN for f in found) else 0


STYLE = {Existence.EXISTS: "yellow", Existence.GONE: "green", Existence.UNKNOWN: "red"}


def _table(title: str, found: list[Leftover]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("cancelled at (UTC)", "type", "identifier", "op", "resource"):
        table.add_column(column, no_wrap=True)
    for column in ("function's check", "started by"):
        table.add_column(column, overflow="fold")
    for f in found:
        d, check = f.decision, f.check
        state = check.existence.value + (f" ({check.error_code})" if check.error_code else "")
        table.add_row(
            d.decided_at.strftime("%Y-%m-%d %H:%M:%S"),
            d.type_name or "-",
            d.identifier or "-",
            d.operation or "-",
            state,
            d.leftover or "-",
            started_by(d),
            style=STYLE[check.existence],
        )
    return table
