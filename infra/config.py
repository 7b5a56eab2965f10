"""CDK context -> validated settings, with errors that name the context key and the rule.

Values come from cdk.json (JSON types) or from ``-c key=value`` (always strings). Scalars are
coerced by pydantic's lax mode ("false" -> False, "5" -> 5); lists and objects given as strings
are parsed here (JSON, or comma-separated for lists of globs, IAM actions and environments).
The reaper's policy is validated by ``reaper.config.ReaperConfig`` itself, so a value that
synthesizes is a value the function accepts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from reaper.config import ReaperConfig

from infra.enterprise_config import EnterpriseSettings, enterprise_from_context
from infra.org.settings import OrganizationSettings, organization_problems

# Log retention values CloudWatch Logs accepts (days).
LOG_RETENTION_DAYS_ALLOWED: tuple[int, ...] = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
    1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip

# SQS event sources take a maximum concurrency of 2 to 1000.
MIN_MAX_CONCURRENCY = 2
# What a run needs besides following cancellations: listing, deciding, auditing.
MIN_SECONDS_BESIDES_FOLLOW = 60

_RATE = r"rate\((1 (minute|hour|day)|([2-9]|[1-9][0-9]+) (minutes|hours|days))\)"
_CRON = r"cron\(\S+( \S+){5}\)"
SCHEDULE_PATTERN = rf"^({_RATE}|{_CRON})$"

ACCOUNT_PATTERN = r"^[0-9]{12}$"
REGION_PATTERN = r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]{1,2}$"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
# Slack's ids as Slack issues them (T0123ABCD, C0123ABCD): upper-case letters and digits, the
# subset of what AWS::Chatbot::SlackChannelConfiguration accepts. A name or URL is a mistake.
SLACK_ID_PATTERN = r"^[0-9A-Z]{1,255}$"

M = TypeVar("M", bound=BaseModel)


def _matching(value: str, pattern: str, rule: str) -> str:
    if not re.fullmatch(pattern, value):
        raise ValueError(rule)
    return value


class ConfigError(ValueError):
    """Bad CDK context. The message lists every problem, each naming its context key."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"Invalid CDK context (cdk.json or -c key=value):\n{lines}")


class Kind(Enum):
    SCALAR = "scalar"  # bool, int, float, str: pydantic's lax mode coerces strings
    STRINGS = "strings"  # list of strings (globs, IAM actions): JSON list or "a,b,c"
    JSON = "json"  # JSON list or object
    ENVIRONMENTS = "environments"  # JSON list of {"account","region"} or "acct/region,..."


@dataclass(frozen=True)
class ContextKey:
    """One context key: where its value goes and how a string of it is parsed."""

    name: str
    field: str
    owner: type[BaseModel]
    kind: Kind = Kind.SCALAR


