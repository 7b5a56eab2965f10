"""Enterprise options: a customer managed key and a VPC for the function; the Aspects that put
a permissions boundary, a role path, tags and a name prefix on a stack are in
``infra.enterprise_aspects`` (re-exported here).

Everything is driven by one ``EnterpriseSettings`` and works on any stack: the constructs take
the key and the network as optional kwargs, ``apply_enterprise_aspects`` covers the rest,
CDK's own generated roles included. With the defaults nothing here adds to a template.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import (
    Acknowledgment,
    Annotations,
    Aws,
    Duration,
    Fn,
    RemovalPolicy,
    Stack,
    Validations,
)
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct
from reaper.config import ReaperConfig

from infra import constants as c
from infra.enterprise_aspects import apply_enterprise_aspects
from infra.enterprise_config import EnterpriseSettings, VpcImport

__all__ = [
    "EnterpriseResources",
    "Network",
    "acknowledge_key_grants",
    "apply_enterprise_aspects",
    "grant_vpc_access",
]

HTTPS = 443
# What the function calls, by the boto3 clients of lambda/reaper/wiring.py: Cloud Control, SQS
# (work queue, dead letters) and, by option, EventBridge (emitEvents) and SNS (requireApproval);
# X-Ray for active tracing. DynamoDB goes through a gateway endpoint. Logs and metrics leave
# through Lambda itself (stdout, EMF), and KMS is called by SQS/SNS/DynamoDB, not the function.
ALWAYS_CALLED = (ec2.InterfaceVpcEndpointAwsService.CLOUD_CONTROL_API,
                 ec2.InterfaceVpcEndpointAwsService.SQS,
                 ec2.InterfaceVpcEndpointAwsService.XRAY)  # fmt: skip
VPC_NETWORK_INTERFACE_ACTIONS = (
    "ec2:CreateNetworkInterface",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
)
VPC_DESCRIBE_ACTIONS = ("ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets")


@dataclass(frozen=True)
class Network:
    """Where the function's ENIs go and the security group they wear."""

    vpc: ec2.IVpc
    subnets: ec2.SubnetSelection
    security_group: ec2.SecurityGroup


def interface_services(config: ReaperConfig) -> list[ec2.InterfaceVpcEndpointAwsService]:
    services = list(ALWAYS_CALLED)
    if config.emit_events:
        services.append(ec2.InterfaceVpcEndpointAwsService.EVENTBRIDGE)
    if config.require_approval:
        services.append(ec2.InterfaceVpcEndpointAwsService.SNS)
    return services


