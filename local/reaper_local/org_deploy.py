"""Create the organization member template in moto, in an account with no CDK bootstrap.

What a StackSet instance does in a member account, done against a moto server endpoint:
``CreateStack`` of the member template with the StackSet's two parameters (the central bus
and the control topic), in an account that has neither CDK's assets bucket nor the
``/cdk-bootstrap/...`` SSM parameter. The function's code comes from the organization's
code bucket in the management account (``<prefix>-<region>``), which the caller fills first.

The same three honest differences from AWS as ``reaper_local.cfn_deploy`` (skipped resource
types, event source mappings disabled, schedule targets detached) and the same stand-in for
the public Powertools layer parameter, all reported in the returned ``DeployedStack``.
Accounts are played with STS AssumeRole: moto maps the returned credentials to the role's
account.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import boto3

from reaper_local.cfn_deploy import (
    BOOTSTRAP_QUALIFIER,
    BOOTSTRAP_VERSION_PARAMETER,
    DeployedStack,
    _provide_public_parameters,
    create_stack,
    deploy_to_moto,
)

MEMBER_STACK_NAME = "StackSet-cc-reaper-member"
ACCESS_ROLE = "OrganizationAccountAccessRole"


def account_session(endpoint_url: str, account_id: str, region: str) -> boto3.session.Session:
    """A session acting as ``account_id`` (AssumeRole from moto's default account)."""
    sts = boto3.client(
        "sts",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto takes any credentials
    )
    credentials = sts.assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/{ACCESS_ROLE}", RoleSessionName="reaper-local"
    )["Credentials"]
    return boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=region,
    )


def bootstrap_resources(endpoint_url: str, session: boto3.session.Session) -> list[str]:
    """What of CDK's bootstrap the session's account and Region has (empty for a member)."""
    s3 = session.client("s3", endpoint_url=endpoint_url)
    ssm = session.client("ssm", endpoint_url=endpoint_url)
    prefix = f"cdk-{BOOTSTRAP_QUALIFIER}-assets-"
    found = [
        b["Name"] for b in s3.list_buckets().get("Buckets", []) if b["Name"].startswith(prefix)
    ]
    found += [
        p["Name"]
        for p in ssm.describe_parameters(
            ParameterFilters=[{"Key": "Name", "Values": [BOOTSTRAP_VERSION_PARAMETER]}]
        ).get("Parameters", [])
    ]
    return found


def deploy_member_to_moto(
    endpoint_url: str,
    template: dict[str, Any],
    *,
    session: boto3.session.Session,
    parameters: dict[str, str],
    stack_name: str = MEMBER_STACK_NAME,
    disable_event_source_mappings: bool = True,
) -> DeployedStack:
    """Create the member template as a StackSet instance would; wait for CREATE_COMPLETE.

    ``session`` acts as the member account (see :func:`account_session`); ``parameters`` are
    the StackSet's (CentralBusArn, OrgControlTopicArn). ``template`` is not changed except the
    Default of the public Powertools parameter, pointed at a stand-in (see cfn_deploy).
    """
    template = json.loads(json.dumps(template))  # the caller's copy stays as synthesized

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=endpoint_url)  # type: ignore[call-overload]

    return create_stack(
        client,
        stack_name,
        template,
        parameters=parameters,
        disable_event_source_mappings=disable_event_source_mappings,
    )


def stack_set_properties(management_template: dict[str, Any]) -> dict[str, Any]:
    """The one AWS::CloudFormation::StackSet of the management template, its Properties."""
    found = [
        resource["Properties"]
        for resource in management_template["Resources"].values()
        if resource["Type"] == "AWS::CloudFormation::StackSet"
    ]
    if len(found) != 1:
        raise ValueError(f"expected one AWS::CloudFormation::StackSet, found {len(found)}")
    return found[0]  # type: ignore[no-any-return]


