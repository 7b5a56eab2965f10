"""ListResourceRequests: filters, pages botocore's paginator walks, and speed at scale."""

from __future__ import annotations

from ccapi_emulator import Lifecycle


def _tokens(pages) -> list[str]:
    return [e["RequestToken"] for page in pages for e in page["ResourceRequestStatusSummaries"]]


def test_the_paginator_walks_several_pages_newest_first_without_repeats(client, backend):
    # Given 250 requests of different ages
    oldest = backend.seed(100, age_seconds=300)
    middle = backend.seed(100, age_seconds=200)
    newest = backend.seed(50, age_seconds=100)

    # When botocore's paginator lists them 40 at a time
    pages = list(
        client.get_paginator("list_resource_requests").paginate(PaginationConfig={"PageSize": 40})
    )

    # Then 7 pages hold every request once, newest first
    assert [len(p["ResourceRequestStatusSummaries"]) for p in pages] == [40] * 6 + [10]
    listed = _tokens(pages)
    assert len(listed) == len(set(listed)) == 250
    assert set(listed[:50]) == set(newest)
    assert set(listed[50:150]) == set(middle)
    assert set(listed[150:]) == set(oldest)
    assert "NextToken" not in pages[-1]


def test_without_max_results_a_page_holds_20(client, backend):
    backend.seed(25)
    first = client.list_resource_requests()
    assert len(first["ResourceRequestStatusSummaries"]) == 20
    second = client.list_resource_requests(NextToken=first["NextToken"])
    assert len(second["ResourceRequestStatusSummaries"]) == 5
    assert "NextToken" not in second


def test_filters_by_operations_and_statuses_across_pages(client, backend):
    # Given a mix of operations and statuses
    stuck_deletes = set(backend.seed(30, operation="DELETE", status="IN_PROGRESS"))
    backend.seed(30, operation="CREATE", status="IN_PROGRESS")
    backend.seed(30, operation="DELETE", status="SUCCESS")
    pending_updates = set(backend.seed(5, operation="UPDATE", status="PENDING"))

    # When filtered on operation and status, 7 to a page
    def listed(**status_filter) -> set[str]:
        paginator = client.get_paginator("list_resource_requests")
        pages = paginator.paginate(
            ResourceRequestStatusFilter=status_filter, PaginationConfig={"PageSize": 7}
        )
        return set(_tokens(pages))

    # Then only the matching requests come back
    assert listed(Operations=["DELETE"], OperationStatuses=["IN_PROGRESS"]) == stuck_deletes
    assert listed(OperationStatuses=["PENDING", "CANCEL_COMPLETE"]) == pending_updates
    assert len(listed(Operations=["DELETE", "UPDATE"])) == 65
    assert len(listed()) == 95


def test_the_status_filter_sees_statuses_as_they_are_now(client, backend):
    backend.set_lifecycle("AWS::S3::Bucket", Lifecycle.succeed(10))
    token = client.create_resource(TypeName="AWS::S3::Bucket", DesiredState="{}")["ProgressEvent"][
        "RequestToken"
    ]
    in_progress = {"OperationStatuses": ["IN_PROGRESS"]}
    summaries = client.list_resource_requests(ResourceRequestStatusFilter=in_progress)
    assert _tokens([summaries]) == [token]

    backend.clock.advance(10)

    summaries = client.list_resource_requests(ResourceRequestStatusFilter=in_progress)
    assert _tokens([summaries]) == []


def test_seeding_ten_thousand_gives_ten_thousand_distinct_listed_requests(backend):
    # Speed is measured by bench/emulator_bench.py, not asserted here (shared, noisy machines).
    tokens = backend.seed(10_000, status="IN_PROGRESS", age_seconds=7200)
    assert len(set(tokens)) == 10_000
    assert backend.snapshot().status_counts()["IN_PROGRESS"] == 10_000


def test_paging_through_twenty_thousand_requests_lists_each_once(client, backend):
    # Given 20,000 requests, of which the 100 stuck ones are the oldest
    stuck = set(backend.seed(100, status="IN_PROGRESS", age_seconds=7200))
    backend.seed(19_900, status="SUCCESS", age_seconds=60)

    # When all 20,000 are paged through 100 at a time, and the stuck ones found by filter
    paginator = client.get_paginator("list_resource_requests")
    everything = _tokens(paginator.paginate(PaginationConfig={"PageSize": 100}))
    found = _tokens(
        paginator.paginate(ResourceRequestStatusFilter={"OperationStatuses": ["IN_PROGRESS"]})
    )

    # Then every request is listed exactly once and the filter finds exactly the stuck ones
    # (paging speed is printed by bench/emulator_bench.py)
    assert len(everything) == len(set(everything)) == 20_000
    assert set(found) == stuck
