"""Requests outside botocore's model get the ValidationException AWS sends, never a crash."""

from __future__ import annotations

import re

import pytest
from botocore.exceptions import ClientError


def _validation_error(call, **params) -> ClientError:
    with pytest.raises(ClientError) as caught:
        call(**params)
    error = caught.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Error"]["Code"] == "ValidationException"
    return caught.value


@pytest.mark.parametrize(
    ("token", "constraint"),
    [
        ("", "Member must have length greater than or equal to 1"),
        ("a" * 129, "Member must have length less than or equal to 128"),
        ("bad token!", "Member must satisfy regular expression pattern: [-A-Za-z0-9+/=]+"),
        ("tok_en", "Member must satisfy regular expression pattern"),
    ],
)
def test_a_malformed_request_token_is_rejected(unchecked_client, backend, token, constraint):
    # When a token outside 1..128 characters of [-A-Za-z0-9+/=] is sent
    for call in (
        unchecked_client.get_resource_request_status,
        unchecked_client.cancel_resource_request,
    ):
        error = _validation_error(call, RequestToken=token)

        # Then the message names the value, the member and the constraint, as AWS does
        message = error.response["Error"]["Message"]
        assert re.match(r"[12] validation errors? detected: Value", message)
        assert "at 'requestToken' failed to satisfy constraint" in message
        assert constraint in message
    assert backend.snapshot().validation_errors == 2


@pytest.mark.parametrize("max_results", [0, 101, -5])
def test_max_results_outside_1_to_100_is_rejected(unchecked_client, backend, max_results):
    error = _validation_error(unchecked_client.list_resource_requests, MaxResults=max_results)
    assert f"Value '{max_results}' at 'maxResults'" in error.response["Error"]["Message"]


@pytest.mark.parametrize(
    ("status_filter", "member"),
    [
        (
            {"OperationStatuses": ["STUCK"]},
            "resourceRequestStatusFilter.operationStatuses.1.member",
        ),
        ({"Operations": ["CREATE", "READ"]}, "resourceRequestStatusFilter.operations.2.member"),
    ],
)
def test_an_unknown_enum_value_is_rejected(unchecked_client, backend, status_filter, member):
    error = _validation_error(
        unchecked_client.list_resource_requests, ResourceRequestStatusFilter=status_filter
    )
    message = error.response["Error"]["Message"]
    assert f"at '{member}'" in message
    assert "Member must satisfy enum value set: [" in message


def test_every_problem_is_reported_at_once(unchecked_client, backend):
    # When a call breaks three constraints and misses a required member
    error = _validation_error(
        unchecked_client.create_resource, TypeName="not-a-type", RoleArn="nope"
    )

    # Then all four are in one message
    message = error.response["Error"]["Message"]
    assert message.startswith("4 validation errors detected: ")
    assert (
        "Value null at 'desiredState' failed to satisfy constraint: Member must not be null"
        in message
    )
    assert "at 'typeName'" in message
    assert "at 'roleArn'" in message


def test_a_sensitive_value_is_not_echoed(unchecked_client, backend):
    error = _validation_error(
        unchecked_client.create_resource, TypeName="AWS::S3::Bucket", DesiredState="x" * 262145
    )
    message = error.response["Error"]["Message"]
    assert "Value at 'desiredState' failed to satisfy constraint" in message
    assert "xxx" not in message


def test_a_valid_but_unknown_next_token_is_rejected(client):
    error = _validation_error(client.list_resource_requests, NextToken="bm90LWEtY3Vyc29y")
    assert "NextToken" in error.response["Error"]["Message"]


def test_a_wrongly_typed_member_is_rejected(unchecked_client, backend):
    error = _validation_error(unchecked_client.list_resource_requests, MaxResults="ten")
    assert (
        "at 'maxResults' failed to satisfy constraint: Member must be of type integer"
        in (error.response["Error"]["Message"])
    )
