"""What input can be: the parsed values, the one error, and the checks of single fields.

Pure and cheap (the cold path imports it): shared by ``parsing`` (events and bodies) and
``dead_letter_format`` (the reaper's own dead-letter records).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from reaper.handoff import HandOffRef
from reaper.models import Decision, Mode, Source

TOKEN_PATTERN = r"[-A-Za-z0-9+/=]{1,128}"  # noqa: S105 - a request token, not a secret
TOKEN_RULE = "must be 1 to 128 characters of [-A-Za-z0-9+/=]"  # noqa: S105
TOKEN_RE = re.compile(TOKEN_PATTERN)
MAX_TOKENS_PER_MESSAGE = 100
MAX_BODY_BYTES = 256 * 1024
MAX_REASON_CHARS = 1024
MAX_DELIVERY_ID_CHARS = 256

E = TypeVar("E", bound=StrEnum)


class ErrorCode(StrEnum):
    MALFORMED_JSON = "MalformedJson"
    BODY_TOO_LARGE = "BodyTooLarge"
    MISSING_FIELD = "MissingField"
    INVALID_FIELD = "InvalidField"
    INVALID_TOKEN = "InvalidToken"  # noqa: S105
    TOO_MANY_TOKENS = "TooManyTokens"
    UNKNOWN_EVENT_SHAPE = "UnknownEventShape"


class InvalidInput(ValueError):
    """Input that can never be decided: names the field and the rule it broke."""

    def __init__(self, code: ErrorCode, field: str, rule: str) -> None:
        self.code = code
        self.field = field
        self.rule = rule
        super().__init__(f"{field}: {rule}")

    @property
    def message(self) -> str:
        return str(self)


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """Tokens to decide (mode cancel) or to watch (mode watch)."""

    tokens: tuple[str, ...]
    source: Source
    mode: Mode = Mode.CANCEL
    reason: str | None = None
    # A dead letter's replay continues the delivery it failed in (its audit key, its claim).
    delivery_id: str | None = None
    # Decisions a dead letter carries (the audit table refused them): recorded as they are.
    settled: tuple[Decision, ...] = ()
    # Who made the call that started the request (a CloudTrail record), when known.
    caller: Caller | None = None
    # A sweep's hand-off message: the audit item with what the sweep read (reaper.handoff).
    handoff: HandOffRef | None = None


@dataclass(frozen=True, slots=True)
class Caller:
    """Who made a Cloud Control call: CloudTrail's userIdentity.arn and userAgent (nothing
    else of the record is kept: no parameters, no source IP)."""

    principal: str | None
    user_agent: str | None


@dataclass(frozen=True, slots=True)
class CallWithoutToken:
    """A CloudTrail record of a successful Create/Update/DeleteResource call that holds no
    request token: the service looks for the request it started."""

    event_name: str
    operation: str
    type_name: str | None
    identifier: str | None
    event_time: datetime | None
    caller: Caller | None = None


@dataclass(frozen=True, slots=True)
class BlockedCall:
    """A CloudTrail record of a Create/Update/DeleteResource call refused with
    ConcurrentOperationException: an older request on the same resource blocks it.
    ``message_token``: a token-shaped value after "RequestToken" in the error message (the
    message format is not documented: only ever a hint, checked against Cloud Control)."""

    event_name: str
    operation: str
    type_name: str | None
    identifier: str | None
    event_time: datetime | None
    caller: Caller | None
    message_token: str | None

    def describe(self) -> str:
        who = (self.caller.principal if self.caller else None) or "an unknown caller"
        when = self.event_time.isoformat() if self.event_time else "an unknown time"
        return f"{self.event_name} by {who} at {when}"


@dataclass(frozen=True, slots=True)
class Approval:
    """A person's approval of a plan (``cc-reaper approve``)."""

    plan_id: str
    approved_by: str
    approved_at: datetime


@dataclass(frozen=True, slots=True)
class SweepRequest:
    """A scheduled event: list PENDING/IN_PROGRESS requests and decide each."""