def create_stack_set_in_moto(
    endpoint_url: str,
    management_template: dict[str, Any],
    *,
    session: boto3.session.Session,
    parameter_values: dict[str, str],
    ou_ids: list[str],
) -> list[dict[str, Any]]:
    """What CloudFormation does with the management template's StackSet, through moto's API.

    moto's CloudFormation skips AWS::CloudFormation::StackSet, but its StackSets API deploys:
    CreateStackSet with the resource's properties, then CreateStackInstances to ``ou_ids``
    (moto's own OU ids stand in for the template's) in the template's Regions. For a
    SERVICE_MANAGED StackSet moto creates each instance's resources in the member account
    (its stacks are hidden from DescribeStacks). Every target account and Region first gets
    the Powertools stand-in (see cfn_deploy), as the member template's parameter needs.
    ``parameter_values``: the StackSet's parameters resolved (the template holds Ref/GetAtt).
    Returns ListStackInstances' summaries.
    """
    properties = stack_set_properties(management_template)
    regions = [r for group in properties["StackInstancesGroup"] for r in group["Regions"]]
    organizations = session.client("organizations", endpoint_url=endpoint_url)
    accounts = [
        account["Id"]
        for ou in ou_ids
        for account in organizations.list_accounts_for_parent(ParentId=ou)["Accounts"]
    ]
    member = json.loads(properties["TemplateBody"])
    for account in accounts:
        for region in regions:
            # Each call points the parameter's Default at the same stand-in name; a fresh
            # copy each time, so that every account and Region gets its stand-in layer.
            target = account_session(endpoint_url, account, region)
            member = json.loads(properties["TemplateBody"])
            _provide_public_parameters(
                target.client("lambda", endpoint_url=endpoint_url),
                target.client("ssm", endpoint_url=endpoint_url),
                member,
            )
    cloudformation = session.client("cloudformation", endpoint_url=endpoint_url)
    name = properties["StackSetName"]
    cloudformation.create_stack_set(
        StackSetName=name,
        Description=properties.get("Description", ""),
        TemplateBody=json.dumps(member),
        Parameters=[
            {
                "ParameterKey": p["ParameterKey"],
                "ParameterValue": parameter_values[p["ParameterKey"]],
            }
            for p in properties["Parameters"]
        ],
        Capabilities=properties["Capabilities"],
        PermissionModel=properties["PermissionModel"],
        AutoDeployment=properties["AutoDeployment"],
        CallAs=properties["CallAs"],
        ManagedExecution=properties.get("ManagedExecution", {"Active": False}),
    )
    cloudformation.create_stack_instances(
        StackSetName=name,
        DeploymentTargets={"OrganizationalUnitIds": ou_ids},
        Regions=regions,
        OperationPreferences=properties["OperationPreferences"],
        CallAs=properties["CallAs"],
    )
    listed = cloudformation.list_stack_instances(StackSetName=name, CallAs=properties["CallAs"])
    return [dict(summary) for summary in listed["Summaries"]]


def deploy_management_to_moto(
    endpoint_url: str,
    cloud_assembly_dir: str | Path,
    *,
    stack_name: str,
    region: str,
) -> tuple[DeployedStack, tuple[str, ...]]:
    """Create the management stack with ``reaper_local.cfn_deploy`` (it has CDK bootstrap).

    Two moto gaps are worked around on a copy of the template, each returned by name; the
    synthesized template is not changed, and each change is valid CloudFormation meaning the
    same: moto's AWS::Events::Archive takes EventPattern only as a JSON string (CDK writes a
    JSON object), and moto resolves a rule's ``EventBusName: {"Ref": bus}`` to an object and
    fails (the copy names the bus and depends on it).
    """
    assembly = Path(cloud_assembly_dir)
    template = json.loads((assembly / f"{stack_name}.template.json").read_text())
    adjusted = []
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::Events::Archive" and isinstance(
            properties.get("EventPattern"), dict
        ):
            properties["EventPattern"] = json.dumps(properties["EventPattern"])
            adjusted.append(f"{logical_id}.EventPattern as a JSON string")
        bus_ref = properties.get("EventBusName")
        if resource["Type"] == "AWS::Events::Rule" and isinstance(bus_ref, dict):
            bus = template["Resources"][bus_ref["Ref"]]["Properties"]["Name"]
            properties["EventBusName"] = bus
            resource.setdefault("DependsOn", []).append(bus_ref["Ref"])
            adjusted.append(f"{logical_id}.EventBusName as the bus's name")
    with tempfile.TemporaryDirectory(prefix="org-management-") as copy:
        copy_dir = Path(copy)
        for entry in assembly.iterdir():  # the assets, by link; the template, adjusted
            if entry.name != f"{stack_name}.template.json":
                (copy_dir / entry.name).symlink_to(entry)
        (copy_dir / f"{stack_name}.template.json").write_text(json.dumps(template))
        deployed = deploy_to_moto(endpoint_url, copy_dir, stack_name=stack_name, region=region)
    return deployed, tuple(adjusted)
