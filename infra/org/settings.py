"""The ``organization`` context key: where the StackSet deploys and how the centre behaves."""

from __future__ import annotations

import re
from enum import Enum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ORG_ID_PATTERN = r"^o-[a-z0-9]{10,32}$"
OU_ID_PATTERN = r"^(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32})$"
REGION_PATTERN = r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]{1,2}$"
# S3 bucket names: 3 to 63 lower-case letters, digits and hyphens (dots left out: they break
# virtual-hosted TLS). The code bucket of a Region is "<prefix>-<region>".
BUCKET_PREFIX_PATTERN = r"^[a-z0-9][a-z0-9-]*[a-z0-9]$"
MAX_BUCKET_NAME = 63
ARCHIVE_RETENTION_MAX_DAYS = 36500
CODE_STACK_PREFIX = (
    "CloudControlReaperOrgCode"  # AWS::Events::Archive RetentionDays has no documented cap
)


class CallAs(Enum):
    """CallAs of the StackSet: the management account itself or a delegated administrator."""

    SELF = "SELF"
    DELEGATED_ADMIN = "DELEGATED_ADMIN"


class OrganizationSettings(BaseModel):
    """cdk.json ``organization``: absent or null is the single-account app."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    org_id: str = Field(alias="orgId", description="The organization's id, o-...")
    ous: tuple[str, ...] = Field(
        min_length=1, description="OU ids (ou-...) or the root (r-...) the StackSet targets"
    )
    regions: tuple[str, ...] = Field(min_length=1, description="Regions of every member")
    management_region: str | None = Field(
        default=None,
        alias="managementRegion",
        description="Region of the central stack (default: where the CLI's credentials point)",
    )
    call_as: CallAs = Field(default=CallAs.SELF, alias="callAs")
    failure_tolerance_percentage: int = Field(
        default=10, ge=0, le=100, alias="failureTolerancePercentage"
    )
    max_concurrent_percentage: int = Field(
        default=25, ge=1, le=100, alias="maxConcurrentPercentage"
    )
    archive_retention_days: int = Field(
        default=90, ge=0, le=ARCHIVE_RETENTION_MAX_DAYS, alias="archiveRetentionDays"
    )
    # "schedule": a member has no event source mapping (one polls an idle queue all month,
    # ~$0.26 at list prices): its scheduled sweep drains the work queue, so cancel events and
    # CloudTrail records wait for the next sweep. "continuous": the mapping, seconds.
    work_queue: Literal["schedule", "continuous"] = Field(default="schedule", alias="workQueue")
    code_bucket_prefix: str | None = Field(
        default=None,
        alias="codeBucketPrefix",
        description="Code buckets are named <prefix>-<region>; default cc-reaper-code-<orgId>",
    )

    @field_validator("org_id")
    @classmethod
    def _org_id(cls, value: str) -> str:
        return _matching(value, ORG_ID_PATTERN, "must be an organization id such as o-a1b2c3d4e5")

    @field_validator("ous")
    @classmethod
    def _ou_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for ou in value:
            _matching(
                ou, OU_ID_PATTERN, f"{ou!r} is not an OU id (ou-xxxx-xxxxxxxx) or root (r-xxxx)"
            )
        return _unique(value)

    @field_validator("regions")
    @classmethod
    def _region_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for region in value:
            _matching(region, REGION_PATTERN, f"{region!r} is not a Region name such as eu-west-1")
        return _unique(value)

    @field_validator("management_region")
    @classmethod
    def _management_region(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return _matching(value, REGION_PATTERN, "must be a Region name such as eu-west-1")

    @field_validator("code_bucket_prefix")
    @classmethod
    def _bucket_prefix(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return _matching(
            value,
            BUCKET_PREFIX_PATTERN,
            "must be lower-case letters, digits and hyphens, starting and ending with a letter "
            "or digit (an S3 bucket name prefix)",
        )

    @model_validator(mode="after")
    def _bucket_names_fit(self) -> OrganizationSettings:
        longest = max(self.regions, key=len)
        name = self.code_bucket_name(longest)
        if len(name) > MAX_BUCKET_NAME:
            raise ValueError(
                f"codeBucketPrefix: bucket name {name!r} is longer than {MAX_BUCKET_NAME} "
                "characters (<prefix>-<region>): choose a shorter prefix"
            )
        return self

    @property
    def bucket_prefix(self) -> str:
        """Bucket names are global: the org id makes the default unique to the organization."""
        return self.code_bucket_prefix or f"cc-reaper-code-{self.org_id}"

    def code_bucket_name(self, region: str) -> str:
        return f"{self.bucket_prefix}-{region}"


def organization_problems(*, require_approval: bool, chat: bool, environments: int) -> list[str]:
    """What a member cannot do: it has no alarm topic (alarms are central) to publish to."""
    problems = []
    if require_approval:
        problems.append(
            "requireApproval: not available with organization: a member has no topic to announce "
            "plans on (alarms and notifications are central)"
        )
    if chat:
        problems.append(
            "slackWorkspaceId/slackChannelId: not available with organization: wire chat to the "
            "central alarm topic instead"
        )
    if environments:
        problems.append(
            "environments: leave empty with organization: the StackSet's ous and regions say "
            "where members go"
        )
    return problems


def code_stack_name(region: str) -> str:
    """The management account's stack holding the code bucket of ``region``."""
    return f"{CODE_STACK_PREFIX}-{region}"


def _matching(value: str, pattern: str, rule: str) -> str:
    if not re.fullmatch(pattern, value):
        raise ValueError(rule)
    return value


def _unique(values: tuple[str, ...]) -> tuple[str, ...]:
    duplicates = sorted({v for v in values if values.count(v) > 1})
    if duplicates:
        raise ValueError(f"lists {', '.join(duplicates)} more than once")
    return values
