"""The organization's alarms and dashboard, in the central account only.

Members have none (their idle cost stays under $0.10 a month): the collector turns every
member's forwarded events into metrics (namespace ORG_METRICS_NAMESPACE), and the alarms here
watch those and the collector itself.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct
from reaper import contracts

from infra import constants as c
from infra.org.collector import OrgCollector

PERIOD = Duration.minutes(c.ALARM_PERIOD_MINUTES)


def org_metric(name: str) -> cloudwatch.Metric:
    """A collector metric (Powertools EMF: dimension service)."""
    return cloudwatch.Metric(
        namespace=contracts.ORG_METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": c.SERVICE_NAME},
        period=PERIOD,
        statistic=cloudwatch.Stats.SUM,
    )


class OrgMonitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        collector: OrgCollector,
        alarm_email: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(
            self, "AlarmTopic", display_name="Cloud Control Reaper organization alarms",
            enforce_ssl=True,
        )  # fmt: skip
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))

        cancel_failures = org_metric(contracts.ORG_METRIC_CANCEL_FAILURES)
        not_stored = org_metric(contracts.ORG_METRIC_EVENTS_NOT_STORED)
        errors = collector.function.metric_errors(period=PERIOD, statistic=cloudwatch.Stats.SUM)
        dlq_depth = collector.dead_letter_queue.metric_approximate_number_of_messages_visible(
            period=PERIOD, statistic=cloudwatch.Stats.MAXIMUM
        )
        self.alarms = [
            self._alarm(
                "CancelFailuresAlarm",
                cancel_failures,
                "A member's reaper failed to cancel a request: see `cc-reaper audit --org`.",
            ),
            self._alarm(
                "CollectorErrorsAlarm", errors, "The organization's audit collector raised errors."
            ),
            self._alarm(
                "CollectorDeadLettersAlarm",
                dlq_depth,
                "Events the collector could not store are in its dead-letter queue: the central "
                "audit view misses them until they are redriven.",
            ),
            self._alarm(
                "EventsNotStoredAlarm",
                not_stored,
                "The collector could not store some events (they are retried, then dead-lettered).",
            ),
        ]
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard")
        self.dashboard.add_widgets(
            _graph(
                "Organization: cancels and failures",
                [org_metric(contracts.ORG_METRIC_CANCELS), cancel_failures],
            ),
            _graph("Organization: blocking requests", [org_metric(contracts.ORG_METRIC_BLOCKING)]),
            _graph(
                "Kill switch confirmations",
                [org_metric(contracts.ORG_METRIC_KILL_SWITCH_CONFIRMED)],
            ),
            _graph(
                "Collector: stored, not stored, invalid",
                [
                    org_metric(contracts.ORG_METRIC_EVENTS_STORED),
                    not_stored,
                    org_metric(contracts.ORG_METRIC_EVENTS_INVALID),
                ],
            ),
        )
        self.dashboard.add_widgets(
            _graph("Collector errors", [errors]),
            _graph("Collector dead letters", [dlq_depth]),
        )

    def _alarm(
        self, construct_id: str, metric: cloudwatch.IMetric, description: str
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            metric=metric,
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(actions.SnsAction(self.topic))
        alarm.add_ok_action(actions.SnsAction(self.topic))
        return alarm


def _graph(title: str, metrics: list[cloudwatch.IMetric]) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(title=title, left=metrics, width=6)
