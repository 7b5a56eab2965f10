"""Many client threads at once see one consistent state and lose no update."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor


def test_racing_cancels_cancel_each_request_exactly_once(client, backend):
    # Given 100 stuck requests
    tokens = backend.seed(100, status="IN_PROGRESS", age_seconds=3600)

    # When 8 threads each cancel every one of them
    def cancel_all(_: int) -> list[str]:
        return [
            client.cancel_resource_request(RequestToken=t)["ProgressEvent"]["OperationStatus"]
            for t in tokens
        ]

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = [status for result in pool.map(cancel_all, range(8)) for status in result]

    # Then each request was cancelled once; every other cancel found it already cancelling
    snapshot = backend.snapshot()
    assert sorted(snapshot.cancelled) == sorted(tokens)
    assert len(snapshot.cancel_noops) == 7 * 100
    assert answers.count("CANCEL_IN_PROGRESS") == 8 * 100
    assert snapshot.calls == {"CancelResourceRequest": 8 * 100}
    assert snapshot.status_counts() == {"CANCEL_IN_PROGRESS": 100}


def test_concurrent_creates_are_all_kept_and_listed(client, backend):
    # When 16 threads create 25 resources each
    def create(worker: int) -> list[str]:
        return [
            client.create_resource(TypeName="AWS::SQS::Queue", DesiredState=f'{{"n": {worker}}}')[
                "ProgressEvent"
            ]["RequestToken"]
            for _ in range(25)
        ]

    with ThreadPoolExecutor(max_workers=16) as pool:
        created = {token for tokens in pool.map(create, range(16)) for token in tokens}

    # Then 400 distinct requests exist, and listing shows exactly those
    paginator = client.get_paginator("list_resource_requests")
    listed = [
        e["RequestToken"]
        for page in paginator.paginate(PaginationConfig={"PageSize": 100})
        for e in page["ResourceRequestStatusSummaries"]
    ]
    assert len(created) == 400
    assert sorted(listed) == sorted(created)
    assert backend.snapshot().calls["CreateResource"] == 400


def test_latency_overlaps_across_concurrent_calls(client, backend):
    # Given 100 ms per call
    backend.configure(latency_ms=100)

    # When 8 calls are made one after another, then 8 at once from 8 threads
    started = time.perf_counter()
    for _ in range(8):
        client.list_resource_requests()
    serial = time.perf_counter() - started
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: client.list_resource_requests(), range(8)))
    parallel = time.perf_counter() - started

    # Then the concurrent ones wait side by side: a ratio in one run, not a wall-clock bound
    assert serial >= 0.8
    assert parallel < serial / 2
