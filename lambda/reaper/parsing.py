"""Pure parsing of everything the handler receives into tokens, or a precise error.

No I/O, no AWS, no Powertools: ``parse_body`` and ``parse_event`` take raw input and return a
``Parsed`` value or raise ``InvalidInput`` naming the field and the rule it broke. That makes
them cheap on the cold path and easy to fuzz; they never raise anything else for any input.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from reaper import contracts
from reaper.models import Decision, Mode, Outcome, Source, Status

TOKEN_PATTERN = r"[-A-Za-z0-9+/=]{1,128}"  # noqa: S105 - a request token, not a secret
TOKEN_RULE = "must be 1 to 128 characters of [-A-Za-z0-9+/=]"  # noqa: S105
_TOKEN_RE = re.compile(TOKEN_PATTERN)
MAX_TOKENS_PER_MESSAGE = 100
MAX_BODY_BYTES = 256 * 1024
MAX_REASON_CHARS = 1024
MAX_DELIVERY_ID_CHARS = 256

CUSTOM_SOURCE = contracts.CUSTOM_EVENT_SOURCE
CUSTOM_DETAIL_TYPE = contracts.CUSTOM_EVENT_DETAIL_TYPE
CLOUDTRAIL_SOURCE = contracts.CLOUDTRAIL_EVENT_SOURCE
CLOUDTRAIL_DETAIL_TYPE = contracts.CLOUDTRAIL_DETAIL_TYPE
CLOUDTRAIL_EVENT_SOURCE = contracts.CLOUDTRAIL_API_EVENT_SOURCE
WATCHED_EVENT_NAMES = frozenset(contracts.CLOUDTRAIL_EVENT_NAMES)
OPERATION_OF_EVENT = {
    "CreateResource": "CREATE",
    "UpdateResource": "UPDATE",
    "DeleteResource": "DELETE",
}
SCHEDULE_SOURCE = contracts.SCHEDULE_EVENT_SOURCE
SCHEDULE_DETAIL_TYPE = contracts.SCHEDULE_DETAIL_TYPE
DEAD_LETTER_KIND = contracts.DEAD_LETTER_KIND


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


@dataclass(frozen=True, slots=True)
class CallWithoutToken:
    """A CloudTrail record of a successful Create/Update/DeleteResource call that holds no
    request token: the service looks for the request it started."""

    event_name: str
    operation: str
    type_name: str | None
    identifier: str | None
    event_time: datetime | None


@dataclass(frozen=True, slots=True)
class SweepRequest:
    """A scheduled event: list PENDING/IN_PROGRESS requests and decide each."""


@dataclass(frozen=True, slots=True)
class Ignored:
    """A well-formed input that starts no work (e.g. a CloudTrail record of a failed call)."""

    why: str


Parsed = TokenRequest | SweepRequest | Ignored | CallWithoutToken


def parse_body(body: object) -> Parsed:
    """An SQS record body: a bare token, or JSON (see ``parse_event``)."""
    if not isinstance(body, str):
        raise InvalidInput(ErrorCode.INVALID_FIELD, "body", "must be a string")
    if len(body) > MAX_BODY_BYTES or len(body.encode("utf-8", "replace")) > MAX_BODY_BYTES:
        raise InvalidInput(
            ErrorCode.BODY_TOO_LARGE, "body", f"must be at most {MAX_BODY_BYTES} bytes"
        )
    text = body.strip()
    if _TOKEN_RE.fullmatch(text):
        return TokenRequest(tokens=(text,), source=Source.SQS)
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
        raise InvalidInput(
            ErrorCode.MALFORMED_JSON,
            "body",
            f"is neither a request token ({TOKEN_RULE}) nor valid JSON ({detail})",
        ) from None
    if isinstance(value, str):
        return TokenRequest(tokens=(_token(value, "body"),), source=Source.SQS)
    return parse_event(value, default_source=Source.SQS)


def parse_event(event: object, default_source: Source = Source.EVENTBRIDGE) -> Parsed:
    """A direct invocation's event, or the JSON of an SQS body.

    Accepts an EventBridge event (custom, CloudTrail, schedule), a token message
    (``requestToken``/``requestTokens``), a reaper dead-letter record or a Lambda on-failure
    destination record.
    """
    if not isinstance(event, Mapping):
        raise InvalidInput(ErrorCode.UNKNOWN_EVENT_SHAPE, "event", "must be a JSON object")
    if event.get("kind") == DEAD_LETTER_KIND:
        return _dead_letter(event)
    if "requestPayload" in event and "requestContext" in event:
        return parse_event(event["requestPayload"], default_source)
    if "detail-type" in event or ("source" in event and "detail" in event):
        return _eventbridge(event)
    if "requestToken" in event or "requestTokens" in event:
        return TokenRequest(
            tokens=_tokens(event, ""),
            source=_enum(Source, event, "source", default_source),
            mode=_enum(Mode, event, "mode", Mode.CANCEL),
            reason=_reason(event, ""),
        )
    raise InvalidInput(
        ErrorCode.UNKNOWN_EVENT_SHAPE,
        "event",
        "expected requestToken(s), an EventBridge event, a reaper dead-letter record or a "
        f"Lambda on-failure record; got keys {sorted(_short(k, 40) for k in event)[:10]}",
    )


def is_valid_token(value: object) -> bool:
    return isinstance(value, str) and _TOKEN_RE.fullmatch(value) is not None


def _eventbridge(event: Mapping[str, Any]) -> Parsed:
    source = event.get("source")
    detail_type = event.get("detail-type")
    if source == SCHEDULE_SOURCE and detail_type == SCHEDULE_DETAIL_TYPE:
        return SweepRequest()
    detail = event.get("detail")
    if source == CUSTOM_SOURCE and detail_type == CUSTOM_DETAIL_TYPE:
        if not isinstance(detail, Mapping):
            raise InvalidInput(ErrorCode.MISSING_FIELD, "detail", "must be an object")
        return TokenRequest(
            tokens=_tokens(detail, "detail."),
            source=Source.EVENTBRIDGE,
            reason=_reason(detail, "detail."),
        )
    if source == CLOUDTRAIL_SOURCE and detail_type == CLOUDTRAIL_DETAIL_TYPE:
        return _cloudtrail(detail)
    raise InvalidInput(
        ErrorCode.UNKNOWN_EVENT_SHAPE,
        "source/detail-type",
        f"unsupported pair {_short(source)!r}/{_short(detail_type)!r}; expected "
        f"{CUSTOM_SOURCE!r}/{CUSTOM_DETAIL_TYPE!r}, {CLOUDTRAIL_SOURCE!r}/"
        f"{CLOUDTRAIL_DETAIL_TYPE!r} or {SCHEDULE_SOURCE!r}/{SCHEDULE_DETAIL_TYPE!r}",
    )


def _cloudtrail(detail: object) -> Parsed:
    if not isinstance(detail, Mapping):
        raise InvalidInput(ErrorCode.MISSING_FIELD, "detail", "must be an object")
    if detail.get("eventSource") != CLOUDTRAIL_EVENT_SOURCE:
        raise InvalidInput(
            ErrorCode.INVALID_FIELD, "detail.eventSource", f"must be {CLOUDTRAIL_EVENT_SOURCE!r}"
        )
    name = detail.get("eventName")
    if name not in WATCHED_EVENT_NAMES:
        # Our own CancelResourceRequest calls and reads come back through CloudTrail too.
        return Ignored(f"detail.eventName {_short(name)!r} starts no request to watch")
    if detail.get("errorCode"):
        return Ignored(f"the {name} call failed ({_short(detail.get('errorCode'))}): no request")
    elements = detail.get("responseElements")
    found = _find_token(elements, depth=0) if isinstance(elements, Mapping) else None
    if found is None:
        # No public sample shows where CloudTrail puts the token: without one, the service
        # looks for the request this call started instead of failing the event.
        return _call_without_token(str(name), detail)
    path, token = found
    return TokenRequest(
        tokens=(_token(token, f"detail.responseElements{path}"),),
        source=Source.CLOUDTRAIL,
        mode=Mode.WATCH,
    )


def _call_without_token(name: str, detail: Mapping[str, Any]) -> CallWithoutToken:
    parameters = detail.get("requestParameters")
    params: Mapping[str, Any] = parameters if isinstance(parameters, Mapping) else {}
    return CallWithoutToken(
        event_name=name,
        operation=OPERATION_OF_EVENT[name],
        type_name=_text(params.get("typeName"), 196),
        identifier=_text(params.get("identifier"), 1024),
        event_time=_when(detail.get("eventTime")),
    )


def _text(value: object, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def _when(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _find_token(value: Mapping[str, Any], depth: int) -> tuple[str, object] | None:
    """The documented place first, then ``requestToken``/``RequestToken`` anywhere below."""
    progress = value.get("progressEvent")
    if isinstance(progress, Mapping) and "requestToken" in progress:
        return ".progressEvent.requestToken", progress["requestToken"]
    for key in ("requestToken", "RequestToken"):
        if key in value:
            return f".{key}", value[key]
    if depth >= 4:
        return None
    for key, child in value.items():
        if isinstance(child, Mapping):
            found = _find_token(child, depth + 1)
            if found is not None:
                return f".{key}{found[0]}", found[1]
    return None


def _dead_letter(record: Mapping[str, Any]) -> TokenRequest:
    tokens = record.get("requestTokens")
    if not isinstance(tokens, list) or not tokens:
        raise InvalidInput(
            ErrorCode.MISSING_FIELD,
            "requestTokens",
            "a dead-letter record needs at least one token to replay (fix it and redrive)",
        )
    tokens = _tokens(record, "")
    source = _enum(Source, record, "source", Source.SQS)
    delivery_id = record.get("deliveryId")
    if delivery_id is not None and not (
        isinstance(delivery_id, str) and 0 < len(delivery_id) <= MAX_DELIVERY_ID_CHARS
    ):
        raise InvalidInput(
            ErrorCode.INVALID_FIELD,
            "deliveryId",
            f"must be a string of 1 to {MAX_DELIVERY_ID_CHARS} characters",
        )
    settled = _settled(record.get("decisions"), tokens, source, delivery_id)
    return TokenRequest(
        tokens=tokens,
        source=source,
        mode=_enum(Mode, record, "mode", Mode.CANCEL),
        reason=_reason(record, ""),
        delivery_id=delivery_id,
        settled=settled,
    )


def _settled(
    value: object, tokens: tuple[str, ...], source: Source, delivery_id: str | None
) -> tuple[Decision, ...]:
    """The decisions a dead letter carries, one per token it names (docs/DESIGN.md)."""
    if value is None:
        return ()
    if not isinstance(value, Mapping) or delivery_id is None:
        raise InvalidInput(
            ErrorCode.INVALID_FIELD,
            "decisions",
            "must be an object of token: decision, with deliveryId",
        )
    decisions: list[Decision] = []
    for token, fields in value.items():
        field = f"decisions[{_short(token, 140)!r}]"
        if token not in tokens or not isinstance(fields, Mapping):
            raise InvalidInput(
                ErrorCode.INVALID_FIELD,
                field,
                "must name a token of requestTokens and hold an object",
            )
        decisions.append(_decision(token, fields, source, delivery_id, field))
    return tuple(decisions)


def _decision(
    token: str, fields: Mapping[str, Any], source: Source, delivery_id: str, field: str
) -> Decision:
    outcome = _enum(Outcome, fields, "outcome", Outcome.FAILED)
    decided_at = _when(fields.get("decidedAt"))
    request_id = fields.get("requestId")
    if decided_at is None or not isinstance(request_id, str) or outcome is Outcome.FAILED:
        raise InvalidInput(
            ErrorCode.INVALID_FIELD,
            field,
            "needs an outcome other than failed, decidedAt (ISO 8601) and requestId",
        )

    def status(key: str) -> Status | None:
        return None if fields.get(key) is None else _enum(Status, fields, key, Status.PENDING)

    def number(key: str) -> int | None:
        raw = fields.get(key)
        return raw if isinstance(raw, int) and not isinstance(raw, bool) else None

    return Decision(
        token=token,
        source=source,
        delivery_id=delivery_id,
        outcome=outcome,
        decided_at=decided_at,
        request_id=request_id[:MAX_DELIVERY_ID_CHARS],
        dry_run=fields.get("dryRun") is True,
        status_seen=status("statusSeen"),
        status_after=status("statusAfter"),
        type_name=_text(fields.get("typeName"), 196),
        identifier=_text(fields.get("identifier"), 1024),
        operation=_text(fields.get("operation"), 16),
        event_time=_when(fields.get("eventTime")),
        first_seen=_when(fields.get("firstSeen")),
        age_seconds=number("ageSeconds"),
        threshold_minutes=number("thresholdMinutes"),
        error_code=_text(fields.get("errorCode"), 128),
        error_message=_text(fields.get("errorMessage"), 1024),
        reason=_text(fields.get("reason"), MAX_REASON_CHARS),
        why=_text(fields.get("why"), 1024),
    )


def _tokens(holder: Mapping[str, Any], prefix: str) -> tuple[str, ...]:
    has_one, has_many = "requestToken" in holder, "requestTokens" in holder
    if has_one and has_many:
        raise InvalidInput(
            ErrorCode.INVALID_FIELD, f"{prefix}requestToken", "give requestToken or requestTokens"
        )
    if has_one:
        return (_token(holder["requestToken"], f"{prefix}requestToken"),)
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
    tokens = [_token(v, f"{field}[{i}]") for i, v in enumerate(values)]
    return tuple(dict.fromkeys(tokens))


def _token(value: object, field: str) -> str:
    if not is_valid_token(value):
        raise InvalidInput(ErrorCode.INVALID_TOKEN, field, TOKEN_RULE)
    assert isinstance(value, str)
    return value


def _enum(kind: type[E], holder: Mapping[str, Any], key: str, default: E) -> E:
    value = holder.get(key, default)
    try:
        return kind(value)
    except (ValueError, TypeError):
        allowed = ", ".join(m.value for m in kind)
        raise InvalidInput(ErrorCode.INVALID_FIELD, key, f"must be one of {allowed}") from None


def _reason(holder: Mapping[str, Any], prefix: str) -> str | None:
    value = holder.get("reason")
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(ErrorCode.INVALID_FIELD, f"{prefix}reason", "must be a string")
    return value[:MAX_REASON_CHARS]


def _short(value: object, limit: int = 100) -> str:
    """Input quoted in an error is cut: errors reach log lines and audit items."""
    return str(value)[:limit]
