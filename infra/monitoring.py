"""Alarms to an SNS topic the user subscribes to, and a dashboard of the reaper's metrics."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import constants as c
from infra.queues import ReaperQueues

PERIOD = Duration.minutes(c.ALARM_PERIOD_MINUTES)


class ReaperMonitoring(Construct):
    """Each alarm means a human should look: something failed, was dropped or nearly was."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.Function,
        queues: ReaperQueues,
        timeout: Duration,
        alarm_email: str | None,
        key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, construct_id)

        self.topic = sns.Topic(
            self,
            "AlarmTopic",
            display_name="Cloud Control Reaper alarms",
            enforce_ssl=True,
            master_key=key,
        )
        # No SSE by default: CloudWatch cannot publish to a topic encrypted with the AWS-managed
        # key aws/sns, and notifications carry alarm names and states only. With the kmsKey
        # option, the customer managed key, whose policy lets CloudWatch publish (enterprise.py).
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))

        dlq_depth = queues.dead_letter_queue.metric_approximate_number_of_messages_visible(
            period=PERIOD, statistic=cloudwatch.Stats.MAXIMUM
        )
        errors = function.metric_errors(period=PERIOD, statistic=cloudwatch.Stats.SUM)
        throttles = function.metric_throttles(period=PERIOD, statistic=cloudwatch.Stats.SUM)
        duration = function.metric_duration(period=PERIOD, statistic=cloudwatch.Stats.MAXIMUM)
        queue_age = queues.work_queue.metric_approximate_age_of_oldest_message(
            period=PERIOD, statistic=cloudwatch.Stats.MAXIMUM
        )
        failed = cloudwatch.Metric(
            namespace=c.METRICS_NAMESPACE,
            metric_name=c.FAILED_METRIC_NAME,
            dimensions_map={"service": c.SERVICE_NAME},
            period=PERIOD,
            statistic=cloudwatch.Stats.SUM,
        )
        near_timeout_ms = timeout.to_milliseconds() * c.DURATION_ALARM_FRACTION

        self.alarms = [
            self._alarm(
                "DeadLetterMessagesAlarm",
                dlq_depth,
                1,
                "Messages in the reaper's dead-letter queue: a request, event or sweep failed "
                "for good. Inspect and replay them with cc-reaper.",
            ),
            self._alarm("ErrorsAlarm", errors, 1, "The reaper function raised errors."),
            self._alarm(
                "FailedDecisionsAlarm",
                failed,
                1,
                "The reaper recorded failed decisions (a cancellation or status call that "
                "failed for good): see the audit and the dead-letter queue.",
            ),
            self._alarm(
                "ThrottlesAlarm",
                throttles,
                1,
                "The reaper function was throttled: work waits for a concurrency slot; "
                "repeated throttles end in the dead-letter queue.",
            ),
            self._alarm(
                "DurationNearTimeoutAlarm",
                duration,
                near_timeout_ms,
                f"An invocation (usually a sweep) used {c.DURATION_ALARM_FRACTION:.0%} of its "
                "timeout: lower maxCancellationsPerRun or raise functionTimeoutSeconds.",
            ),
            self._alarm(
                "WorkQueueAgeAlarm",
                queue_age,
                c.WORK_QUEUE_AGE_ALARM_SECONDS,
                "The oldest message in the work queue is over an hour old: the reaper is not "
                "keeping up, or its event source mapping is disabled.",
            ),
        ]

        # Alarm thresholds are drawn on the graphs rather than shown in an alarm status
        # widget: that widget needs the alarms' ARNs (Fn::GetAtt), which moto's
        # CloudFormation cannot resolve because it does not create alarms, and the local stack
        # runs this very template.
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard")
        invocations = function.metric_invocations(period=PERIOD, statistic=cloudwatch.Stats.SUM)
        self.dashboard.add_widgets(
            _graph("Invocations and errors", [invocations, errors], "Errors alarm", 1),
            _graph("Throttles", [throttles], "Throttles alarm", 1),
            _graph("Duration (max, ms)", [duration], "Near-timeout alarm", near_timeout_ms),
            _graph("Concurrent executions (max)", [_concurrency(function)]),
        )
        self.dashboard.add_widgets(
            _graph("Dead-letter queue depth", [dlq_depth], "DLQ alarm", 1),
            _graph("Work queue depth", [_visible(queues.work_queue)]),
            _graph(
                "Work queue oldest message (s)",
                [queue_age],
                "Queue age alarm",
                c.WORK_QUEUE_AGE_ALARM_SECONDS,
            ),
        )
        # Whatever the function emits through Powertools Metrics (outcomes, calls, caps),
        # found by SEARCH so new metric names appear without a redeploy.
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Reaper metrics (Powertools)",
                width=24,
                left=[
                    cloudwatch.MathExpression(
                        expression=(
                            f"SEARCH('{{{c.METRICS_NAMESPACE},service}} "
                            f"service=\"{c.SERVICE_NAME}\"', 'Sum', 300)"
                        ),
                        using_metrics={},
                        label="",
                        period=PERIOD,
                    )
                ],
            )
        )

    def _alarm(
        self, construct_id: str, metric: cloudwatch.IMetric, threshold: float, description: str
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(actions.SnsAction(self.topic))
        alarm.add_ok_action(actions.SnsAction(self.topic))
        return alarm


def _graph(
    title: str,
    metrics: list[cloudwatch.IMetric],
    alarm_label: str | None = None,
    threshold: float | None = None,
) -> cloudwatch.GraphWidget:
    annotations = (
        [cloudwatch.HorizontalAnnotation(value=threshold, label=alarm_label)]
        if alarm_label is not None and threshold is not None
        else None
    )
    return cloudwatch.GraphWidget(title=title, left=metrics, left_annotations=annotations, width=6)


def _visible(queue: sqs.IQueue) -> cloudwatch.Metric:
    return queue.metric_approximate_number_of_messages_visible(
        period=PERIOD, statistic=cloudwatch.Stats.MAXIMUM
    )


def _concurrency(function: lambda_.Function) -> cloudwatch.Metric:
    return function.metric(
        "ConcurrentExecutions", period=PERIOD, statistic=cloudwatch.Stats.MAXIMUM
    )
