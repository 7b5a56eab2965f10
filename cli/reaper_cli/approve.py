"""``cc-reaper approve PLAN_ID``: approve what the deployed function holds for approval.

In the function's approval mode a sweep cancels nothing: it records the stale requests as
``awaiting_approval`` under its run id (the plan id). One message on the work queue approves
them; the function then cancels exactly those still stale, and records each decision with
source ``approval`` and delivery id PLAN_ID. ``--wait`` reads them back from the audit table.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from reaper import contracts
from reaper.config import ReaperConfig
from reaper.models import Decision, Source
from reaper.parsing import PLAN_ID_RE
from reaper.wiring import build_audit_table

from reaper_cli import planfile
from reaper_cli.account import Account, Need
from reaper_cli.apply import approver
from reaper_cli.render import Output, decision_json, decisions_table

if TYPE_CHECKING:
    from reaper.adapters.audit_table import AuditTable

HELP = "approve a plan the deployed function holds (approval mode): one work-queue message"
APPROVAL_VERSION = 1
WAIT_SECONDS = 60.0
POLL_SECONDS = 2.0
# Decisions of the last hour are read (an approval the function took a while to reach).
LOOK_BACK = timedelta(hours=1)
NOT_SEEN = 1


def plan_id(text: str) -> str:
    if not PLAN_ID_RE.fullmatch(text):
        raise argparse.ArgumentTypeError(f"a plan id is {planfile.PLAN_ID_RULE}")
    return text


def register(commands: argparse._SubParsersAction[Any]) -> None:
    parser = commands.add_parser("approve", help=HELP, description=HELP)
    parser.add_argument(
        "plan_id", type=plan_id, metavar="PLAN_ID", help="the run id of the sweep to approve"
    )
    parser.add_argument(
        "--approved-by", required=True, type=approver, metavar="NAME", help="who approves"
    )
    parser.add_argument(
        "--wait",
        action="store_true",
        help=f"wait (up to {WAIT_SECONDS:.0f} s) for the function's decisions and show them",
    )
    parser.set_defaults(run=run)


def approval_body(plan: str, approved_by: str, approved_at: datetime) -> dict[str, Any]:
    return {
        "kind": contracts.APPROVAL_KIND,
        "version": APPROVAL_VERSION,
        "planId": plan,
        "approvedBy": approved_by,
        "approvedAt": planfile.iso(approved_at),
    }


def run(args: argparse.Namespace, account: Account, output: Output) -> int:
    needs = (Need.WORK_QUEUE, Need.TABLE) if args.wait else (Need.WORK_QUEUE,)
    settings = account.settings(ReaperConfig(), *needs)
    body = approval_body(args.plan_id, args.approved_by, datetime.now(UTC))
    sent = account.clients.sqs.send_message(
        QueueUrl=settings.work_queue_url, MessageBody=json.dumps(body, sort_keys=True)
    )
    if output.json:
        output.emit({**body, "messageId": sent["MessageId"]})
    else:
        output.out.print(
            f"Approval of plan {args.plan_id} by {args.approved_by} sent to the work queue "
            f"(message {sent['MessageId']}): the function cancels the requests it holds for "
            "this plan that are still stale."
        )
    if not args.wait:
        return 0
    decisions = _wait(build_audit_table(settings, account.clients), args.plan_id, output)
    if not decisions:
        output.note(
            f"no decision recorded for plan {args.plan_id} in {WAIT_SECONDS:.0f} s: the function "
            f"has not taken the approval yet (see cc-reaper audit --since 1h)"
        )
        return NOT_SEEN
    if output.json:
        for decision in decisions:
            output.emit(decision_json(decision))
    else:
        output.out.print(decisions_table(f"Approved plan {args.plan_id}: decisions", decisions))
    return 0


def _wait(audit: AuditTable, plan: str, output: Output) -> list[Decision]:
    """Poll the audit's by-time index until this plan's approval decisions appear and stop
    growing (the function may record them in more than one write), or the time is up."""
    deadline = time.monotonic() + WAIT_SECONDS
    seen: list[Decision] = []
    with output.spinner() as progress:
        task = progress.add_task(f"waiting for the function's decisions on plan {plan}")
        while True:
            now = datetime.now(UTC)
            found = [
                d
                for d in audit.by_time(now - LOOK_BACK, now + timedelta(minutes=1))
                if d.delivery_id == plan and d.source is Source.APPROVAL
            ]
            if found and len(found) == len(seen):
                return found
            seen = found
            progress.update(task, description=f"{len(found)} decision(s) on plan {plan} so far")
            if time.monotonic() + POLL_SECONDS > deadline:
                return seen
            time.sleep(POLL_SECONDS)
