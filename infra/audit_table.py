"""The audit table: every decision the reaper takes, kept past a `cdk destroy` by default."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from constructs import Construct
from reaper import contracts


class AuditTable(Construct):
    """Key schema, GSI and TTL as ``reaper.contracts`` names them (docs/DESIGN.md).

    ``dynamodb.Table`` (AWS::DynamoDB::Table), not ``TableV2``: TableV2 synthesizes
    AWS::DynamoDB::GlobalTable, which moto's CloudFormation cannot create, and the local
    stack must run the very template users deploy.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, retain: bool, key: kms.IKey | None = None
    ) -> None:
        super().__init__(scope, construct_id)

        string = dynamodb.AttributeType.STRING
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=contracts.TABLE_PARTITION_KEY, type=string),
            sort_key=dynamodb.Attribute(name=contracts.TABLE_SORT_KEY, type=string),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=(
                dynamodb.TableEncryption.CUSTOMER_MANAGED
                if key
                else dynamodb.TableEncryption.AWS_MANAGED
            ),
            encryption_key=key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=contracts.TABLE_TTL_ATTRIBUTE,
            deletion_protection=retain,
            removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
        )
        self.table.add_global_secondary_index(
            index_name=contracts.TABLE_GSI_NAME,
            partition_key=dynamodb.Attribute(name=contracts.TABLE_GSI_PARTITION_KEY, type=string),
            sort_key=dynamodb.Attribute(name=contracts.TABLE_GSI_SORT_KEY, type=string),
            projection_type=dynamodb.ProjectionType.ALL,
        )
