"""Modes for what the API reference leaves open: cursor, listing lag, finished cancel, TypeName.

Each mode is off by default; a test turns one on with ``backend.configure`` (or the HTTP control
plane, or a command-line flag) and shows, through a real boto3 client, what a client would see.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.retries.standard import ExponentialBackoff
from ccapi_emulator import EmulatorBackend, EmulatorConfig, Lifecycle
from ccapi_emulator.__main__ import main
from ccapi_emulator.config import ALTERNATE_MODES, RUNTIME_KNOBS

ACTIVE = {"OperationStatuses": ["PENDING", "IN_PROGRESS"]}
FINISHED = ("SUCCESS", "FAILED", "CANCEL_IN_PROGRESS", "CANCEL_COMPLETE")
MODE_KNOBS = (
    "cursor",
    "listing_lag_seconds",
    "finished_cancel",
    "missing_type_name",
    "missing_type_name_fraction",
)


def _control(url: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    method = "GET" if data is None else "POST"
    request = urllib.request.Request(url + path, data=data, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _listed(client, *statuses: str) -> list[str]:
    pages = client.get_paginator("list_resource_requests").paginate(
        ResourceRequestStatusFilter={"OperationStatuses": list(statuses)} if statuses else {}
    )
    return [e["RequestToken"] for p in pages for e in p["ResourceRequestStatusSummaries"]]


def _summaries(client) -> list[dict[str, Any]]:
    pages = client.get_paginator("list_resource_requests").paginate()
    return [e for p in pages for e in p["ResourceRequestStatusSummaries"]]


def _error(call, **params) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as raised:
        call(**params)
    error = raised.value.response
    return (
        error["Error"]["Code"],
        error["ResponseMetadata"]["HTTPStatusCode"],
        error["Error"]["Message"],
    )


# ---------------------------------------------------------------------------------- defaults
def test_every_mode_is_off_by_default_and_a_run_time_knob():
    config = EmulatorConfig()
    assert (
        config.cursor,
        config.listing_lag_seconds,
        config.finished_cancel,
        config.missing_type_name,
        config.missing_type_name_fraction,
    ) == ("opaque", 0.0, "status", "none", 1.0)
    assert set(MODE_KNOBS) <= RUNTIME_KNOBS
    for knobs in ALTERNATE_MODES:
        assert config.replace(**knobs) != config


# ---------------------------------------------------------------------------------- cursor
def _page_through_cancelling_page_one(client) -> list[str]:
    """List active requests 100 a page, cancelling every item of page 1 once it is read."""
    listed: list[str] = []
    params: dict[str, Any] = {"ResourceRequestStatusFilter": ACTIVE, "MaxResults": 100}
    for page_number in range(1, 10):
        page = client.list_resource_requests(**params)
        tokens = [e["RequestToken"] for e in page["ResourceRequestStatusSummaries"]]
        listed += tokens
        if page_number == 1:
            for token in tokens:
                client.cancel_resource_request(RequestToken=token)
        if "NextToken" not in page:
            return listed
        params["NextToken"] = page["NextToken"]
    raise AssertionError("the listing never ended")


@pytest.mark.parametrize(("cursor", "skipped"), [("opaque", 0), ("positional", 100)])
def test_cancelling_while_paging_skips_requests_only_with_a_positional_cursor(
    client, backend, cursor, skipped
):
    # Given 250 PENDING requests (newest first: newest[0] is listed first)
    backend.configure(cursor=cursor)
    newest = backend.seed(250, status="PENDING", age_seconds=3600)[::-1]

    # When a client pages through them 100 at a time, cancelling page 1 after reading it
    listed = _page_through_cancelling_page_one(client)

    # Then opaque cursors list every request once; positional ones skip the 100 that moved up
    # into the offsets page 1 had already covered (the second 100, newest first)
    assert len(listed) == len(set(listed)) == 250 - skipped
    assert set(newest) - set(listed) == set(newest[100 : 100 + skipped])
    assert listed[:100] == newest[:100]
    never_cancelled = set(newest[100:])
    assert backend.snapshot().status_counts()["PENDING"] == len(never_cancelled)


def test_a_positional_cursor_walks_an_unchanging_list_like_an_opaque_one(client, backend):
    backend.configure(cursor="positional")
    newest = backend.seed(250, status="PENDING", age_seconds=3600)[::-1]
    pages = list(
        client.get_paginator("list_resource_requests").paginate(PaginationConfig={"PageSize": 40})
    )
    assert [len(p["ResourceRequestStatusSummaries"]) for p in pages] == [40] * 6 + [10]
    assert [e["RequestToken"] for p in pages for e in p["ResourceRequestStatusSummaries"]] == newest


def test_a_cursor_from_the_other_mode_is_a_validation_error(client, backend):
    # Given a NextToken issued in opaque mode
    backend.seed(3)
    token = client.list_resource_requests(MaxResults=1)["NextToken"]

    # When the cursor mode changes mid-listing, Then the old token is refused
    backend.configure(cursor="positional")
    assert _error(client.list_resource_requests, MaxResults=1, NextToken=token)[:2] == (
        "ValidationException",
        400,
    )
    positional = client.list_resource_requests(MaxResults=1)["NextToken"]
    backend.configure(cursor="opaque")
    assert _error(client.list_resource_requests, NextToken=positional)[0] == "ValidationException"


# ---------------------------------------------------------------------------------- listing lag
def test_a_cancel_reaches_get_at_once_and_listings_only_after_the_lag(client, backend):
    # Given a listing that lags 30 s behind, and a PENDING request an hour old
    backend.configure(listing_lag_seconds=30, cancel_complete_after_seconds=5)
    [token] = backend.seed(1, status="PENDING", age_seconds=3600)

    # When it is cancelled
    client.cancel_resource_request(RequestToken=token)

    # Then Get sees the cancel at once, while listings still show it PENDING
    def status() -> str:
        event = client.get_resource_request_status(RequestToken=token)["ProgressEvent"]
        return event["OperationStatus"]

    assert status() == "CANCEL_IN_PROGRESS"
    assert _listed(client, "PENDING") == [token]
    assert _listed(client, "CANCEL_IN_PROGRESS", "CANCEL_COMPLETE") == []
    [summary] = _summaries(client)
    assert summary["OperationStatus"] == "PENDING"

    # And 29 s later Get says CANCEL_COMPLETE while listings still say PENDING
    backend.clock.advance(29)
    assert status() == "CANCEL_COMPLETE"
    assert _listed(client, "PENDING") == [token]

    # And once the clock passes the lag, listings catch up, a lag behind
    backend.clock.advance(2)
    assert _listed(client, "PENDING") == []
    assert _listed(client, "CANCEL_IN_PROGRESS") == [token]
    backend.clock.advance(5)
    assert _listed(client, "CANCEL_IN_PROGRESS") == []
    assert _listed(client, "CANCEL_COMPLETE") == [token]


def test_a_request_younger_than_the_lag_is_not_listed_yet(client, backend):
    # Given a 30 s lag and a request that succeeds 5 s after it starts
    backend.configure(listing_lag_seconds=30)
    backend.set_lifecycle("*", Lifecycle.succeed(5))
    started = client.create_resource(TypeName="AWS::S3::Bucket", DesiredState="{}")
    token = started["ProgressEvent"]["RequestToken"]

    # When it is listed at once, Then it is not there, though Get knows it
    assert _listed(client) == []
    assert client.get_resource_request_status(RequestToken=token)["ProgressEvent"]

    # And 30 s later it is listed as it was when it started, while Get says SUCCESS
    backend.clock.advance(30)
    [summary] = _summaries(client)
    assert (summary["RequestToken"], summary["OperationStatus"]) == (token, "IN_PROGRESS")
    assert (
        client.get_resource_request_status(RequestToken=token)["ProgressEvent"]["OperationStatus"]
        == "SUCCESS"
    )


def test_without_lag_a_cancel_leaves_the_active_listing_at_once(client, backend):
    [token] = backend.seed(1, status="PENDING", age_seconds=3600)
    client.cancel_resource_request(RequestToken=token)
    assert _listed(client, "PENDING", "IN_PROGRESS") == []
    assert _listed(client, "CANCEL_IN_PROGRESS") == [token]


# ---------------------------------------------------------------------------------- finished cancel
@pytest.mark.parametrize("status", FINISHED)
def test_finished_cancel_status_answers_200_with_the_unchanged_event(client, backend, status):
    [token] = backend.seed(1, status=status, age_seconds=60)
    event = client.cancel_resource_request(RequestToken=token)["ProgressEvent"]
    assert event["OperationStatus"] == status
    assert backend.snapshot().cancel_noops == [token]


@pytest.mark.parametrize("status", FINISHED)
def test_finished_cancel_concurrent_modification_is_a_500_botocore_retries(
    backend, client_factory, monkeypatch, status
):
    # Given the mode, and a client with botocore's standard retries (no back-off sleeps)
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.0)
    backend.configure(finished_cancel="concurrent-modification")
    retrying = client_factory(retries={"mode": "standard", "total_max_attempts": 3})
    [token] = backend.seed(1, status=status, age_seconds=60)

    # When a finished request is cancelled
    code, http_status, message = _error(retrying.cancel_resource_request, RequestToken=token)

    # Then it is the modelled ConcurrentModificationException, tried 3 times, and nothing changed
    assert (code, http_status) == ("ConcurrentModificationException", 500)
    assert status in message
    snapshot = backend.snapshot()
    assert snapshot.calls["CancelResourceRequest"] == 3
    assert snapshot.cancel_noops == [token] * 3
    assert snapshot.requests[token].status == status


@pytest.mark.parametrize("status", FINISHED)
def test_finished_cancel_invalid_request_is_a_400_not_in_the_model_and_not_retried(
    backend, client_factory, monkeypatch, status
):
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.0)
    backend.configure(finished_cancel="invalid-request")
    retrying = client_factory(retries={"mode": "standard", "total_max_attempts": 3})
    [token] = backend.seed(1, status=status, age_seconds=60)

    code, http_status, message = _error(retrying.cancel_resource_request, RequestToken=token)

    assert (code, http_status) == ("InvalidRequestException", 400)
    assert "only PENDING or IN_PROGRESS" in message
    modelled = retrying.meta.service_model.operation_model("CancelResourceRequest").error_shapes
    assert code not in {shape.name for shape in modelled}
    snapshot = backend.snapshot()
    assert snapshot.calls["CancelResourceRequest"] == 1
    assert snapshot.requests[token].status == status


@pytest.mark.parametrize("mode", ["status", "concurrent-modification", "invalid-request"])
def test_every_finished_cancel_mode_still_cancels_an_active_request(client, backend, mode):
    backend.configure(finished_cancel=mode)
    [token] = backend.seed(1, status="IN_PROGRESS")
    event = client.cancel_resource_request(RequestToken=token)["ProgressEvent"]
    assert event["OperationStatus"] == "CANCEL_IN_PROGRESS"
    assert backend.snapshot().cancelled == [token]


# ---------------------------------------------------------------------------------- TypeName
def _type_names_seen(client, token: str) -> dict[str, bool]:
    """Whether TypeName is present in the List summary, the Get event and the Cancel event."""
    [summary] = [e for e in _summaries(client) if e["RequestToken"] == token]
    got = client.get_resource_request_status(RequestToken=token)["ProgressEvent"]
    cancelled = client.cancel_resource_request(RequestToken=token)["ProgressEvent"]
    for event in (summary, got, cancelled):
        assert event["Identifier"]  # whatever the mode, the Identifier stays
    return {
        "list": "TypeName" in summary,
        "get": "TypeName" in got,
        "cancel": "TypeName" in cancelled,
    }


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("none", {"list": True, "get": True, "cancel": True}),
        ("list", {"list": False, "get": True, "cancel": True}),
        ("all", {"list": False, "get": False, "cancel": False}),
    ],
)
def test_missing_type_name_leaves_it_out_where_the_mode_says(client, backend, mode, expected):
    # Given the mode for every request, and a stuck request started through the API
    backend.configure(missing_type_name=mode, missing_type_name_fraction=1.0)
    backend.set_lifecycle("*", Lifecycle.stuck())
    created = client.create_resource(TypeName="AWS::SQS::Queue", DesiredState="{}")

    # Then CreateResource's answer names the type (the caller just sent it) ...
    assert created["ProgressEvent"]["TypeName"] == "AWS::SQS::Queue"
    # ... and List, Get and Cancel leave it out as the mode says
    assert _type_names_seen(client, created["ProgressEvent"]["RequestToken"]) == expected


@pytest.mark.parametrize("mode", ["list", "all"])
def test_missing_type_name_fraction_picks_the_same_requests_on_every_call(client, backend, mode):
    # Given half the requests losing their TypeName
    backend.configure(missing_type_name=mode, missing_type_name_fraction=0.5)
    tokens = backend.seed(200, type_name="AWS::S3::Bucket", age_seconds=60)

    # When they are listed twice and each is read with Get
    def untyped_in_list() -> set[str]:
        return {e["RequestToken"] for e in _summaries(client) if "TypeName" not in e}

    first, second = untyped_in_list(), untyped_in_list()
    untyped_in_get = {
        token
        for token in tokens
        if "TypeName" not in client.get_resource_request_status(RequestToken=token)["ProgressEvent"]
    }

    # Then some but not all lost it, the same ones each time, and Get agrees in mode "all"
    assert 0 < len(first) < 200
    assert first == second
    assert untyped_in_get == (first if mode == "all" else set())


def test_missing_type_name_fraction_zero_hides_nothing(client, backend):
    backend.configure(missing_type_name="all", missing_type_name_fraction=0.0)
    backend.seed(50)
    assert all(e["TypeName"] == "AWS::S3::Bucket" for e in _summaries(client))


# ---------------------------------------------------------------------------------- Identifier
def test_every_progress_event_carries_the_identifier(client, backend):
    # Given requests that stay IN_PROGRESS, so that each can still be read and cancelled
    backend.set_lifecycle("*", Lifecycle.stuck())
    created = client.create_resource(TypeName="AWS::S3::Bucket", DesiredState="{}")
    identifier = created["ProgressEvent"]["Identifier"]
    updated = client.update_resource(
        TypeName="AWS::S3::Bucket", Identifier="given-id", PatchDocument="[]"
    )
    # (another resource: a second write on given-id would be a ConcurrentOperationException)
    deleted = client.delete_resource(TypeName="AWS::S3::Bucket", Identifier="other-id")

    # Then the start, Get, List and Cancel events all carry the Identifier
    expected = {
        created["ProgressEvent"]["RequestToken"]: identifier,
        updated["ProgressEvent"]["RequestToken"]: "given-id",
        deleted["ProgressEvent"]["RequestToken"]: "other-id",
    }
    assert identifier
    assert updated["ProgressEvent"]["Identifier"] == "given-id"
    assert deleted["ProgressEvent"]["Identifier"] == "other-id"
    assert {e["RequestToken"]: e["Identifier"] for e in _summaries(client)} == expected
    for token, wanted in expected.items():
        got = client.get_resource_request_status(RequestToken=token)["ProgressEvent"]
        cancelled = client.cancel_resource_request(RequestToken=token)["ProgressEvent"]
        assert got["Identifier"] == cancelled["Identifier"] == wanted


# ---------------------------------------------------------------------------------- validation
BAD_VALUES = [
    ("cursor", "offset"),
    ("cursor", None),
    ("listing_lag_seconds", -1.0),
    ("listing_lag_seconds", float("inf")),
    ("listing_lag_seconds", float("nan")),
    ("listing_lag_seconds", "5"),
    ("listing_lag_seconds", True),
    ("finished_cancel", "error"),
    ("missing_type_name", "some"),
    ("missing_type_name_fraction", 1.5),
    ("missing_type_name_fraction", -0.1),
    ("conflicts", "ignore"),
    ("conflict_message", "short"),
    ("cancelled_create_leaves", "half"),
    ("cancelled_create_leaves", {"AWS::S3::*": "bucket"}),
    ("hooks", {"AWS::S3::*": {"status": "DONE"}}),
    ("hooks", {"AWS::S3::*": {"after_seconds": -1}}),
    ("record_cloudtrail", "yes"),
]


@pytest.mark.parametrize(("knob", "value"), BAD_VALUES)
def test_a_bad_mode_value_is_refused_when_made_and_when_configured(backend, knob, value):
    with pytest.raises(ValueError, match=knob):
        EmulatorConfig(**{knob: value})
    before = backend.config
    with pytest.raises(ValueError, match=knob):
        backend.configure(**{knob: value})
    assert backend.config == before


def test_modes_are_set_over_http_and_a_bad_one_is_a_400(emulator, backend: EmulatorBackend):
    # Given the emulator's control plane
    url = emulator.endpoint_url
    knobs = {
        "cursor": "positional",
        "listing_lag_seconds": 12.5,
        "finished_cancel": "invalid-request",
        "missing_type_name": "list",
        "missing_type_name_fraction": 0.25,
    }

    # When the modes are set over HTTP, Then the backend runs with them
    answered = _control(url, "/_emulator/config", knobs)
    assert {k: answered[k] for k in knobs} == knobs
    assert {k: getattr(backend.config, k) for k in knobs} == knobs

    # And a bad value is a 400 naming the knob, changing nothing
    with pytest.raises(urllib.error.HTTPError) as raised:
        _control(url, "/_emulator/config", {"finished_cancel": "explode"})
    assert raised.value.code == 400
    assert "finished_cancel" in json.loads(raised.value.read())["error"]
    assert backend.config.finished_cancel == "invalid-request"

    # And reset goes back to the defaults
    _control(url, "/_emulator/reset", {})
    assert backend.config.cursor == "opaque"
    assert backend.config.finished_cancel == "status"


# ---------------------------------------------------------------------------------- CLI
@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--cursor", "offset"], "--cursor"),
        (["--listing-lag-seconds", "-3"], "--listing-lag-seconds"),
        (["--listing-lag-seconds", "soon"], "--listing-lag-seconds"),
        (["--finished-cancel", "explode"], "--finished-cancel"),
        (["--missing-type-name", "some"], "--missing-type-name"),
        (["--missing-type-name-fraction", "2"], "--missing-type-name-fraction"),
    ],
)
def test_a_bad_mode_flag_is_one_line_and_exit_2(capsys, args, flag):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    [line] = err.splitlines()
    assert line.startswith(f"ccapi-emulator: error: argument {flag}")
    assert "Traceback" not in err


def test_a_value_only_the_config_refuses_is_one_line_too(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--burst-seconds", "0"])
    assert exit_info.value.code == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line == (
        "ccapi-emulator: error: latency_ms and cancel_complete_after_seconds must be >= 0, "
        "burst > 0 (see --help)"
    )


def test_the_mode_flags_reach_the_running_emulator():
    # Given the standalone emulator started with every mode flag
    command = [
        sys.executable,
        "-m",
        "ccapi_emulator",
        "--port",
        "0",
        "--cursor",
        "positional",
        "--listing-lag-seconds",
        "7.5",
        "--finished-cancel",
        "concurrent-modification",
        "--missing-type-name",
        "all",
        "--missing-type-name-fraction",
        "0.3",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline() if process.stdout else ""
        assert line.startswith("ccapi-emulator listening on http://"), line
        # When its config is read over HTTP
        config = _control(line.rsplit(" ", 1)[1].strip(), "/_emulator/state?requests=false")[
            "config"
        ]
    finally:
        process.terminate()
        process.wait(timeout=10)
    # Then every mode is in force
    assert {k: config[k] for k in MODE_KNOBS} == {
        "cursor": "positional",
        "listing_lag_seconds": 7.5,
        "finished_cancel": "concurrent-modification",
        "missing_type_name": "all",
        "missing_type_name_fraction": 0.3,
    }
