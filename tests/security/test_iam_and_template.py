"""Given the synthesized stack, when its policies and resources are read, then the function
may do exactly what it needs and no more, everything is encrypted at rest and in transit,
nothing is public, and logs do not live for ever."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infrastructure.conftest import DEFAULT_BUS_ARN

from .conftest import Synthesized

pytestmark = pytest.mark.xdist_group("cdk-synth")

# Every action the function's role needs, and why. Anything more is a finding.
NEEDED: dict[str, str] = {
    "logs:CreateLogStream": "write to its own log group",
    "logs:PutLogEvents": "write to its own log group",
    "xray:PutTraceSegments": "active tracing",
    "xray:PutTelemetryRecords": "active tracing",
    "cloudformation:ListResourceRequests": "the sweep lists PENDING/IN_PROGRESS requests",
    "cloudformation:GetResourceRequestStatus": "decide a token; follow a cancel",
    "cloudformation:CancelResourceRequest": "cancel a stale request",
    "dynamodb:GetItem": "the kill switch; a delivery's earlier decision",
    "dynamodb:BatchGetItem": "first sightings of a sweep page",
    "dynamodb:PutItem": "record a decision; claims (TransactWriteItems Put is PutItem)",
    "dynamodb:UpdateItem": "first sighting of one token (if_not_exists)",
    "dynamodb:BatchWriteItem": "first sightings, decisions, releasing claims",
    "dynamodb:Query": "the sweep reconciles decisions written ahead of a cancel and never "
    "completed (on the by-time index only)",
    "sqs:SendMessage": "hand-offs and re-checks to the work queue; failures to the DLQ",
    "sqs:ReceiveMessage": "the event source mapping polls the work queue",
    "sqs:DeleteMessage": "the event source mapping deletes what succeeded",
    "sqs:ChangeMessageVisibility": "the event source mapping returns failed records",
    "sqs:GetQueueAttributes": "the event source mapping reads the work queue",
    "sqs:GetQueueUrl": "added by CDK's SqsEventSource (grantConsumeMessages); harmless read",
    "events:PutEvents": "emitEvents: one event per cancel, failed cancel and blocking request, "
    "on the account's default bus only",
}
# Actions IAM offers no resource-level permission for: the only ones allowed on "*".
NO_RESOURCE_LEVEL = {
    "cloudformation:ListResourceRequests",
    "cloudformation:GetResourceRequestStatus",
    "cloudformation:CancelResourceRequest",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role_statements(synthesized: Synthesized) -> list[dict[str, Any]]:
    """The function's role's statements (with chat delivery there is a second role)."""
    (function,) = synthesized.resources("AWS::Lambda::Function").values()
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = []
    for policy in synthesized.resources("AWS::IAM::Policy").values():
        props = policy["Properties"]
        if {"Ref": role_id} in props["Roles"]:
            statements += props["PolicyDocument"]["Statement"]
    return statements


def granted_actions(synthesized: Synthesized) -> set[str]:
    return {
        action
        for s in role_statements(synthesized)
        if s["Effect"] == "Allow"
        for action in as_list(s["Action"])
    }


def test_the_role_grants_exactly_the_actions_the_function_needs(synthesized: Synthesized) -> None:
    granted = granted_actions(synthesized)
    assert sorted(granted - NEEDED.keys()) == [], "granted but never needed"
    assert sorted(NEEDED.keys() - granted) == [], "needed but not granted"


def test_no_wildcard_action_and_star_resources_only_where_iam_offers_nothing_narrower(
    synthesized: Synthesized,
) -> None:
    for statement in role_statements(synthesized):
        actions = as_list(statement["Action"])
        assert all("*" not in a for a in actions), statement
        if "*" in as_list(statement["Resource"]):
            assert set(actions) <= NO_RESOURCE_LEVEL, statement


def test_table_and_queue_actions_reach_only_this_stacks_table_and_queues(
    synthesized: Synthesized,
) -> None:
    table_id, _ = synthesized.only("AWS::DynamoDB::Table")
    table_arn = {"Fn::GetAtt": [table_id, "Arn"]}
    by_time_index_arn = {"Fn::Join": ["", [table_arn, "/index/by-time"]]}
    queues = set(synthesized.resources("AWS::SQS::Queue"))
    queried_on: list[Any] = []
    for statement in role_statements(synthesized):
        actions = as_list(statement["Action"])
        services = {a.split(":")[0] for a in actions}
        resources = as_list(statement["Resource"])
        if services == {"dynamodb"} and "dynamodb:Query" in actions:
            # Query on the by-time index alone: not the table, not every index (/index/*).
            assert actions == ["dynamodb:Query"], statement
            queried_on += resources
        elif services == {"dynamodb"}:
            assert resources == [table_arn], resources
        if services == {"sqs"}:
            assert {r["Fn::GetAtt"][0] for r in resources} <= queues
    assert queried_on == [by_time_index_arn]


def test_the_role_has_no_managed_policy_and_only_lambda_assumes_it(
    synthesized: Synthesized,
) -> None:
    _, role = synthesized.only("AWS::IAM::Role")
    props = role["Properties"]
    assert "ManagedPolicyArns" not in props
    assert not synthesized.resources("AWS::IAM::ManagedPolicy")
    assert not synthesized.resources("AWS::IAM::User")
    (trust,) = props["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert trust["Action"] == "sts:AssumeRole"
    text = json.dumps(synthesized.template_json)
    assert "AdministratorAccess" not in text and "PowerUserAccess" not in text


def test_the_table_and_both_queues_are_encrypted_at_rest(synthesized: Synthesized) -> None:
    _, table = synthesized.only("AWS::DynamoDB::Table")
    assert table["Properties"]["SSESpecification"]["SSEEnabled"] is True
    queues = synthesized.resources("AWS::SQS::Queue")
    assert len(queues) == 2
    for queue in queues.values():
        props = queue["Properties"]
        assert props.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in props


def test_every_queue_and_topic_refuses_requests_without_tls(synthesized: Synthesized) -> None:
    insecure = {"Bool": {"aws:SecureTransport": "false"}}
    protected: set[str] = set()
    for kind, key in (("AWS::SQS::QueuePolicy", "Queues"), ("AWS::SNS::TopicPolicy", "Topics")):
        for policy in synthesized.resources(kind).values():
            props = policy["Properties"]
            for s in props["PolicyDocument"]["Statement"]:
                if s["Effect"] == "Deny" and s.get("Condition") == insecure:
                    assert s["Principal"] in ({"AWS": "*"}, "*")
                    protected |= {t["Ref"] for t in props[key]}
    expected = set(synthesized.resources("AWS::SQS::Queue")) | set(
        synthesized.resources("AWS::SNS::Topic")
    )
    assert protected == expected


def test_nothing_is_public(synthesized: Synthesized) -> None:
    """Every Allow in a resource policy names one AWS service and the one rule it serves."""
    assert not synthesized.resources("AWS::Lambda::Url")
    for kind in ("AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy"):
        for policy in synthesized.resources(kind).values():
            for s in policy["Properties"]["PolicyDocument"]["Statement"]:
                if s["Effect"] == "Allow":
                    assert set(s["Principal"]) == {"Service"}, s
                    assert "aws:SourceArn" in s["Condition"]["ArnEquals"], s
    for permission in synthesized.resources("AWS::Lambda::Permission").values():
        props = permission["Properties"]
        assert props["Principal"].endswith(".amazonaws.com") and "SourceArn" in props


def test_every_log_group_has_a_retention_and_the_function_logs_to_one(
    synthesized: Synthesized,
) -> None:
    groups = synthesized.resources("AWS::Logs::LogGroup")
    assert groups
    for group in groups.values():
        assert group["Properties"]["RetentionInDays"] > 0
    _, function = synthesized.only("AWS::Lambda::Function")
    target = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    assert target in groups


def test_events_may_be_put_on_the_default_bus_only(synthesized: Synthesized) -> None:
    # Given emitEvents on (cdk.json), Then PutEvents names the account's default bus, one
    # statement, no "*" and no other bus; no other events: action is granted
    with_events = [
        s
        for s in role_statements(synthesized)
        if any(a.startswith("events:") for a in as_list(s["Action"]))
    ]
    assert with_events == [
        {
            "Action": "events:PutEvents",
            "Effect": "Allow",
            "Resource": DEFAULT_BUS_ARN,
            "Sid": "ReaperEvents",
        }
    ]


def test_without_verify_leftovers_the_role_reads_no_resource(synthesized: Synthesized) -> None:
    # Given verifyLeftovers empty (cdk.json), Then no GetResource and no service's read action
    granted = granted_actions(synthesized)
    assert "cloudformation:GetResource" not in granted
    assert {a.split(":")[0] for a in granted} == {
        "logs",
        "xray",
        "cloudformation",
        "dynamodb",
        "sqs",
        "events",
    }


def test_verify_leftovers_grants_get_resource_and_exactly_the_listed_actions(
    synthesized: Synthesized, synthesized_with_options: Synthesized
) -> None:
    # Given verifyLeftovers = s3:GetBucketLocation,ec2:Describe*
    base = [json.dumps(s, sort_keys=True) for s in role_statements(synthesized)]
    added = [
        s
        for s in role_statements(synthesized_with_options)
        if json.dumps(s, sort_keys=True) not in base
    ]
    # Then the role gains one statement: GetResource and the listed actions, nothing else
    # (and, for requireApproval, also on in that synth, sns:Publish on the alarm topic only)
    topic = {
        "Ref": next(
            k for k in synthesized_with_options.resources("AWS::SNS::Topic") if "Alarm" in k
        )
    }
    assert sorted(added, key=lambda s: json.dumps(s, sort_keys=True)) == [
        {"Action": "sns:Publish", "Effect": "Allow", "Resource": topic},
        {
            "Action": ["cloudformation:GetResource", "ec2:Describe*", "s3:GetBucketLocation"],
            "Effect": "Allow",
            "Resource": "*",
            "Sid": "VerifyLeftovers",
        },
    ]
    # And the rest of the role is unchanged (nothing lost, nothing widened)
    assert len(role_statements(synthesized_with_options)) == len(base) + 2


def test_chat_delivery_adds_no_permission_to_any_role(
    synthesized_with_options: Synthesized,
) -> None:
    (function,) = synthesized_with_options.resources("AWS::Lambda::Function").values()
    function_role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    for policy in synthesized_with_options.resources("AWS::IAM::Policy").values():
        assert policy["Properties"]["Roles"] == [{"Ref": function_role}]
    for managed in synthesized_with_options.resources("AWS::IAM::ManagedPolicy").values():
        statements = managed["Properties"]["PolicyDocument"]["Statement"]
        assert {s["Effect"] for s in statements} == {"Deny"}  # the channel's guardrail


def test_with_every_option_every_topic_refuses_requests_without_tls_and_nothing_is_public(
    synthesized_with_options: Synthesized,
) -> None:
    test_every_queue_and_topic_refuses_requests_without_tls(synthesized_with_options)
    test_nothing_is_public(synthesized_with_options)
