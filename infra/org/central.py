"""The organization's central bus (members put events on it) and control topic (the centre
sends the org kill switch to every member through it).

Both resource policies admit principals of the organization only (``aws:PrincipalOrgID``).
Members may put only the reaper's own events (``events:source``), so no member can forge the
org kill switch, whose source (ORG_EVENT_SOURCE) only the central account itself puts.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from constructs import Construct
from reaper import contracts

from infra import constants as c

ORG_ID_CONDITION = "aws:PrincipalOrgID"


class OrgCentral(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, org_id: str, archive_retention_days: int
    ) -> None:
        super().__init__(scope, construct_id)
        self.bus = events.EventBus(self, "Bus", event_bus_name=contracts.ORG_BUS_NAME)
        self.bus.add_to_resource_policy(
            iam.PolicyStatement(
                sid="OrganizationMembersPutReaperEvents",
                principals=[iam.AnyPrincipal()],
                actions=["events:PutEvents"],
                resources=[self.bus.event_bus_arn],
                conditions={
                    "StringEquals": {
                        ORG_ID_CONDITION: org_id,
                        "events:source": contracts.REAPER_EVENT_SOURCE,
                    }
                },
            )
        )
        # 0 days: kept indefinitely (EventBridge's meaning of RetentionDays 0).
        self.archive = self.bus.archive(
            "Archive",
            archive_name=c.ORG_ARCHIVE_NAME,
            description="Every event of the organization's reaper, for replay",
            event_pattern=events.EventPattern(
                source=[contracts.REAPER_EVENT_SOURCE, contracts.ORG_EVENT_SOURCE]
            ),
            retention=Duration.days(archive_retention_days),
        )

        self.control_topic = sns.Topic(
            self,
            "ControlTopic",
            topic_name=contracts.ORG_CONTROL_TOPIC_NAME,
            display_name="Cloud Control Reaper organization control",
            enforce_ssl=True,
        )  # no SSE with aws/sns: EventBridge cannot publish to a topic using that key
        self.control_topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="OrganizationMembersSubscribe",
                principals=[iam.AnyPrincipal()],
                actions=["sns:Subscribe"],
                resources=[self.control_topic.topic_arn],
                conditions={"StringEquals": {ORG_ID_CONDITION: org_id}},
            )
        )
        self.kill_switch_rule = events.Rule(
            self,
            "KillSwitchRule",
            event_bus=self.bus,
            description="The org kill switch to every member through the control topic",
            # Only the central account's own command (the bus policy already keeps members
            # to the reaper's source; members check the account again on receipt).
            event_pattern=events.EventPattern(
                source=[contracts.ORG_EVENT_SOURCE],
                detail_type=[contracts.DETAIL_TYPE_ORG_KILL_SWITCH],
                account=[Stack.of(self).account],
            ),
            targets=[
                targets.SnsTopic(
                    self.control_topic,
                    retry_attempts=c.RULE_TARGET_RETRY_ATTEMPTS,
                    max_event_age=Duration.hours(c.RULE_TARGET_MAX_EVENT_AGE_HOURS),
                )
            ],
        )
