"""What a user tunes: one validated model shared by the Lambda, the CLI and the CDK app.

The CDK app validates its context with this same model at synth time and hands the result to
the function as the JSON environment variable ``REAPER_CONFIG``, so a value that synthesizes
is a value the function accepts. This module imports nothing but pydantic, on purpose: the
CDK app and the cold path both import it.
"""

from __future__ import annotations

import fnmatch
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MINUTES_PER_DAY = 24 * 60
# Cloud Control keeps requests for 7 days: a threshold past that can never match.
MAX_THRESHOLD_MINUTES = 7 * MINUTES_PER_DAY


class Operation(StrEnum):
    CREATE = "CREATE"
    UPDATE = "UPDATE"
    DELETE = "DELETE"


TypeGlob = Annotated[
    str,
    Field(
        min_length=1,
        max_length=196,
        pattern=r"^[A-Za-z0-9:*?\[\]!_-]+$",
        description="A TypeName glob (fnmatch), e.g. AWS::RDS::*",
    ),
]


HookPolicy = Literal["wait", "cancel"]
IamAction = Annotated[
    str,
    Field(
        min_length=3,
        max_length=128,
        pattern=r"^[a-z0-9-]+:[A-Za-z0-9*]+$",
        description="An IAM action, e.g. s3:GetBucketLocation or ec2:Describe*",
    ),
]


