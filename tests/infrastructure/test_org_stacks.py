"""Organization mode on the template: the management stack, its StackSet and the member.

Given cdk.json's context with an ``organization`` key (as ``-c organization='{...}'`` gives
it), the app synthesizes the code bucket stacks and the management stack, whose StackSet
carries the member template; these tests read what `cdk synth` wrote.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App
from reaper import contracts

from infra import constants as c
from infra.application import build_app
from infra.org.code_stack import code_stack_name
from infra.org.member_template import MEMBER_OUTDIR, MEMBER_STACK_NAME

from .conftest import cdk_json_context

ORG_ID = "o-a1b2c3d4e5"
OUS = ["ou-ab12-cdef3456", "ou-ab12-11112222"]
REGIONS = ["eu-west-1", "us-east-1"]
ORGANIZATION: dict[str, Any] = {
    "orgId": ORG_ID,
    "ous": OUS,
    "regions": REGIONS,
    "managementRegion": "us-east-1",
    "callAs": "DELEGATED_ADMIN",
    "failureTolerancePercentage": 20,
    "maxConcurrentPercentage": 50,
    "archiveRetentionDays": 30,
}
BUCKET_PREFIX = f"cc-reaper-code-{ORG_ID}"


@dataclass(frozen=True)
class OrgSynth:
    outdir: Path
    management: dict[str, Any]
    member: dict[str, Any]
    code_stacks: dict[str, dict[str, Any]]  # region -> template

    def resources(self, template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}

    def only(self, template: dict[str, Any], kind: str) -> dict[str, Any]:
        found = self.resources(template, kind)
        assert len(found) == 1, f"expected one {kind}, found {sorted(found)}"
        return next(iter(found.values()))

    @property
    def template_paths(self) -> list[Path]:
        return [
            self.outdir / f"{c.ORG_MANAGEMENT_STACK_NAME}.template.json",
            self.outdir / MEMBER_OUTDIR / f"{MEMBER_STACK_NAME}.template.json",
            *(self.outdir / f"{code_stack_name(r)}.template.json" for r in REGIONS),
        ]


def synthesize_org(outdir: Path, overrides: dict[str, Any] | None = None) -> OrgSynth:
    """cdk.json's context plus the organization key as `-c` passes it (a JSON string)."""
    context = {**cdk_json_context(), "organization": json.dumps(ORGANIZATION), **(overrides or {})}
    app = App(context=context, outdir=str(outdir))
    build_app(app)
    app.synth()

    def read(path: Path) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(path.read_text())
        return loaded

    return OrgSynth(
        outdir=outdir,
        management=read(outdir / f"{c.ORG_MANAGEMENT_STACK_NAME}.template.json"),
        member=read(outdir / MEMBER_OUTDIR / f"{MEMBER_STACK_NAME}.template.json"),
        code_stacks={r: read(outdir / f"{code_stack_name(r)}.template.json") for r in REGIONS},
    )


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrgSynth]:
    # emitEvents off in the context: a member must turn it on anyway.
    yield synthesize_org(tmp_path_factory.mktemp("org.out"), {"emitEvents": False})


# ---------------------------------------------------------------- the management stack


def test_the_stack_set_deploys_service_managed_to_the_configured_ous_and_regions(
    org: OrgSynth,
) -> None:
    props = org.only(org.management, "AWS::CloudFormation::StackSet")["Properties"]
    assert props["StackSetName"] == contracts.ORG_STACK_SET_NAME
    assert props["PermissionModel"] == "SERVICE_MANAGED"
    assert props["AutoDeployment"] == {"Enabled": True, "RetainStacksOnAccountRemoval": False}
    assert props["CallAs"] == "DELEGATED_ADMIN"
    assert props["Capabilities"] == ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"]
    assert props["OperationPreferences"] == {
        "FailureTolerancePercentage": 20,
        "MaxConcurrentPercentage": 50,
        "RegionConcurrencyType": "PARALLEL",
    }
    assert props["StackInstancesGroup"] == [
        {"DeploymentTargets": {"OrganizationalUnitIds": OUS}, "Regions": REGIONS}
    ]


def test_the_stack_set_carries_the_member_template_and_the_central_arns(org: OrgSynth) -> None:
    props = org.only(org.management, "AWS::CloudFormation::StackSet")["Properties"]
    assert json.loads(props["TemplateBody"]) == org.member
    assert len(props["TemplateBody"].encode()) <= 51_200
    assert "TemplateURL" not in props
    bus_id = next(iter(org.resources(org.management, "AWS::Events::EventBus")))
    topic_id = next(
        k
        for k, v in org.resources(org.management, "AWS::SNS::Topic").items()
        if v["Properties"].get("TopicName") == contracts.ORG_CONTROL_TOPIC_NAME
    )
    assert {p["ParameterKey"]: p["ParameterValue"] for p in props["Parameters"]} == {
        "CentralBusArn": {"Fn::GetAtt": [bus_id, "Arn"]},
        "OrgControlTopicArn": {"Ref": topic_id},
    }


