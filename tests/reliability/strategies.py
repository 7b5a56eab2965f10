"""Hypothesis strategies for everything the handler can be handed: SQS bodies, EventBridge
events (custom, CloudTrail, schedule, unknown), dead-letter and on-failure records, and tokens
at and past the length and character limits."""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st
from reaper.parsing import (
    CLOUDTRAIL_DETAIL_TYPE,
    CLOUDTRAIL_EVENT_SOURCE,
    CLOUDTRAIL_SOURCE,
    CUSTOM_DETAIL_TYPE,
    CUSTOM_SOURCE,
    DEAD_LETTER_KIND,
    MAX_TOKENS_PER_MESSAGE,
    SCHEDULE_DETAIL_TYPE,
    SCHEDULE_SOURCE,
)

TOKEN_ALPHABET = string.ascii_letters + string.digits + "-+/="

valid_tokens = st.text(TOKEN_ALPHABET, min_size=1, max_size=128)
# At the limit, one past it, far past it, empty, and with one character from outside the set.
edge_tokens = st.one_of(
    st.text(TOKEN_ALPHABET, min_size=128, max_size=128),
    st.text(TOKEN_ALPHABET, min_size=129, max_size=300),
    st.just(""),
    st.builds(
        lambda head, bad, tail: head + bad + tail,
        st.text(TOKEN_ALPHABET, max_size=60),
        st.characters(
            blacklist_characters=TOKEN_ALPHABET, blacklist_categories=("Cs",), min_codepoint=0
        ),
        st.text(TOKEN_ALPHABET, max_size=60),
    ),
)
any_token = st.one_of(valid_tokens, edge_tokens)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.dictionaries(st.text(max_size=20), children, max_size=5)
    ),
    max_leaves=20,
)
wrong_type = st.one_of(json_scalars, st.lists(json_scalars, max_size=3), st.just({}))


