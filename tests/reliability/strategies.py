"""Hypothesis strategies for everything the handler can be handed: SQS bodies, EventBridge
events (custom, CloudTrail, schedule, unknown), dead-letter and on-failure records, and tokens
at and past the length and character limits."""

from __future__ import annotations

import json
import string
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
