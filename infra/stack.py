"""The reaper's stack: composes the constructs and publishes the outputs; nothing else."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from constructs import Construct
from reaper import contracts
from reaper.config import ReaperConfig

from infra.audit_table import AuditTable
from infra.chat import ReaperChat
from infra.config import InfraSettings
from infra.enterprise import EnterpriseResources, apply_enterprise_aspects
from infra.function import ReaperFunction
from infra.monitoring import ReaperMonitoring
from infra.org.member import OrgMemberLinks, apply_member_settings
from infra.org.settings import OrganizationSettings
from infra.queues import ReaperQueues
from infra.rules import ReaperRules


class ReaperStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        reaper_config: ReaperConfig,
        settings: InfraSettings,
        organization: OrganizationSettings | None = None,
        **kwargs: Any,
    ) -> None:
        """``organization``: build the StackSet's member (infra/org/member.py) instead."""
        super().__init__(scope, construct_id, **kwargs)
        if organization is not None:
            # A member's decisions reach the central audit view as its events: always on.
            reaper_config = reaper_config.model_copy(update={"emit_events": True})
        timeout = Duration.seconds(settings.function_timeout_seconds)
        # Enterprise options (all off by default): the key and network the constructs take,
        # and the Aspects (boundary, role path, tags, name prefix) on everything in the stack.
        self.enterprise = EnterpriseResources(
            self,
            "Enterprise",
            settings=settings.enterprise,
            reaper_config=reaper_config,
            retain_key=settings.retain_audit_table,
            custom_resources=organization is None,
        )
        apply_enterprise_aspects(self, settings.enterprise)
        key = self.enterprise.key

        self.queues = ReaperQueues(
            self,
            "Queues",
            function_timeout=timeout,
            max_receive_count=reaper_config.max_receive_count,
            key=key,
        )
        self.audit = AuditTable(self, "Audit", retain=settings.retain_audit_table, key=key)
        self.reaper = ReaperFunction(
            self,
            "Reaper",
            reaper_config=reaper_config,
            table=self.audit.table,
            queues=self.queues,
            timeout=timeout,
            log_retention_days=settings.log_retention_days,
            key=key,
            network=self.enterprise.network,
            poll_work_queue=organization is None or organization.work_queue == "continuous",
        )
        self.rules = ReaperRules(
            self,
            "Rules",
            function=self.reaper.function,
            queues=self.queues,
            schedule=settings.schedule,
        )
        # A member has no alarms, dashboard or metrics (alarms are central, fed by its events).
        self.org_links = None
        self.monitoring = None
        if organization is not None:
            apply_member_settings(self.audit.table, self.queues, self.reaper.function)
            self.org_links = OrgMemberLinks(
                self, "Org", function=self.reaper.function, queues=self.queues
            )
        else:
            self.monitoring = ReaperMonitoring(
                self,
                "Monitoring",
                function=self.reaper.function,
                queues=self.queues,
                timeout=timeout,
                alarm_email=settings.alarm_email,
                key=key,
            )
        if reaper_config.require_approval and self.monitoring is not None:
            # Plans awaiting approval are told on the alarm topic (its subscribers are the
            # people who look after the reaper); the function may publish there, nothing else.
            self.reaper.function.add_environment(
                contracts.ENV_APPROVAL_TOPIC_ARN, self.monitoring.topic.topic_arn
            )
            self.monitoring.topic.grant_publish(self.reaper.role)
        self.chat = (
            ReaperChat(
                self,
                "Chat",
                workspace_id=settings.slack_workspace_id,
                channel_id=settings.slack_channel_id,
                alarm_topic=self.monitoring.topic,
                emit_events=reaper_config.emit_events,
                key=key,
            )
            if settings.slack_workspace_id and settings.slack_channel_id and self.monitoring
            else None
        )

        outputs = {
            contracts.OUTPUT_AUDIT_TABLE_NAME: self.audit.table.table_name,
            contracts.OUTPUT_WORK_QUEUE_URL: self.queues.work_queue.queue_url,
            contracts.OUTPUT_DEAD_LETTER_QUEUE_URL: self.queues.dead_letter_queue.queue_url,
            contracts.OUTPUT_FUNCTION_NAME: self.reaper.function.function_name,
            contracts.OUTPUT_SCHEDULE_RULE_NAME: self.rules.schedule_rule.rule_name,
            contracts.OUTPUT_CANCEL_RULE_NAME: self.rules.cancel_rule.rule_name,
            contracts.OUTPUT_CLOUDTRAIL_RULE_NAME: self.rules.cloudtrail_rule.rule_name,
            contracts.OUTPUT_CONFLICT_RULE_NAME: self.rules.conflict_rule.rule_name,
        }
        if self.monitoring is not None:
            outputs[contracts.OUTPUT_ALARM_TOPIC_ARN] = self.monitoring.topic.topic_arn
            outputs[contracts.OUTPUT_DASHBOARD_NAME] = self.monitoring.dashboard.dashboard_name
        for name, value in outputs.items():
            CfnOutput(self, name, value=value)
