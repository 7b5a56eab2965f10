"""The central audit view: central bus -> queue (with DLQ) -> collector function -> table.

The collector's code is O2's (``reaper.org.collector.handler``) in the same asset as the
reaper; this construct gives it the queue, the table it alone writes, and least privilege.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from constructs import Construct
from reaper import contracts

from infra import constants as c
from infra.function import RETENTION_BY_DAYS, function_code

COLLECTOR_HANDLER = "reaper.org.collector.handler"
COLLECTOR_TIMEOUT_SECONDS = 60
COLLECTOR_MEMORY_MB = 256
COLLECTOR_MAX_RECEIVE_COUNT = 5
COLLECTOR_LOG_RETENTION_DAYS = 30
# The only call the collector makes on its table (lambda/reaper/org/central_table.py).
COLLECTOR_TABLE_ACTIONS = ("dynamodb:PutItem",)


class OrgCollector(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, bus: events.IEventBus, retention_days: int
    ) -> None:
        super().__init__(scope, construct_id)
        string = dynamodb.AttributeType.STRING
        self.table = dynamodb.Table(
            self,
            "Table",
            table_name=contracts.ORG_AUDIT_TABLE_NAME,
            partition_key=dynamodb.Attribute(name=contracts.TABLE_PARTITION_KEY, type=string),
            sort_key=dynamodb.Attribute(name=contracts.TABLE_SORT_KEY, type=string),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=contracts.TABLE_TTL_ATTRIBUTE,
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        timeout = Duration.seconds(COLLECTOR_TIMEOUT_SECONDS)
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(c.DEAD_LETTER_RETENTION_DAYS),
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(
                COLLECTOR_TIMEOUT_SECONDS * c.VISIBILITY_TIMEOUT_FACTOR
            ),
            retention_period=Duration.days(c.WORK_QUEUE_RETENTION_DAYS),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letter_queue, max_receive_count=COLLECTOR_MAX_RECEIVE_COUNT
            ),
        )
        self.rule = events.Rule(
            self,
            "Rule",
            event_bus=bus,
            description="Every member's reaper events to the central audit table",
            event_pattern=events.EventPattern(source=[contracts.REAPER_EVENT_SOURCE]),
            targets=[
                targets.SqsQueue(
                    self.queue,
                    dead_letter_queue=self.dead_letter_queue,
                    retry_attempts=c.RULE_TARGET_RETRY_ATTEMPTS,
                    max_event_age=Duration.hours(c.RULE_TARGET_MAX_EVENT_AGE_HOURS),
                )
            ],
        )
        self.function = self._function(timeout, retention_days)

    def _function(self, timeout: Duration, retention_days: int) -> lambda_.Function:
        log_group = logs.LogGroup(
            self, "LogGroup", retention=RETENTION_BY_DAYS[COLLECTOR_LOG_RETENTION_DAYS]
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Cloud Control Request Reaper: the organization's audit collector",
        )
        log_group.grant_write(self.role)
        layer_arn = ssm.StringParameter.value_for_string_parameter(
            self, c.POWERTOOLS_LAYER_PARAMETER
        )
        function = lambda_.Function(
            self,
            "Function",
            runtime=lambda_.Runtime(c.LAMBDA_RUNTIME, lambda_.RuntimeFamily.PYTHON),
            architecture=lambda_.Architecture.custom(c.LAMBDA_ARCHITECTURE),
            handler=COLLECTOR_HANDLER,
            code=function_code(self),
            layers=[lambda_.LayerVersion.from_layer_version_arn(self, "Powertools", layer_arn)],
            role=self.role,
            log_group=log_group,
            memory_size=COLLECTOR_MEMORY_MB,
            timeout=timeout,
            tracing=lambda_.Tracing.ACTIVE,
            environment={
                contracts.ENV_ORG_AUDIT_TABLE_NAME: self.table.table_name,
                contracts.ENV_ORG_RETENTION_DAYS: str(retention_days),
                contracts.ENV_POWERTOOLS_SERVICE_NAME: c.SERVICE_NAME,
                contracts.ENV_POWERTOOLS_METRICS_NAMESPACE: contracts.ORG_METRICS_NAMESPACE,
                contracts.ENV_POWERTOOLS_LOG_LEVEL: c.LOG_LEVEL,
            },
            description="Stores every member's reaper events in the organization's audit table",
        )
        function.add_event_source(
            event_sources.SqsEventSource(
                self.queue,
                batch_size=c.SQS_BATCH_SIZE,
                max_batching_window=Duration.seconds(c.SQS_BATCHING_WINDOW_SECONDS),
                report_batch_item_failures=True,
            )
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="OrgAuditTable",
                actions=list(COLLECTOR_TABLE_ACTIONS),
                resources=[self.table.table_arn],
            )
        )
        Validations.of(function).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-L1",
                reason=f"{c.LAMBDA_RUNTIME} is the Python the test suite runs on "
                "(PYTHON_VERSION in infra/constants.py), the reaper's runtime too.",
            )
        )
        Validations.of(self.role).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-IAM5[Resource::*]",
                reason="xray:PutTraceSegments/PutTelemetryRecords, added by active tracing: "
                "X-Ray has no resource-level permissions.",
            )
        )
        return function
