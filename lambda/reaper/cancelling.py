"""How a chosen request is cancelled: claim it with its decision written ahead (one write), ask
the gate, cancel, read what the answer means. Following to CANCEL_COMPLETE is ``following``'s."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from reaper.errors import CloudControlError, ReaperError, RequestNotFound, StoreError
from reaper.gate import Gate
from reaper.ledger import Ledger
from reaper.models import (
    ACTIVE_STATUSES,
    CANCEL_STATUSES,
    UNCONFIRMED,
    Decision,
    Delivery,
    Outcome,
    RequestStatus,
    Status,
    Taken,
)
from reaper.observability import logger
from reaper.run_state import (
    CLAIMED_ELSEWHERE,
    Chosen,
    RunState,
    failed,
    interrupted,
    is_interrupted,
    owner_of,
    parse_owner,
)
from reaper.sizing import LONGEST_INVOCATION

# What cancelling a chosen request gave: a decision, or the request itself when the deadline
# was too near to start (the caller hands it off or retries it).
Cancelled = Decision | RequestStatus


class Canceller:
    def __init__(self, run: RunState, gate: Gate, ledger: Ledger) -> None:
        self._run = run
        self._gate = gate
        self._ledger = ledger
        self._cc = run.ports.cloud_control

    def claim_and_cancel(self, chosen: Sequence[Chosen], delivery: Delivery) -> list[Cancelled]:
        """Claim each request with its decision written ahead (one conditional put each:
        the claim is the write-ahead), then cancel one by one, asking the gate right before
        each call.

        A request another live delivery holds the claim of comes back FAILED with
        ``ClaimedElsewhere`` (a token delivery retries it; a sweep leaves it to the holder,
        whose claim ends with its invocation). Nothing is cancelled that could not be
        written ahead: a write that fails fails its own token only."""
        if self._run.deadline.near():
            return [request for request, _, _ in chosen]
        run = self._run
        owner = owner_of(delivery.source, delivery.delivery_id)
        now = run.ports.clock.now()
        until = now + self.claim_time()
        results: list[Cancelled] = []
        ready: list[Decision] = []
        for request, first_seen, assessment in chosen:
            decision = run.seen(delivery, request, first_seen, assessment)
            ahead = {request.token: interrupted(decision)}
            try:
                held = run.ports.audit.claim_ahead([request.token], owner, now, until, ahead)
            except StoreError as exc:
                results.append(failed(decision, exc))
                continue
            taken = held.get(request.token)
            if taken is not None:
                done = self._done_by(taken, decision) if taken.before else []
                if done:
                    results += done
                else:
                    ready.append(decision)
                continue
            run.add("claimed_elsewhere")
            logger.info(
                "claimed by another delivery",
                extra={"token": request.token, "source": delivery.source.value},
            )
            results.append(
                decision.but(
                    outcome=Outcome.FAILED,
                    error_code=CLAIMED_ELSEWHERE,
                    error_message="another delivery holds the claim until its invocation ends",
                )
            )
        return [*results, *(self._cancel(d) for d in ready)]

    def _done_by(self, taken: Taken, decision: Decision) -> list[Decision]:
        """This claim replaced the ended claim of ``taken.before``, which may have cancelled
        the request (a listing can lag behind a cancel): one read says whether anything is
        left to cancel ([]: still active, go on). If that holder cancelled it and ended
        before recording it, its decision is settled here too: the cancel is recorded once,
        as its own."""
        before = taken.before or ""
        try:
            now = self._cc.get_status(decision.token)
        except RequestNotFound:
            return [decision.but(outcome=Outcome.NOT_FOUND)]
        except CloudControlError as exc:
            return [failed(decision, exc)]
        if now.status in ACTIVE_STATUSES:
            return []
        mine = decision.but(
            outcome=Outcome.TERMINAL,
            status_after=now.status,
            why=f"already {now.status.value} when claimed after {before}",
        )
        try:
            theirs = self._unrecorded_cancel_of(taken, decision.token)
        except StoreError as exc:
            return [failed(decision, exc)]
        if theirs is None or now.status not in CANCEL_STATUSES:
            return [mine]
        settled = outcome_of(theirs, now.status).but(
            error_code=None,
            error_message=None,
            decided_at=decision.decided_at,
            request_id=self._run.request_id,
        )
        return [mine, settled]

    def _unrecorded_cancel_of(self, taken: Taken, token: str) -> Decision | None:
        """The decision the earlier holder wrote ahead of (or lost the answer of) a cancel of
        this token and never replaced, if any: its recorded decision, else what its claim
        held written ahead (returned by the put that took the claim over). Raises
        StoreError."""
        key = parse_owner(taken.before or "")
        found = self._run.ports.audit.find_decision(token, *key) if key else None
        ahead = taken.ahead
        if ahead is not None and (
            found is None
            or (found.outcome is Outcome.FAILED and found.request_id != ahead.request_id)
        ):
            found = ahead
        return found if is_interrupted(found) else None

    def claim_time(self) -> timedelta:
        """A claim ends with its holder's invocation, never later."""
        left = self._run.deadline.seconds_left() + self._run.deadline.margin_seconds
        longest = LONGEST_INVOCATION.total_seconds()
        return timedelta(seconds=min(longest, max(1.0, left)))

    def _cancel(self, decision: Decision) -> Decision:
        """Cancel a claimed request whose decision was written ahead, if the gate still says
        so. A cancel whose answer is lost (a timeout) may still have been applied: one read
        tells what happened."""
        try:
            if not self._gate.may_cancel_now():
                return decision.but(outcome=Outcome.DEFERRED_KILL_SWITCH)
        except StoreError as exc:
            return failed(decision, exc)
        try:
            after = self._cc.cancel(decision.token)
        except RequestNotFound:
            return decision.but(outcome=Outcome.NOT_FOUND)
        except CloudControlError as exc:
            seen_after = self._status_or_none(decision.token)
            if seen_after is not None and seen_after.status not in ACTIVE_STATUSES:
                return outcome_of(decision, seen_after.status, cancel_error=exc.code)
            if exc.refused:
                return failed(decision, exc)
            # It may still land: recorded so that whoever reads it next records what happened
            # (a redelivery, a replay, the next sweep's reconciliation).
            return failed(decision, ReaperError(UNCONFIRMED, f"{exc.code}: {exc.message}"))
        return outcome_of(decision, after.status)

    def _status_or_none(self, token: str) -> RequestStatus | None:
        try:
            return self._cc.get_status(token)
        except (CloudControlError, RequestNotFound):
            return None


def outcome_of(decision: Decision, status: Status, cancel_error: str | None = None) -> Decision:
    """What a request's status after a cancel says happened. A cancel accepted while the
    request still reads PENDING/IN_PROGRESS is a cancel (followed like any other); only
    SUCCESS and FAILED mean it finished first, and nothing was cancelled."""
    if status is Status.CANCEL_COMPLETE:
        outcome = Outcome.CANCEL_COMPLETE
    elif status in CANCEL_STATUSES or status in ACTIVE_STATUSES:
        outcome = Outcome.CANCELLED
    else:
        outcome = Outcome.TERMINAL
    why = None
    if cancel_error and outcome is Outcome.TERMINAL:
        why = f"the cancel answered {cancel_error}: the request had finished ({status.value})"
    return decision.but(outcome=outcome, status_after=status, why=why or decision.why)
