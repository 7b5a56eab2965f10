"""CloudFormation Hooks on Cloud Control requests: HooksRequestToken and HooksProgressEvent."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import botocore.session
import pytest
from ccapi_emulator import EmulatorBackend, EmulatorConfig, HookSpec, Lifecycle
from ccapi_emulator.__main__ import _config, _parser

BUCKET = "AWS::S3::Bucket"


def _control(url: str, path: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_hook_events_have_botocores_shape():
    model = botocore.session.get_session().get_service_model("cloudcontrol")
    output = model.operation_model("GetResourceRequestStatus").output_shape
    member = output.members["HooksProgressEvent"].member
    event = HookSpec().progress_event(started=1_700_000_000.0, now=1_700_000_001.0)
    assert set(event) <= set(member.members)
    assert set(member.members) - set(event) == {"HookStatusMessage"}  # only when set
    assert "HooksRequestToken" in model.shape_for("ProgressEvent").members


def test_hooks_are_off_by_default(client, backend: EmulatorBackend):
    started = client.create_resource(TypeName=BUCKET, DesiredState="{}")["ProgressEvent"]
    status = client.get_resource_request_status(RequestToken=started["RequestToken"])
    assert "HooksRequestToken" not in started
    assert "HooksProgressEvent" not in status
    assert EmulatorConfig().hooks == {}


def test_a_hooked_type_reports_its_hook_in_get_and_its_token_in_list(
    client, backend: EmulatorBackend
):
    # Given S3 requests that wait on a hook for good, other types none
    backend.configure(hooks={"AWS::S3::*": {"status": "HOOK_IN_PROGRESS", "after_seconds": None}})
    backend.set_lifecycle("*", Lifecycle.stuck())
    started = client.create_resource(TypeName=BUCKET, DesiredState="{}")["ProgressEvent"]
    other = client.create_resource(TypeName="AWS::SQS::Queue", DesiredState="{}")["ProgressEvent"]
    backend.clock.advance(3600)

    # Then the start answer carries a HooksRequestToken (a valid token, not the request's)
    hooks_token = started["HooksRequestToken"]
    assert hooks_token != started["RequestToken"]
    assert "HooksRequestToken" not in other

    # And Get answers the hook's progress, parsed by botocore
    status = client.get_resource_request_status(RequestToken=started["RequestToken"])
    assert status["ProgressEvent"]["HooksRequestToken"] == hooks_token
    (hook,) = status["HooksProgressEvent"]
    assert hook["HookStatus"] == "HOOK_IN_PROGRESS"
    assert hook["InvocationPoint"] == "PRE_PROVISION"
    assert hook["FailureMode"] == "FAIL"
    assert hook["HookTypeName"].count("::") == 2
    assert hook["HookTypeArn"].startswith("arn:aws:cloudformation:")
    assert hook["HookEventTime"].timestamp() == pytest.approx(backend.clock.now() - 3600)
    no_hook = client.get_resource_request_status(RequestToken=other["RequestToken"])
    assert "HooksProgressEvent" not in no_hook

    # And List summaries carry the HooksRequestToken but no hook events
    summaries = client.list_resource_requests()["ResourceRequestStatusSummaries"]
    by_token = {s["RequestToken"]: s for s in summaries}
    assert by_token[started["RequestToken"]]["HooksRequestToken"] == hooks_token
    assert "HooksRequestToken" not in by_token[other["RequestToken"]]

    # And Cancel's event keeps it too
    cancelled = client.cancel_resource_request(RequestToken=started["RequestToken"])
    assert cancelled["ProgressEvent"]["HooksRequestToken"] == hooks_token


def test_a_hook_moves_to_its_final_status_after_the_set_time(client, backend: EmulatorBackend):
    backend.configure(
        hooks={"AWS::S3::*": HookSpec(status="HOOK_PENDING", after_seconds=30, status_message="m")}
    )
    token = client.delete_resource(TypeName=BUCKET, Identifier="b")["ProgressEvent"]["RequestToken"]

    def hook_status() -> tuple[str, str]:
        (hook,) = client.get_resource_request_status(RequestToken=token)["HooksProgressEvent"]
        return hook["HookStatus"], hook["HookStatusMessage"]

    assert hook_status() == ("HOOK_PENDING", "m")
    backend.clock.advance(30)
    assert hook_status() == ("HOOK_COMPLETE_SUCCEEDED", "m")


def test_hooks_changed_later_do_not_touch_requests_already_started(
    client, backend: EmulatorBackend
):
    backend.configure(hooks={"*": {"status": "HOOK_FAILED"}})
    token = client.delete_resource(TypeName=BUCKET, Identifier="b")["ProgressEvent"]["RequestToken"]
    backend.configure(hooks=None)

    status = client.get_resource_request_status(RequestToken=token)

    assert status["HooksProgressEvent"][0]["HookStatus"] == "HOOK_FAILED"
    assert (
        backend.request(token).hooks_request_token == status["ProgressEvent"]["HooksRequestToken"]
    )


def test_seed_sets_a_hook_in_process_and_over_http(emulator, client, backend: EmulatorBackend):
    # Given requests seeded with a hook, directly and through the control plane
    (direct,) = backend.seed(1, hook=HookSpec(status="HOOK_IN_PROGRESS"), age_seconds=7200)
    (over_http,) = _control(
        emulator.endpoint_url,
        "/_emulator/seed",
        {"count": 1, "type_name": "AWS::Logs::LogGroup", "hook": {"status": "HOOK_PENDING"}},
    )["tokens"]
    (plain,) = backend.seed(1)

    # Then each reports its hook, and a request seeded without one has none
    for token, wanted in ((direct, "HOOK_IN_PROGRESS"), (over_http, "HOOK_PENDING")):
        status = client.get_resource_request_status(RequestToken=token)
        assert status["HooksProgressEvent"][0]["HookStatus"] == wanted
        assert status["ProgressEvent"]["HooksRequestToken"]
    assert "HooksProgressEvent" not in client.get_resource_request_status(RequestToken=plain)


def test_seed_follows_the_hooks_knob_when_given_no_hook(client, backend: EmulatorBackend):
    backend.configure(hooks={"AWS::RDS::*": {"status": "HOOK_COMPLETE_FAILED"}})
    (token,) = backend.seed(1, type_name="AWS::RDS::DBCluster")
    hook = client.get_resource_request_status(RequestToken=token)["HooksProgressEvent"][0]
    assert hook["HookStatus"] == "HOOK_COMPLETE_FAILED"


def test_hooks_are_set_over_http_and_a_bad_one_is_a_400(emulator, backend: EmulatorBackend):
    answered = _control(
        emulator.endpoint_url,
        "/_emulator/config",
        {"hooks": {"AWS::S3::*": {"status": "HOOK_IN_PROGRESS", "after_seconds": 60}}},
    )
    assert answered["hooks"]["AWS::S3::*"]["after_seconds"] == 60
    assert backend.config.hooks["AWS::S3::*"] == HookSpec(after_seconds=60)

    with pytest.raises(urllib.error.HTTPError) as raised:
        _control(emulator.endpoint_url, "/_emulator/config", {"hooks": {"*": {"status": "x"}}})
    assert raised.value.code == 400
    assert "hooks" in json.loads(raised.value.read())["error"]
    with pytest.raises(urllib.error.HTTPError):
        _control(emulator.endpoint_url, "/_emulator/seed", {"hook": {"colour": "red"}})


def test_command_line_flags_set_the_new_knobs():
    args = _parser().parse_args(
        [
            "--hook",
            "AWS::S3::*=HOOK_IN_PROGRESS:60",
            "--conflicts",
            "allow",
            "--conflict-message",
            "without-token",
            "--cancelled-create-leaves",
            "resource",
            "--record-cloudtrail",
        ]
    )
    config = _config(args)
    assert config.hooks == {"AWS::S3::*": HookSpec(status="HOOK_IN_PROGRESS", after_seconds=60)}
    assert (config.conflicts, config.conflict_message) == ("allow", "without-token")
    assert (config.cancelled_create_leaves, config.record_cloudtrail) == ("resource", True)
    defaults = _config(_parser().parse_args([]))
    assert (defaults.hooks, defaults.conflicts, defaults.record_cloudtrail) == ({}, "refuse", False)