def test_only_the_organization_may_put_events_and_only_the_reapers_source(
    org: OrgSynth,
) -> None:
    bus = org.only(org.management, "AWS::Events::EventBus")["Properties"]
    assert bus["Name"] == contracts.ORG_BUS_NAME
    statement = org.only(org.management, "AWS::Events::EventBusPolicy")["Properties"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "events:PutEvents"
    assert statement["Condition"] == {
        "StringEquals": {
            "aws:PrincipalOrgID": ORG_ID,
            # not ORG_EVENT_SOURCE: no member can forge the org kill switch
            "events:source": contracts.REAPER_EVENT_SOURCE,
        }
    }


def test_the_central_bus_is_archived_with_the_configured_retention(org: OrgSynth) -> None:
    bus_id = next(iter(org.resources(org.management, "AWS::Events::EventBus")))
    archive = org.only(org.management, "AWS::Events::Archive")["Properties"]
    assert archive["SourceArn"] == {"Fn::GetAtt": [bus_id, "Arn"]}
    assert archive["RetentionDays"] == 30
    assert set(archive["EventPattern"]["source"]) == {
        contracts.REAPER_EVENT_SOURCE,
        contracts.ORG_EVENT_SOURCE,
    }


def test_member_events_reach_the_collector_through_a_queue_with_a_dead_letter_queue(
    org: OrgSynth,
) -> None:
    bus_id = next(iter(org.resources(org.management, "AWS::Events::EventBus")))
    rules = org.resources(org.management, "AWS::Events::Rule")
    collector_rule = next(
        r["Properties"]
        for r in rules.values()
        if r["Properties"]["EventPattern"] == {"source": [contracts.REAPER_EVENT_SOURCE]}
    )
    assert collector_rule["EventBusName"] == {"Ref": bus_id}
    target = collector_rule["Targets"][0]
    queue_id = target["Arn"]["Fn::GetAtt"][0]
    queue = org.management["Resources"][queue_id]["Properties"]
    dlq_id = queue["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": [dlq_id, "Arn"]}
    mapping = org.only(org.management, "AWS::Lambda::EventSourceMapping")["Properties"]
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    function_id = mapping["FunctionName"]["Ref"]
    function = org.management["Resources"][function_id]["Properties"]
    assert function["Handler"] == "reaper.org.collector.handler"
    table_id = next(iter(org.resources(org.management, "AWS::DynamoDB::Table")))
    env = function["Environment"]["Variables"]
    assert env[contracts.ENV_ORG_AUDIT_TABLE_NAME] == {"Ref": table_id}
    assert env[contracts.ENV_POWERTOOLS_METRICS_NAMESPACE] == contracts.ORG_METRICS_NAMESPACE
    assert env[contracts.ENV_ORG_RETENTION_DAYS] == "90"  # auditRetentionDays
    # The handler the template names exists in the code asset.
    module, _, name = function["Handler"].rpartition(".")
    assert callable(getattr(importlib.import_module(module), name))


def test_the_org_audit_table_has_the_contract_keys_ttl_and_pitr(org: OrgSynth) -> None:
    table = org.only(org.management, "AWS::DynamoDB::Table")["Properties"]
    assert table["TableName"] == contracts.ORG_AUDIT_TABLE_NAME
    assert table["KeySchema"] == [
        {"AttributeName": contracts.TABLE_PARTITION_KEY, "KeyType": "HASH"},
        {"AttributeName": contracts.TABLE_SORT_KEY, "KeyType": "RANGE"},
    ]
    assert {a["AttributeType"] for a in table["AttributeDefinitions"]} == {"S"}
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TimeToLiveSpecification"] == {
        "AttributeName": contracts.TABLE_TTL_ATTRIBUTE,
        "Enabled": True,
    }
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_the_collector_may_only_put_items_in_the_org_table(org: OrgSynth) -> None:
    table_id = next(iter(org.resources(org.management, "AWS::DynamoDB::Table")))
    statements = [
        s
        for p in org.resources(org.management, "AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if any(str(a).startswith("dynamodb:") for a in _list(s["Action"]))
    ]
    assert statements == [
        {
            "Action": "dynamodb:PutItem",
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [table_id, "Arn"]},
            "Sid": "OrgAuditTable",
        }
    ]


def test_the_org_kill_switch_goes_from_the_bus_to_the_control_topic(org: OrgSynth) -> None:
    topics = org.resources(org.management, "AWS::SNS::Topic")
    topic_id = next(k for k, v in topics.items() if v["Properties"].get("TopicName") == ORG_CONTROL)
    rule = next(
        r["Properties"]
        for r in org.resources(org.management, "AWS::Events::Rule").values()
        if r["Properties"]["EventPattern"].get("source") == [contracts.ORG_EVENT_SOURCE]
    )
    assert rule["EventPattern"]["detail-type"] == [contracts.DETAIL_TYPE_ORG_KILL_SWITCH]
    assert [t["Arn"] for t in rule["Targets"]] == [{"Ref": topic_id}]
    policy = next(
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in org.resources(org.management, "AWS::SNS::TopicPolicy").values()
        if p["Properties"]["Topics"] == [{"Ref": topic_id}]
    )
    by_action = {(s["Effect"], s["Action"]): s for s in policy}
    subscribe = by_action[("Allow", "sns:Subscribe")]
    assert subscribe["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": ORG_ID}}
    assert by_action[("Allow", "sns:Publish")]["Principal"] == {"Service": "events.amazonaws.com"}


ORG_CONTROL = contracts.ORG_CONTROL_TOPIC_NAME


def test_the_alarms_are_central_and_watch_the_org_and_the_collector(org: OrgSynth) -> None:
    alarms = org.resources(org.management, "AWS::CloudWatch::Alarm")
    watched = {
        a["Properties"].get("MetricName") or "math" for a in alarms.values()
    }  # fmt: skip
    assert watched == {
        contracts.ORG_METRIC_CANCEL_FAILURES,
        contracts.ORG_METRIC_EVENTS_NOT_STORED,
        "Errors",
        "ApproximateNumberOfMessagesVisible",
    }
    assert len(org.resources(org.management, "AWS::CloudWatch::Dashboard")) == 1
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"], "every alarm notifies the alarm topic"


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
