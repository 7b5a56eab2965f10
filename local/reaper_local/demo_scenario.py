"""The demo's account: which Cloud Control requests it starts, when, and what must become of each.

Every expectation is written down before the reaper runs; the demo compares them with what the
audit table, the queues and the emulator say afterwards.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ccapi_emulator import Lifecycle
from ccapi_emulator.hooks import HookSpec
from reaper.models import Outcome, Source

HOUR = 3600
# The emulator's clock starts this far in the past; the requests start then, the clock is
# moved to the present, and the reaper (on the real clock) sees them that old.
HISTORY_SECONDS = 10 * HOUR
YOUNG_AGE_SECONDS = 20 * 60
# The request blocking the deployment is this old: under the usual threshold (the sweep leaves
# it), over the blocking threshold (a refused call's record gets it cancelled).
BLOCKER_AGE_SECONDS = 2 * HOUR
BLOCKING_THRESHOLD_MINUTES = 60
CAP = 4

LIFECYCLES: dict[str, Lifecycle] = {
    "AWS::S3::Bucket": Lifecycle.succeed(30),
    "AWS::Logs::LogGroup": Lifecycle.stuck("IN_PROGRESS"),
    "AWS::Lambda::Function": Lifecycle.stuck("PENDING"),
    "AWS::RDS::DBInstance": Lifecycle.stuck("IN_PROGRESS"),
    "AWS::DynamoDB::Table": Lifecycle.stuck("IN_PROGRESS"),
    "AWS::SQS::Queue": Lifecycle.stuck("IN_PROGRESS"),
    "AWS::ECS::Service": Lifecycle.stuck("IN_PROGRESS"),
}
# A CloudFormation Hook that never finishes on every ECS service request.
HOOKS: dict[str, HookSpec] = {
    "AWS::ECS::Service": HookSpec(status="HOOK_IN_PROGRESS", after_seconds=None),
}
# A cancelled log-group create leaves a half-made log group; other types leave nothing.
CANCELLED_CREATE_LEAVES: dict[str, str] = {"AWS::Logs::LogGroup": "resource"}
# Who the blocked deployment is (its CloudTrail record's principal and user agent).
DEPLOYER_ARN = "arn:aws:sts::123456789012:assumed-role/deployer/ci-orders-api"
DEPLOYER_AGENT = "terraform-provider-awscc/1.20"
ROLE_NAME = "orders-api-role"

# CDK context the demo's stack is synthesized with (cdk.json's, plus these).
STACK_CONTEXT: dict[str, Any] = {
    "dryRun": False,
    "maxCancellationsPerRun": CAP,
    "excludeTypes": ["AWS::DynamoDB::*"],
    "cancelFollowSeconds": 20,
    "blockingThresholdMinutes": BLOCKING_THRESHOLD_MINUTES,
    "verifyLeftovers": ["logs:DescribeLogGroups", "sqs:GetQueueAttributes", "iam:GetRole"],
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
    # UPDATE: the planned request whose resource it updates.
    target: str = ""
    # Set for the request's type just before it starts (later ones of the type get it too).
    lifecycle: Lifecycle | None = None
    # What the function's leftover check must record after its cancel (verifyLeftovers).
    leftover: str | None = None

    @property
    def cancelled(self) -> bool:
        return self.final_status == "CANCEL_COMPLETE"


def plan() -> list[Planned]:
    """In start order. The sweep lists newest first, so with a cap of 4 the oldest of the five
    stale requests it may cancel (logs-1) is the one deferred; the stale service waits on its
    hook (no cap used), the role's update is too young for the sweep."""
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
            leftover="exists",
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
            leftover="exists",
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
            leftover="exists",
        ),
        Planned(
            "bucket-update",
            "AWS::S3::Bucket",
            "UPDATE",
            "healthy update of the bucket: succeeded",
            [(sqs, Outcome.TERMINAL)],
            "SUCCESS",
            start_offset=360,
            target="bucket",
        ),
        Planned(
            "role",
            "AWS::IAM::Role",
            "CREATE",
            "healthy: the orders API's role, created",
            [],
            "SUCCESS",
            start_offset=300,
            desired_state={"RoleName": ROLE_NAME},
        ),
        Planned(
            "queue",
            "AWS::SQS::Queue",
            "CREATE",
            "stuck 10 h: cancelled by the sweep, leaves no queue behind",
            [(sweep, Outcome.CANCEL_COMPLETE)],
            "CANCEL_COMPLETE",
            start_offset=420,
            desired_state={"QueueName": "demo-jobs"},
            leftover="gone",
        ),
        Planned(
            "service-hooked",
            "AWS::ECS::Service",
            "CREATE",
            "stuck 10 h, but its CloudFormation Hook still runs: left alone",
            [(sweep, Outcome.NOT_STALE)],
            "IN_PROGRESS",
            start_offset=480,
            desired_state={"ServiceName": "demo-orders-svc"},
        ),
        Planned(
            "role-update",
            "AWS::IAM::Role",
            "UPDATE",
            "stuck 2 h, blocks a deployment: cancelled through the refused call's CloudTrail "
            "record",
            [(trail, Outcome.CANCEL_COMPLETE)],
            "CANCEL_COMPLETE",
            start_offset=HISTORY_SECONDS - BLOCKER_AGE_SECONDS,
            target="role",
            lifecycle=Lifecycle.stuck("IN_PROGRESS"),
            leftover="exists",
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
