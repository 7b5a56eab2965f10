"""Organization mode on the template: the member (what a StackSet instance creates) and the
management account's code bucket of each Region."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from reaper import contracts

from infra.org.code import build_bundle
from infra.org.member import FORWARDED_DETAIL_TYPES

from .test_org_stacks import (
    BUCKET_PREFIX,
    ORG_ID,
    ORGANIZATION,
    REGIONS,
    OrgSynth,
    synthesize_org,
)


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrgSynth]:
    # emitEvents off in the context: a member must turn it on anyway.
    yield synthesize_org(tmp_path_factory.mktemp("org-member.out"), {"emitEvents": False})


# ---------------------------------------------------------------- the member template


def test_the_member_needs_no_cdk_bootstrap(org: OrgSynth) -> None:
    text = json.dumps(org.member)
    assert "BootstrapVersion" not in org.member.get("Parameters", {})
    assert "Rules" not in org.member
    assert "cdk-hnb659fds" not in text
    assert "AWS::CDK::Metadata" not in text
    assert set(org.member["Parameters"]) >= {"CentralBusArn", "OrgControlTopicArn"}


def test_the_member_code_is_the_published_zip_in_the_regions_code_bucket(org: OrgSynth) -> None:
    function = _member_function(org)
    assert function["Code"] == {
        "S3Bucket": {"Fn::Sub": f"{BUCKET_PREFIX}-${{AWS::Region}}"},
        "S3Key": build_bundle().key,
    }


def test_the_member_resources_have_the_contract_names(org: OrgSynth) -> None:
    assert _member_function(org)["FunctionName"] == contracts.ORG_MEMBER_FUNCTION
    table = org.only(org.member, "AWS::DynamoDB::Table")["Properties"]
    assert table["TableName"] == contracts.ORG_MEMBER_AUDIT_TABLE
    names = {
        q["Properties"]["QueueName"] for q in org.resources(org.member, "AWS::SQS::Queue").values()
    }
    assert names == {contracts.ORG_MEMBER_WORK_QUEUE, contracts.ORG_MEMBER_DEAD_LETTER_QUEUE}


def test_the_member_has_no_alarms_dashboard_topic_or_metrics(org: OrgSynth) -> None:
    for kind in ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::Dashboard", "AWS::SNS::Topic"):
        assert org.resources(org.member, kind) == {}, kind
    env = _member_function(org)["Environment"]["Variables"]
    assert env["POWERTOOLS_METRICS_DISABLED"] == "true"
    assert json.loads(env[contracts.ENV_REAPER_CONFIG])["emit_events"] is True


def test_the_member_forwards_the_reapers_events_to_the_central_bus(org: OrgSynth) -> None:
    rule = next(
        r["Properties"]
        for r in org.resources(org.member, "AWS::Events::Rule").values()
        if r["Properties"].get("EventPattern", {}).get("detail-type")
        == list(FORWARDED_DETAIL_TYPES)
    )
    assert rule["EventPattern"]["source"] == [contracts.REAPER_EVENT_SOURCE]
    assert contracts.CUSTOM_EVENT_DETAIL_TYPE not in rule["EventPattern"]["detail-type"]
    assert contracts.DETAIL_TYPE_KILL_SWITCH_CONFIRMED in rule["EventPattern"]["detail-type"]
    assert "EventBusName" not in rule  # the account's default bus
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Ref": "CentralBusArn"}
    dlq_id = next(
        k
        for k, q in org.resources(org.member, "AWS::SQS::Queue").items()
        if q["Properties"]["QueueName"] == contracts.ORG_MEMBER_DEAD_LETTER_QUEUE
    )
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [dlq_id, "Arn"]}}
    # EventBridge may put this rule's failures in that queue (and only this rule's, there)
    forward_id = next(
        k
        for k, r in org.resources(org.member, "AWS::Events::Rule").items()
        if r["Properties"] is rule
    )
    dlq_policy = next(
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in org.resources(org.member, "AWS::SQS::QueuePolicy").values()
        if p["Properties"]["Queues"] == [{"Ref": dlq_id}]
    )
    assert any(
        s["Principal"] == {"Service": "events.amazonaws.com"}
        and s["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [forward_id, "Arn"]}}}
        for s in dlq_policy
    )
    role_id = target["RoleArn"]["Fn::GetAtt"][0]
    grants = [
        s
        for p in org.resources(org.member, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert grants == [
        {"Action": "events:PutEvents", "Effect": "Allow", "Resource": {"Ref": "CentralBusArn"}}
    ]  # fmt: skip


def test_the_member_function_subscribes_to_the_org_control_topic(org: OrgSynth) -> None:
    function_id = next(iter(org.resources(org.member, "AWS::Lambda::Function")))
    subscription = org.only(org.member, "AWS::SNS::Subscription")["Properties"]
    assert subscription["Protocol"] == "lambda"
    assert subscription["TopicArn"] == {"Ref": "OrgControlTopicArn"}
    assert subscription["Endpoint"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert subscription["Region"] == {
        "Fn::Select": [3, {"Fn::Split": [":", {"Ref": "OrgControlTopicArn"}]}]
    }
    permission = next(
        p["Properties"]
        for p in org.resources(org.member, "AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "sns.amazonaws.com"
    )
    assert permission["SourceArn"] == {"Ref": "OrgControlTopicArn"}
    assert permission["Action"] == "lambda:InvokeFunction"
    # The permission exists before SNS may deliver the first command.
    (permission_id,) = [
        k
        for k, v in org.resources(org.member, "AWS::Lambda::Permission").items()
        if v["Properties"]["Principal"] == "sns.amazonaws.com"
    ]
    subscription_resource = next(iter(org.resources(org.member, "AWS::SNS::Subscription").values()))
    assert permission_id in subscription_resource["DependsOn"]


# ---------------------------------------------------------------- the code bucket stacks


@pytest.mark.parametrize("region", REGIONS)
def test_each_region_has_a_code_bucket_the_organization_can_read(
    org: OrgSynth, region: str
) -> None:
    template = org.code_stacks[region]
    assert "BootstrapVersion" not in template.get("Parameters", {})
    bucket = org.only(template, "AWS::S3::Bucket")
    assert bucket["Properties"]["BucketName"] == f"{BUCKET_PREFIX}-{region}"
    policy = org.only(template, "AWS::S3::BucketPolicy")["Properties"]["PolicyDocument"]
    read = next(s for s in policy["Statement"] if s["Effect"] == "Allow")
    assert read["Principal"] == {"AWS": "*"}
    assert read["Action"] == ["s3:GetObject", "s3:GetObjectVersion"]
    assert read["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": ORG_ID}}


def test_the_member_has_no_queue_polling_and_its_sweep_drains_the_work_queue(
    org: OrgSynth,
) -> None:
    # workQueue defaults to "schedule": nothing polls an idle queue all month
    assert org.resources(org.member, "AWS::Lambda::EventSourceMapping") == {}
    env = _member_function(org)["Environment"]["Variables"]
    assert env[contracts.ENV_WORK_QUEUE_DRAIN] == contracts.WORK_QUEUE_DRAIN_SCHEDULE
    # and the function may receive and delete on the work queue (and only there)
    (work_queue_id,) = [
        k
        for k, q in org.resources(org.member, "AWS::SQS::Queue").items()
        if q["Properties"]["QueueName"] == contracts.ORG_MEMBER_WORK_QUEUE
    ]
    statements = [
        statement
        for policy in org.resources(org.member, "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    receive = [s for s in statements if "sqs:ReceiveMessage" in s["Action"]]
    assert receive and all(s["Resource"] == {"Fn::GetAtt": [work_queue_id, "Arn"]} for s in receive)
    assert any("sqs:DeleteMessage" in s["Action"] for s in receive)


def test_a_continuous_member_keeps_the_event_source_mapping(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    continuous = synthesize_org(
        tmp_path_factory.mktemp("org-continuous.out"),
        {"organization": json.dumps({**ORGANIZATION, "workQueue": "continuous"})},
    )
    assert len(continuous.resources(continuous.member, "AWS::Lambda::EventSourceMapping")) == 1
    env = _member_function(continuous)["Environment"]["Variables"]
    assert contracts.ENV_WORK_QUEUE_DRAIN not in env


def _member_function(org: OrgSynth) -> dict[str, Any]:
    properties: dict[str, Any] = org.only(org.member, "AWS::Lambda::Function")["Properties"]
    return properties
