"""The SQS path's follow, without waiting in Lambda: a cancel is recorded ``cancelled`` at once
(by its key only, no index copy: ``follow_up_sent``), and a delayed follow-up message
(dead_letter_format.follow_up_body) comes back to read the request once and record what it
shows, in the by-time index (``cancel_complete`` on positive evidence), or hops
again, until ``cancel_follow_seconds`` after the cancel or FOLLOW_UP_MAX_HOPS hops, when what
it saw is recorded (``CancelNotComplete``). A follow-up that cannot be sent leaves its cancel
recorded with ``FollowUpNotSent`` (the index's UNFOLLOWED partition): the next sweep follows
it (reconciling.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from reaper.dead_letter_format import FOLLOW_UP_MAX_HOPS
from reaper.errors import CloudControlError, QueueError, RequestNotFound, StoreError
from reaper.following import Follower, followed_to
from reaper.inputs import FollowUp
from reaper.ledger import RetryLater
from reaper.models import (
    ACTIVE_STATUSES,
    FOLLOW_NOT_SENT,
    FOLLOWED_BY_NEXT_SWEEP,
    Decision,
    Outcome,
    Source,
    Status,
    clip,
)
from reaper.observability import logger
from reaper.run_state import RunState
from reaper.sizing import follow_up_delay

STILL_GOING = frozenset({Status.CANCEL_IN_PROGRESS, *ACTIVE_STATUSES})
NOT_YET_RECORDED = "FollowUpEarly"


class FollowUps:
    def __init__(self, run: RunState, follower: Follower) -> None:
        self._run = run
        self._follower = follower
        self._seconds = run.config.cancel_follow_seconds

    def start(self, decisions: Sequence[Decision]) -> list[Decision]:
        """Decisions an SQS batch made, before they are recorded: a follow-up message for
        each cancel not yet complete (follow off: none); a cancel whose message the queue
        refused is marked ``FollowUpNotSent``, for the next sweep. A sweep's handed-off
        cancels are left to the next sweep (``FollowedByNextSweep``): its one pass over the
        cancel listings follows any number of them, where a follow-up would cost a read
        each, as many calls as the cancels themselves, out of the same rate."""
        verified = [self._follower.verified(d) for d in decisions]
        if self._seconds > 0:
            verified = [_left_to_sweep(d) if _handed_off(d) else d for d in verified]
        cancelled = [
            d
            for d in verified
            if d.outcome is Outcome.CANCELLED and d.error_code != FOLLOWED_BY_NEXT_SWEEP
        ]
        if self._seconds <= 0 or not cancelled:
            return verified
        waiting = {id(d) for d in cancelled}
        now = self._run.ports.clock.now()
        delay = follow_up_delay(0, self._seconds)
        messages = [(FollowUp(d.token, d.source, d.delivery_id, 0, now), delay) for d in cancelled]
        try:
            self._run.ports.work_queue.send_follow_ups(messages)
        except QueueError as exc:
            logger.error(
                "follow-ups not sent: the next sweep follows them",
                extra={"error": clip(exc.message), "cancels": len(cancelled)},
            )
            return [_not_sent(d, exc) if id(d) in waiting else d for d in verified]
        self._run.add("follow_ups_sent", len(messages))
        return [d.but(follow_up_sent=True) if id(d) in waiting else d for d in verified]

    def handle(self, follow_up: FollowUp, receive_count: int) -> Decision | None:
        """One follow-up message: the decision to record now, or None (it hopped again, or
        the cancel is already followed). Raises RetryLater: the cancel it follows is not
        recorded yet (its delivery is redelivered), or nothing could be read."""
        run = self._run
        try:
            # The recorded decision alone: a write-ahead in the claim is a failure, not yet
            # the cancel this follows, and its answer would be the same (retry later).
            decision = run.ports.audit.recorded_decision(
                follow_up.token, follow_up.source, follow_up.delivery_id
            )
        except StoreError as exc:
            raise RetryLater(exc.code, exc.message) from exc
        if decision is None or decision.outcome is Outcome.FAILED:
            raise RetryLater(NOT_YET_RECORDED, "the cancel it follows is not recorded yet")
        if decision.outcome is not Outcome.CANCELLED:
            run.add("duplicates")
            return None
        try:
            status: Status | None = run.ports.cloud_control.get_status(follow_up.token).status
        except RequestNotFound:
            status = None
        except CloudControlError as exc:
            if receive_count < run.config.max_receive_count:
                raise RetryLater(exc.code, exc.message) from exc
            status = None
        elapsed = (run.ports.clock.now() - follow_up.cancelled_at).total_seconds()
        left = self._seconds - elapsed
        if status in STILL_GOING and left > 0 and follow_up.hop < FOLLOW_UP_MAX_HOPS:
            hop = follow_up.hop + 1
            again = FollowUp(
                follow_up.token,
                follow_up.source,
                follow_up.delivery_id,
                hop,
                follow_up.cancelled_at,
            )
            try:
                run.ports.work_queue.send_follow_ups([(again, follow_up_delay(hop, left))])
            except QueueError as exc:
                return _not_sent(decision.but(status_after=status), exc)
            run.add("follow_ups_sent")
            return None
        return self._follower.verified(followed_to(decision, status, self._seconds))


def _handed_off(decision: Decision) -> bool:
    return decision.source is Source.SWEEP and decision.outcome is Outcome.CANCELLED


def _left_to_sweep(decision: Decision) -> Decision:
    return decision.but(
        error_code=FOLLOWED_BY_NEXT_SWEEP,
        error_message="handed off by a sweep: the next sweep records its final state",
    )


def _not_sent(decision: Decision, error: QueueError) -> Decision:
    return decision.but(
        error_code=FOLLOW_NOT_SENT,
        error_message=clip(f"{error.code}: {error.message}"),
    )
