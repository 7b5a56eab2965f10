"""The reaper function: runtime, packaging, concurrency, failure paths and least privilege."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Acknowledgment, ArnFormat, Duration, Stack, Stage, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from constructs import Construct
from reaper import contracts
from reaper.config import ReaperConfig

from infra import constants as c
from infra.bytecode import staged_code
from infra.config import MIN_MAX_CONCURRENCY
from infra.enterprise import Network, acknowledge_key_grants, grant_vpc_access
from infra.queues import ReaperQueues

RETENTION_BY_DAYS: dict[int, logs.RetentionDays] = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS,
    2557: logs.RetentionDays.SEVEN_YEARS,
    2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


def function_code(scope: Construct) -> lambda_.Code:
    """lambda/ with its bytecode for the runtime (infra/bytecode.py), built once per synth in
    the cloud assembly's directory: every function of the app ships the same asset."""
    stage = Stage.of(scope)
    if stage is None:
        raise ValueError(f"{scope.node.path} is in no app: the code is built in its cdk.out")
    built = staged_code(Path(stage.outdir) / c.LAMBDA_CODE_STAGING_DIR)
    return lambda_.Code.from_asset(str(built))


def sqs_max_concurrency(max_concurrency: int) -> int:
    """SQS pollers may use all slots but one, which stays free for the sweep.

    The reserved concurrency (= max_concurrency) is the hard cap that keeps the Cloud Control
    rate: each invocation takes calls_per_second / max_concurrency. At max_concurrency 2 the
    SQS minimum (2) leaves no free slot: a sweep that finds both busy is throttled and
    retried by Lambda's asynchronous queue.
    """
    return max(MIN_MAX_CONCURRENCY, max_concurrency - 1)


