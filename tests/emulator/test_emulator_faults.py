"""Throttling above the configured rate, injected faults, and what botocore makes of them."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError
from botocore.retries.standard import ExponentialBackoff
from ccapi_emulator.ratelimit import OPERATION_FAMILIES, RateLimiter


def _code(call, **params) -> tuple[str, int] | None:
    """The error code and HTTP status of a call, or None if it succeeded."""
    try:
        call(**params)
    except ClientError as error:
        return error.response["Error"]["Code"], error.response["ResponseMetadata"]["HTTPStatusCode"]
    return None


class _FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_family_bucket_admits_its_rate_and_families_do_not_share_it():
    # Given 25 calls/s per family and a clock that stands still
    fake = _FakeTime()
    limiter = RateLimiter(family_rate=25, account_rate=None, now=fake)

    # When 30 status calls come at once, Then 25 pass
    assert sum(limiter.admit("GetResourceRequestStatus") for _ in range(30)) == 25
    # And cancels, another family, still have their own 25
    assert sum(limiter.admit("CancelResourceRequest") for _ in range(30)) == 25
    # And 0.2 s later 5 more status calls pass
    fake.now = 0.2
    assert sum(limiter.admit("GetResourceRequestStatus") for _ in range(30)) == 5


def test_the_account_bucket_is_shared_by_every_operation():
    fake = _FakeTime()
    limiter = RateLimiter(family_rate=None, account_rate=200, now=fake)
    operations = list(OPERATION_FAMILIES) * 50
    assert sum(limiter.admit(op) for op in operations) == 200
    fake.now = 0.5
    assert sum(limiter.admit(op) for op in operations) == 100


def test_a_throttled_call_spends_no_token():
    # Given 1 cancel/s and 3 calls/s for the account
    limiter = RateLimiter(family_rate=1, account_rate=3, now=_FakeTime())

    # When a second cancel is refused by its family bucket
    assert limiter.admit("CancelResourceRequest")
    assert not limiter.admit("CancelResourceRequest")

    # Then the account bucket still holds the 2 tokens the refused call did not take
    status_calls = [limiter.admit("GetResourceRequestStatus") for _ in range(3)]
    assert status_calls == [True, False, False]
    assert limiter.admit("ListResourceRequests")


def test_calls_above_the_configured_rate_get_throttling_exception(client, backend):
    # Given a bucket of 10 status calls that refills one call every 10 s (the refill rate itself
    # is pinned on a fake clock above; a slow refill keeps this test off the wall clock)
    [token] = backend.seed(1)
    started = time.monotonic()
    backend.configure(rate_per_second=0.1, burst_seconds=100)

    # When 30 calls come back to back
    outcomes = [_code(client.get_resource_request_status, RequestToken=token) for _ in range(30)]
    elapsed = time.monotonic() - started

    # Then the first 10 pass, and after them only what the refill allows (none unless the 30
    # calls took 10 s or more); the rest get AWS's 400 ThrottlingException, all counted
    passed = outcomes.count(None)
    assert outcomes[:10] == [None] * 10
    assert passed <= 10 + int(0.1 * elapsed)
    assert set(outcomes[10:]) <= {None, ("ThrottlingException", 400)}
    snapshot = backend.snapshot()
    assert snapshot.throttled == 30 - passed > 0
    assert snapshot.throttled_by_operation == {"GetResourceRequestStatus": snapshot.throttled}
    assert snapshot.calls["GetResourceRequestStatus"] == 30


def test_rate_none_disables_throttling(client, backend):
    backend.configure(rate_per_second=None, account_rate_per_second=None)
    assert all(client.list_resource_requests(MaxResults=1) for _ in range(60))
    assert backend.snapshot().throttled == 0


def test_an_account_wide_rate_throttles_all_operations_together(client, backend):
    # Given no family limit but an account bucket of 2 calls that refills one every 50 s
    [token] = backend.seed(1)
    started = time.monotonic()
    backend.configure(rate_per_second=None, account_rate_per_second=0.02, burst_seconds=100)

    # When three status calls and then three list calls come at once
    outcomes = [_code(client.get_resource_request_status, RequestToken=token) for _ in range(3)]
    outcomes += [_code(client.list_resource_requests) for _ in range(3)]
    refills = int(0.02 * (time.monotonic() - started))  # 0 unless the six calls took 50 s

    # Then the status calls spent the account's 2 tokens, so the list calls were throttled
    # although no limit was set on their own family
    assert outcomes[:2] == [None, None]
    assert outcomes.count(None) <= 2 + refills
    assert backend.snapshot().throttled_by_operation["ListResourceRequests"] >= 3 - refills


@pytest.mark.parametrize(
    ("knob", "operation", "expected"),
    [
        ("throttle_probability", "ListResourceRequests", ("ThrottlingException", 400)),
        ("internal_failure_probability", "ListResourceRequests", ("InternalFailure", 500)),
        (
            "concurrent_modification_probability",
            "CancelResourceRequest",
            ("ConcurrentModificationException", 500),
        ),
    ],
)
def test_each_fault_can_be_injected(client, backend, knob, operation, expected):
    # Given a fault that always happens
    [token] = backend.seed(1, status="IN_PROGRESS")
    backend.configure(**{knob: 1.0})

    # When the call is made
    if operation == "CancelResourceRequest":
        outcome = _code(client.cancel_resource_request, RequestToken=token)
    else:
        outcome = _code(client.list_resource_requests)

    # Then it fails with AWS's code and status, and nothing changed
    assert outcome == expected
    assert backend.request(token).status == "IN_PROGRESS"
    assert backend.snapshot().cancelled == []


def test_concurrent_modification_is_only_injected_into_cancels(client, backend):
    backend.configure(concurrent_modification_probability=1.0)
    assert _code(client.list_resource_requests) is None


def test_botocore_retries_server_faults_and_throttles(backend, client_factory, monkeypatch):
    # Given faults on about half the calls, and a client with botocore's standard retries
    # (without its back-off sleeps, which only make the test slow)
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.0)
    backend.configure(internal_failure_probability=0.3, throttle_probability=0.2)
    retrying = client_factory(retries={"mode": "standard", "max_attempts": 10})
    tokens = backend.seed(20, status="IN_PROGRESS")

    # When every request is cancelled
    for token in tokens:
        retrying.cancel_resource_request(RequestToken=token)

    # Then all got through, after retries the emulator counted
    snapshot = backend.snapshot()
    assert sorted(snapshot.cancelled) == sorted(tokens)
    retried = snapshot.throttled + snapshot.faults.get("InternalFailure", 0)
    assert retried > 0
    assert snapshot.calls["CancelResourceRequest"] == 20 + retried


def test_latency_is_added_to_every_call(client, backend):
    backend.configure(latency_ms=80)
    started = time.perf_counter()
    client.list_resource_requests()
    assert time.perf_counter() - started >= 0.08
