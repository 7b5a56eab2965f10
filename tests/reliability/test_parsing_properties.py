"""Given any input at all, when the pure parsers read it, then they return valid tokens or raise
InvalidInput naming the field and the rule, and nothing else, ever.

Thousands of examples per run (the parsers are pure and cheap); a fixed seed with CI set.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st
from reaper.dead_letter_format import FOLLOW_UP_MAX_HOPS, follow_up_body
from reaper.models import Source
from reaper.parsing import (
    MAX_BODY_BYTES,
    MAX_REASON_CHARS,
    MAX_TOKENS_PER_MESSAGE,
    CallWithoutToken,
    ErrorCode,
    FollowUp,
    Ignored,
    InvalidInput,
    SweepRequest,
    TokenRequest,
    parse_body,
    parse_event,
)

from .strategies import (
    DOCUMENTED_TOKEN,
    bodies,
    edge_tokens,
    events,
    expected_of_body,
    valid_tokens,
)

# The API reference's token rule, typed out here: the parser is not its own judge.
TOKEN_RE = DOCUMENTED_TOKEN
# An error names a field and a rule; it quotes the input only in short, cut pieces.
MAX_ERROR_CHARS = 2_000
# Per run: about 6,000 examples over the two parsers (body 2,000, event 1,500, the rest).
BODY_EXAMPLES = 2_000
EVENT_EXAMPLES = 1_500
FOCUSED_EXAMPLES = 500


def check(parse: Any, raw: Any) -> Any:
    """The contract every parser keeps, whatever ``raw`` is."""
    try:
        parsed = parse(raw)
    except InvalidInput as error:
        assert isinstance(error.code, ErrorCode)
        assert error.field and error.rule
        assert error.message == f"{error.field}: {error.rule}"
        assert len(error.message) <= MAX_ERROR_CHARS, (len(error.message), error.field)
        return error
    assert isinstance(parsed, TokenRequest | SweepRequest | Ignored | CallWithoutToken | FollowUp)
    if isinstance(parsed, CallWithoutToken):  # a CloudTrail record of a call, no token in it
        names = {"CreateResource": "CREATE", "UpdateResource": "UPDATE", "DeleteResource": "DELETE"}
        assert names.get(parsed.event_name) == parsed.operation, parsed
    if isinstance(parsed, TokenRequest):
        assert 1 <= len(parsed.tokens) <= MAX_TOKENS_PER_MESSAGE
        assert len(set(parsed.tokens)) == len(parsed.tokens)
        assert all(TOKEN_RE.fullmatch(t) for t in parsed.tokens)
        assert parsed.reason is None or len(parsed.reason) <= MAX_REASON_CHARS
    return parsed


@settings(max_examples=BODY_EXAMPLES)
@given(bodies)
@example("")
@example(" ")
@example("null")
@example("[]")
@example('"' + "A" * 129 + '"')
@example("[" * 100_000)  # deeper than json can recurse
@example("A" * (MAX_BODY_BYTES + 1))
def test_any_sqs_body_parses_to_valid_tokens_or_a_named_error(body: str) -> None:
    parsed = check(parse_body, body)
    # Where the documents are plain, the parser agrees with the tests' own reading of them.
    want = expected_of_body(body)
    if want.verdict == "valid":
        assert isinstance(parsed, TokenRequest) and parsed.tokens == want.tokens, parsed
    elif want.verdict == "invalid":
        assert isinstance(parsed, InvalidInput) and parsed.code.value == want.code, parsed


@settings(max_examples=EVENT_EXAMPLES)
@given(events)
def test_any_event_parses_to_valid_tokens_or_a_named_error(event: Any) -> None:
    check(parse_event, event)


@settings(max_examples=FOCUSED_EXAMPLES)
@given(st.one_of(st.integers(), st.binary(), st.lists(st.text()), st.none()))
def test_a_body_that_is_not_a_string_is_an_invalid_field(body: Any) -> None:
    error = check(parse_body, body)
    assert isinstance(error, InvalidInput) and error.code is ErrorCode.INVALID_FIELD


@settings(max_examples=FOCUSED_EXAMPLES)
@given(valid_tokens, st.sampled_from(["bare", "one", "many", "quoted"]))
def test_every_valid_token_is_accepted_in_every_shape(token: str, shape: str) -> None:
    body = {
        "bare": token,
        "one": json.dumps({"requestToken": token}),
        "many": json.dumps({"requestTokens": [token, token]}),
        "quoted": json.dumps(token),
    }[shape]
    parsed = check(parse_body, body)
    assert isinstance(parsed, TokenRequest) and parsed.tokens == (token,)


@settings(max_examples=FOCUSED_EXAMPLES)
@given(edge_tokens.filter(lambda t: not TOKEN_RE.fullmatch(t)), st.booleans())
def test_a_token_past_the_limits_is_refused_with_the_rule(token: str, alone: bool) -> None:
    body = json.dumps({"requestToken": token} if alone else {"requestTokens": ["ok", token]})
    error = check(parse_body, body)
    assert isinstance(error, InvalidInput)
    assert error.code is ErrorCode.INVALID_TOKEN
    assert error.field == ("requestToken" if alone else "requestTokens[1]")
    assert "128" in error.rule and "[-A-Za-z0-9+/=]" in error.rule


@settings(max_examples=100)
@given(st.lists(valid_tokens, min_size=MAX_TOKENS_PER_MESSAGE + 1, max_size=150))
def test_an_oversized_batch_of_tokens_is_refused_whole(tokens: list[str]) -> None:
    error = check(parse_body, json.dumps({"requestTokens": tokens}))
    assert isinstance(error, InvalidInput) and error.code is ErrorCode.TOO_MANY_TOKENS


@settings(max_examples=FOCUSED_EXAMPLES)
@given(st.dictionaries(st.text(min_size=1, max_size=5_000), st.integers(), min_size=1, max_size=12))
@example({"k" * 50_000: 1})
@example({f"{i}" * 1_000: i for i in range(12)})
def test_an_unknown_shape_is_named_without_echoing_huge_keys(event: dict[str, int]) -> None:
    error = check(parse_event, event)
    assert isinstance(error, InvalidInput)
    if not {"requestToken", "requestTokens", "kind", "source", "detail-type"} & set(event):
        assert error.code is ErrorCode.UNKNOWN_EVENT_SHAPE and error.field == "event"
    assert not [k for k in event if len(k) > 100 and k in error.message]  # cut, never whole


FOLLOW_UP_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-5, max_value=20),
    st.text(max_size=300),
    valid_tokens,
    st.sampled_from(["sqs", "sweep", "2026-12-02T08:00:00+00:00", "2026-12-02T08:00:00"]),
    st.lists(st.integers(), max_size=3),
)


@settings(max_examples=FOCUSED_EXAMPLES)
@given(
    valid_tokens,
    st.integers(min_value=0, max_value=FOLLOW_UP_MAX_HOPS),
    st.dictionaries(
        st.sampled_from(
            ["version", "requestToken", "source", "deliveryId", "hop", "cancelledAt", "extra"]
        ),
        FOLLOW_UP_VALUES,
        max_size=3,
    ),
    st.sets(st.sampled_from(["requestToken", "source", "deliveryId", "hop", "cancelledAt"])),
)
def test_a_follow_up_message_is_itself_or_refused_in_one_line_naming_the_field(
    token: str, hop: int, changed: dict[str, Any], dropped: set[str]
) -> None:
    follow_up = FollowUp(token, Source.SQS, "m-1", hop, datetime(2026, 12, 2, 8, tzinfo=UTC))
    record = {**json.loads(follow_up_body(follow_up)), **changed}
    for name in dropped:
        record.pop(name, None)
    parsed = check(parse_body, json.dumps(record))
    if isinstance(parsed, InvalidInput):
        assert "\n" not in parsed.message
        assert parsed.field in {*record, "requestToken", "source", "deliveryId", "hop"} | {
            "cancelledAt",
            "version",
        }
    else:
        assert isinstance(parsed, FollowUp)
        assert TOKEN_RE.fullmatch(parsed.token) and 0 <= parsed.hop <= FOLLOW_UP_MAX_HOPS
        assert parsed.cancelled_at.tzinfo is not None
        if not changed and not dropped:
            assert parsed == follow_up
