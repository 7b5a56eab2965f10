"""The demo's account: which Cloud Control requests it starts, when, and what must become of each.

Every expectation is written down before the reaper runs; the demo compares them with what the
audit table, the queues and the emulator say afterwards.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ccapi_emulator import Lifecycle
from reaper.models import Outcome, Source

HOUR = 3600
# The emulator's clock starts this far in the past; the requests start then, the clock is
# moved to the present, and the reaper (on the real clock) sees them that old.
HISTORY_SECONDS = 10 * HOUR
YOUNG_AGE_SECONDS = 20 * 60
CAP = 3

LIFECYCLES: dict[str, Lifecycle] = {
    "AWS::S3::Bucket": Lifecycle.succeed(30),
    "AWS::Logs::LogGroup": Lifecycle.stuck("IN_PROGRESS"),
    "AWS::Lambda::Function": Lifecycle.stuck("PENDING"),
    "AWS::RDS::DBInstance": Lifecycle.stuck("IN_PROGRESS"),
    "AWS::DynamoDB::Table": Lifecycle.stuck("IN_PROGRESS"),
}

# CDK context the demo's stack is synthesized with (cdk.json's, plus these).
STACK_CONTEXT: dict[str, Any] = {
    "dryRun": False,
    "maxCancellationsPerRun": CAP,
    "excludeTypes": ["AWS::DynamoDB::*"],
    "cancelFollowSeconds": 20,
}

FORGOTTEN_TOKEN = "0b9f7d2e-5c41-4f0e-9a3b-forgotten0001"  # noqa: S105 - not a secret
MALFORMED_BODY = json.dumps({"requestToken": "arn:aws:cloudformation:us-east-1::not-a-token"})
CUSTOM_REASON = "INC-4711: stuck log group blocks the release pipeline"
BATCH_REASON = "platform team: are these two stuck?"


@dataclass
class Planned:
    """One request the demo starts, and the decisions it expects about it (source, outcome)."""

    name: str
    type_name: str
    operation: str
    story: str
    expected: list[tuple[Source, Outcome]]
    final_status: str
    token: str = ""
    identifier: str = ""
    start_offset: float = 0.0  # seconds after the clock's start
    desired_state: dict[str, Any] = field(default_factory=dict)

    @property
    def cancelled(self) -> bool:
        return self.final_status == "CANCEL_COMPLETE"


def plan() -> list[Planned]:
    """In start order. The sweep lists newest first, so with a cap of 3 the oldest of the four
    stale requests (logs-1) is the one deferred."""
    sweep, sqs, bus, trail = Source.SWEEP, Source.SQS, Source.EVENTBRIDGE, Source.CLOUDTRAIL
    return [
        Planned(
            "bucket",
            "AWS::S3::Bucket",
            "CREATE",
            "healthy: succeeded after 30 s",
            [(sqs, Outcome.TERMINAL)],
            "SUCCESS",
            desired_state={"BucketName": "demo-artifacts"},
        ),
        Planned(
            "database",
            "AWS::RDS::DBInstance",
            "CREATE",
            "long-running: 10 h in, under its 24 h threshold",
            [(sqs, Outcome.NOT_STALE)],
            "IN_PROGRESS",
            desired_state={"DBInstanceClass": "db.t4g.micro", "Engine": "postgres"},
        ),
        Planned(
            "table",
            "AWS::DynamoDB::Table",
            "CREATE",
            "stuck 10 h, but its type is excluded by config",
            [(sqs, Outcome.FILTERED)],
            "IN_PROGRESS",
            desired_state={"TableName": "demo-orders"},
        ),
        Planned(
            "logs-1",
            "AWS::Logs::LogGroup",
            "CREATE",
            "stuck 10 h: over the cap in the sweep, cancelled by the operator's event",
            [(sweep, Outcome.DEFERRED_CAP), (bus, Outcome.CANCEL_COMPLETE)],
            "CANCEL_COMPLETE",
            start_offset=60,
            desired_state={"LogGroupName": "/demo/app-1"},
        ),
        Planned(
            "logs-2",
            "AWS::Logs::LogGroup",
            "CREATE",
            "stuck 10 h: cancelled by the sweep",
            [(sweep, Outcome.CANCEL_COMPLETE)],
            "CANCEL_COMPLETE",
            start_offset=120,
            desired_state={"LogGroupName": "/demo/app-2"},
        ),
        Planned(
            "function-delete",
            "AWS::Lambda::Function",
            "DELETE",
            "delete PENDING for 10 h: cancelled by the sweep",
            [(sweep, Outcome.CANCEL_COMPLETE)],
            "CANCEL_COMPLETE",
            identifier="demo-legacy-fn",
            start_offset=180,
        ),
        Planned(
            "logs-3",
            "AWS::Logs::LogGroup",
            "CREATE",
            "stuck 10 h: cancelled by the sweep; the operator's event then finds it done",
            [(sweep, Outcome.CANCEL_COMPLETE), (bus, Outcome.TERMINAL)],
            "CANCEL_COMPLETE",
            start_offset=240,
            desired_state={"LogGroupName": "/demo/app-3"},
        ),
        Planned(
            "bucket-update",
            "AWS::S3::Bucket",
            "UPDATE",
            "healthy update of the bucket: succeeded",
            [(sqs, Outcome.TERMINAL)],
            "SUCCESS",
            start_offset=360,
        ),
        Planned(
            "logs-young",
            "AWS::Logs::LogGroup",
            "CREATE",
            "started 20 min ago (seen through CloudTrail): watched, re-checked later",
            [(trail, Outcome.WATCHING)],
            "IN_PROGRESS",
            start_offset=HISTORY_SECONDS - YOUNG_AGE_SECONDS,
            desired_state={"LogGroupName": "/demo/app-young"},
        ),
    ]


def by_name(planned: list[Planned]) -> dict[str, Planned]:
    return {p.name: p for p in planned}
