"""The management (or delegated administrator) account's stack: composes, nothing else."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct
from reaper.config import ReaperConfig

from infra.config import InfraSettings
from infra.enterprise import apply_enterprise_aspects
from infra.org.central import OrgCentral
from infra.org.central_monitoring import OrgMonitoring
from infra.org.code import CodeBundle
from infra.org.collector import OrgCollector
from infra.org.member_template import MemberTemplate
from infra.org.settings import OrganizationSettings
from infra.org.stack_set import OrgStackSet

OUTPUT_CENTRAL_BUS_ARN = "CentralBusArn"
OUTPUT_CONTROL_TOPIC_ARN = "ControlTopicArn"
OUTPUT_ORG_AUDIT_TABLE_NAME = "OrgAuditTableName"
OUTPUT_ALARM_TOPIC_ARN = "AlarmTopicArn"
OUTPUT_STACK_SET_ID = "StackSetId"
OUTPUT_CODE_KEY = "MemberCodeKey"


class OrgManagementStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        reaper_config: ReaperConfig,
        settings: InfraSettings,
        organization: OrganizationSettings,
        member: MemberTemplate,
        code: CodeBundle,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        # Boundary, role path, tags and name prefix as on a member (KMS and VPC: members only).
        apply_enterprise_aspects(self, settings.enterprise)
        self.central = OrgCentral(
            self,
            "Central",
            org_id=organization.org_id,
            archive_retention_days=organization.archive_retention_days,
        )
        self.collector = OrgCollector(
            self,
            "Collector",
            bus=self.central.bus,
            retention_days=reaper_config.audit_retention_days,
        )
        self.monitoring = OrgMonitoring(
            self, "Monitoring", collector=self.collector, alarm_email=settings.alarm_email
        )
        self.stack_set = OrgStackSet(
            self,
            "Members",
            organization=organization,
            member=member,
            central_bus_arn=self.central.bus.event_bus_arn,
            control_topic_arn=self.central.control_topic.topic_arn,
        )
        outputs = {
            OUTPUT_CENTRAL_BUS_ARN: self.central.bus.event_bus_arn,
            OUTPUT_CONTROL_TOPIC_ARN: self.central.control_topic.topic_arn,
            OUTPUT_ORG_AUDIT_TABLE_NAME: self.collector.table.table_name,
            OUTPUT_ALARM_TOPIC_ARN: self.monitoring.topic.topic_arn,
            OUTPUT_STACK_SET_ID: self.stack_set.stack_set.ref,
            OUTPUT_CODE_KEY: code.key,
        }
        for name, value in outputs.items():
            CfnOutput(self, name, value=value)