@dataclass(frozen=True, slots=True)
class Ignored:
    """A well-formed input that starts no work (e.g. a CloudTrail record of a failed call)."""

    why: str


@dataclass(frozen=True, slots=True)
class FollowUp:
    """A delayed work-queue message after an SQS-path cancel (contracts.FOLLOW_UP_KIND): read
    the request's status once and record what it shows, or come back later (``hop`` + 1)."""

    token: str
    source: Source
    delivery_id: str
    hop: int
    cancelled_at: datetime


Parsed = (
    TokenRequest | SweepRequest | Ignored | CallWithoutToken | BlockedCall | Approval | FollowUp
)


def is_valid_token(value: object) -> bool:
    return isinstance(value, str) and TOKEN_RE.fullmatch(value) is not None


def text_field(value: object, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def time_field(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def tokens_field(holder: Mapping[str, Any], prefix: str) -> tuple[str, ...]:
    has_one, has_many = "requestToken" in holder, "requestTokens" in holder
    if has_one and has_many:
        raise InvalidInput(
            ErrorCode.INVALID_FIELD, f"{prefix}requestToken", "give requestToken or requestTokens"
        )
    if has_one:
        return (token_field(holder["requestToken"], f"{prefix}requestToken"),)
    if not has_many:
        raise InvalidInput(
            ErrorCode.MISSING_FIELD, f"{prefix}requestTokens", "requestToken(s) is missing"
        )
    values = holder["requestTokens"]
    field = f"{prefix}requestTokens"
    if not isinstance(values, list):
        raise InvalidInput(ErrorCode.INVALID_FIELD, field, "must be a list of tokens")
    if not values:
        raise InvalidInput(ErrorCode.MISSING_FIELD, field, "must hold at least one token")
    if len(values) > MAX_TOKENS_PER_MESSAGE:
        raise InvalidInput(
            ErrorCode.TOO_MANY_TOKENS,
            field,
            f"must hold at most {MAX_TOKENS_PER_MESSAGE} tokens (got {len(values)})",
        )
    tokens = [token_field(v, f"{field}[{i}]") for i, v in enumerate(values)]
    return tuple(dict.fromkeys(tokens))


def token_field(value: object, field: str) -> str:
    if not is_valid_token(value):
        raise InvalidInput(ErrorCode.INVALID_TOKEN, field, TOKEN_RULE)
    assert isinstance(value, str)
    return value


def enum_field(kind: type[E], holder: Mapping[str, Any], key: str, default: E) -> E:
    value = holder.get(key, default)
    try:
        return kind(value)
    except (ValueError, TypeError):
        allowed = ", ".join(m.value for m in kind)
        raise InvalidInput(ErrorCode.INVALID_FIELD, key, f"must be one of {allowed}") from None


def reason_field(holder: Mapping[str, Any], prefix: str) -> str | None:
    value = holder.get("reason")
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(ErrorCode.INVALID_FIELD, f"{prefix}reason", "must be a string")
    return value[:MAX_REASON_CHARS]


def short_text(value: object, limit: int = 100) -> str:
    """Input quoted in an error is cut: errors reach log lines and audit items."""
    return str(value)[:limit]


def handoff_field(holder: Mapping[str, Any]) -> HandOffRef | None:
    """A sweep's hand-off reference (``{"run": <run owner>, "part": <n>}``), if any."""
    value = holder.get("handoff")
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidInput(
            ErrorCode.INVALID_FIELD, "handoff", "must be an object with run and part"
        )
    run, part = value.get("run"), value.get("part")
    if not isinstance(run, str) or not 0 < len(run) <= MAX_DELIVERY_ID_CHARS:
        raise InvalidInput(
            ErrorCode.INVALID_FIELD,
            "handoff.run",
            f"must be a string of 1 to {MAX_DELIVERY_ID_CHARS} characters",
        )
    if isinstance(part, bool) or not isinstance(part, int) or not 0 <= part < 100_000:
        raise InvalidInput(
            ErrorCode.INVALID_FIELD, "handoff.part", "must be a whole number 0 to 99999"
        )
    return HandOffRef(run, part)
