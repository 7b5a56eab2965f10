"""The organization in moto: the member template created where there is no CDK bootstrap,
and the management stack's StackSet deployed to every account of an OU by moto's StackSets.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer
from reaper import contracts
from reaper_local.cfn_deploy import DeployedStack
from reaper_local.org_deploy import (
    account_session,
    bootstrap_resources,
    create_stack_set_in_moto,
    deploy_management_to_moto,
    deploy_member_to_moto,
)

from infra import constants as c
from infra.org.code import CodeBundle, build_bundle
from infra.org.code_stack import code_stack_name
from infra.org.management import OUTPUT_CENTRAL_BUS_ARN, OUTPUT_CONTROL_TOPIC_ARN
from infra.org.member import FORWARDED_DETAIL_TYPES
from infra.org.publish import PublishError, publish
from infra.org.settings import OrganizationSettings

from .test_org_stacks import ORGANIZATION, REGIONS, OrgSynth, synthesize_org

MANAGEMENT_REGION = "us-east-1"
# moto warns for each resource type its CloudFormation skips, on create and on listing.
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")


@dataclass(frozen=True)
class MotoOrg:
    endpoint: str
    management: boto3.session.Session
    org: OrgSynth
    central: DeployedStack
    root_id: str
    published: CodeBundle  # the zip the management account published

    def new_ou(self, name: str, accounts: int) -> tuple[str, list[str]]:
        client = self.management.client("organizations", endpoint_url=self.endpoint)
        ou = client.create_organizational_unit(ParentId=self.root_id, Name=name)
        ou_id = ou["OrganizationalUnit"]["Id"]
        ids = []
        for n in range(accounts):
            status = client.create_account(Email=f"{name}{n}@example.com", AccountName=f"{name}{n}")
            account = status["CreateAccountStatus"]["AccountId"]
            client.move_account(
                AccountId=account, SourceParentId=self.root_id, DestinationParentId=ou_id
            )
            ids.append(account)
        return ou_id, ids

    @property
    def stack_set_parameters(self) -> dict[str, str]:
        return {
            "CentralBusArn": self.central.outputs[OUTPUT_CENTRAL_BUS_ARN],
            "OrgControlTopicArn": self.central.outputs[OUTPUT_CONTROL_TOPIC_ARN],
        }


@pytest.fixture(scope="module")
def moto_org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoOrg]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    org = synthesize_org(tmp_path_factory.mktemp("org-moto.out"))
    management = boto3.session.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name=MANAGEMENT_REGION,
    )
    organizations = management.client("organizations", endpoint_url=endpoint)
    organizations.create_organization(FeatureSet="ALL")
    root_id = organizations.list_roots()["Roots"][0]["Id"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # moto warns per skipped resource
        # The management account: the code bucket stacks, the published zip, the central stack.
        for region in REGIONS:
            name = code_stack_name(region)
            cloudformation = management.client(
                "cloudformation", endpoint_url=endpoint, region_name=region
            )
            cloudformation.create_stack(
                StackName=name, TemplateBody=json.dumps(org.code_stacks[region])
            )
            cloudformation.get_waiter("stack_create_complete").wait(
                StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
            )
        bundle = build_bundle()
        publish(
            OrganizationSettings.model_validate(ORGANIZATION),
            bundle,
            lambda region: management.client("s3", endpoint_url=endpoint, region_name=region),
        )
        central, adjusted = deploy_management_to_moto(
            endpoint, org.outdir, stack_name=c.ORG_MANAGEMENT_STACK_NAME, region=MANAGEMENT_REGION
        )
    # The moto gaps worked around on a copy (see org_deploy): the archive, the two bus rules.
    assert len(adjusted) == 3, adjusted
    yield MotoOrg(endpoint, management, org, central, root_id, bundle)
    server.stop()


def test_the_member_is_created_in_an_account_without_cdk_bootstrap(moto_org: MotoOrg) -> None:
    # Given a member account with no CDK bootstrap at all
    _, (account,) = moto_org.new_ou("direct", 1)
    member = account_session(moto_org.endpoint, account, "eu-west-1")
    assert bootstrap_resources(moto_org.endpoint, member) == []

    # When the member template is created there with the StackSet's parameters
    deployed = _deploy_member(moto_org, member)

    # Then it is complete, still without bootstrap, its resources have the contract names
    assert deployed.status == "CREATE_COMPLETE"
    assert bootstrap_resources(moto_org.endpoint, member) == []
    assert deployed.outputs[contracts.OUTPUT_FUNCTION_NAME] == contracts.ORG_MEMBER_FUNCTION
    assert deployed.outputs[contracts.OUTPUT_AUDIT_TABLE_NAME] == contracts.ORG_MEMBER_AUDIT_TABLE
    assert deployed.outputs[contracts.OUTPUT_WORK_QUEUE_URL].endswith(
        f"/{account}/{contracts.ORG_MEMBER_WORK_QUEUE}"
    )
    assert contracts.OUTPUT_ALARM_TOPIC_ARN not in deployed.outputs
    # And its code is the zip the management account published, read across accounts
    code = moto_org.org.member["Resources"][_function_id(moto_org.org.member)]["Properties"]["Code"]
    s3 = member.client("s3", endpoint_url=moto_org.endpoint)
    body = s3.get_object(
        Bucket=f"cc-reaper-code-{ORGANIZATION['orgId']}-eu-west-1", Key=code["S3Key"]
    )
    assert body["Body"].read() == moto_org.published.body
    # And its reaper events go to the central bus, failures to its own dead-letter queue
    events = member.client("events", endpoint_url=moto_org.endpoint)
    forward = [
        target
        for rule in events.list_rules()["Rules"]
        for target in events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
        if target["Arn"] == moto_org.stack_set_parameters["CentralBusArn"]
    ]
    assert len(forward) == 1
    assert forward[0]["DeadLetterConfig"]["Arn"].endswith(
        f":{account}:{contracts.ORG_MEMBER_DEAD_LETTER_QUEUE}"
    )


def test_a_members_reaper_events_reach_the_central_queue_and_nothing_else_does(
    moto_org: MotoOrg,
) -> None:
    # Given a member created from the template (its forward rule targets the central bus)
    _, (account,) = moto_org.new_ou("forwarding", 1)
    member = account_session(moto_org.endpoint, account, "eu-west-1")
    _deploy_member(moto_org, member)
    central_queue = _collector_queue_url(moto_org)

    # When the reaper puts each of its event types on the member's default bus, beside
    # an input it consumes (the custom cancel event) and a CloudTrail record
    detail = json.dumps({"schemaVersion": contracts.EVENT_SCHEMA_VERSION, "requestToken": "t-1"})
    entries: list[Any] = [
        {"Source": contracts.REAPER_EVENT_SOURCE, "DetailType": kind, "Detail": detail}
        for kind in (*FORWARDED_DETAIL_TYPES, contracts.CUSTOM_EVENT_DETAIL_TYPE)
    ]
    entries.append(
        {
            "Source": contracts.CLOUDTRAIL_EVENT_SOURCE,
            "DetailType": contracts.CLOUDTRAIL_DETAIL_TYPE,
            "Detail": json.dumps({"eventSource": contracts.CLOUDTRAIL_API_EVENT_SOURCE}),
        }
    )
    events = member.client("events", endpoint_url=moto_org.endpoint)
    assert events.put_events(Entries=entries)["FailedEntryCount"] == 0

    # Then the central bus's collector rule queued exactly the reaper's own events
    sqs = moto_org.management.client("sqs", endpoint_url=moto_org.endpoint)
    received = sqs.receive_message(QueueUrl=central_queue, MaxNumberOfMessages=10)
    kinds = sorted(json.loads(m["Body"])["detail-type"] for m in received.get("Messages", []))
    assert kinds == sorted(FORWARDED_DETAIL_TYPES)


def test_the_stack_set_deploys_a_member_to_every_account_and_region_of_the_ou(
    moto_org: MotoOrg,
) -> None:
    # Given an OU with two accounts, neither bootstrapped
    ou_id, accounts = moto_org.new_ou("members", 2)

    # When the management template's StackSet is created and deployed to that OU
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        instances = create_stack_set_in_moto(
            moto_org.endpoint,
            _management_template(moto_org),
            session=moto_org.management,
            parameter_values=moto_org.stack_set_parameters,
            ou_ids=[ou_id],
        )

    # Then each account has a member in each Region, with the contract names
    assert sorted((i["Account"], i["Region"]) for i in instances) == sorted(
        (a, r) for a in accounts for r in REGIONS
    )
    for account in accounts:
        for region in REGIONS:
            member = account_session(moto_org.endpoint, account, region)
            functions = member.client("lambda", endpoint_url=moto_org.endpoint).list_functions()
            names = [f["FunctionName"] for f in functions["Functions"]]
            assert names == [contracts.ORG_MEMBER_FUNCTION], (account, region)
            tables = member.client("dynamodb", endpoint_url=moto_org.endpoint).list_tables()
            assert tables["TableNames"] == [contracts.ORG_MEMBER_AUDIT_TABLE], (account, region)
            assert bootstrap_resources(moto_org.endpoint, member) == []


def test_publishing_again_uploads_nothing_and_a_missing_bucket_is_one_line(
    moto_org: MotoOrg,
) -> None:
    def s3_for(region: str) -> Any:
        return moto_org.management.client("s3", endpoint_url=moto_org.endpoint, region_name=region)

    # Given the fixture published the zip to both Regions: a second publish finds it there
    again = publish(OrganizationSettings.model_validate(ORGANIZATION), moto_org.published, s3_for)
    assert [(p.region, p.uploaded) for p in again] == [(r, False) for r in REGIONS]

    # When a Region's code stack was never deployed, the error names the bucket and the stack
    missing = OrganizationSettings.model_validate({**ORGANIZATION, "regions": ["eu-central-1"]})
    with pytest.raises(PublishError) as raised:
        publish(missing, moto_org.published, s3_for)
    assert str(raised.value).endswith(
        "NoSuchBucket: deploy CloudControlReaperOrgCode-eu-central-1 first"
    )
    assert f"s3://cc-reaper-code-{ORGANIZATION['orgId']}-eu-central-1/" in str(raised.value)


def _deploy_member(moto_org: MotoOrg, member: boto3.session.Session) -> DeployedStack:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # moto warns per skipped resource
        return deploy_member_to_moto(
            moto_org.endpoint,
            moto_org.org.member,
            session=member,
            parameters=moto_org.stack_set_parameters,
        )


def _collector_queue_url(moto_org: MotoOrg) -> str:
    cloudformation = moto_org.management.client("cloudformation", endpoint_url=moto_org.endpoint)
    resources = cloudformation.list_stack_resources(StackName=c.ORG_MANAGEMENT_STACK_NAME)
    (url,) = [
        r["PhysicalResourceId"]
        for r in resources["StackResourceSummaries"]
        if r["ResourceType"] == "AWS::SQS::Queue"
        and r["LogicalResourceId"].startswith("CollectorQueue")
    ]
    return url


def _management_template(moto_org: MotoOrg) -> dict[str, Any]:
    path = moto_org.org.outdir / f"{c.ORG_MANAGEMENT_STACK_NAME}.template.json"
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def _function_id(template: dict[str, Any]) -> str:
    (function_id,) = [
        str(k) for k, v in template["Resources"].items() if v["Type"] == "AWS::Lambda::Function"
    ]
    return function_id
