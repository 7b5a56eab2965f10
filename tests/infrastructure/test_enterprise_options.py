"""Enterprise options on the synthesized template: each one off by default, each one there when
asked for, cdk-nag clean (``synthesize`` raises on an unacknowledged finding)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack
from reaper.config import ReaperConfig

from infra.enterprise import EnterpriseResources
from infra.enterprise_config import EnterpriseSettings

from .conftest import WITH_OPTIONS, Synthesized, synthesize
from .test_enterprise_config import KEY_ARN, VPC

BOUNDARY = "arn:aws:iam::123456789012:policy/ReaperBoundary"
# The form for an organization's members: each account's own copy of the policy.
BOUNDARY_PER_ACCOUNT = "arn:aws:iam::${AWS::AccountId}:policy/ReaperBoundary"
TAGS = {"team": "platform", "cost-center": "42"}
ALL_CREATED: dict[str, Any] = {
    **WITH_OPTIONS,  # chat, approvals, verifyLeftovers: every role and topic the stack can have
    "kmsKey": "create",
    "vpc": "create",
    "permissionsBoundaryArn": BOUNDARY_PER_ACCOUNT,
    "rolePath": "/reaper/",
    "tags": json.dumps(TAGS),
    "namePrefix": "acme-",
}
ENCRYPTED_TYPES = {
    "AWS::SQS::Queue": "KmsMasterKeyId",
    "AWS::SNS::Topic": "KmsMasterKeyId",
    "AWS::Logs::LogGroup": "KmsKeyId",
}
ENTERPRISE_TYPES = (
    "AWS::KMS::Key",
    "AWS::EC2::VPC",
    "AWS::EC2::VPCEndpoint",
    "AWS::EC2::SecurityGroup",
)


@pytest.fixture(scope="module")
def all_created(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesized]:
    yield synthesize(tmp_path_factory.mktemp("cdk-enterprise.out"), ALL_CREATED)


@pytest.fixture(scope="module")
def all_given(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesized]:
    yield synthesize(
        tmp_path_factory.mktemp("cdk-enterprise-given.out"),
        {
            "kmsKey": KEY_ARN,
            "vpc": json.dumps(VPC),
            "requireApproval": "true",
            "permissionsBoundaryArn": BOUNDARY,
        },
    )


def _key_id(s: Synthesized) -> str:
    key_id, _ = s.only("AWS::KMS::Key")
    return key_id


def _role_policy(s: Synthesized, role_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in s.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _function_role_id(s: Synthesized) -> str:
    function = next(
        f for k, f in s.resources("AWS::Lambda::Function").items() if k.startswith("Reaper")
    )
    role_id: str = function["Properties"]["Role"]["Fn::GetAtt"][0]
    return role_id


def test_defaults_add_nothing_enterprise_to_the_template(synthesized: Synthesized) -> None:
    # Given cdk.json as shipped
    for resource_type in ENTERPRISE_TYPES:
        assert not synthesized.resources(resource_type), resource_type
    for role in synthesized.resources("AWS::IAM::Role").values():
        assert not {"Path", "PermissionsBoundary", "RoleName"} & set(role["Properties"])
    # Then the queues keep SSE-SQS and the function stays out of any VPC
    for queue in synthesized.resources("AWS::SQS::Queue").values():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True
        assert "QueueName" not in queue["Properties"]
    _, function = synthesized.only("AWS::Lambda::Function")
    assert "VpcConfig" not in function["Properties"]
    assert "KmsKeyArn" not in function["Properties"]


def test_a_created_key_encrypts_queues_table_logs_and_topics_and_rotates(
    all_created: Synthesized,
) -> None:
    s = all_created
    key_id = _key_id(s)
    key_arn = {"Fn::GetAtt": [key_id, "Arn"]}
    _, key = s.only("AWS::KMS::Key")
    assert key["Properties"]["EnableKeyRotation"] is True
    # retainAuditTable is true in cdk.json: the key outlives the stack like the table does
    assert key["DeletionPolicy"] == "Retain"
    for resource_type, prop in ENCRYPTED_TYPES.items():
        found = s.resources(resource_type)
        assert found, resource_type
        for logical_id, resource in found.items():
            assert resource["Properties"].get(prop) == key_arn, (logical_id, prop)
    _, table = s.only("AWS::DynamoDB::Table")
    assert table["Properties"]["SSESpecification"] == {
        "KMSMasterKeyId": key_arn,
        "SSEEnabled": True,
        "SSEType": "KMS",
    }
    function = s.resources("AWS::Lambda::Function")
    assert any(f["Properties"].get("KmsKeyArn") == key_arn for f in function.values())
    # One key for everything: the chat's events topic does not bring its own
    assert len(s.resources("AWS::KMS::Key")) == 1


def test_the_key_policy_lets_alarms_eventbridge_and_logs_use_it(all_created: Synthesized) -> None:
    _, key = all_created.only("AWS::KMS::Key")
    statements = {s.get("Sid"): s for s in key["Properties"]["KeyPolicy"]["Statement"]}
    alarms = statements["CloudWatchAlarmsPublishToEncryptedTopics"]
    assert alarms["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert set(alarms["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    events = statements["EventBridgeSendsToEncryptedQueuesAndTopics"]
    assert events["Principal"] == {"Service": "events.amazonaws.com"}
    assert set(events["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey"}
    logs = statements["CloudWatchLogsEncryptsThisAccountsLogGroups"]
    assert logs["Principal"] == {
        "Service": {"Fn::Join": ["", ["logs.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]}
    }
    (context,) = logs["Condition"]["ArnLike"].values()
    assert list(logs["Condition"]["ArnLike"]) == ["kms:EncryptionContext:aws:logs:arn"]
    assert context["Fn::Join"][1][-1] == ":log-group:*"


def test_the_function_role_may_use_the_key_and_nothing_else_new(all_created: Synthesized) -> None:
    s = all_created
    key_arn = {"Fn::GetAtt": [_key_id(s), "Arn"]}
    kms = [st for st in _role_policy(s, _function_role_id(s)) if "kms:Decrypt" in st["Action"]]
    assert kms and all(st["Resource"] == key_arn for st in kms)


def test_a_given_key_is_used_by_arn_and_no_key_is_created(all_given: Synthesized) -> None:
    s = all_given
    assert not s.resources("AWS::KMS::Key")
    for resource_type, prop in ENCRYPTED_TYPES.items():
        for resource in s.resources(resource_type).values():
            assert resource["Properties"][prop] == KEY_ARN, resource_type
    kms = [st for st in _role_policy(s, _function_role_id(s)) if "kms:Decrypt" in st["Action"]]
    assert kms and all(st["Resource"] == KEY_ARN for st in kms)


def test_a_created_vpc_has_isolated_subnets_the_endpoints_and_https_only_egress(
    all_created: Synthesized,
) -> None:
    s = all_created
    assert not s.resources("AWS::EC2::NatGateway") and not s.resources("AWS::EC2::InternetGateway")
    assert s.resources("AWS::EC2::FlowLog")
    endpoints = [e["Properties"] for e in s.resources("AWS::EC2::VPCEndpoint").values()]
    services = sorted(e["ServiceName"]["Fn::Join"][1][-1].lstrip(".") for e in endpoints)
    # emitEvents (cdk.json) and requireApproval (the options): events and sns
    assert services == ["cloudcontrolapi", "dynamodb", "events", "sns", "sqs", "xray"]
    gateway = [e for e in endpoints if e["VpcEndpointType"] == "Gateway"]
    assert len(gateway) == 1 and len(gateway[0]["RouteTableIds"]) == 2
    assert all(e["PrivateDnsEnabled"] for e in endpoints if e["VpcEndpointType"] == "Interface")
    _assert_function_in_vpc_with_https_only(s)


def test_a_given_vpc_is_used_by_id_with_its_route_tables(all_given: Synthesized) -> None:
    s = all_given
    assert not s.resources("AWS::EC2::VPC")
    function = _assert_function_in_vpc_with_https_only(s)
    assert function["VpcConfig"]["SubnetIds"] == VPC["subnetIds"]
    endpoints = [e["Properties"] for e in s.resources("AWS::EC2::VPCEndpoint").values()]
    assert {e["VpcId"] for e in endpoints} == {VPC["vpcId"]}
    (gateway,) = [e for e in endpoints if e["VpcEndpointType"] == "Gateway"]
    assert gateway["RouteTableIds"] == VPC["routeTableIds"]


def test_a_vpc_without_endpoints_adds_only_the_security_group(tmp_path: Any) -> None:
    s = synthesize(tmp_path, {"vpc": json.dumps({**VPC, "routeTableIds": [], "endpoints": False})})
    assert not s.resources("AWS::EC2::VPCEndpoint")
    assert len(s.resources("AWS::EC2::SecurityGroup")) == 1
    _assert_function_in_vpc_with_https_only(s)


def _assert_function_in_vpc_with_https_only(s: Synthesized) -> dict[str, Any]:
    function: dict[str, Any] = next(
        f["Properties"]
        for k, f in s.resources("AWS::Lambda::Function").items()
        if k.startswith("Reaper")
    )
    (group_ref,) = function["VpcConfig"]["SecurityGroupIds"]
    group = s.template_json["Resources"][group_ref["Fn::GetAtt"][0]]["Properties"]
    assert group["SecurityGroupEgress"] == [
        {
            "CidrIp": "0.0.0.0/0",
            "Description": "HTTPS to AWS APIs",
            "FromPort": 443,
            "IpProtocol": "tcp",
            "ToPort": 443,
        }
    ]
    assert "SecurityGroupIngress" not in group
    # ENI management on this account's EC2 resources, describes on "*", no managed policy
    statements = _role_policy(s, _function_role_id(s))
    eni = next(st for st in statements if "ec2:CreateNetworkInterface" in st["Action"])
    assert eni["Resource"]["Fn::Join"][1][-1] == ":*/*"
    describe = next(st for st in statements if "ec2:DescribeNetworkInterfaces" in st["Action"])
    assert describe["Resource"] == "*"
    role = s.template_json["Resources"][_function_role_id(s)]["Properties"]
    assert "ManagedPolicyArns" not in role
    return function


def test_every_role_gets_the_boundary_and_the_path_cdks_own_included(
    all_created: Synthesized,
) -> None:
    roles = all_created.resources("AWS::IAM::Role")
    # the function's, the chat's, the flow log's and CDK's default-SG custom resource provider
    assert len(roles) == 4
    assert any(k.startswith("CustomVpcRestrictDefaultSG") for k in roles)
    for logical_id, role in roles.items():
        boundary = role["Properties"]["PermissionsBoundary"]
        assert boundary == {"Fn::Sub": BOUNDARY_PER_ACCOUNT}, logical_id
        assert role["Properties"]["Path"] == "/reaper/", logical_id


def test_a_boundary_with_a_fixed_account_is_used_as_given(all_given: Synthesized) -> None:
    (role,) = all_given.resources("AWS::IAM::Role").values()
    assert role["Properties"]["PermissionsBoundary"] == BOUNDARY
    assert "Path" not in role["Properties"]


def test_tags_reach_every_taggable_resource_and_cdks_providers(all_created: Synthesized) -> None:
    for logical_id, resource in all_created.template_json["Resources"].items():
        tags = resource.get("Properties", {}).get("Tags")
        if tags is None:
            continue
        as_dict = {t["Key"]: t["Value"] for t in tags}
        assert TAGS.items() <= as_dict.items(), logical_id
    provider = next(
        r
        for k, r in all_created.resources("AWS::Lambda::Function").items()
        if k.startswith("CustomVpcRestrictDefaultSG")
    )
    assert {t["Key"] for t in provider["Properties"]["Tags"]} >= set(TAGS)


def test_the_name_prefix_names_unnamed_resources_and_iam_names_carry_the_region(
    all_created: Synthesized,
) -> None:
    s = all_created
    for resource_type, prop in (
        ("AWS::SQS::Queue", "QueueName"),
        ("AWS::DynamoDB::Table", "TableName"),
        ("AWS::Lambda::Function", "FunctionName"),
        ("AWS::SNS::Topic", "TopicName"),
        ("AWS::Events::Rule", "Name"),
        ("AWS::CloudWatch::Alarm", "AlarmName"),
    ):
        for logical_id, resource in s.resources(resource_type).items():
            assert resource["Properties"][prop].startswith("acme-"), logical_id
    for logical_id, role in s.resources("AWS::IAM::Role").items():
        name = role["Properties"]["RoleName"]["Fn::Join"]
        assert name[0] == "-" and name[1][0].startswith("acme-"), logical_id
        assert name[1][1] == {"Ref": "AWS::Region"}
        assert len(name[1][0]) + 1 + len("ap-southeast-4") <= 64
    # A name its construct chose stays as it is
    _, chat = s.only("AWS::Chatbot::SlackChannelConfiguration")
    assert chat["Properties"]["ConfigurationName"] == "CloudControlReaper-notifications"


@pytest.mark.parametrize("which", ["all_created", "all_given"])
def test_cdk_nag_passes_with_reasons_and_cfn_lint_finds_nothing(
    which: str, request: pytest.FixtureRequest
) -> None:
    s: Synthesized = request.getfixturevalue(which)
    report = json.loads((s.outdir / "validation-report.json").read_text())
    nag = next(p for p in report["pluginReports"] if p["pluginName"] == "AwsSolutions")
    assert nag["conclusion"] == "success" and not nag["violations"]
    acknowledged = {v["ruleName"]: v["reason"] for v in nag.get("suppressedViolations", [])}
    # The enterprise options add exactly these, each with its reason (infra/enterprise.py)
    assert {
        "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
        "AwsSolutions-IAM5[Action::kms:ReEncrypt*]",
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:*/*]",
    } <= set(acknowledged)
    assert "KMS-encrypted" in acknowledged["AwsSolutions-IAM5[Action::kms:ReEncrypt*]"]
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "cfn-lint"),
            "--ignore-checks",
            "W3005",
            "--format",
            "parseable",
            "--",
            str(s.template_path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_without_custom_resources_the_vpc_brings_no_cdk_code(tmp_path: Path) -> None:
    # Given a stack that cannot carry CDK's custom resource code (an organization member)
    app = App(outdir=str(tmp_path))
    stack = Stack(app, "Member")
    EnterpriseResources(
        stack,
        "Enterprise",
        settings=EnterpriseSettings(create_vpc=True, create_kms_key=True),
        reaper_config=ReaperConfig(),
        retain_key=False,
        custom_resources=False,
    )
    # When it is synthesized
    assembly = app.synth()
    template = assembly.get_stack_by_name("Member").template
    # Then the VPC is there, without the default-security-group custom resource or its asset
    types = {r["Type"] for r in template["Resources"].values()}
    assert "AWS::EC2::VPC" in types and "AWS::KMS::Key" in types
    assert not any(t.startswith("Custom::") for t in types)
    assert not any(r["Type"] == "AWS::Lambda::Function" for r in template["Resources"].values())
    assert not list(tmp_path.glob("asset.*"))
