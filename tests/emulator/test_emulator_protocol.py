"""Every operation through an unmodified boto3 client and the AWS CLI, over real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from ccapi_emulator import EmulatorBackend, Lifecycle

BUCKET = "AWS::S3::Bucket"


def test_create_returns_a_progress_event_that_carries_the_desired_state(client, backend):
    # Given a type whose requests succeed after 5 s
    backend.set_lifecycle("AWS::S3::*", Lifecycle.succeed(5))

    # When a resource is created
    event = client.create_resource(TypeName=BUCKET, DesiredState='{"BucketName": "b1"}')[
        "ProgressEvent"
    ]

    # Then the request is in progress, parsed by botocore like a real one, model included
    assert event["Operation"] == "CREATE"
    assert event["OperationStatus"] == "IN_PROGRESS"
    assert event["TypeName"] == BUCKET
    assert event["ResourceModel"] == '{"BucketName": "b1"}'
    assert event["EventTime"].timestamp() == pytest.approx(backend.clock.now(), abs=0.01)
    assert len(event["RequestToken"]) <= 128


def test_status_get_update_delete_and_list_resources_follow_the_resource(client, backend):
    # Given a bucket created and finished
    backend.set_lifecycle(BUCKET, Lifecycle.succeed(2))
    created = client.create_resource(TypeName=BUCKET, DesiredState='{"BucketName": "b1"}')
    identifier = created["ProgressEvent"]["Identifier"]
    backend.clock.advance(2)
    status = client.get_resource_request_status(
        RequestToken=created["ProgressEvent"]["RequestToken"]
    )
    assert status["ProgressEvent"]["OperationStatus"] == "SUCCESS"

    # When it is updated with a JSON patch and the update finishes
    patch = json.dumps([{"op": "add", "path": "/Tags", "value": [{"Key": "k", "Value": "v"}]}])
    updated = client.update_resource(TypeName=BUCKET, Identifier=identifier, PatchDocument=patch)
    backend.clock.advance(2)

    # Then GetResource and ListResources show the patched model
    expected = {"BucketName": "b1", "Tags": [{"Key": "k", "Value": "v"}]}
    assert json.loads(updated["ProgressEvent"]["ResourceModel"]) == expected
    got = client.get_resource(TypeName=BUCKET, Identifier=identifier)["ResourceDescription"]
    assert json.loads(got["Properties"]) == expected
    listed = client.list_resources(TypeName=BUCKET)["ResourceDescriptions"]
    assert [d["Identifier"] for d in listed] == [identifier]

    # And once a delete finishes the resource is gone
    deleted = client.delete_resource(TypeName=BUCKET, Identifier=identifier)["ProgressEvent"]
    assert deleted["Operation"] == "DELETE"
    backend.clock.advance(2)
    with pytest.raises(ClientError) as caught:
        client.get_resource(TypeName=BUCKET, Identifier=identifier)
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert client.list_resources(TypeName=BUCKET)["ResourceDescriptions"] == []


def test_a_retry_with_the_same_client_token_gets_the_same_request(client, backend):
    # Given a create sent once with a client token
    first = client.create_resource(TypeName=BUCKET, DesiredState="{}", ClientToken="retry-1")

    # When the same call is sent again (as botocore does after a lost response)
    second = client.create_resource(TypeName=BUCKET, DesiredState="{}", ClientToken="retry-1")

    # Then no second request was started
    assert second["ProgressEvent"]["RequestToken"] == first["ProgressEvent"]["RequestToken"]
    assert len(backend.snapshot().requests) == 1


def test_an_unknown_token_is_request_token_not_found(client):
    # When a token nobody issued is looked up or cancelled
    for call in (client.get_resource_request_status, client.cancel_resource_request):
        with pytest.raises(client.exceptions.RequestTokenNotFoundException) as caught:
            call(RequestToken="never-issued")

        # Then AWS's modelled error comes back with HTTP 400
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def test_raw_protocol_errors_are_json_1_0_errors(emulator, backend):
    # Given raw HTTP calls that no SDK would send
    headers = {"Content-Type": "application/x-amz-json-1.0"}
    cases = [
        (
            {**headers, "X-Amz-Target": "CloudApiService.NoSuchCall"},
            b"{}",
            "UnknownOperationException",
        ),
        (
            {**headers, "X-Amz-Target": "CloudApiService.ListResourceRequests"},
            b"{not json",
            "SerializationException",
        ),
        (
            {**headers, "X-Amz-Target": "CloudApiService.ListResourceRequests"},
            b"[]",
            "SerializationException",
        ),
    ]
    for request_headers, body, code in cases:
        # When each is sent
        status, response_headers, payload = _post(
            emulator.endpoint_url + "/", body, request_headers
        )

        # Then each gets a 400 with the code in __type and in x-amzn-ErrorType
        assert status == 400
        assert payload["__type"].endswith("#" + code)
        assert response_headers["x-amzn-ErrorType"] == code


def test_the_aws_cli_lists_resource_requests(emulator, backend):
    # Given 45 stuck requests, more than two of the CLI's pages
    tokens = set(backend.seed(45, status="IN_PROGRESS", age_seconds=3600))
    aws = Path(sys.executable).with_name("aws")
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_PAGER": "",
    }

    # When the unmodified AWS CLI lists them against the emulator
    result = subprocess.run(
        [
            str(aws),
            "cloudcontrol",
            "list-resource-requests",
            "--endpoint-url",
            emulator.endpoint_url,
            "--region",
            "us-east-1",
            "--resource-request-status-filter",
            "OperationStatuses=IN_PROGRESS",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )

    # Then it pages through all of them
    assert result.returncode == 0, result.stderr
    summaries = json.loads(result.stdout)["ResourceRequestStatusSummaries"]
    assert {s["RequestToken"] for s in summaries} == tokens
    assert backend.snapshot().calls["ListResourceRequests"] >= 3


def test_seeded_requests_are_seen_by_boto3(client, backend: EmulatorBackend):
    # Given a seeded request two hours old
    [token] = backend.seed(
        1, type_name="AWS::RDS::DBInstance", age_seconds=7200, resource_model='{"a":1}'
    )

    # When boto3 asks for it
    event = client.get_resource_request_status(RequestToken=token)["ProgressEvent"]

    # Then its EventTime is two hours ago and its model is there
    assert event["EventTime"].timestamp() == pytest.approx(backend.clock.now() - 7200, abs=0.01)
    assert event["ResourceModel"] == '{"a":1}'
    assert event["TypeName"] == "AWS::RDS::DBInstance"
