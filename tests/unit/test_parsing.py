"""Given raw input, when parsed, then tokens or an error naming the field and the rule."""

from __future__ import annotations

import json

import pytest
from reaper.models import Mode, Source
from reaper.parsing import (
    MAX_BODY_BYTES,
    CallWithoutToken,
    ErrorCode,
    Ignored,
    InvalidInput,
    SweepRequest,
    TokenRequest,
    parse_body,
    parse_event,
)

TOKEN = "a1b2-C3D4+e5/f6=="


def cloudtrail(name: str = "CreateResource", **detail: object) -> dict:
    body = {
        "eventSource": "cloudcontrolapi.amazonaws.com",
        "eventName": name,
        "responseElements": {
            "progressEvent": {"requestToken": TOKEN, "operationStatus": "PENDING"}
        },
    }
    body.update(detail)
    return {
        "id": "ev-1",
        "source": "aws.cloudcontrolapi",
        "detail-type": "AWS API Call via CloudTrail",
        "detail": body,
    }


def error_of(raw: object, parse=parse_body) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse(raw)
    return caught.value


def test_a_bare_token_body_is_one_token_to_cancel():
    assert parse_body(f"  {TOKEN}\n") == TokenRequest((TOKEN,), Source.SQS, Mode.CANCEL)


def test_a_numeric_token_is_a_token_not_a_json_number():
    assert parse_body("12345") == TokenRequest(("12345",), Source.SQS)


def test_json_with_several_tokens_keeps_order_and_drops_repeats():
    body = json.dumps({"requestTokens": ["b", "a", "b"], "mode": "watch", "reason": "ops"})
    assert parse_body(body) == TokenRequest(("b", "a"), Source.SQS, Mode.WATCH, "ops")


def test_a_json_string_body_is_a_token():
    assert parse_body(json.dumps(TOKEN)).tokens == (TOKEN,)


def test_custom_eventbridge_event_carries_tokens_and_reason():
    event = {
        "id": "e1",
        "source": "cloudcontrol-reaper",
        "detail-type": "Cancel Resource Request",
        "detail": {"requestToken": TOKEN, "reason": "stuck deploy"},
    }
    assert parse_event(event) == TokenRequest((TOKEN,), Source.EVENTBRIDGE, reason="stuck deploy")
    assert parse_body(json.dumps(event)).source is Source.EVENTBRIDGE


def test_cloudtrail_create_is_watched_from_the_documented_place():
    assert parse_event(cloudtrail()) == TokenRequest((TOKEN,), Source.CLOUDTRAIL, Mode.WATCH)


@pytest.mark.parametrize(
    "elements",
    [
        {"RequestToken": TOKEN},
        {"requestToken": TOKEN},
        {"ProgressEvent": {"RequestToken": TOKEN}},
    ],
)
def test_cloudtrail_token_is_found_in_other_plausible_places(elements):
    event = cloudtrail(responseElements=elements)
    assert parse_event(event).tokens == (TOKEN,)


@pytest.mark.parametrize("elements", [None, {}, {"progressEvent": {}}, "text"])
def test_cloudtrail_without_a_token_is_a_call_to_match_not_an_error(elements):
    event = cloudtrail(responseElements=elements)
    event["detail"]["requestParameters"] = {"typeName": "AWS::S3::Bucket", "identifier": "b1"}
    event["detail"]["eventTime"] = "2025-01-01T10:00:00Z"
    parsed = parse_event(event)
    assert isinstance(parsed, CallWithoutToken)
    assert (parsed.operation, parsed.type_name, parsed.identifier) == (
        "CREATE",
        "AWS::S3::Bucket",
        "b1",
    )
    assert parsed.event_time is not None and parsed.event_time.hour == 10


def test_cloudtrail_of_our_own_cancel_or_of_a_failed_call_starts_nothing():
    assert isinstance(parse_event(cloudtrail("CancelResourceRequest")), Ignored)
    assert isinstance(parse_event(cloudtrail(errorCode="AccessDenied")), Ignored)


