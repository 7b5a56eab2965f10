"""Given the function's boto3 clients recorded while the real handler runs a representative
set of invocations (a sweep that cancels, a custom event, a CloudTrail watch, an SQS batch, a
dry run, the kill switch, dead letters), then every action those calls need is granted by the
synthesized role, on the resource the call named. Granted actions never used are reported.

The role's actions are a hand-kept list (infra/constants.py): this ties it to what the code
really calls, so a new call without its grant (or a grant on the wrong resource) fails here
instead of as AccessDenied in an account.
"""

from __future__ import annotations

import fnmatch
import json
import warnings
from datetime import UTC, datetime
from typing import Any

import pytest
import reaper.handler as handler
from reaper.adapters.audit_table import AuditTable

from tests.infrastructure.conftest import Synthesized, synthesized

from ..conftest import set_reaper_config
from .conftest import ApiCall, cloudtrail_event, custom_event, scheduled_event

__all__ = ["synthesized"]  # the session's one synth, shared with tests/infrastructure

pytestmark = pytest.mark.xdist_group("cdk-synth")

HOURS = 3600
# Cloud Control's IAM prefix is cloudformation: (the API's actions take no resource ARN).
IAM_PREFIX = {
    "cloudcontrol": "cloudformation",
    "dynamodb": "dynamodb",
    "sqs": "sqs",
    "events": "events",
}
# The reaper's events go to the account's default bus (PutEvents without EventBusName).
DEFAULT_BUS_ARN = "arn:aws:events:us-east-1:123456789012:event-bus/default"
# IAM has no action of its own for SQS's batch calls: each is authorized as the single one.
SQS_BATCH_ACTION = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}
# The pseudo parameters as this test's account and Region (moto's defaults).
PSEUDO = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012"}
# Stands for the resource of a call that IAM cannot scope (Cloud Control's request calls).
NO_RESOURCE_ARN = "arn:aws:cloudformation:*:*:*"


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def arn_of(expression: Any) -> str:
    """A statement's Resource with each resource of the stack written ``arn:<logical id>``."""
    if isinstance(expression, str):
        return expression
    if "Ref" in expression and str(expression["Ref"]).startswith("AWS::"):
        return PSEUDO.get(expression["Ref"], "*")
    if "Fn::GetAtt" in expression and expression["Fn::GetAtt"][1] == "Arn":
        return f"arn:{expression['Fn::GetAtt'][0]}"
    if "Fn::Join" in expression:
        separator, parts = expression["Fn::Join"]
        return str(separator).join(arn_of(part) for part in parts)
    raise AssertionError(f"a Resource this test cannot read: {expression}")


