"""The per-target work of the commands that take ``--accounts``/``--org`` (fanout.py runs it
in every account-Region): sweep, status, and the members' own kill switch items.

``sweep`` without --no-dry-run is read-only in the members: it lists the requests, reads
their first sightings and the kill switch, and says which are stale; nothing is recorded (a
read-only role is enough). With --no-dry-run it is the function's own sweep (the member's
table and queues, found by their fixed names), under the operator's role.
"""

from __future__ import annotations

import argparse
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import boto3
from reaper import contracts
from reaper.adapters.audit_table import AuditTable
from reaper.config import ReaperConfig
from reaper.errors import StoreError
from reaper.models import KillSwitch, Outcome, Status, earliest
from reaper.policy import assess
from reaper.settings import Settings
from reaper.wiring import build_clients, build_readers, build_reaper, client_config

from reaper_cli.account import Account, operator_name
from reaper_cli.errors import FAILURE, CliError
from reaper_cli.fanout import Done, Work, report, run_all
from reaper_cli.render import Output
from reaper_cli.targets import Target, TargetSessions, require_role, resolve

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

LISTED = (Status.PENDING, Status.IN_PROGRESS)


def fan_out(
    args: argparse.Namespace,
    account: Account,
    output: Output,
    work: Work,
    *,
    title: str,
    columns: tuple[str, ...],
) -> int:
    role = require_role(args)
    account.require_credentials()
    targets = resolve(args, account.session)
    sessions = TargetSessions(account.session, role)
    results = run_all(targets, sessions, work, output, label=title, max_parallel=args.max_parallel)
    code = report(title, results, columns, output)
    # A target whose sweep recorded failed cancels fails the command too (its row shows it).
    failed_cancels = any(r.done and r.done.counts.get(Outcome.FAILED.value) for r in results)
    return FAILURE if failed_cancels else code


def member_settings(session: boto3.session.Session, config: ReaperConfig) -> Settings:
    """A member's resources by their fixed names (GetQueueUrl; the table by name)."""
    sqs: SQSClient = session.client("sqs", config=client_config())
    return Settings(
        audit_table_name=contracts.ORG_MEMBER_AUDIT_TABLE,
        work_queue_url=sqs.get_queue_url(QueueName=contracts.ORG_MEMBER_WORK_QUEUE)["QueueUrl"],
        dead_letter_queue_url=sqs.get_queue_url(QueueName=contracts.ORG_MEMBER_DEAD_LETTER_QUEUE)[
            "QueueUrl"
        ],
        config=config,
        tracing=False,
    )


def read_only_settings(config: ReaperConfig) -> Settings:
    return Settings(
        audit_table_name=contracts.ORG_MEMBER_AUDIT_TABLE,
        work_queue_url="",
        dead_letter_queue_url="",
        config=config,
        tracing=False,
    )


def member_switch(audit: AuditTable) -> KillSwitch:
    """The member's kill switch, read first: it also proves the member's table is there."""
    try:
        return audit.kill_switch()
    except StoreError as exc:
        if exc.code == "ResourceNotFoundException":
            raise CliError(
                f"ResourceNotFoundException: no table {contracts.ORG_MEMBER_AUDIT_TABLE} "
                "(is the member stack deployed in this account and Region?)"
            ) from exc
        raise


def assess_work(config: ReaperConfig) -> Work:
    """Dry run: what the member's sweep would cancel now, nothing written."""

    def work(target: Target, session: boto3.session.Session) -> Done:
        cloud_control, audit = build_readers(read_only_settings(config), session)
        switch = member_switch(audit)
        now = datetime.now(UTC)
        counts = {"listed": 0, "stale": 0, "not stale": 0, "left alone": 0}
        stale: list[str] = []
        packed = audit.packed_first_seen()
        for page in cloud_control.list_requests(LISTED):
            seen = audit.first_seen([r.token for r in page])
            for request in page:
                sighting = earliest(seen.get(request.token), packed.get(request.token))
                verdict = assess(request, sighting.at if sighting else None, now, config)
                counts["listed"] += 1
                if verdict.skip is None:
                    counts["stale"] += 1
                    stale.append(request.token)
                elif verdict.skip is Outcome.NOT_STALE:
                    counts["not stale"] += 1
                else:
                    counts["left alone"] += 1
        return Done(counts, {"killSwitch": switch.engaged, "staleTokens": stale})

    return work


def sweep_work(config: ReaperConfig) -> Work:
    """--no-dry-run: the member's own sweep, recorded in its audit table."""

    def work(target: Target, session: boto3.session.Session) -> Done:
        clients = build_clients(session=session, events=False)
        reaper = build_reaper(member_settings(session, config), clients)
        run_id = f"cc-reaper-sweep-{uuid.uuid4()}"
        sweep_run = reaper.run(run_id)
        swept = sweep_run.sweep()
        outcomes = {o.value: n for o, n in sorted(sweep_run.report.outcomes.items()) if n}
        counts = {"listed": swept.listed, **outcomes}
        return Done(counts, {"runId": run_id, "handedOff": swept.handed_off})

    return work


def kill_switch_work(action: str, reason: str | None, by: str | None) -> Work:
    """Each member's own switch item: set (on/off, the operator's role) or read (status)."""

    def work(target: Target, session: boto3.session.Session) -> Done:
        dynamodb = session.client("dynamodb", config=client_config())
        audit = AuditTable(dynamodb, contracts.ORG_MEMBER_AUDIT_TABLE)
        if action in ("on", "off"):
            audit.set_kill_switch(
                action == "on", reason or "released", by or operator_name(), datetime.now(UTC)
            )
        state = member_switch(audit)
        return Done(
            {"engaged": int(state.engaged)},
            {
                "engaged": state.engaged,
                "reason": state.reason,
                "setBy": state.set_by,
                "setAt": state.set_at.isoformat() if state.set_at else None,
            },
        )

    return work
