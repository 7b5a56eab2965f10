"""Given the default bus adapter, when PutEvents answers, partly fails or cannot be reached,
then entries go 10 a call, failed entries are put again, and an unreachable bus costs one call,
not one per batch (best effort never costs a sweep its time)."""

from __future__ import annotations

import threading
from typing import Any

from botocore.exceptions import EndpointConnectionError
from reaper.adapters.event_bus import DefaultBus


class FakeEvents:
    def __init__(self, fail_first_entry_once: bool = False, unreachable: bool = False) -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self.fail_first_entry_once = fail_first_entry_once
        self.unreachable = unreachable
        self._lock = threading.Lock()

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        with self._lock:
            self.calls.append(Entries)
            if self.unreachable:
                raise EndpointConnectionError(endpoint_url="https://events.example")
            if self.fail_first_entry_once:
                self.fail_first_entry_once = False
                return {"Entries": [{"ErrorCode": "InternalFailure"}] + [{}] * (len(Entries) - 1)}
        return {"Entries": [{"EventId": "e"}] * len(Entries)}


def entries(n: int) -> list[tuple[str, str]]:
    return [("Resource Request Cancelled", f'{{"n": {i}}}') for i in range(n)]


def test_entries_go_ten_a_call_with_the_reaper_source():
    fake = FakeEvents()
    assert DefaultBus(fake).put(entries(25)) == 0  # type: ignore[arg-type]
    assert sorted(len(c) for c in fake.calls) == [5, 10, 10]
    assert {e["Source"] for c in fake.calls for e in c} == {"cloudcontrol-reaper"}


def test_an_entry_putevents_reports_failed_is_put_again():
    fake = FakeEvents(fail_first_entry_once=True)
    assert DefaultBus(fake).put(entries(3)) == 0  # type: ignore[arg-type]
    assert [len(c) for c in fake.calls] == [3, 1]


def test_an_unreachable_bus_costs_one_call_and_is_left_alone_for_a_while():
    fake = FakeEvents(unreachable=True)
    now = [100.0]
    bus = DefaultBus(fake, monotonic=lambda: now[0])  # type: ignore[arg-type]
    assert bus.put(entries(1)) == 1
    assert bus.put(entries(95)) == 95  # paused: not one more call
    assert len(fake.calls) == 1
    now[0] += 61
    fake.unreachable = False
    assert bus.put(entries(2)) == 0  # tried again after the pause