class ReaperFunction(Construct):
    """One function for every path: the scheduled sweep and the work queue."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        reaper_config: ReaperConfig,
        table: dynamodb.ITable,
        queues: ReaperQueues,
        timeout: Duration,
        log_retention_days: int,
        key: kms.IKey | None = None,
        network: Network | None = None,
        poll_work_queue: bool = True,
    ) -> None:
        """``key`` and ``network``: the kmsKey and vpc options (infra/enterprise.py).
        ``poll_work_queue`` False (an organization member's ``workQueue: schedule``): no event
        source mapping; each scheduled sweep drains the work queue (reaper.drain)."""
        super().__init__(scope, construct_id)

        self.log_group = logs.LogGroup(
            self, "LogGroup", retention=RETENTION_BY_DAYS[log_retention_days], encryption_key=key
        )
        # An explicit role with grants instead of AWSLambdaBasicExecutionRole: the managed
        # policy would allow writing to every log group of the account.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Cloud Control Request Reaper function",
        )
        self.log_group.grant_write(self.role)
        if key is not None:
            # The table's items, the queues' messages and the topic's: the services encrypt
            # with the caller's rights on the key.
            key.grant_encrypt_decrypt(self.role)
            acknowledge_key_grants(self.role)
        if network is not None:
            grant_vpc_access(self.role)

        powertools_layer_arn = ssm.StringParameter.value_for_string_parameter(
            self, c.POWERTOOLS_LAYER_PARAMETER
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=lambda_.Runtime(c.LAMBDA_RUNTIME, lambda_.RuntimeFamily.PYTHON),
            architecture=lambda_.Architecture.custom(c.LAMBDA_ARCHITECTURE),
            handler=c.LAMBDA_HANDLER,
            code=function_code(self),
            layers=[
                lambda_.LayerVersion.from_layer_version_arn(
                    self, "PowertoolsLayer", powertools_layer_arn
                )
            ],
            role=self.role,
            log_group=self.log_group,
            memory_size=c.FUNCTION_MEMORY_MB,
            timeout=timeout,
            tracing=lambda_.Tracing.ACTIVE,
            reserved_concurrent_executions=reaper_config.max_concurrency,
            # Watch re-checks go function -> work queue -> function until a request is
            # terminal or stale: a chain longer than Lambda's recursion limit (16) by design.
            # Terminate would silently drop those re-checks; the chain ends in the handler.
            recursive_loop=lambda_.RecursiveLoop.ALLOW,
            # The sweep is invoked asynchronously: retried, then recorded in the DLQ.
            retry_attempts=c.ASYNC_RETRY_ATTEMPTS,
            max_event_age=Duration.minutes(c.ASYNC_MAX_EVENT_AGE_MINUTES),
            on_failure=destinations.SqsDestination(queues.dead_letter_queue),
            environment={
                contracts.ENV_AUDIT_TABLE_NAME: table.table_name,
                contracts.ENV_WORK_QUEUE_URL: queues.work_queue.queue_url,
                contracts.ENV_DEAD_LETTER_QUEUE_URL: queues.dead_letter_queue.queue_url,
                contracts.ENV_REAPER_CONFIG: reaper_config.model_dump_json(),
                contracts.ENV_POWERTOOLS_SERVICE_NAME: c.SERVICE_NAME,
                contracts.ENV_POWERTOOLS_METRICS_NAMESPACE: c.METRICS_NAMESPACE,
                contracts.ENV_POWERTOOLS_LOG_LEVEL: c.LOG_LEVEL,
            },
            description="Cancels stale Cloud Control API resource requests",
            environment_encryption=key,
            vpc=network.vpc if network else None,
            vpc_subnets=network.subnets if network else None,
            security_groups=[network.security_group] if network else None,
        )
        if poll_work_queue:
            # Grants an SQS poller consumes with, on the work queue only.
            self.function.add_event_source(
                event_sources.SqsEventSource(
                    queues.work_queue,
                    batch_size=c.SQS_BATCH_SIZE,
                    max_batching_window=Duration.seconds(c.SQS_BATCHING_WINDOW_SECONDS),
                    report_batch_item_failures=True,
                    max_concurrency=sqs_max_concurrency(reaper_config.max_concurrency),
                )
            )
        else:
            # No mapping polling an idle queue all month: the sweep receives and deletes.
            queues.work_queue.grant_consume_messages(self.role)
            self.function.add_environment(
                contracts.ENV_WORK_QUEUE_DRAIN, contracts.WORK_QUEUE_DRAIN_SCHEDULE
            )
        # The table's own ARN only; exactly the calls the function makes (constants.py).
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="AuditTable",
                actions=list(c.AUDIT_TABLE_ACTIONS),
                resources=[table.table_arn],
            )
        )
        # Query, on the by-time index's ARN only (the table's ARN does not cover its indexes,
        # and this grant does not cover the table): the next sweep finds there the decisions
        # written ahead of a cancel and never completed, and reconciles them.
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="AuditTableByTimeIndex",
                actions=list(c.AUDIT_INDEX_ACTIONS),
                resources=[f"{table.table_arn}/index/{contracts.TABLE_GSI_NAME}"],
            )
        )
        queues.work_queue.grant_send_messages(self.role)
        queues.dead_letter_queue.grant_send_messages(self.role)
        # Cloud Control's request actions take no resource ARNs (the service authorizes
        # them per account and Region), so "*" is the narrowest resource IAM offers.
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="CloudControlRequests",
                actions=list(c.CLOUD_CONTROL_ACTIONS),
                resources=["*"],
            )
        )
        # The runtime is the Python the tests run on (PYTHON_VERSION), not necessarily the newest.
        Validations.of(self.function).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-L1",
                reason=f"{c.LAMBDA_RUNTIME} is the Python the test suite runs on "
                "(PYTHON_VERSION in infra/constants.py; the Makefile builds the test venv with "
                "it): a newer runtime comes with moving the tests to it, one constant.",
            ),
        )
        if reaper_config.emit_events:
            self._grant_put_events()
        if reaper_config.verify_leftovers:
            self._grant_verify_leftovers(reaper_config.verify_leftovers)
        self._acknowledge_wildcards(reaper_config.verify_leftovers)

    def _grant_put_events(self) -> None:
        """emitEvents: PutEvents on the account's default bus, the one bus the reaper uses."""
        default_bus_arn = Stack.of(self).format_arn(
            service="events",
            resource="event-bus",
            resource_name=c.DEFAULT_EVENT_BUS,
            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReaperEvents", actions=list(c.EVENTS_ACTIONS), resources=[default_bus_arn]
            )
        )

    def _grant_verify_leftovers(self, read_actions: tuple[str, ...]) -> None:
        """verifyLeftovers: after a cancel, GetResource says whether the resource exists.

        Cloud Control reads a resource with the caller's rights, so the role needs the type's
        own read actions too; the user lists them (nothing is granted when the list is empty).
        GetResource takes no resource ARN and the listed actions name resources nobody knows
        at synth (whatever a cancelled request left behind): both are granted on "*".
        """
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="VerifyLeftovers",
                actions=[c.GET_RESOURCE_ACTION, *read_actions],
                resources=["*"],
            )
        )

    def _acknowledge_wildcards(self, read_actions: tuple[str, ...]) -> None:
        """The wildcards cdk-nag finds in the role's policy, each with its reason."""
        leftovers = (
            (
                f" With verifyLeftovers (cdk.json context) set: {c.GET_RESOURCE_ACTION} (Cloud "
                "Control's read of one resource; no resource-level permissions) and the read "
                f"actions the user listed in verifyLeftovers ({', '.join(read_actions)}), "
                "which act on whatever resources a cancelled request left, unknown at synth."
            )
            if read_actions
            else ""
        )
        Validations.of(self.role).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-IAM5[Resource::*]",
                reason="Only actions that take no resource ARN are granted on '*': "
                "cloudformation:CancelResourceRequest, GetResourceRequestStatus and "
                "ListResourceRequests (Cloud Control's request actions are authorized per "
                "account and Region only) and xray:PutTraceSegments/PutTelemetryRecords "
                "(added by active tracing; X-Ray has no resource-level permissions)." + leftovers,
            ),
        )
        for action in read_actions:
            if "*" in action:
                Validations.of(self.role).acknowledge(
                    Acknowledgment(
                        id=f"AwsSolutions::AwsSolutions-IAM5[Action::{action}]",
                        reason=f"{action} is listed by the user in the verifyLeftovers context "
                        "key: the read actions Cloud Control's GetResource needs for the "
                        "resource types the reaper cancels, chosen by the deployer on purpose.",
                    ),
                )
