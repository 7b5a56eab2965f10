"""Decisions written straight into a test stack's audit table, through the audit adapter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from reaper.adapters.audit_table import AuditTable
from reaper.models import Decision, Outcome, Source, Status


def decision(token: str, **fields: object) -> Decision:
    base = Decision(
        token=token,
        source=Source.SWEEP,
        delivery_id="run-1",
        outcome=Outcome.CANCEL_COMPLETE,
        decided_at=datetime.now(UTC) - timedelta(minutes=5),
        request_id="run-1",
        dry_run=False,
        status_seen=Status.IN_PROGRESS,
        status_after=Status.CANCEL_COMPLETE,
        type_name="AWS::S3::Bucket",
        operation="CREATE",
    )
    return base.but(**fields)


def seed_audit(stack: Any, *decisions: Decision) -> None:
    AuditTable(stack.dynamodb, stack.table).record(list(decisions))
