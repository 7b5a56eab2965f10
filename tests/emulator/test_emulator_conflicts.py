"""One active request per resource (ConcurrentOperationException), what a cancelled create
leaves behind, and the CloudTrail records of write calls, through a real boto3 client."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError
from ccapi_emulator import EmulatorBackend, Lifecycle
from ccapi_emulator.cloudtrail import accepted_call_event, refused_call_event

BUCKET = "AWS::S3::Bucket"
PATCH = json.dumps([{"op": "add", "path": "/Tags", "value": [{"Key": "k", "Value": "v"}]}])
MESSAGE_WITH_TOKEN = re.compile(
    r"Concurrent operation found for resource (\S+) of type (\S+) with RequestToken (\S+)"
)


def _refusal(call, **params: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as raised:
        call(**params)
    error = raised.value.response
    return (
        error["Error"]["Code"],
        error["ResponseMetadata"]["HTTPStatusCode"],
        error["Error"]["Message"],
    )


def _control(url: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url + path, data=data, method="GET" if body is None else "POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_botocore_models_concurrent_operation_on_every_write_call():
    model = botocore.session.get_session().get_service_model("cloudcontrol")
    for operation in ("CreateResource", "UpdateResource", "DeleteResource"):
        codes = {shape.name for shape in model.operation_model(operation).error_shapes}
        assert {"ConcurrentOperationException", "ResourceNotFoundException"} <= codes


# ---------------------------------------------------------------------------------- conflicts
def test_a_second_update_is_refused_with_the_blocking_token_until_the_first_finishes(
    client, backend: EmulatorBackend
):
    # Given an update of a bucket that takes 60 s
    backend.set_lifecycle(BUCKET, Lifecycle.succeed(60))
    first = client.update_resource(TypeName=BUCKET, Identifier="b1", PatchDocument=PATCH)
    token = first["ProgressEvent"]["RequestToken"]

    # When a second update of the same bucket is sent while the first is IN_PROGRESS
    code, status, message = _refusal(
        client.update_resource, TypeName=BUCKET, Identifier="b1", PatchDocument=PATCH
    )

    # Then it is refused, naming the resource and the blocking request, and starts nothing
    assert (code, status) == ("ConcurrentOperationException", 400)
    assert message == (
        f"Concurrent operation found for resource b1 of type {BUCKET} with RequestToken {token}"
    )
    assert MESSAGE_WITH_TOKEN.fullmatch(message)
    assert len(backend.snapshot().requests) == 1
    # botocore maps it to its modelled exception class
    with pytest.raises(client.exceptions.ConcurrentOperationException):
        client.delete_resource(TypeName=BUCKET, Identifier="b1")

    # And another resource of the type is not blocked
    client.update_resource(TypeName=BUCKET, Identifier="b2", PatchDocument=PATCH)

    # And once the first update has finished, the write succeeds
    backend.clock.advance(60)
    second = client.update_resource(TypeName=BUCKET, Identifier="b1", PatchDocument=PATCH)
    assert second["ProgressEvent"]["OperationStatus"] == "IN_PROGRESS"


def test_without_token_mode_leaves_the_token_out(client, backend: EmulatorBackend):
    backend.configure(conflict_message="without-token")
    backend.set_lifecycle("*", Lifecycle.stuck())
    client.delete_resource(TypeName=BUCKET, Identifier="b1")

    code, status, message = _refusal(
        client.update_resource, TypeName=BUCKET, Identifier="b1", PatchDocument=PATCH
    )

    assert (code, status) == ("ConcurrentOperationException", 400)
    assert message == f"Concurrent operation found for resource b1 of type {BUCKET}"


@pytest.mark.parametrize("blocking_status", ["PENDING", "IN_PROGRESS", "CANCEL_IN_PROGRESS"])
def test_every_active_status_blocks_and_finished_ones_do_not(
    client, backend: EmulatorBackend, blocking_status: str
):
    # Given a request on the resource in an active status
    backend.set_lifecycle(
        "*", Lifecycle.stuck("PENDING" if blocking_status == "PENDING" else "IN_PROGRESS")
    )
    token = client.delete_resource(TypeName=BUCKET, Identifier="b1")["ProgressEvent"][
        "RequestToken"
    ]
    if blocking_status == "CANCEL_IN_PROGRESS":
        client.cancel_resource_request(RequestToken=token)

    # Then a write is refused
    assert _refusal(client.delete_resource, TypeName=BUCKET, Identifier="b1")[0] == (
        "ConcurrentOperationException"
    )

    # And once the request is finished (here: cancelled and complete) it is not
    if blocking_status != "CANCEL_IN_PROGRESS":
        client.cancel_resource_request(RequestToken=token)
    backend.clock.advance(backend.config.cancel_complete_after_seconds)
    assert backend.request(token).status == "CANCEL_COMPLETE"
    client.delete_resource(TypeName=BUCKET, Identifier="b1")


def test_a_seeded_stuck_request_blocks_writes_on_its_resource(client, backend: EmulatorBackend):
    (token,) = backend.seed(1, status="IN_PROGRESS", age_seconds=7200, identifier_prefix="seed-")
    identifier = backend.request(token).identifier

    message = _refusal(client.delete_resource, TypeName=BUCKET, Identifier=identifier)[2]

    assert message.endswith(f"with RequestToken {token}")


def test_a_create_conflicts_only_when_desired_state_names_a_known_identifier(
    client, backend: EmulatorBackend
):
    # Given a stuck create of a bucket whose name the emulator knows is its identifier
    backend.set_lifecycle("*", Lifecycle.stuck())
    state = json.dumps({"BucketName": "my-bucket"})
    first = client.create_resource(TypeName=BUCKET, DesiredState=state)["ProgressEvent"]
    assert first["Identifier"] == "my-bucket"

    # Then a second create of the same name, an update and a delete are all refused
    assert _refusal(client.create_resource, TypeName=BUCKET, DesiredState=state)[2].endswith(
        first["RequestToken"]
    )
    for call, params in (
        (client.update_resource, {"PatchDocument": PATCH}),
        (client.delete_resource, {}),
    ):
        code = _refusal(call, TypeName=BUCKET, Identifier="my-bucket", **params)[0]
        assert code == "ConcurrentOperationException"

    # And creates the emulator cannot place never conflict (no name, or an unknown type)
    one = client.create_resource(TypeName=BUCKET, DesiredState="{}")["ProgressEvent"]
    two = client.create_resource(TypeName=BUCKET, DesiredState="{}")["ProgressEvent"]
    assert one["Identifier"] != two["Identifier"]
    queue = json.dumps({"QueueName": "q"})
    client.create_resource(TypeName="AWS::SQS::Queue", DesiredState=queue)
    client.create_resource(TypeName="AWS::SQS::Queue", DesiredState=queue)

    # And a retry with the same ClientToken still gets the first request back
    again = client.create_resource(TypeName=BUCKET, DesiredState="{}", ClientToken="c-1")
    same = client.create_resource(TypeName=BUCKET, DesiredState="{}", ClientToken="c-1")
    assert again["ProgressEvent"]["RequestToken"] == same["ProgressEvent"]["RequestToken"]


def test_identifier_properties_is_a_knob(client, backend: EmulatorBackend):
    backend.configure(identifier_properties={"AWS::SQS::*": "QueueName"})
    backend.set_lifecycle("*", Lifecycle.stuck())
    event = client.create_resource(TypeName="AWS::SQS::Queue", DesiredState='{"QueueName": "q"}')
    assert event["ProgressEvent"]["Identifier"] == "q"
    bucket = client.create_resource(TypeName=BUCKET, DesiredState='{"BucketName": "b"}')
    assert bucket["ProgressEvent"]["Identifier"].startswith("emulated-")


def test_conflicts_allow_turns_the_check_off(client, backend: EmulatorBackend):
    backend.configure(conflicts="allow")
    backend.set_lifecycle("*", Lifecycle.stuck())
    for _ in range(2):
        client.delete_resource(TypeName=BUCKET, Identifier="b1")
    assert len(backend.snapshot().requests) == 2


# ---------------------------------------------------------------------------------- leftovers
@pytest.mark.parametrize("leaves", ["nothing", "resource", {"AWS::S3::*": "resource"}])
def test_what_a_cancelled_create_leaves(client, backend: EmulatorBackend, leaves):
    # Given a stuck create, and the knob set
    backend.configure(cancelled_create_leaves=leaves)
    backend.set_lifecycle("*", Lifecycle.stuck())
    state = json.dumps({"BucketName": "half", "Secret": "x"})
    token = client.create_resource(TypeName=BUCKET, DesiredState=state)["ProgressEvent"][
        "RequestToken"
    ]

    # While it runs and while its cancel runs, there is no resource yet
    assert _refusal(client.get_resource, TypeName=BUCKET, Identifier="half")[:2] == (
        "ResourceNotFoundException",
        400,
    )
    client.cancel_resource_request(RequestToken=token)
    assert _refusal(client.get_resource, TypeName=BUCKET, Identifier="half")[0] == (
        "ResourceNotFoundException"
    )

    # When the cancel completes
    backend.clock.advance(backend.config.cancel_complete_after_seconds)

    # Then GetResource (and ListResources) answer as the mode says
    if leaves == "nothing":
        code, status, _ = _refusal(client.get_resource, TypeName=BUCKET, Identifier="half")
        assert (code, status) == ("ResourceNotFoundException", 400)
        assert client.list_resources(TypeName=BUCKET)["ResourceDescriptions"] == []
    else:
        got = client.get_resource(TypeName=BUCKET, Identifier="half")
        assert got["ResourceDescription"] == {"Identifier": "half", "Properties": "{}"}
        assert client.list_resources(TypeName=BUCKET)["ResourceDescriptions"] == [
            {"Identifier": "half", "Properties": "{}"}
        ]
        # and a delete of the leftover makes it go away
        backend.set_lifecycle("*", None)
        client.delete_resource(TypeName=BUCKET, Identifier="half")
        backend.clock.advance(5)
        assert _refusal(client.get_resource, TypeName=BUCKET, Identifier="half")[0] == (
            "ResourceNotFoundException"
        )


def test_a_per_type_leftover_mode_leaves_other_types_clean(client, backend: EmulatorBackend):
    backend.configure(cancelled_create_leaves={"AWS::Logs::*": "resource"})
    backend.set_lifecycle("*", Lifecycle.stuck())
    bucket = client.create_resource(TypeName=BUCKET, DesiredState='{"BucketName": "b"}')
    logs = client.create_resource(
        TypeName="AWS::Logs::LogGroup", DesiredState='{"LogGroupName": "/g"}'
    )
    for started in (bucket, logs):
        client.cancel_resource_request(RequestToken=started["ProgressEvent"]["RequestToken"])
    backend.clock.advance(60)

    assert client.get_resource(TypeName="AWS::Logs::LogGroup", Identifier="/g")
    assert _refusal(client.get_resource, TypeName=BUCKET, Identifier="b")[0] == (
        "ResourceNotFoundException"
    )


def test_a_cancelled_update_or_delete_leaves_the_resource_as_it_was(
    client, backend: EmulatorBackend
):
    backend.configure(cancelled_create_leaves="resource")
    backend.set_lifecycle(BUCKET, Lifecycle.succeed(1))
    client.create_resource(TypeName=BUCKET, DesiredState='{"BucketName": "b", "A": 1}')
    backend.clock.advance(1)
    backend.set_lifecycle(BUCKET, Lifecycle.stuck())
    for call, params in (
        (client.update_resource, {"PatchDocument": PATCH}),
        (client.delete_resource, {}),
    ):
        token = call(TypeName=BUCKET, Identifier="b", **params)["ProgressEvent"]["RequestToken"]
        client.cancel_resource_request(RequestToken=token)
        backend.clock.advance(60)
        got = client.get_resource(TypeName=BUCKET, Identifier="b")["ResourceDescription"]
        assert json.loads(got["Properties"]) == {"BucketName": "b", "A": 1}


# ---------------------------------------------------------------------------------- CloudTrail
def test_refused_call_event_has_cloudtrails_shape():
    event = refused_call_event(
        "UpdateResource",
        BUCKET,
        "b1",
        "Concurrent operation found for resource b1 of type AWS::S3::Bucket with RequestToken t",
        "arn:aws:sts::123456789012:assumed-role/Deployer/pipeline",
        "aws-cli/2.15",
        1_700_000_000,
    )
    assert {k: event[k] for k in ("version", "detail-type", "source", "resources")} == {
        "version": "0",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.cloudcontrolapi",
        "resources": [],
    }
    assert event["time"] == "2023-11-14T22:13:20Z"
    detail = event["detail"]
    assert detail["eventSource"] == "cloudcontrolapi.amazonaws.com"
    assert detail["eventName"] == "UpdateResource"
    assert detail["errorCode"] == "ConcurrentOperationException"
    assert detail["errorMessage"].endswith("with RequestToken t")
    assert detail["userIdentity"]["type"] == "AssumedRole"
    assert detail["userIdentity"]["arn"].endswith("assumed-role/Deployer/pipeline")
    assert detail["userIdentity"]["sessionContext"]["sessionIssuer"]["userName"] == "Deployer"
    assert detail["requestParameters"] == {
        "typeName": BUCKET,
        "identifier": "b1",
        "patchDocument": "HIDDEN_DUE_TO_SECURITY_REASONS",
    }
    assert detail["responseElements"] is None
    assert (detail["eventType"], detail["readOnly"], detail["eventCategory"]) == (
        "AwsApiCall",
        False,
        "Management",
    )
    assert json.loads(json.dumps(event)) == event


def test_accepted_call_event_carries_the_progress_event_camel_cased_without_the_model():
    progress = {
        "TypeName": BUCKET,
        "Identifier": "b1",
        "RequestToken": "tok",
        "Operation": "CREATE",
        "OperationStatus": "IN_PROGRESS",
        "EventTime": 1_700_000_000.0,
        "ResourceModel": '{"Secret": "s3cr3t"}',
    }
    event = accepted_call_event("CreateResource", BUCKET, None, progress, event_time=1_700_000_000)
    detail = event["detail"]
    assert "errorCode" not in detail
    assert detail["requestParameters"] == {
        "typeName": BUCKET,
        "desiredState": "HIDDEN_DUE_TO_SECURITY_REASONS",
    }
    assert detail["responseElements"]["progressEvent"]["requestToken"] == "tok"
    assert detail["responseElements"]["progressEvent"]["eventTime"] == "2023-11-14T22:13:20Z"
    assert "s3cr3t" not in json.dumps(event)


def test_the_emulator_records_each_write_call_when_asked(emulator, client, backend):
    # Off by default
    backend.set_lifecycle("*", Lifecycle.stuck())
    client.delete_resource(TypeName=BUCKET, Identifier="quiet")
    assert backend.cloudtrail_events() == []

    # When recording is on and a write is accepted, then one is refused
    backend.configure(record_cloudtrail=True)
    started = client.update_resource(TypeName=BUCKET, Identifier="b1", PatchDocument=PATCH)
    token = started["ProgressEvent"]["RequestToken"]
    _refusal(client.delete_resource, TypeName=BUCKET, Identifier="b1")
    client.get_resource_request_status(RequestToken=token)  # reads are not recorded

    # Then both are recorded, in order, with the caller's user agent
    accepted, refused = backend.cloudtrail_events()
    assert accepted["detail"]["responseElements"]["progressEvent"]["requestToken"] == token
    assert accepted["detail"]["userAgent"].startswith("Boto3/")
    assert refused["detail"]["eventName"] == "DeleteResource"
    assert refused["detail"]["errorCode"] == "ConcurrentOperationException"
    assert refused["detail"]["errorMessage"].endswith(f"with RequestToken {token}")
    assert refused["detail"]["requestParameters"] == {"typeName": BUCKET, "identifier": "b1"}

    # And the HTTP control plane serves the same list
    assert len(_control(emulator.endpoint_url, "/_emulator/cloudtrail")["events"]) == 2


def test_conflict_knobs_are_set_over_http(emulator, backend: EmulatorBackend):
    answered = _control(
        emulator.endpoint_url,
        "/_emulator/config",
        {
            "conflict_message": "without-token",
            "cancelled_create_leaves": {"AWS::S3::*": "resource"},
            "record_cloudtrail": True,
        },
    )
    assert answered["conflict_message"] == "without-token"
    assert answered["cancelled_create_leaves"] == {"AWS::S3::*": "resource"}
    assert backend.config.record_cloudtrail is True
    backend.reset()
    assert backend.config.conflict_message == "with-token"
    assert backend.config.cancelled_create_leaves == "nothing"
    assert backend.config.record_cloudtrail is False


# ---------------------------------------------------------------------------------- AWS CLI
# The venv's CLI first (it is installed there), else one on PATH.
AWS_CLI = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws")


@pytest.mark.skipif(AWS_CLI is None, reason="the AWS CLI is not installed")
def test_the_aws_cli_sees_the_conflict(emulator, backend: EmulatorBackend, tmp_path):
    backend.set_lifecycle("*", Lifecycle.stuck())
    env = {
        "PATH": str(Path(str(AWS_CLI)).parent) + ":/usr/bin:/bin",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        "HOME": str(tmp_path),
    }
    base = [str(AWS_CLI), "cloudcontrol", "--endpoint-url", emulator.endpoint_url]
    args = ["delete-resource", "--type-name", BUCKET, "--identifier", "cli-1"]
    first = subprocess.run(
        [*base, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert first.returncode == 0, first.stderr
    token = json.loads(first.stdout)["ProgressEvent"]["RequestToken"]

    second = subprocess.run(
        [*base, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )

    assert second.returncode != 0
    assert "ConcurrentOperationException" in second.stderr
    assert f"with RequestToken {token}" in second.stderr