class ThresholdRule(BaseModel):
    """Requests matching ``type`` (glob) and ``operation`` are stale after ``minutes``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: TypeGlob = "*"
    operation: Operation | None = None
    minutes: int = Field(ge=5, le=MAX_THRESHOLD_MINUTES)

    def matches(self, type_name: str, operation: str) -> bool:
        return fnmatch.fnmatchcase(type_name, self.type) and (
            self.operation is None or self.operation == operation
        )


# Types whose healthy operations routinely take hours: a database restore, a cluster, a
# search domain or a CDN distribution can stay IN_PROGRESS for a long time and still succeed.
# Cancelling one of those early would hurt a real deployment, so they get a day. These rules
# are consulted after the user's own rules unless ``builtin_rules`` is turned off: adding one
# rule must not silently make every database cancellable after the default threshold.
LONG_RUNNING_TYPES: tuple[str, ...] = (
    "AWS::RDS::*",
    "AWS::DocDB::*",
    "AWS::Neptune::*",
    "AWS::Redshift::*",
    "AWS::ElastiCache::*",
    "AWS::MemoryDB::*",
    "AWS::OpenSearchService::*",
    "AWS::Elasticsearch::*",
    "AWS::EKS::*",
    "AWS::CloudFront::*",
    "AWS::FSx::*",
    "AWS::DirectoryService::*",
    "AWS::EC2::TransitGateway*",
    "AWS::EC2::VPNConnection",
)

DEFAULT_RULES: tuple[ThresholdRule, ...] = tuple(
    ThresholdRule(type=glob, minutes=MINUTES_PER_DAY) for glob in LONG_RUNNING_TYPES
)


class ReaperConfig(BaseModel):
    """The reaper's policy and limits. Every field has a safe default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dry_run: bool = Field(
        default=True,
        description="Record what would be cancelled and cancel nothing. On until a user "
        "has read a dry run's audit and turns it off.",
    )
    default_threshold_minutes: int = Field(
        default=6 * 60,
        ge=5,
        le=MAX_THRESHOLD_MINUTES,
        description="Age after which a PENDING/IN_PROGRESS request is stale, when no rule "
        "matches. Six hours: far beyond a healthy Cloud Control operation of most types.",
    )
    threshold_rules: tuple[ThresholdRule, ...] = Field(
        default=(),
        max_length=200,
        description="Thresholds by TypeName glob and/or operation, consulted before the "
        "built-in rules; the first match wins.",
    )
    builtin_rules: bool = Field(
        default=True,
        description="Consult DEFAULT_RULES (a day for the long-running types) after "
        "threshold_rules. Off only on purpose: then those types get the default threshold.",
    )
    include_types: tuple[TypeGlob, ...] = Field(
        default=("*",),
        min_length=1,
        max_length=200,
        description="Only TypeNames matching one of these globs are ever cancelled.",
    )
    exclude_types: tuple[TypeGlob, ...] = Field(
        default=(),
        max_length=200,
        description="TypeNames matching one of these globs are never cancelled (wins over "
        "include_types).",
    )
    max_cancellations_per_run: int = Field(
        default=50,
        ge=0,
        le=10_000,
        description="Cap on cancellations per invocation; the rest is deferred and audited.",
    )
    calls_per_second: float = Field(
        default=10.0,
        gt=0,
        le=1000,
        description="Cloud Control calls per second for the whole reaper (all concurrent "
        "invocations together). AWS allows about 25-30/s per account and Region, shared "
        "with real deployments: 10 leaves them most of it.",
    )
    max_concurrency: int = Field(
        default=2,
        ge=1,
        le=50,
        description="Invocations that may run at once; each gets calls_per_second divided "
        "by this, so the total stays under calls_per_second.",
    )
    cancel_follow_seconds: int = Field(
        default=60,
        ge=0,
        le=600,
        description="How long, after cancelling, to follow requests to CANCEL_COMPLETE "
        "before recording the state reached.",
    )
    max_receive_count: int = Field(
        default=5,
        ge=1,
        le=1000,
        description="The work queue's redrive maxReceiveCount. On the delivery with this "
        "ApproximateReceiveCount, the reaper dead-letters a token that still fails itself, "
        "with its error, instead of failing the record again (the redrive policy stays the "
        "backstop: set its maxReceiveCount to this value).",
    )
    audit_retention_days: int = Field(
        default=90,
        ge=1,
        le=3650,
        description="Audit items expire (DynamoDB TTL) after this many days.",
    )
    blocking_threshold_minutes: int | None = Field(
        default=None,
        ge=5,
        le=MAX_THRESHOLD_MINUTES,
        description="Threshold for a request that blocks a deployment (a CloudTrail record "
        "of a call refused with ConcurrentOperationException names it). Unset: the usual "
        "threshold. Never above the usual threshold's protection for long-running types "
        "unless set on purpose.",
    )
    hooks_in_progress: HookPolicy = Field(
        default="wait",
        description="A stale request whose CloudFormation Hook is still pending or in "
        "progress: 'wait' leaves it alone until hook_threshold_minutes, 'cancel' treats it "
        "like any other stale request.",
    )
    hook_threshold_minutes: int = Field(
        default=MINUTES_PER_DAY,
        ge=5,
        le=MAX_THRESHOLD_MINUTES,
        description="With hooks_in_progress 'wait': the age after which a request whose hook "
        "is still running is cancelled anyway.",
    )
    verify_leftovers: tuple[IamAction, ...] = Field(
        default=(),
        max_length=50,
        description="Off when empty. The read actions (e.g. 's3:GetBucketLocation') the "
        "function's role is granted so that, after a cancel completes, it calls "
        "cloudformation:GetResource to record whether the resource exists (existence and "
        "identifier only, never its properties).",
    )
    require_approval: bool = Field(
        default=False,
        description="Cancel nothing a person has not approved: a stale request is recorded "
        "awaiting_approval under a plan (the delivery's id), the approval topic is told, and "
        "`cc-reaper approve PLAN_ID` hands the approval to the function, which cancels the "
        "plan's requests still stale. Operator cancels (cc-reaper cancel) are approvals.",
    )
    approval_expiry_hours: int = Field(
        default=24,
        ge=1,
        le=168,
        description="An approval of a plan older than this is refused (and audited).",
    )
    emit_events: bool = Field(
        default=True,
        description="Put one EventBridge event per cancel, failed cancel and blocking "
        "request on the account's default bus (source cloudcontrol-reaper).",
    )

    @field_validator("threshold_rules", mode="before")
    @classmethod
    def _rules_from_mapping(cls, value: object) -> object:
        """Accept ``{"AWS::RDS::*": 1440}`` as shorthand for type-only rules."""
        if isinstance(value, dict):
            return tuple({"type": k, "minutes": v} for k, v in value.items())
        return value

    @model_validator(mode="after")
    def _per_invocation_rate_is_positive(self) -> ReaperConfig:
        if self.calls_per_second / self.max_concurrency < 0.1:
            raise ValueError(
                "calls_per_second / max_concurrency must be at least 0.1 call/s per invocation"
            )
        return self

    @property
    def calls_per_second_per_invocation(self) -> float:
        return self.calls_per_second / self.max_concurrency

    @property
    def rules(self) -> tuple[ThresholdRule, ...]:
        """The rules in the order they are consulted: the user's, then the built-in ones."""
        return self.threshold_rules + (DEFAULT_RULES if self.builtin_rules else ())

    def threshold_minutes(self, type_name: str, operation: str) -> int:
        """The threshold of the first rule matching the request, else the default."""
        for rule in self.rules:
            if rule.matches(type_name, operation):
                return rule.minutes
        return self.default_threshold_minutes

    def excluding_glob(self, type_name: str) -> str | None:
        """The first ``exclude_types`` glob matching ``type_name``, to say why it was left."""
        return next((g for g in self.exclude_types if fnmatch.fnmatchcase(type_name, g)), None)

    def type_allowed(self, type_name: str) -> bool:
        """Exclusions win over inclusions; an unknown (empty) TypeName is never allowed."""
        if not type_name.strip() or self.excluding_glob(type_name) is not None:
            return False
        return any(fnmatch.fnmatchcase(type_name, g) for g in self.include_types)
