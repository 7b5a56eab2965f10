"""Enterprise Aspects: a permissions boundary, a role path, tags and a name prefix on every
resource of a stack, CDK's own generated roles and functions included (its custom resource
providers declare them as plain CfnResources, which ``Tags.of`` and typed checks miss).
"""

from __future__ import annotations

import jsii
from aws_cdk import Aspects, Aws, CfnResource, Fn, IAspect, Names, Stack, TagManager, Tags
from aws_cdk import aws_iam as iam
from constructs import Construct, IConstruct

from infra.enterprise_config import ACCOUNT_PLACEHOLDER, EnterpriseSettings

# IAM names are global in an account: a role or policy name carries the Region as well.
REGION_RESERVE = 16
# type -> (name property, its attribute on the L1 class, the name's maximum length)
NAME_PROPERTIES: dict[str, tuple[str, str, int]] = {
    "AWS::SQS::Queue": ("QueueName", "queue_name", 80),
    "AWS::DynamoDB::Table": ("TableName", "table_name", 255),
    "AWS::Lambda::Function": ("FunctionName", "function_name", 64),
    "AWS::Logs::LogGroup": ("LogGroupName", "log_group_name", 512),
    "AWS::SNS::Topic": ("TopicName", "topic_name", 256),
    "AWS::Events::Rule": ("Name", "name", 64),
    "AWS::CloudWatch::Alarm": ("AlarmName", "alarm_name", 255),
    "AWS::CloudWatch::Dashboard": ("DashboardName", "dashboard_name", 255),
    "AWS::EC2::SecurityGroup": ("GroupName", "group_name", 255),
    "AWS::IAM::Role": ("RoleName", "role_name", 64),
    "AWS::IAM::ManagedPolicy": ("ManagedPolicyName", "managed_policy_name", 128),
}
GLOBAL_NAME_TYPES = ("AWS::IAM::Role", "AWS::IAM::ManagedPolicy")
UNTAGGED_PROVIDER_TYPES = ("AWS::IAM::Role", "AWS::Lambda::Function")


@jsii.implements(IAspect)
class RolePath:
    """Puts every IAM role, CDK's own generated ones included, under one path."""

    def __init__(self, path: str) -> None:
        self._path = path

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, iam.CfnRole):
            node.path = self._path
        elif isinstance(node, CfnResource) and node.cfn_resource_type == "AWS::IAM::Role":
            node.add_property_override("Path", self._path)


@jsii.implements(IAspect)
class NamePrefix:
    """Names every resource of ``NAME_PROPERTIES`` that has no name: prefix + its path.

    IAM names are global in an account, so roles and managed policies also carry the Region.
    """

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix

    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, CfnResource):
            return
        found = NAME_PROPERTIES.get(node.cfn_resource_type)
        if found is None:
            return
        prop, attribute, max_length = found
        # A name set by its construct stays (an L2 leaves a token that resolves to nothing when
        # no name was given; a CDK provider's plain CfnResource has no such attribute).
        if Stack.of(node).resolve(getattr(node, attribute, None)) is not None:
            return
        is_global = node.cfn_resource_type in GLOBAL_NAME_TYPES
        room = max_length - len(self._prefix) - (REGION_RESERVE if is_global else 0)
        name = self._prefix + Names.unique_resource_name(node, max_length=room, separator="-")
        if is_global:
            name = Fn.join("-", [name, Aws.REGION])
        node.add_property_override(prop, name)


@jsii.implements(IAspect)
class TagCdkProviders:
    """Tags for the roles and functions CDK's custom resource providers declare as plain
    CfnResources, which ``Tags.of`` does not reach."""

    def __init__(self, tags: dict[str, str]) -> None:
        self._tags = [{"Key": key, "Value": value} for key, value in sorted(tags.items())]

    def visit(self, node: IConstruct) -> None:
        if (
            isinstance(node, CfnResource)
            and node.cfn_resource_type in UNTAGGED_PROVIDER_TYPES
            and not TagManager.is_taggable(node)
        ):
            node.add_property_override("Tags", self._tags)


def apply_enterprise_aspects(scope: Construct, settings: EnterpriseSettings) -> None:
    """Boundary, role path, tags and name prefix on every resource under ``scope``."""
    if settings.permissions_boundary_arn is not None:
        arn = settings.permissions_boundary_arn
        # ${AWS::AccountId}: the account the stack is deployed in (a StackSet's members).
        arn = Fn.sub(arn) if ACCOUNT_PLACEHOLDER in arn else arn
        boundary = iam.ManagedPolicy.from_managed_policy_arn(scope, "PermissionsBoundary", arn)
        iam.PermissionsBoundary.of(scope).apply(boundary)
    if settings.role_path is not None:
        Aspects.of(scope).add(RolePath(settings.role_path))
    for key, value in settings.tags.items():
        Tags.of(scope).add(key, value)
    if settings.tags:
        Aspects.of(scope).add(TagCdkProviders(settings.tags))
    if settings.name_prefix:
        Aspects.of(scope).add(NamePrefix(settings.name_prefix))
