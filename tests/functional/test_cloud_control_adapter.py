"""Given the emulator speaking Cloud Control's protocol, the adapter reads, cancels and lists
requests, maps errors to domain errors and rate-limits every attempt."""

from __future__ import annotations

import time

import boto3
import pytest
from botocore.config import Config
from reaper.adapters.cloud_control import CloudControlAdapter
from reaper.errors import CloudControlError, RequestNotFound
from reaper.models import ACTIVE_STATUSES, CANCEL_STATUSES, Status
from reaper.ratelimit import TokenBucket
from reaper.wiring import build_clients


@pytest.fixture
def adapter(stack, emulator) -> CloudControlAdapter:
    # Endpoints come from AWS_ENDPOINT_URL_CLOUDCONTROL, as in Lambda.
    return CloudControlAdapter(build_clients().cloud_control, TokenBucket(500))


def test_get_status_maps_the_progress_event_and_drops_the_resource_model(adapter, emulator):
    (token,) = emulator.seed(
        1,
        type_name="AWS::SQS::Queue",
        operation="UPDATE",
        age_seconds=600,
        resource_model='{"Password": "hunter2"}',
    )
    request = adapter.get_status(token)
    assert (request.token, request.type_name, request.operation) == (
        token,
        "AWS::SQS::Queue",
        "UPDATE",
    )
    assert request.status is Status.IN_PROGRESS and request.identifier
    assert 590 <= (emulator.clock.now() - request.event_time.timestamp()) <= 610
    assert "hunter2" not in repr(request)


def test_an_unknown_token_is_request_not_found(adapter):
    with pytest.raises(RequestNotFound):
        adapter.get_status("never-issued")
    with pytest.raises(RequestNotFound):
        adapter.cancel("never-issued")


def test_cancel_moves_an_active_request_to_cancel_and_leaves_a_finished_one(adapter, emulator):
    (active,) = emulator.seed(1, status="PENDING")
    (done,) = emulator.seed(1, status="SUCCESS")
    assert adapter.cancel(active).status is Status.CANCEL_IN_PROGRESS
    assert adapter.cancel(done).status is Status.SUCCESS
    assert emulator.snapshot().cancelled == [active]


def test_list_pages_by_hundred_and_filters_by_status(adapter, emulator):
    active = set(emulator.seed(230, status="IN_PROGRESS")) | set(
        emulator.seed(20, status="PENDING")
    )
    emulator.seed(40, status="SUCCESS")
    pages = list(adapter.list_requests(ACTIVE_STATUSES))
    assert [len(p) for p in pages] == [100, 100, 50]
    assert {r.token for p in pages for r in p} == active
    assert emulator.snapshot().calls["ListResourceRequests"] == 3
    assert list(adapter.list_requests(CANCEL_STATUSES)) == [[]]


def test_throttling_is_retried_counted_and_then_a_domain_error(adapter, emulator):
    emulator.configure(throttle_probability=1.0)
    (token,) = emulator.seed(1)
    before = adapter.throttled_calls()
    with pytest.raises(CloudControlError) as caught:
        adapter.get_status(token)
    assert caught.value.code == "ThrottlingException"
    # botocore's standard mode retried it (2 attempts in tests): each attempt counted.
    assert adapter.throttled_calls() - before == 2
    assert emulator.snapshot().calls["GetResourceRequestStatus"] == 2


def test_concurrent_modification_is_a_retried_server_error(adapter, emulator):
    emulator.configure(concurrent_modification_probability=1.0)
    (token,) = emulator.seed(1)
    with pytest.raises(CloudControlError) as caught:
        adapter.cancel(token)
    assert caught.value.code == "ConcurrentModificationException"
    assert emulator.snapshot().calls["CancelResourceRequest"] == 2


def test_a_call_slower_than_the_read_timeout_is_a_domain_error(stack, emulator_server, emulator):
    client = boto3.client(
        "cloudcontrol",
        config=Config(
            read_timeout=0.3, connect_timeout=1, retries={"mode": "standard", "max_attempts": 1}
        ),
    )
    adapter = CloudControlAdapter(client, TokenBucket(100))
    emulator.configure(latency_ms=800)
    (token,) = emulator.seed(1)
    with pytest.raises(CloudControlError) as caught:
        adapter.get_status(token)
    assert caught.value.code == "ReadTimeoutError"


def test_every_attempt_waits_for_the_shared_token_bucket(stack, emulator):
    adapter = CloudControlAdapter(build_clients().cloud_control, TokenBucket(40))
    tokens = emulator.seed(21)
    start = time.monotonic()
    for token in tokens:
        adapter.get_status(token)
    # 21 calls at 40/s past a burst of 4: at least 0.4 s.
    assert time.monotonic() - start >= 0.4