class EnterpriseResources(Construct):
    """The key and the network the options ask for; empty (no resources) by default."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: EnterpriseSettings,
        reaper_config: ReaperConfig,
        retain_key: bool,
        custom_resources: bool = True,
    ) -> None:
        """``custom_resources``: False where the template cannot carry CDK's custom resource
        code (an organization member: one file asset, the function's); the created VPC's
        default security group then keeps its default rules (nothing uses it)."""
        super().__init__(scope, construct_id)
        self._custom_resources = custom_resources
        self.key: kms.IKey | None = None
        if settings.kms_key_arn is not None:
            # A given key's policy is its owner's: docs/infrastructure.md lists what it needs.
            self.key = kms.Key.from_key_arn(self, "Key", settings.kms_key_arn)
        elif settings.create_kms_key:
            self.key = self._create_key(retain_key)
        self.network: Network | None = None
        if settings.create_vpc:
            self.network = self._create_vpc(interface_services(reaper_config), self.key)
        elif settings.vpc is not None:
            self.network = self._import_vpc(settings.vpc, interface_services(reaper_config))

    def _create_key(self, retain: bool) -> kms.Key:
        """One key for the queues, the table, the log groups and the topics, rotated yearly.

        Kept when the audit table is kept: a retained table is unreadable without its key.
        """
        key = kms.Key(
            self,
            "Key",
            description="Cloud Control Reaper: queues, audit table, log groups, topics",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
            pending_window=Duration.days(c.KMS_PENDING_WINDOW_DAYS),
        )
        # CloudWatch alarms publish to the encrypted alarm topic; SNS encrypts on their behalf.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublishToEncryptedTopics",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
            )
        )
        # EventBridge rules send to the encrypted work queue, dead-letter queue and topics.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="EventBridgeSendsToEncryptedQueuesAndTopics",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
            )
        )
        # CloudWatch Logs encrypts a log group's events only for log groups of this account and
        # Region (the encryption context names the log group).
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchLogsEncryptsThisAccountsLogGroups",
                principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com")],
                actions=[
                    "kms:Encrypt*",
                    "kms:Decrypt*",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:Describe*",
                ],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": (
                            f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:*"
                        )
                    }
                },
            )
        )
        return key

    def _create_vpc(
        self, services: list[ec2.InterfaceVpcEndpointAwsService], key: kms.IKey | None
    ) -> Network:
        """Two isolated subnets (no internet route, no NAT): AWS is reached by endpoints."""
        vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=0,
            restrict_default_security_group=self._custom_resources,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="Isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
                )
            ],
        )
        flow_logs = logs.LogGroup(
            self, "FlowLogs", retention=logs.RetentionDays.ONE_MONTH, encryption_key=key
        )
        vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
            traffic_type=ec2.FlowLogTrafficType.REJECT,
        )
        subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        route_tables = [subnet.route_table.route_table_id for subnet in vpc.isolated_subnets]
        return self._network(vpc, subnets, route_tables, services)

    def _import_vpc(
        self, given: VpcImport, services: list[ec2.InterfaceVpcEndpointAwsService]
    ) -> Network:
        # Subnets are chosen by id: CDK's AZ list only sizes its own subnet groups (none here)
        # and must not be empty.
        vpc = ec2.Vpc.from_vpc_attributes(
            self, "Vpc", vpc_id=given.vpc_id, availability_zones=[Fn.select(0, Fn.get_azs())]
        )
        chosen = [
            ec2.Subnet.from_subnet_id(self, f"Subnet{i}", subnet_id)
            for i, subnet_id in enumerate(given.subnet_ids)
        ]
        for subnet in chosen:
            Annotations.of(subnet).acknowledge_warning(
                "@aws-cdk/aws-ec2:noSubnetRouteTableId",
                "The DynamoDB gateway endpoint takes the route tables from routeTableIds.",
            )
        subnets = ec2.SubnetSelection(subnets=chosen)
        if not given.endpoints:
            return Network(vpc, subnets, self._function_security_group(vpc))
        return self._network(vpc, subnets, list(given.route_table_ids), services)

    def _network(
        self,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        route_tables: list[str],
        services: list[ec2.InterfaceVpcEndpointAwsService],
    ) -> Network:
        function_sg = self._function_security_group(vpc)
        endpoints_sg = ec2.SecurityGroup(
            self,
            "EndpointsSecurityGroup",
            vpc=vpc,
            description="Cloud Control Reaper endpoints: HTTPS from the reaper function only",
            allow_all_outbound=False,
        )
        endpoints_sg.add_ingress_rule(
            function_sg, ec2.Port.tcp(HTTPS), "HTTPS from the reaper function"
        )
        for service in services:
            ec2.InterfaceVpcEndpoint(
                self,
                f"{_service_id(service)}Endpoint",
                vpc=vpc,
                service=service,
                subnets=subnets,
                security_groups=[endpoints_sg],
                private_dns_enabled=True,
                open=False,
            )
        ec2.CfnVPCEndpoint(
            self,
            "DynamoDbEndpoint",
            vpc_id=vpc.vpc_id,
            service_name=ec2.GatewayVpcEndpointAwsService.DYNAMODB.name,
            vpc_endpoint_type="Gateway",
            route_table_ids=route_tables,
        )
        return Network(vpc, subnets, function_sg)

    def _function_security_group(self, vpc: ec2.IVpc) -> ec2.SecurityGroup:
        """HTTPS out, nothing else and nothing in: the function only calls AWS APIs."""
        group = ec2.SecurityGroup(
            self,
            "FunctionSecurityGroup",
            vpc=vpc,
            description="Cloud Control Reaper function: HTTPS to AWS APIs only",
            allow_all_outbound=False,
        )
        group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(HTTPS), "HTTPS to AWS APIs")
        return group


def _service_id(service: ec2.InterfaceVpcEndpointAwsService) -> str:
    return "".join(part.capitalize() for part in service.short_name.split("."))


def grant_vpc_access(role: iam.Role) -> None:
    """What Lambda needs to manage the function's ENIs, instead of the AWS managed policy
    (which also grants logs:* writes on every log group of the account)."""
    stack = Stack.of(role)
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="VpcNetworkInterfaces",
            actions=list(VPC_NETWORK_INTERFACE_ACTIONS),
            resources=[f"arn:{stack.partition}:ec2:{stack.region}:{stack.account}:*/*"],
        )
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(sid="VpcDescribe", actions=list(VPC_DESCRIBE_ACTIONS), resources=["*"])
    )
    Validations.of(role).acknowledge(
        Acknowledgment(
            id="AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>"
            ":<AWS::AccountId>:*/*]",
            reason="VPC Lambda: Lambda creates and deletes the function's network interfaces "
            "with its role; their ids are unknown before, and Lambda's guide asks for the "
            "account's EC2 resources of the Region when no interface id can be named.",
        )
    )


def acknowledge_key_grants(role: iam.IRole) -> None:
    """The wildcard KMS actions CDK's SQS/SNS/DynamoDB grants put on the one key's ARN."""
    for action in ("kms:GenerateDataKey*", "kms:ReEncrypt*"):
        Validations.of(role).acknowledge(
            Acknowledgment(
                id=f"AwsSolutions::AwsSolutions-IAM5[Action::{action}]",
                reason="Granted by CDK's grants on the KMS-encrypted queues, table and topic "
                "(SQS, SNS and DynamoDB call KMS for the caller), on the one key's ARN only.",
            )
        )