def _maybe_mutated(base: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """The shape as is, with a field missing, with an extra one, or with one of a wrong type."""
    keys = sorted(base)

    def drop(key: str) -> dict[str, Any]:
        return {k: v for k, v in base.items() if k != key}

    mutations: list[st.SearchStrategy[dict[str, Any]]] = [st.just(base)]
    if keys:
        mutations.append(st.sampled_from(keys).map(drop))
        mutations.append(
            st.tuples(st.sampled_from(keys), wrong_type).map(lambda kv: {**base, kv[0]: kv[1]})
        )
    mutations.append(
        st.tuples(st.text(min_size=1, max_size=20), json_values).map(
            lambda kv: {**base, kv[0]: kv[1]}
        )
    )
    return st.one_of(mutations)


token_lists = st.lists(any_token, min_size=0, max_size=MAX_TOKENS_PER_MESSAGE + 5)

token_messages = st.one_of(
    st.builds(lambda t: {"requestToken": t}, any_token),
    st.builds(lambda ts: {"requestTokens": ts}, token_lists),
    st.builds(
        lambda ts, mode, reason: {"requestTokens": ts, "mode": mode, "reason": reason},
        token_lists,
        st.one_of(st.sampled_from(["cancel", "watch"]), wrong_type),
        st.one_of(st.text(max_size=50), wrong_type),
    ),
).flatmap(_maybe_mutated)


def _eventbridge(source: str, detail_type: str, detail: Any) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "evt-1",
        "source": source,
        "detail-type": detail_type,
        "account": "123456789012",
        "time": "2026-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }


custom_events = st.builds(
    lambda detail: _eventbridge(CUSTOM_SOURCE, CUSTOM_DETAIL_TYPE, detail),
    st.one_of(token_messages, wrong_type),
).flatmap(_maybe_mutated)

cloudtrail_events = st.builds(
    lambda name, token, error, where: _eventbridge(
        CLOUDTRAIL_SOURCE,
        CLOUDTRAIL_DETAIL_TYPE,
        {
            "eventSource": CLOUDTRAIL_EVENT_SOURCE,
            "eventName": name,
            **({"errorCode": error} if error else {}),
            "responseElements": (
                {"progressEvent": {"requestToken": token}}
                if where == 0
                else {"RequestToken": token}
                if where == 1
                else {"deep": {"deeper": {"requestToken": token}}}
                if where == 2
                else token
            ),
        },
    ),
    st.sampled_from(
        ["CreateResource", "UpdateResource", "DeleteResource", "CancelResourceRequest"]
    ),
    st.one_of(any_token, wrong_type),
    st.one_of(st.none(), st.just("AccessDenied")),
    st.integers(0, 3),
).flatmap(_maybe_mutated)

schedule_events = st.builds(
    lambda: _eventbridge(SCHEDULE_SOURCE, SCHEDULE_DETAIL_TYPE, {})
).flatmap(_maybe_mutated)

unknown_events = st.builds(
    _eventbridge, st.text(max_size=30), st.text(max_size=30), json_values
).flatmap(_maybe_mutated)

dead_letter_records = st.builds(
    lambda tokens, mode, source: {
        "kind": DEAD_LETTER_KIND,
        "version": 1,
        "requestTokens": tokens,
        "mode": mode,
        "source": source,
        "deliveryId": "m-1",
        "error": {"code": "ThrottlingException", "message": "Rate exceeded"},
        "original": "x",
        "failedAt": "2026-01-01T00:00:00+00:00",
    },
    token_lists,
    st.one_of(st.sampled_from(["cancel", "watch"]), wrong_type),
    st.one_of(st.sampled_from(["sqs", "eventbridge", "cloudtrail", "sweep"]), wrong_type),
).flatmap(_maybe_mutated)

events = st.one_of(
    custom_events,
    cloudtrail_events,
    schedule_events,
    unknown_events,
    dead_letter_records,
    token_messages,
    st.builds(
        lambda payload: {
            "requestContext": {"condition": "RetriesExhausted"},
            "requestPayload": payload,
        },
        st.one_of(custom_events, token_messages, json_values),
    ),
    json_values,
)

# An SQS record body: a bare token, JSON of any of the above, or text that is neither.
bodies = st.one_of(
    any_token,
    events.map(json.dumps),
    st.text(max_size=200),
    st.binary(max_size=100).map(lambda b: b.decode("latin-1")),
    st.builds(lambda s: "{" + s, st.text(max_size=50)),  # broken JSON
)


# ---------------------------------------------------------------- an oracle of our own
# What docs/DESIGN.md and the Cloud Control API reference say an SQS body may be, read with
# json.loads and typed out here, never with reaper.parsing: the tests judge the parser and the
# handler by it. It answers only where the documents are plain; elsewhere it says UNSURE and
# the tests hold the product to the rules that bind every input.
DOCUMENTED_TOKEN = re.compile(r"[-A-Za-z0-9+/=]{1,128}")  # the API reference's RequestToken
DOCUMENTED_MAX_TOKENS = 100  # requestTokens in one message
DOCUMENTED_MAX_BODY_BYTES = 256 * 1024  # SQS's own limit
DOCUMENTED_ERROR_CODES = frozenset(
    {
        "MalformedJson",
        "BodyTooLarge",
        "MissingField",
        "InvalidField",
        "InvalidToken",
        "TooManyTokens",
        "UnknownEventShape",
    }
)
# Keys that make a JSON object something other than a plain token message.
_OTHER_SHAPES = frozenset({"kind", "requestPayload", "requestContext", "detail-type", "detail"})
_MESSAGE_KEYS = frozenset({"requestToken", "requestTokens", "mode", "reason"})


@dataclass(frozen=True)
class Expected:
    """VALID with the tokens to decide (in order, once each), INVALID with its error code, or
    UNSURE (the oracle does not say)."""

    verdict: str
    tokens: tuple[str, ...] = ()
    code: str | None = None


UNSURE = Expected("unsure")


def _invalid(code: str) -> Expected:
    return Expected("invalid", code=code)


def _token_or_invalid(value: Any) -> Expected:
    if isinstance(value, str) and DOCUMENTED_TOKEN.fullmatch(value):
        return Expected("valid", (value,))
    return _invalid("InvalidToken")


def expected_of_body(body: str) -> Expected:
    if len(body.encode("utf-8", "replace")) > DOCUMENTED_MAX_BODY_BYTES:
        return _invalid("BodyTooLarge")
    text = body.strip()
    if DOCUMENTED_TOKEN.fullmatch(text):
        return Expected("valid", (text,))
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return _invalid("MalformedJson")
    if isinstance(value, str):
        return _token_or_invalid(value)
    if not isinstance(value, dict):
        return _invalid("UnknownEventShape")
    return _expected_of_message(value)


def _expected_of_message(value: dict[str, Any]) -> Expected:
    """A plain token message: requestToken or requestTokens, optional mode cancel, optional
    string reason, nothing else."""
    if set(value) & _OTHER_SHAPES or not set(value) <= _MESSAGE_KEYS:
        return UNSURE
    if value.get("mode", "cancel") != "cancel" or not isinstance(value.get("reason", ""), str):
        return UNSURE
    if ("requestToken" in value) == ("requestTokens" in value):
        return UNSURE
    if "requestToken" in value:
        return _token_or_invalid(value["requestToken"])
    tokens = value["requestTokens"]
    if not isinstance(tokens, list) or not tokens:
        return UNSURE
    if len(tokens) > DOCUMENTED_MAX_TOKENS:
        return _invalid("TooManyTokens")
    for token in tokens:
        if _token_or_invalid(token).verdict == "invalid":
            return _invalid("InvalidToken")
    return Expected("valid", tuple(dict.fromkeys(tokens)))


def token_bodies(tokens: list[str]) -> st.SearchStrategy[str]:
    """Every documented way to name ``tokens`` in one body (a bare token names only one)."""
    shapes = [
        st.just(json.dumps({"requestTokens": tokens})),
        st.just(json.dumps({"requestTokens": tokens, "mode": "cancel", "reason": "operator"})),
    ]
    if len(tokens) == 1:
        (token,) = tokens
        shapes += [
            st.just(token),
            st.just(f"  {token}\n"),
            st.just(json.dumps(token)),
            st.just(json.dumps({"requestToken": token})),
        ]
    return st.one_of(shapes)