class TargetEnvironment(BaseModel):
    """One account and Region that gets its own stack."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    account: str = Field(description="12-digit AWS account id")
    region: str = Field(description="AWS Region, e.g. eu-west-1")

    @field_validator("account")
    @classmethod
    def _account_id(cls, value: str) -> str:
        return _matching(value, ACCOUNT_PATTERN, "must be a 12-digit AWS account id")

    @field_validator("region")
    @classmethod
    def _region_name(cls, value: str) -> str:
        return _matching(value, REGION_PATTERN, "must be a Region name such as eu-west-1")


class InfraSettings(BaseModel):
    """What the stack needs besides the reaper's policy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schedule: str = Field(
        default="rate(15 minutes)",
        description="EventBridge schedule expression of the sweep: rate(<n> <unit>) or "
        "cron(<6 fields>)",
    )
    alarm_email: str | None = Field(
        default=None,
        description="Address subscribed to the alarm topic (confirmation e-mail needed)",
    )
    retain_audit_table: bool = Field(
        default=True,
        description="Keep the audit table (and its deletion protection) on cdk destroy",
    )
    log_retention_days: int = Field(default=30, description="Function log retention")
    function_timeout_seconds: int = Field(
        default=300, ge=60, le=900, description="Lambda timeout of every invocation"
    )
    environments: tuple[TargetEnvironment, ...] = Field(default=(), max_length=100)
    slack_workspace_id: str | None = Field(
        default=None,
        description="Slack workspace (team) id authorized in the AWS Chatbot console; with "
        "slack_channel_id, alarms and the reaper's events go to that channel",
    )
    slack_channel_id: str | None = Field(
        default=None, description="Slack channel id (not its name); with slack_workspace_id"
    )
    enterprise: EnterpriseSettings = Field(
        default_factory=EnterpriseSettings,
        description="kmsKey, vpc, permissionsBoundaryArn, rolePath, tags, namePrefix "
        "(infra/enterprise_config.py)",
    )
    organization: OrganizationSettings | None = Field(
        default=None,
        description="Organization mode (docs/infrastructure.md, 'Organization'): a StackSet "
        "of members and a central stack instead of one stack per environment",
    )

    @field_validator("schedule")
    @classmethod
    def _schedule_expression(cls, value: str) -> str:
        return _matching(
            value,
            SCHEDULE_PATTERN,
            "must be an EventBridge schedule expression: rate(<n> minutes|hours|days) "
            "(rate(1 minute) for one) or cron(<minutes> <hours> <day-of-month> <month> "
            "<day-of-week> <year>)",
        )

    @field_validator("alarm_email", "slack_workspace_id", "slack_channel_id", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("alarm_email")
    @classmethod
    def _email_address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return _matching(value, EMAIL_PATTERN, "must be an e-mail address (or empty for none)")

    @field_validator("slack_workspace_id", "slack_channel_id")
    @classmethod
    def _slack_id(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return _matching(
            value,
            SLACK_ID_PATTERN,
            "must be a Slack id (upper-case letters and digits, e.g. T0123ABCD for a "
            "workspace, C0123ABCD for a channel), not a name or URL (or empty for none)",
        )

    @model_validator(mode="after")
    def _slack_both_or_neither(self) -> InfraSettings:
        if (self.slack_workspace_id is None) != (self.slack_channel_id is None):
            raise ValueError(
                "slack_workspace_id and slack_channel_id are set together or not at all"
            )
        return self

    @property
    def chat_enabled(self) -> bool:
        return self.slack_workspace_id is not None and self.slack_channel_id is not None

    @field_validator("log_retention_days")
    @classmethod
    def _retention_is_allowed(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS_ALLOWED:
            allowed = ", ".join(map(str, LOG_RETENTION_DAYS_ALLOWED))
            raise ValueError(f"must be one of the values CloudWatch Logs accepts: {allowed}")
        return value


CONTEXT_KEYS: tuple[ContextKey, ...] = (
    ContextKey("environments", "environments", InfraSettings, Kind.ENVIRONMENTS),
    ContextKey("schedule", "schedule", InfraSettings),
    ContextKey("alarmEmail", "alarm_email", InfraSettings),
    ContextKey("retainAuditTable", "retain_audit_table", InfraSettings),
    ContextKey("logRetentionDays", "log_retention_days", InfraSettings),
    ContextKey("functionTimeoutSeconds", "function_timeout_seconds", InfraSettings),
    ContextKey("slackWorkspaceId", "slack_workspace_id", InfraSettings),
    ContextKey("slackChannelId", "slack_channel_id", InfraSettings),
    ContextKey("organization", "organization", InfraSettings, Kind.JSON),
    ContextKey("dryRun", "dry_run", ReaperConfig),
    ContextKey("defaultThresholdMinutes", "default_threshold_minutes", ReaperConfig),
    ContextKey("thresholdRules", "threshold_rules", ReaperConfig, Kind.JSON),
    ContextKey("builtinRules", "builtin_rules", ReaperConfig),
    ContextKey("includeTypes", "include_types", ReaperConfig, Kind.STRINGS),
    ContextKey("excludeTypes", "exclude_types", ReaperConfig, Kind.STRINGS),
    ContextKey("maxCancellationsPerRun", "max_cancellations_per_run", ReaperConfig),
    ContextKey("callsPerSecond", "calls_per_second", ReaperConfig),
    ContextKey("maxConcurrency", "max_concurrency", ReaperConfig),
    ContextKey("cancelFollowSeconds", "cancel_follow_seconds", ReaperConfig),
    ContextKey("maxReceiveCount", "max_receive_count", ReaperConfig),
    ContextKey("auditRetentionDays", "audit_retention_days", ReaperConfig),
    ContextKey("blockingThresholdMinutes", "blocking_threshold_minutes", ReaperConfig),
    ContextKey("hooksInProgress", "hooks_in_progress", ReaperConfig),
    ContextKey("hookThresholdMinutes", "hook_threshold_minutes", ReaperConfig),
    ContextKey("verifyLeftovers", "verify_leftovers", ReaperConfig, Kind.STRINGS),
    ContextKey("emitEvents", "emit_events", ReaperConfig),
    ContextKey("requireApproval", "require_approval", ReaperConfig),
    ContextKey("approvalExpiryHours", "approval_expiry_hours", ReaperConfig),
)


@dataclass(frozen=True)
class AppSettings:
    """Everything the app needs: the reaper's policy, the stack's settings, the targets."""

    reaper: ReaperConfig
    infra: InfraSettings


def settings_from_context(context: Mapping[str, Any]) -> AppSettings:
    """Validate the whole context at once and report every problem, not only the first."""
    problems = _misspelt_keys(context)
    values: dict[type[BaseModel], dict[str, Any]] = {InfraSettings: {}, ReaperConfig: {}}
    for key in CONTEXT_KEYS:
        raw = context.get(key.name)
        if raw is None:
            continue
        try:
            values[key.owner][key.field] = _parse(key, raw)
        except ValueError as exc:
            problems.append(f"{key.name}: {exc} (got {raw!r})")

    reaper = _validate(ReaperConfig, values[ReaperConfig], problems)
    values[InfraSettings]["enterprise"] = enterprise_from_context(context, problems)
    infra = _validate(InfraSettings, values[InfraSettings], problems)
    if reaper is not None and infra is not None:
        problems.extend(_cross_checks(reaper, infra))
    if problems or reaper is None or infra is None:
        raise ConfigError(problems)
    return AppSettings(reaper=reaper, infra=infra)


def _misspelt_keys(context: Mapping[str, Any]) -> list[str]:
    """A key that differs from ours only in case is a typo that would silently do nothing."""
    canonical = {key.name.lower(): key.name for key in CONTEXT_KEYS}
    return [
        f"{name}: unknown key, did you mean {canonical[name.lower()]!r}?"
        for name in context
        if name.lower() in canonical and name != canonical[name.lower()]
    ]


def _parse(key: ContextKey, raw: Any) -> Any:
    if key.kind is Kind.SCALAR or not isinstance(raw, str):
        return raw
    text = raw.strip()
    if text.startswith(("[", "{")) or key.kind is Kind.JSON:
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"is not valid JSON ({exc.msg} at column {exc.colno})") from exc
    items = [item.strip() for item in text.split(",") if item.strip()]
    if key.kind is Kind.ENVIRONMENTS:
        return [_environment_from_text(item) for item in items]
    return items


def _environment_from_text(item: str) -> dict[str, str]:
    account, sep, region = item.partition("/")
    if not sep:
        raise ValueError('must be JSON [{"account": ..., "region": ...}] or "account/region,..."')
    return {"account": account, "region": region}


def _validate(model: type[M], values: dict[str, Any], problems: list[str]) -> M | None:
    try:
        return model(**values)
    except ValidationError as exc:
        problems.extend(_describe(model, error) for error in exc.errors())
        return None


def _describe(model: type[BaseModel], error: Mapping[str, Any]) -> str:
    by_field = {key.field: key.name for key in CONTEXT_KEYS if key.owner is model}
    loc = [str(part) for part in error["loc"]]
    message = str(error["msg"]).removeprefix("Value error, ")
    if loc and loc[0] in by_field:
        where = by_field[loc[0]] + "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in loc[1:])
        return f"{where}: {message} (got {error.get('input')!r})"
    # A rule across fields (e.g. calls per second per invocation): name every key it mentions.
    named = [name for field, name in by_field.items() if field in message]
    return f"{'/'.join(named) or 'context'}: {message}"


def _cross_checks(reaper: ReaperConfig, infra: InfraSettings) -> list[str]:
    problems = []
    if reaper.max_concurrency < MIN_MAX_CONCURRENCY:
        problems.append(
            f"maxConcurrency: must be at least {MIN_MAX_CONCURRENCY} for the deployed stack: "
            "the SQS event source's maximum concurrency cannot be below 2 and the function's "
            f"reserved concurrency (= maxConcurrency) must admit it (got {reaper.max_concurrency})"
        )
    budget = infra.function_timeout_seconds - MIN_SECONDS_BESIDES_FOLLOW
    if reaper.cancel_follow_seconds > budget:
        problems.append(
            f"cancelFollowSeconds: must leave {MIN_SECONDS_BESIDES_FOLLOW} s of "
            f"functionTimeoutSeconds ({infra.function_timeout_seconds}) for the rest of a run, "
            f"so at most {budget} (got {reaper.cancel_follow_seconds})"
        )
    whole_services = [a for a in reaper.verify_leftovers if a.partition(":")[2] == "*"]
    if whole_services:
        problems.append(
            "verifyLeftovers: must list read actions (e.g. s3:GetBucketLocation, ec2:Describe*), "
            f"not a whole service: the role gets them on every resource (got {whole_services})"
        )
    if infra.organization is not None:
        problems.extend(
            organization_problems(
                require_approval=reaper.require_approval,
                chat=infra.chat_enabled,
                environments=len(infra.environments),
            )
        )
        problems.extend(_member_enterprise_problems(infra))
    return problems


def _member_enterprise_problems(infra: InfraSettings) -> list[str]:
    """One member template serves every account: nothing in it may name one account."""
    found = infra.enterprise
    problems = []
    if found.kms_key_arn is not None:
        problems.append('kmsKey: use "create" with organization: a key ARN belongs to one account')
    if found.vpc is not None:
        problems.append(
            'vpc: use "create" with organization: VPC and subnet ids belong to one account'
        )
    boundary = found.permissions_boundary_arn or ""
    if re.search(r"::[0-9]{12}:", boundary):
        problems.append(
            "permissionsBoundaryArn: with organization write the account as ${AWS::AccountId} "
            "(one member template serves every account)"
        )
    return problems
