"""The central account's side of the CLI: ``audit --org`` reads the central table, and
``kill-switch on|off --org`` puts the command on the central bus, then reads back which
members confirmed (both in the current credentials' account and Region).

The command travels central bus -> rule -> SNS topic -> every member's function (which sets
its own switch and puts a confirmation on its default bus) -> forwarding rule -> central bus
-> collector -> the central table's CONTROL#<commandId> partition, which is polled here.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from reaper import contracts
from reaper.org.central_table import CentralTable, Confirmation, StoredEvent
from reaper.wiring import client_config
from rich.table import Table

from reaper_cli.account import Account, operator_name
from reaper_cli.errors import FAILURE, USAGE, CliError
from reaper_cli.render import Output
from reaper_cli.targets import Target, resolve

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

POLL_SECONDS = 2.0


def central_table(account: Account) -> CentralTable:
    account.require_credentials()
    return CentralTable(account.session.client("dynamodb", config=client_config()))


# ---------------------------------------------------------------------- audit --org
def run_audit(
    args: argparse.Namespace, account: Account, output: Output, since: datetime, until: datetime
) -> int:
    rows: list[StoredEvent] = []
    with output.spinner() as progress:
        task = progress.add_task("reading the central audit")
        for event in central_table(account).events(since, until):
            if args.accounts and event.account not in args.accounts:
                continue
            if args.regions and event.region not in args.regions:
                continue
            rows.append(event)
            progress.update(task, description=f"reading the central audit: {len(rows)}")
            if len(rows) >= args.limit:
                break
    if output.json:
        for row in rows:
            output.emit(
                {
                    "account": row.account,
                    "region": row.region,
                    "time": row.time,
                    "detailType": row.detail_type,
                    "token": row.token,
                    "outcome": row.outcome,
                    "detail": row.detail,
                }
            )
        return 0
    table = Table(
        title=f"Organization audit: {since:%Y-%m-%d %H:%M}Z to {until:%Y-%m-%d %H:%M}Z",
        title_justify="left",
    )
    for column in ("time (UTC)", "account", "Region", "event", "token", "outcome"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            f"{row.time:%Y-%m-%d %H:%M:%S}",
            row.account,
            row.region,
            row.detail_type,
            row.token or "-",
            row.outcome or "-",
        )
    output.out.print(table)
    output.out.print(f"{len(rows)} event(s).")
    return 0


# ---------------------------------------------------------------------- kill-switch --org
def put_command(events: EventBridgeClient, engaged: bool, reason: str, by: str) -> str:
    command_id = str(uuid.uuid4())
    detail = {
        "engaged": engaged,
        "reason": reason,
        "setBy": by,
        "setAt": datetime.now(UTC).isoformat(),
        "commandId": command_id,
    }
    response = events.put_events(
        Entries=[
            {
                "Source": contracts.ORG_EVENT_SOURCE,
                "DetailType": contracts.DETAIL_TYPE_ORG_KILL_SWITCH,
                "Detail": json.dumps(detail),
                "EventBusName": contracts.ORG_BUS_NAME,
            }
        ]
    )
    if response.get("FailedEntryCount"):
        entry = (response.get("Entries") or [{}])[0]
        raise CliError(
            f"PutEvents on {contracts.ORG_BUS_NAME} refused the command: "
            f"{entry.get('ErrorCode')}: {entry.get('ErrorMessage')}"
        )
    return command_id


def wait_for(
    read: Callable[[], list[Confirmation]],
    expected: set[Target],
    wait_seconds: float,
    on_progress: Callable[[int], None],
    sleep: Callable[[float], None] = time.sleep,
) -> dict[Target, Confirmation]:
    deadline = time.monotonic() + wait_seconds
    while True:
        found = {Target(c.account, c.region): c for c in read()}
        on_progress(len(expected & found.keys()))
        if expected <= found.keys() or time.monotonic() >= deadline:
            return found
        sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))


def run_kill_switch(args: argparse.Namespace, account: Account, output: Output) -> int:
    if args.action == "on" and not args.reason:
        raise CliError("kill-switch on needs --reason (it is shown to whoever finds it on)", USAGE)
    account.require_credentials()
    expected = set(resolve(args, account.session))
    events: EventBridgeClient = account.session.client("events", config=client_config())
    reason = args.reason or "released"
    command_id = put_command(events, args.action == "on", reason, args.by or operator_name())
    table = central_table(account)
    with output.bar() as progress:
        task = progress.add_task(f"confirmations of {command_id[:8]}", total=len(expected))
        found = wait_for(
            lambda: table.confirmations(command_id),
            expected,
            args.wait,
            lambda n: progress.update(task, completed=n),
        )
    return _read_back(args.action, command_id, expected, found, output)


def _read_back(
    action: str,
    command_id: str,
    expected: set[Target],
    found: dict[Target, Confirmation],
    output: Output,
) -> int:
    rows: list[dict[str, Any]] = []
    for target in sorted(expected | found.keys()):
        confirmation = found.get(target)
        rows.append(
            {
                "account": target.account,
                "region": target.region,
                "expected": target in expected,
                "confirmed": confirmation is not None,
                "engaged": confirmation.engaged if confirmation else None,
                "confirmedAt": confirmation.time if confirmation else None,
            }
        )
    missing = sum(1 for r in rows if r["expected"] and not r["confirmed"])
    if output.json:
        output.emit(
            {
                "commandId": command_id,
                "action": action,
                "targets": rows,
                "summary": {"expected": len(expected), "missing": missing},
            }
        )
        return FAILURE if missing else 0
    table = Table(title=f"Org kill switch {action}: command {command_id}", title_justify="left")
    for column in ("account", "Region", "confirmed", "engaged", "when (UTC)"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        when = row["confirmedAt"]
        table.add_row(
            row["account"],
            row["region"] + ("" if row["expected"] else " (not expected)"),
            "[green]yes[/]" if row["confirmed"] else "[red]no[/]",
            "-" if row["engaged"] is None else ("on" if row["engaged"] else "off"),
            f"{when:%Y-%m-%d %H:%M:%S}" if when else "-",
        )
    output.out.print(table)
    output.out.print(f"{len(expected) - missing} of {len(expected)} confirmed.")
    return FAILURE if missing else 0