def test_scheduled_event_is_a_sweep():
    event = {"id": "s", "source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
    assert parse_event(event) == SweepRequest()


def test_a_dead_letter_record_replays_its_tokens_mode_and_source():
    record = {
        "kind": "reaper.dead-letter",
        "version": 1,
        "requestTokens": [TOKEN],
        "mode": "watch",
        "source": "cloudtrail",
        "error": {"code": "ThrottlingException", "message": "x"},
    }
    assert parse_body(json.dumps(record)) == TokenRequest((TOKEN,), Source.CLOUDTRAIL, Mode.WATCH)


def test_a_dead_letter_record_without_tokens_says_it_needs_a_fix():
    error = error_of(json.dumps({"kind": "reaper.dead-letter", "requestTokens": []}))
    assert error.field == "requestTokens"


def test_an_on_failure_destination_record_replays_the_original_event():
    record = {
        "version": "1.0",
        "requestContext": {"requestId": "r", "condition": "RetriesExhausted"},
        "requestPayload": cloudtrail(),
        "responseContext": {"statusCode": 200},
    }
    assert parse_body(json.dumps(record)).source is Source.CLOUDTRAIL


@pytest.mark.parametrize(
    ("raw", "code", "field"),
    [
        ("{not json", ErrorCode.MALFORMED_JSON, "body"),
        ("has spaces in it", ErrorCode.MALFORMED_JSON, "body"),
        ("", ErrorCode.MALFORMED_JSON, "body"),
        ('{"requestToken": "bad token!"}', ErrorCode.INVALID_TOKEN, "requestToken"),
        ('{"requestToken": ""}', ErrorCode.INVALID_TOKEN, "requestToken"),
        (json.dumps({"requestToken": "a" * 129}), ErrorCode.INVALID_TOKEN, "requestToken"),
        ('{"requestTokens": ["ok", 7]}', ErrorCode.INVALID_TOKEN, "requestTokens[1]"),
        ('{"requestTokens": []}', ErrorCode.MISSING_FIELD, "requestTokens"),
        ('{"requestTokens": "abc"}', ErrorCode.INVALID_FIELD, "requestTokens"),
        ('{"requestToken": "a", "requestTokens": ["b"]}', ErrorCode.INVALID_FIELD, "requestToken"),
        ('{"requestToken": "a", "mode": "nuke"}', ErrorCode.INVALID_FIELD, "mode"),
        ('{"requestToken": "a", "reason": 5}', ErrorCode.INVALID_FIELD, "reason"),
        ('{"hello": "world"}', ErrorCode.UNKNOWN_EVENT_SHAPE, "event"),
        ("[1, 2]", ErrorCode.UNKNOWN_EVENT_SHAPE, "event"),
        ("3.5", ErrorCode.UNKNOWN_EVENT_SHAPE, "event"),
        (
            '{"source": "x", "detail-type": "y", "detail": {}}',
            ErrorCode.UNKNOWN_EVENT_SHAPE,
            "source/detail-type",
        ),
        (
            '{"source": "cloudcontrol-reaper", "detail-type": "Cancel Resource Request"}',
            ErrorCode.MISSING_FIELD,
            "detail",
        ),
        ("[" * 100_000, ErrorCode.MALFORMED_JSON, "body"),
    ],
)
def test_bad_bodies_name_the_field_and_the_rule(raw, code, field):
    error = error_of(raw)
    assert (error.code, error.field) == (code, field)
    assert str(error).startswith(f"{field}: ")


def test_too_many_tokens_is_refused_with_the_count():
    error = error_of(json.dumps({"requestTokens": [f"t{i}" for i in range(101)]}))
    assert error.code is ErrorCode.TOO_MANY_TOKENS
    assert "got 101" in error.message


def test_an_oversized_body_is_refused_before_parsing():
    error = error_of("a" * (MAX_BODY_BYTES + 1))
    assert error.code is ErrorCode.BODY_TOO_LARGE


def test_a_non_string_body_and_a_non_object_event_are_errors_not_crashes():
    assert error_of(None).field == "body"
    assert error_of(["x"], parse_event).code is ErrorCode.UNKNOWN_EVENT_SHAPE
