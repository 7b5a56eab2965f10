"""What makes a ReaperStack an organization member: no CDK bootstrap, fixed names, no alarms,
its events forwarded to the central bus and the central control topic subscribed.

The member template is instantiated by a StackSet in accounts that usually have no CDK
bootstrap, so :class:`OrgMemberSynthesizer` writes no BootstrapVersion parameter or rule and
points the function's one file asset at the organization's code bucket of the Region instead
of CDK's asset bucket (``Fn::Sub "<prefix>-${AWS::Region}"``, key from infra/org/code.py).
"""

from __future__ import annotations

from typing import TypeVar

from aws_cdk import (
    BootstraplessSynthesizer,
    CfnParameter,
    FileAssetLocation,
    FileAssetPackaging,
    FileAssetSource,
    Fn,
)
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct
from reaper import contracts

from infra.queues import ReaperQueues

# The member template's parameters, set by the StackSet.
CENTRAL_BUS_PARAMETER = "CentralBusArn"
CONTROL_TOPIC_PARAMETER = "OrgControlTopicArn"
# The reaper's events a member forwards: its decisions and its kill-switch confirmations.
FORWARDED_DETAIL_TYPES = (
    *contracts.REAPER_DETAIL_TYPES,
    contracts.DETAIL_TYPE_KILL_SWITCH_CONFIRMED,
)
# Powertools' switch: a member emits no custom metrics (each costs $0.30 a month per account
# and Region); the central collector counts what the forwarded events say.
METRICS_DISABLED_ENV = "POWERTOOLS_METRICS_DISABLED"

T = TypeVar("T")


class MemberSynthesizerError(RuntimeError):
    """A member got an asset other than the function's code: it would need CDK bootstrap."""


class OrgMemberSynthesizer(BootstraplessSynthesizer):
    """Bootstrapless, with the function's code taken from the organization's code bucket."""

    def __init__(self, *, bucket_prefix: str, object_key: str) -> None:
        super().__init__()
        self._bucket_prefix = bucket_prefix
        self._object_key = object_key
        self._assets = 0

    # jsii calls an override with the struct as one positional argument, not as keywords.
    def add_file_asset(self, asset: FileAssetSource) -> FileAssetLocation:  # type: ignore[override]
        self._assets += 1
        if asset.packaging != FileAssetPackaging.ZIP_DIRECTORY or self._assets > 1:
            raise MemberSynthesizerError(
                "a member stack takes exactly one file asset, the function's code directory: "
                f"got {asset.packaging} {asset.file_name!r} (asset {self._assets})"
            )
        bucket = Fn.sub(f"{self._bucket_prefix}-${{AWS::Region}}")
        return FileAssetLocation(
            bucket_name=bucket,
            object_key=self._object_key,
            http_url=Fn.sub(
                f"https://s3.${{AWS::Region}}.${{AWS::URLSuffix}}/{self._bucket_prefix}"
                f"-${{AWS::Region}}/{self._object_key}"
            ),
            s3_object_url=Fn.sub(f"s3://{self._bucket_prefix}-${{AWS::Region}}/{self._object_key}"),
        )


def apply_member_settings(
    table: dynamodb.Table, queues: ReaperQueues, function: lambda_.Function
) -> None:
    """The physical names of contracts.ORG_MEMBER_* (the CLI finds them in any member) and
    no custom metrics. Named resources cannot be replaced by an update: a change of key
    schema means a new table by hand, as with any named table."""
    _cfn(table, dynamodb.CfnTable).table_name = contracts.ORG_MEMBER_AUDIT_TABLE
    _cfn(queues.work_queue, sqs.CfnQueue).queue_name = contracts.ORG_MEMBER_WORK_QUEUE
    _cfn(queues.dead_letter_queue, sqs.CfnQueue).queue_name = contracts.ORG_MEMBER_DEAD_LETTER_QUEUE
    _cfn(function, lambda_.CfnFunction).function_name = contracts.ORG_MEMBER_FUNCTION
    function.add_environment(METRICS_DISABLED_ENV, "true")


def _cfn(construct: Construct, kind: type[T]) -> T:
    child = construct.node.default_child
    if not isinstance(child, kind):
        raise TypeError(f"{construct.node.path}: expected a {kind.__name__} inside")
    return child


class OrgMemberLinks(Construct):
    """The member's two links to the centre, both on AWS machinery that retries.

    Out: a rule on the default bus forwards the reaper's events to the central bus. An
    event-bus target takes no RetryPolicy: EventBridge retries it for up to 24 hours
    (185 attempts), then puts it in the member's dead-letter queue, where it is counted
    (ApproximateNumberOfMessagesVisible, the rule's DeadLetterInvocations metric).
    In: the function subscribes to the central control topic; SNS retries a delivery to
    Lambda until Lambda accepts it (100,015 attempts over 23 days for AWS-managed endpoints),
    so an org kill switch reaches a member that was unreachable for a while.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.Function,
        queues: ReaperQueues,
    ) -> None:
        super().__init__(scope, construct_id)
        self.central_bus_arn = CfnParameter(
            scope,
            CENTRAL_BUS_PARAMETER,
            type="String",
            allowed_pattern=r"^arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus/.+$",
            description="ARN of the organization's central event bus (set by the StackSet)",
        )
        self.control_topic_arn = CfnParameter(
            scope,
            CONTROL_TOPIC_PARAMETER,
            type="String",
            allowed_pattern=r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:.+$",
            description="ARN of the organization's control topic (set by the StackSet)",
        )
        bus_arn = self.central_bus_arn.value_as_string
        topic_arn = self.control_topic_arn.value_as_string

        self.forward_role = iam.Role(
            self,
            "ForwardRole",
            assumed_by=iam.ServicePrincipal("events.amazonaws.com"),
            description="Puts the reaper's events on the organization's central bus",
        )
        # The EventBus target grants the role events:PutEvents on the central bus, nothing else.
        self.forward_rule = events.Rule(
            self,
            "ForwardRule",
            description="Forward the reaper's decisions and confirmations to the central bus",
            event_pattern=events.EventPattern(
                source=[contracts.REAPER_EVENT_SOURCE], detail_type=list(FORWARDED_DETAIL_TYPES)
            ),
            targets=[
                targets.EventBus(
                    events.EventBus.from_event_bus_arn(self, "CentralBus", bus_arn),
                    dead_letter_queue=queues.dead_letter_queue,
                    role=self.forward_role,
                )
            ],
        )

        # Region: the topic lives in the management Region, maybe not this one; a Lambda
        # subscription across Regions needs the topic's Region on the subscription.
        self.subscription = sns.CfnSubscription(
            self,
            "ControlSubscription",
            protocol="lambda",
            endpoint=function.function_arn,
            topic_arn=topic_arn,
            region=Fn.select(3, Fn.split(":", topic_arn)),
        )
        self.permission = lambda_.CfnPermission(
            self,
            "ControlInvoke",
            action="lambda:InvokeFunction",
            function_name=function.function_name,
            principal="sns.amazonaws.com",
            source_arn=topic_arn,
        )
        self.subscription.node.add_dependency(self.permission)
