"""Given a mixed workload (stale, fresh, long-running, excluded, terminal, unknown, malformed
and duplicated tokens) fed to the real handler through SQS batches and scheduled sweeps, under
each fault, each emulator mode and all at once, when the faults heal, the DLQ is replayed as an
operator's redrive would and one more sweep reconciles, then no token is lost, none is wrongly
cancelled, every cancel is recorded as one, none lands after the kill switch, and nothing
raises (``reaper_local.faults``; the table of the same runs: ``python -m bench.fault_matrix``).

One scenario alone: ``pytest tests/reliability/test_fault_matrix.py -k "kill switch engaged
mid-sweep"`` (or ``python -m bench.fault_matrix --tokens 600 --only "<name>"``).
"""

from __future__ import annotations

from typing import Any

import pytest
from reaper_local.faults import SCENARIOS, Scenario, run_scenario

# Smaller than the bench's 1,500: 25 rows must fit the suite's budget on 2 cores.
TOKENS = 600


@pytest.mark.slow
@pytest.mark.parametrize("chosen", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_every_token_ends_in_a_recorded_decision_and_nothing_is_wrongly_cancelled(
    moto_endpoint: str, emulator_server: Any, chosen: Scenario
) -> None:
    row = run_scenario(moto_endpoint, emulator_server, chosen, TOKENS)
    why = f"({row.counts})"
    # The guards: the workload reached the reaper, and the fault really happened.
    assert row.bodies_handled == row.bodies_sent > 0, f"bodies never handled {why}"
    assert not row.missing_evidence, f"the fault never happened: {row.missing_evidence} {why}"
    # The promises, after the DLQ replay.
    assert row.raised == 0, f"{row.raised} invocations raised after Lambda's retries {why}"
    assert row.lost == 0, f"lost {row.lost}: {row.lost_tokens} {why}"
    assert row.wrongly_cancelled == 0, f"wrongly cancelled: {row.wrong_tokens}"
    assert row.cancel_recorded_nowhere == 0, (
        f"{row.cancel_recorded_nowhere} cancels recorded nowhere "
        f"({row.replayed_as_terminal} replayed as terminal): {row.nowhere_tokens} {why}"
    )
    assert row.replayed_as_terminal == 0
    assert row.cancelled_after_kill_switch == 0, (
        f"{row.cancelled_after_kill_switch} cancels after the kill switch: {row.late_tokens}"
    )
    assert row.stopped_not_deferred == 0, "what the kill switch stopped is not deferred_kill_switch"
    assert row.duplicate_cancel_outcomes == 0
    assert row.pending_in_work_queue == 0
    if chosen.dry_run or chosen.kill_switch:
        assert row.cancelled == 0
    if chosen.name == "no fault":
        # Every stale, allowed request is cancelled once.
        assert row.cancelled == TOKENS // 20 * 4
