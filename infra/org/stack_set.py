"""The StackSet that puts a member in every account of the OUs, in every listed Region.

Service-managed permissions: Organizations creates the StackSet roles in each account, and
auto-deployment adds an account that joins an OU (and removes the stack of one that leaves).
"""

from __future__ import annotations

from aws_cdk import aws_cloudformation as cloudformation
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct
from reaper import contracts

from infra.org.member import CENTRAL_BUS_PARAMETER, CONTROL_TOPIC_PARAMETER
from infra.org.member_template import MemberTemplate
from infra.org.settings import OrganizationSettings

CAPABILITIES = ("CAPABILITY_IAM", "CAPABILITY_NAMED_IAM")


class OrgStackSet(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        organization: OrganizationSettings,
        member: MemberTemplate,
        central_bus_arn: str,
        control_topic_arn: str,
    ) -> None:
        super().__init__(scope, construct_id)
        template_body: str | None = None
        template_url: str | None = None
        if member.fits_template_body:
            template_body = member.body
        else:
            # Past TemplateBody's 51,200 bytes: the template goes by URL, from the management
            # account's CDK asset bucket (bootstrap is available there).
            template_url = s3_assets.Asset(self, "MemberTemplate", path=str(member.path)).http_url
        self.stack_set = cloudformation.CfnStackSet(
            self,
            "StackSet",
            stack_set_name=contracts.ORG_STACK_SET_NAME,
            description="Cloud Control Request Reaper: one member per account and Region",
            permission_model="SERVICE_MANAGED",
            auto_deployment=cloudformation.CfnStackSet.AutoDeploymentProperty(
                enabled=True, retain_stacks_on_account_removal=False
            ),
            call_as=organization.call_as.value,
            capabilities=list(CAPABILITIES),
            managed_execution={"Active": True},
            operation_preferences=cloudformation.CfnStackSet.OperationPreferencesProperty(
                failure_tolerance_percentage=organization.failure_tolerance_percentage,
                max_concurrent_percentage=organization.max_concurrent_percentage,
                region_concurrency_type="PARALLEL",
            ),
            parameters=[
                cloudformation.CfnStackSet.ParameterProperty(
                    parameter_key=CENTRAL_BUS_PARAMETER, parameter_value=central_bus_arn
                ),
                cloudformation.CfnStackSet.ParameterProperty(
                    parameter_key=CONTROL_TOPIC_PARAMETER, parameter_value=control_topic_arn
                ),
            ],
            stack_instances_group=[
                cloudformation.CfnStackSet.StackInstancesProperty(
                    deployment_targets=cloudformation.CfnStackSet.DeploymentTargetsProperty(
                        organizational_unit_ids=list(organization.ous)
                    ),
                    regions=list(organization.regions),
                )
            ],
            template_body=template_body,
            template_url=template_url,
        )