def role_statements(synthesized: Synthesized) -> list[dict[str, Any]]:
    (function,) = synthesized.resources("AWS::Lambda::Function").values()
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    return [
        statement
        for policy in synthesized.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def grants(synthesized: Synthesized) -> list[tuple[str, str, str]]:
    """(effect, action, resource pattern) for every statement of the function's role."""
    return [
        (s["Effect"], action, arn_of(resource))
        for s in role_statements(synthesized)
        for action in as_list(s["Action"])
        for resource in as_list(s["Resource"])
    ]


def stack_arns(synthesized: Synthesized, stack: Any) -> dict[str, str]:
    """The local table's and queues' names, as the synthesized resources they stand for."""
    (table_id,) = synthesized.resources("AWS::DynamoDB::Table")
    queues = synthesized.resources("AWS::SQS::Queue")
    # The work queue is the one whose redrive policy names the other.
    ((work_id, work),) = [(i, q) for i, q in queues.items() if "RedrivePolicy" in q["Properties"]]
    dead_letter_id = work["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    assert set(queues) == {work_id, dead_letter_id}
    return {
        stack.table_name: f"arn:{table_id}",
        stack.work_queue_url: f"arn:{work_id}",
        stack.dead_letter_queue_url: f"arn:{dead_letter_id}",
    }


def needed(call: ApiCall, arns: dict[str, str]) -> tuple[str, str]:
    """The IAM action a call is authorized as, and the resource it is authorized on."""
    assert call.service in IAM_PREFIX, f"the function called {call.service}: no grant is meant"
    operation = SQS_BATCH_ACTION.get(call.operation, call.operation)
    action = f"{IAM_PREFIX[call.service]}:{operation}"
    if call.service == "cloudcontrol":
        return action, NO_RESOURCE_ARN
    if call.service == "events":
        return action, DEFAULT_BUS_ARN
    named = call.table if call.service == "dynamodb" else call.queue_url
    assert named in arns, f"{action} on {named}: not this stack's table or queues"
    resource = arns[named]
    return action, f"{resource}/index/{call.index}" if call.index else resource


def allowed(action: str, resource: str, granted: list[tuple[str, str, str]]) -> bool:
    def matches(effect: str) -> bool:
        return any(
            e == effect and fnmatch.fnmatchcase(action, a) and fnmatch.fnmatchcase(resource, r)
            for e, a, r in granted
        )

    return matches("Allow") and not matches("Deny")


def run_representative_invocations(stack, emulator, invoke, sqs_lambda, monkeypatch) -> None:
    """What the function does in an account, one of each, checked just enough to know each
    one did its work (the behaviour itself is pinned by the other integration tests)."""

    def reconfigure(**config: Any) -> None:
        set_reaper_config(monkeypatch, **config)
        handler.container.cache_clear()  # settings are read once per container

    # A sweep that cancels (and follows), leaving the young alone.
    stale = emulator.seed(6, age_seconds=7 * HOURS)
    emulator.seed(2, age_seconds=HOURS)
    assert invoke(scheduled_event())["decided"] == 6
    # A custom event: tokens looked up one by one, cancelled, followed.
    tokens = emulator.seed(2, age_seconds=7 * HOURS)
    assert invoke(custom_event(*tokens, "gone-token"))["outcomes"]["not_found"] == 1
    # A CloudTrail record: the request is watched, a re-check goes to the work queue.
    (young,) = emulator.seed(1, age_seconds=60)
    assert invoke(cloudtrail_event(young)) == {"outcomes": {"watching": 1}}
    # An SQS batch: a token to cancel, a re-check and a record that can never be decided.
    (queued,) = emulator.seed(1, age_seconds=7 * HOURS)
    sqs_lambda.send(queued, json.dumps({"requestTokens": [young], "mode": "watch"}), "{broken")
    assert sqs_lambda.poll() == {"batchItemFailures": []}
    assert {stale[0], tokens[0], queued} <= set(emulator.snapshot().cancelled)
    # A dry run.
    reconfigure(dry_run=True)
    dry = emulator.seed(2, age_seconds=7 * HOURS)
    invoke(scheduled_event() | {"id": "dry-run"})
    assert not set(dry) & set(emulator.snapshot().cancelled)
    # The kill switch (set by an operator: the test's own client, not the function's).
    reconfigure()
    switch = AuditTable(stack.dynamodb, stack.table_name)
    switch.set_kill_switch(True, "incident", "ops", datetime.now(UTC))
    invoke(scheduled_event() | {"id": "killed"})
    invoke(custom_event(*dry, event_id="killed-custom"))
    switch.set_kill_switch(False, "over", "ops", datetime.now(UTC))
    assert not set(dry) & set(emulator.snapshot().cancelled)
    # Dead letters: an event of no known shape, and cancels that keep failing.
    assert invoke({"id": "weird-1", "hello": "world"})["outcome"] == "invalid"
    emulator.configure(concurrent_modification_probability=1.0)
    invoke(scheduled_event() | {"id": "failing"})
    letters = stack.dead_letters()
    assert {letter["error"]["code"] for letter in letters} >= {
        "UnknownEventShape",
        "ConcurrentModificationException",
    }


def test_every_call_the_function_makes_is_granted_on_its_resource(
    synthesized, stack, emulator, recorded_calls, invoke, sqs_lambda, monkeypatch
):
    run_representative_invocations(stack, emulator, invoke, sqs_lambda, monkeypatch)

    # The recording saw the function at work, on all three services.
    assert {c.service for c in recorded_calls} == {"cloudcontrol", "dynamodb", "sqs", "events"}
    assert {"CancelResourceRequest", "SendMessageBatch"} <= {c.operation for c in recorded_calls}
    arns = stack_arns(synthesized, stack)
    used = {needed(call, arns) for call in recorded_calls}
    granted = grants(synthesized)
    missing = sorted(
        f"{action} on {resource}"
        for action, resource in used
        if not allowed(action, resource, granted)
    )
    assert missing == [], "called but not granted by the synthesized role"

    never_used = sorted(
        {
            f"{action} on {resource}"
            for effect, action, resource in granted
            if effect == "Allow"
            and not any(
                fnmatch.fnmatchcase(a, action) and fnmatch.fnmatchcase(r, resource) for a, r in used
            )
        }
    )
    if never_used:
        # Some are Lambda's own (logs, X-Ray, the SQS event source mapping's polling): they
        # never go through the function's clients. A report for a reader, not a failure.
        warnings.warn(
            "granted but never called by the function's clients in this run: "
            + "; ".join(never_used),
            stacklevel=1,
        )
