"""One code bucket per member Region, in the management account: the member's function code.

Lambda reads a function's code from a bucket in the function's own Region, so each Region a
member runs in gets ``<prefix>-<region>``. The bucket policy lets any principal of the
organization read objects (``aws:PrincipalOrgID``): the StackSet's execution role in each
member account creates the function from it. Nothing else: no listing, no writing.
This stack has no assets and is synthesized without bootstrap: `cdk deploy` needs no
`cdk bootstrap` in every Region of the management account.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import (
    Acknowledgment,
    BootstraplessSynthesizer,
    CfnOutput,
    RemovalPolicy,
    Stack,
    Validations,
)
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.enterprise import apply_enterprise_aspects
from infra.enterprise_config import EnterpriseSettings
from infra.org.central import ORG_ID_CONDITION
from infra.org.settings import OrganizationSettings, code_stack_name

__all__ = ["OrgCodeStack", "code_stack_name"]

OUTPUT_CODE_BUCKET = "CodeBucketName"


class OrgCodeStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        organization: OrganizationSettings,
        region: str,
        enterprise: EnterpriseSettings,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, synthesizer=BootstraplessSynthesizer(), **kwargs)
        apply_enterprise_aspects(self, enterprise)  # tags (and a prefix: the bucket is named)
        # SSE-S3, not KMS: a member reading across accounts needs no key grant.
        self.bucket = s3.Bucket(
            self,
            "CodeBucket",
            bucket_name=organization.code_bucket_name(region),
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="OrganizationReadsCode",
                principals=[iam.AnyPrincipal()],
                actions=["s3:GetObject", "s3:GetObjectVersion"],
                resources=[self.bucket.arn_for_objects("*")],
                conditions={"StringEquals": {ORG_ID_CONDITION: organization.org_id}},
            )
        )
        Validations.of(self.bucket).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-S1",
                reason="The bucket holds only the reaper's published code zips, written by the "
                "publish step and read by CloudFormation in member accounts; CloudTrail records "
                "those calls (data events if enabled). Server access logs would need a log "
                "bucket per Region for no extra insight.",
            )
        )
        CfnOutput(self, OUTPUT_CODE_BUCKET, value=self.bucket.bucket_name)
