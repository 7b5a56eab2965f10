"""What an ended invocation left behind: decisions written ahead of a cancel (``Interrupted``,
held in the claim itself) or whose cancel's answer was lost (``CancelUnconfirmed``, recorded
in the index's INTERRUPTED partition), never replaced by their outcome; and SQS-path cancels
whose follow-up message could not be sent (the UNFOLLOWED partition).

The sweep reconciles them once their invocation has ended: one pass over the
CANCEL_IN_PROGRESS and CANCEL_COMPLETE listings says which were cancelled (however many there
are). A sweep marks itself open (``OpenRun``) before its first claim and closes the mark once
its outcomes are recorded: for each mark whose holder ended, the claims of the listed
cancelled requests are read (a batch read) and the write-aheads that holder never replaced
are settled. A request the sweep has just listed active decides itself later; a Get each (at
most RECONCILE_GETS a sweep) tells the rest. A cancel is credited to the write-ahead only if
no other delivery cancelled the request since (``settle_interrupted``).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from reaper.cancelling import outcome_of
from reaper.errors import CloudControlError, ReaperError, RequestNotFound, StoreError
from reaper.following import followed_to
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
        audit = self._run.ports.audit
        now = self._run.ports.clock.now()
        before = now - RECONCILE_AFTER
        # A request this sweep just listed active decides itself (its write-ahead is closed
        # by a later sweep): no call is spent on it.
        left = [d for d in audit.interrupted(before, RECONCILE_SCAN) if d.token not in active]
        runs = audit.ended_runs(now)
        unfollowed = audit.unfollowed(now, RECONCILE_SCAN)
        if not left and not runs and not unfollowed:
            return
        listed = self._cancel_statuses()
        found: list[Decision] = []
        to_read: list[Decision] = []
        if runs:
            # What ended sweeps chose, wrote ahead in their claims and never replaced. One
            # this sweep listed active is left to it (its claim takes the old one over).
            chosen = [t for run in runs for t in self._run.ports.audit.run_tokens(run)]
            for ahead in audit.written_ahead(chosen, {r.owner for r in runs}):
                status = listed.get(ahead.token)
                if status is not None:
                    found.append(self._settled(ahead, status))
                elif ahead.token not in active:
                    to_read.append(ahead)
        for decision in left:
            status = listed.get(decision.token)
            if status is not None:
                found.append(self._settled(decision, status))
            else:
                to_read.append(decision)
        read = list(pool.map(self._read, to_read[:RECONCILE_GETS]))
        found += [d for d in read if d is not None]
        followed = self._followed(unfollowed, listed)
        settled = [d for d in found if not is_interrupted(d)]
        self._run.add("reconciled", len(settled) + len(followed))
        try:
            self._ledger.record(settled, followed)
        except StoreError as exc:  # they stay as they were: the next sweep tries again
            logger.warning("reconciled decisions not recorded", extra={"error": exc.message})
            return
        if len(settled) == len(found) and len(read) == len(to_read) and None not in read:
            for run in runs:  # everything they left is recorded
                try:
                    audit.close_run(run)
                except StoreError as exc:
                    logger.warning("open run not closed", extra={"error": exc.message})

    def _followed(self, decisions: list[Decision], listed: dict[str, Status]) -> list[Decision]:
        """SQS-path cancels whose follow-up message was never sent: what the listings (or a
        Get, within RECONCILE_GETS) show now, recorded as the follow-up would have."""
        found: list[Decision] = []
        gets = RECONCILE_GETS
        for decision in decisions:
            status = listed.get(decision.token)
            if status is None and gets > 0:
                gets -= 1
                try:
                    status = self._cc.get_status(decision.token).status
                except (RequestNotFound, CloudControlError):
                    status = None
            now = self._run.ports.clock.now()
            found.append(followed_to(decision.but(decided_at=now), status))
        return found

    def _cancel_statuses(self) -> dict[str, Status]:
        """Every request the CANCEL_IN_PROGRESS and CANCEL_COMPLETE listings show."""
        found: dict[str, Status] = {}
        for status in CANCEL_STATUSES:
            for page in self._cc.list_requests((status,)):
                found.update((r.token, r.status) for r in page if r.status is status)
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
