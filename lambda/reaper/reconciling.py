"""What an ended invocation left behind: decisions written ahead of a cancel (``Interrupted``),
or whose cancel's answer was lost (``CancelUnconfirmed``), never replaced by their outcome.

The sweep reconciles them once they are older than any live invocation (RECONCILE_AFTER):
one pass over the CANCEL_IN_PROGRESS and CANCEL_COMPLETE listings says which were cancelled
(however many there are); a request the sweep has just listed active decides itself later; a
Get each (at most RECONCILE_GETS a sweep) tells the rest. A cancel is credited to the write-
ahead only if no other delivery cancelled the request since (``settle_interrupted``).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from reaper.cancelling import outcome_of
from reaper.errors import CloudControlError, ReaperError, RequestNotFound, StoreError
from reaper.ledger import Ledger
from reaper.models import (
    ACTIVE_STATUSES,
    CANCEL_STATUSES,
    Decision,
    Outcome,
    Status,
)
from reaper.observability import logger
from reaper.ports import AuditStore
from reaper.run_state import RunState, failed, is_interrupted, owner_of, parse_owner
from reaper.sizing import RECONCILE_AFTER, RECONCILE_GETS, RECONCILE_SCAN

NOT_SENT = "CancelNotSent"


class Reconciler:
    def __init__(self, run: RunState, ledger: Ledger) -> None:
        self._run = run
        self._ledger = ledger
        self._cc = run.ports.cloud_control

    def reconcile(self, pool: ThreadPoolExecutor, active: set[str]) -> None:
        """``active``: the tokens this sweep listed PENDING/IN_PROGRESS."""
        before = self._run.ports.clock.now() - RECONCILE_AFTER
        # A request this sweep just listed active decides itself (its write-ahead is closed
        # by a later sweep): no call is spent on it.
        left = [
            d
            for d in self._run.ports.audit.interrupted(before, RECONCILE_SCAN)
            if d.token not in active
        ]
        if not left:
            return
        cancelled = self._cancel_statuses({d.token for d in left})
        found: list[Decision] = []
        to_read: list[Decision] = []
        for decision in left:
            status = cancelled.get(decision.token)
            if status is not None:
                found.append(self._settled(decision, status))
            else:
                to_read.append(decision)
        found += [d for d in pool.map(self._read, to_read[:RECONCILE_GETS]) if d is not None]
        found = [d for d in found if not is_interrupted(d)]
        self._run.add("reconciled", len(found))
        try:
            self._ledger.record(found)
        except StoreError as exc:  # they stay written ahead: the next sweep tries again
            logger.warning("reconciled decisions not recorded", extra={"error": exc.message})

    def _cancel_statuses(self, tokens: set[str]) -> dict[str, Status]:
        found: dict[str, Status] = {}
        for status in CANCEL_STATUSES:
            for page in self._cc.list_requests((status,)):
                found.update((r.token, r.status) for r in page if r.token in tokens)
        return found

    def _read(self, decision: Decision) -> Decision | None:
        try:
            status = self._cc.get_status(decision.token).status
        except RequestNotFound:
            return self._ended(decision).but(outcome=Outcome.NOT_FOUND)
        except CloudControlError:
            return None
        if status in ACTIVE_STATUSES:
            why = "the invocation ended before its cancel; sweeps decide it"
            return failed(self._ended(decision), ReaperError(NOT_SENT, why))
        return self._settled(decision, status)

    def _settled(self, decision: Decision, status: Status) -> Decision:
        now = self._run.ports.clock.now()
        try:
            settled = settle_interrupted(decision, status, self._run.ports.audit, now)
        except StoreError:
            return decision  # still written ahead: the next sweep tries again
        return settled.but(why=settled.why or self._ended(decision).why)

    def _ended(self, decision: Decision) -> Decision:
        why = f"reconciled by sweep {self._run.request_id}: its invocation ended unrecorded"
        now = self._run.ports.clock.now()
        return decision.but(error_code=None, error_message=None, decided_at=now, why=why)


def settle_interrupted(
    decision: Decision, status: Status, audit: AuditStore, now: datetime
) -> Decision:
    """What a decision written ahead of a cancel (or whose cancel's answer was lost) ended
    as, now that the request reads ``status`` (not active). The cancel was this delivery's
    unless another delivery claimed the token since and itself cancelled it (a delivery that
    takes a claim over reads the request first, and cancels only if it was still active, so
    its write-ahead or cancel outcome means the earlier one's cancel never landed). Raises
    StoreError."""
    ended = decision.but(error_code=None, error_message=None, decided_at=now)
    holder = audit.claim_owner(decision.token)
    if holder is not None and holder != owner_of(decision.source, decision.delivery_id):
        key = parse_owner(holder)
        theirs = audit.find_decision(decision.token, *key) if key else None
        if theirs is not None and (
            theirs.outcome in (Outcome.CANCELLED, Outcome.CANCEL_COMPLETE) or is_interrupted(theirs)
        ):
            return ended.but(
                outcome=Outcome.TERMINAL,
                status_after=status,
                why=f"{status.value}: cancelled since by {holder}",
            )
    return outcome_of(ended, status)
