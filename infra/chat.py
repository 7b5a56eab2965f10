"""Optional chat delivery: alarms and the reaper's events in a Slack channel.

Only with ``slackWorkspaceId`` and ``slackChannelId``. The workspace must have been authorized
once in the console of Amazon Q Developer in chat applications (formerly AWS Chatbot): that
OAuth step has no API, so the stack cannot do it.
"""

from __future__ import annotations

import jsii
from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_chatbot as chatbot
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct
from reaper import contracts

from infra import constants as c


class ReaperChat(Construct):
    """A Slack channel configuration fed by the alarm topic and, with emitEvents, by a topic
    of the reaper's own events (cancelled, cancel failed, blocking).

    The channel may only read what it is sent: its role has no permissions and its guardrail
    denies every action, so nobody in the channel can run an AWS command through it.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        workspace_id: str,
        channel_id: str,
        alarm_topic: sns.ITopic,
        emit_events: bool,
        key: kms.IKey | None = None,
    ) -> None:
        """``key``: the kmsKey option's key (its policy admits EventBridge) for the events topic."""
        super().__init__(scope, construct_id)
        self._shared_key = key
        topics: list[sns.ITopic] = [alarm_topic]
        self.events_topic: sns.Topic | None = None
        self.events_rule: events.Rule | None = None
        if emit_events:
            self.events_topic, self.events_rule = self._events_topic()
            topics.append(self.events_topic)

        # No policy: notifications need none (SNS delivers them to the service), and the
        # role is what commands typed in the channel would run as.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("chatbot.amazonaws.com"),
            description="Cloud Control Reaper chat channel: notifications only, no permissions",
        )
        # Without a guardrail the channel gets AWS's default, AdministratorAccess. This one
        # caps the channel (its role and every user role) at nothing.
        self.guardrail = iam.ManagedPolicy(
            self,
            "Guardrail",
            description="Cloud Control Reaper chat channel guardrail: deny every action",
            statements=[
                iam.PolicyStatement(
                    sid="NotificationsOnly",
                    effect=iam.Effect.DENY,
                    actions=["*"],
                    resources=["*"],
                )
            ],
        )
        self.channel = chatbot.SlackChannelConfiguration(
            self,
            "Slack",
            slack_channel_configuration_name=(
                f"{Stack.of(self).stack_name}{c.CHAT_CONFIGURATION_SUFFIX}"
            ),
            slack_workspace_id=workspace_id,
            slack_channel_id=channel_id,
            notification_topics=topics,
            role=self.role,
            guardrail_policies=[self.guardrail],
            user_role_required=True,
        )

    def _events_topic(self) -> tuple[sns.Topic, events.Rule]:
        """The reaper's events -> an encrypted topic the channel subscribes to.

        A customer managed key, not aws/sns: EventBridge cannot publish to a topic encrypted
        with the AWS managed key. Events name resources and requests (never their
        properties), so they are encrypted at rest like the audit.
        """
        key = self._shared_key or kms.Key(
            self,
            "EventsTopicKey",
            description="Cloud Control Reaper: the events topic of the chat channel",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.DESTROY,
            pending_window=Duration.days(c.KMS_PENDING_WINDOW_DAYS),
        )
        topic = sns.Topic(
            self,
            "EventsTopic",
            display_name="Cloud Control Reaper events",
            master_key=key,
            enforce_ssl=True,
        )
        # Matches what the reaper puts on the bus, and only that: it targets this topic,
        # never the function or its queue (tests/infrastructure/test_infra_no_loop.py).
        rule = events.Rule(
            self,
            "EventsRule",
            description="The reaper's events (cancelled, cancel failed, blocking) to chat",
            event_pattern=events.EventPattern(
                source=[contracts.REAPER_EVENT_SOURCE],
                detail_type=list(contracts.REAPER_DETAIL_TYPES),
            ),
        )
        # The shared key's policy admits EventBridge already (infra/enterprise.py).
        own_key = key if self._shared_key is None else None
        rule.add_target(_PublishFromRule(topic, own_key, rule))
        return topic, rule


@jsii.implements(events.IRuleTarget)
class _PublishFromRule:
    """An SNS target that EventBridge may publish to from this one rule only.

    ``aws_events_targets.SnsTopic`` lets events.amazonaws.com publish from any rule (no
    aws:SourceArn) and grants kms:GenerateDataKey*; this grants the two KMS actions SNS needs
    to encrypt for the publisher, and conditions the topic policy on the rule's ARN.
    """

    def __init__(self, topic: sns.Topic, key: kms.IKey | None, rule: events.Rule) -> None:
        self._topic, self._key, self._rule = topic, key, rule

    def bind(self, _rule: object, _id: str | None = None) -> events.RuleTargetConfig:
        events_service = iam.ServicePrincipal("events.amazonaws.com")
        self._topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="PublishFromTheReapersEventsRule",
                principals=[events_service],
                actions=["sns:Publish"],
                resources=[self._topic.topic_arn],
                conditions={"ArnEquals": {"aws:SourceArn": self._rule.rule_arn}},
            )
        )
        if self._key is not None:
            self._key.grant(events_service, "kms:Decrypt", "kms:GenerateDataKey")
        return events.RuleTargetConfig(
            arn=self._topic.topic_arn,
            retry_policy=events.CfnRule.RetryPolicyProperty(
                maximum_retry_attempts=c.RULE_TARGET_RETRY_ATTEMPTS,
                maximum_event_age_in_seconds=int(
                    Duration.hours(c.RULE_TARGET_MAX_EVENT_AGE_HOURS).to_seconds()
                ),
            ),
        )
