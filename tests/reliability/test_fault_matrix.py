"""Given a mixed workload (stale, fresh, long-running, excluded, terminal, unknown, malformed
and duplicated tokens) fed to the real handler through SQS batches and scheduled sweeps, under
each fault and under all at once, when the faults pass and the queue drains, then no token is
lost and none is wrongly cancelled (tests/reliability/scenarios.py; the table of the same runs:
``python -m bench.fault_matrix``)."""

from __future__ import annotations

from typing import Any

import pytest

from .scenarios import SCENARIOS, Scenario, run_scenario

# A sixth of them go through SQS (a few DynamoDB calls each), the rest only a sweep lists.
TOKENS = 1000
ACCOUNTABILITY = (
    "cancel latency beyond the client timeout",
    "Lambda timeout mid-sweep",
    "audit write fails at the end of a sweep",
)


@pytest.mark.slow
@pytest.mark.parametrize("chosen", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_nothing_is_lost_and_nothing_wrongly_cancelled(
    moto_endpoint: str, emulator_server: Any, chosen: Scenario
) -> None:
    row = run_scenario(moto_endpoint, emulator_server, chosen, TOKENS)
    assert row.tokens_in >= 1000
    if chosen.injects:
        assert row.injected > 0, "the fault never happened: the test would prove nothing"
    assert row.lost == 0, f"lost {row.lost}: {row.lost_tokens} ({row.counts})"
    assert row.wrongly_cancelled == 0, f"wrongly cancelled: {row.wrong_tokens}"
    assert row.duplicate_cancel_outcomes == 0
    assert row.pending_in_work_queue == 0
    if chosen.name == "request finishes between read and cancel":
        # The race did happen (under all faults at once the sweep that reads them may fail).
        assert row.counts.get("cancel found it finished", 0) > 0
    if chosen.name in ACCOUNTABILITY:
        # A cancel that happened shows in the audit as a cancel (or as Interrupted: sent, its
        # outcome unknown), even when its answer was lost or the invocation died.
        assert row.cancel_unaudited == 0, f"{row.cancel_unaudited} cancels the audit does not show"
    if chosen.dry_run or chosen.kill_switch:
        assert row.cancelled == 0
    if chosen.name == "no fault":
        # Every stale, allowed request is cancelled once and audited as a cancel.
        assert row.cancelled == TOKENS // 20 * 4 and row.cancel_unaudited == 0
