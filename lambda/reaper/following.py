"""Following cancels to CANCEL_COMPLETE, on positive evidence only.

A cancelled request is recorded ``cancel_complete`` only when a status read or a listing says
CANCEL_COMPLETE; a request merely missing from the CANCEL_IN_PROGRESS listing proves nothing
(a listing may lag behind a fresh cancel), so it is looked for among the completed ones, and
read with a Get if still unseen. What never shows complete within ``cancel_follow_seconds`` is
recorded ``cancelled`` with the last status seen.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from reaper.errors import CloudControlError, RequestNotFound
from reaper.models import Decision, Outcome, Status
from reaper.observability import logger, span
from reaper.run_state import RunState
from reaper.sizing import FOLLOW_BY_GET_MAX, FOLLOW_CONFIRM_GETS_MAX

NOT_COMPLETE = "CancelNotComplete"
# The operations whose cancel may leave a resource behind, half made or half changed.
LEFT_BEHIND_BY = frozenset({"CREATE", "UPDATE"})


class Follower:
    def __init__(self, run: RunState, poll_seconds: float) -> None:
        self._run = run
        self._cc = run.ports.cloud_control
        self._poll_seconds = poll_seconds

    def follow(self, decisions: list[Decision]) -> list[Decision]:
        """Poll the cancelled requests until CANCEL_COMPLETE, ``cancel_follow_seconds`` or
        the deadline; the first poll waits one interval (a cancel takes time)."""
        waiting = {d.token: d for d in decisions if d.outcome is Outcome.CANCELLED}
        seconds = self._run.config.cancel_follow_seconds
        if not waiting or seconds <= 0:
            return [self.verified(d) for d in decisions]
        clock = self._run.ports.clock
        give_up = clock.now() + timedelta(seconds=seconds)
        last: dict[str, Status] = {}
        with span("follow"):
            while True:
                pending = [t for t in waiting if last.get(t) is not Status.CANCEL_COMPLETE]
                pause = min(self._poll_seconds, (give_up - clock.now()).total_seconds())
                if not pending or pause <= 0 or self._run.deadline.seconds_left() < pause:
                    break
                clock.sleep(pause)
                final = (give_up - clock.now()).total_seconds() < self._poll_seconds
                try:
                    last.update(self._statuses(pending, final=final))
                except CloudControlError as exc:
                    logger.warning("follow failed", extra={"error": exc.message})
                    break
        followed = {t: followed_to(d, last.get(t), seconds) for t, d in waiting.items()}
        return [
            self.verified(followed.get(d.token, d) if d.outcome is Outcome.CANCELLED else d)
            for d in decisions
        ]

    def verified(self, decision: Decision) -> Decision:
        """What a completed cancel left behind (verify_leftovers): a cancelled CREATE may
        leave a half-made resource, an UPDATE one between two states. Existence only."""
        if (
            not self._run.config.verify_leftovers
            or decision.outcome is not Outcome.CANCEL_COMPLETE
            or decision.operation not in LEFT_BEHIND_BY
            or not decision.identifier
            or not decision.type_name
        ):
            return decision
        exists = self._cc.resource_exists(decision.type_name, decision.identifier)
        leftover = "unknown" if exists is None else ("exists" if exists else "gone")
        return decision.but(leftover=leftover)

    def _statuses(self, tokens: list[str], *, final: bool) -> dict[str, Status]:
        """Where these cancelled requests are now, as far as anything says so. Few: a Get
        each. Many: one pass over the CANCEL_IN_PROGRESS listing; once none of them is listed
        there any more (or at the last poll), one pass over CANCEL_COMPLETE for the rest, and
        a Get each for what neither listing showed (a listing that lags)."""
        if len(tokens) <= FOLLOW_BY_GET_MAX:
            return self._gets(tokens)
        wanted = set(tokens)
        found = self._listed(Status.CANCEL_IN_PROGRESS, wanted)
        unlisted = wanted - set(found)
        if not unlisted or (found and not final):
            return found
        found.update(self._listed(Status.CANCEL_COMPLETE, unlisted))
        unseen = sorted(unlisted - set(found))[:FOLLOW_CONFIRM_GETS_MAX]
        found.update(self._gets(unseen))
        return found

    def _listed(self, status: Status, wanted: set[str]) -> dict[str, Status]:
        """The wanted requests a listing of ``status`` shows; paging stops once every one is
        found (correct in any listing order: nothing else is looked for). A listed request
        counts only if its status says so (an implementation that ignored the filter must not
        make a request look complete)."""
        found: dict[str, Status] = {}
        for page in self._cc.list_requests((status,)):
            found.update(
                (r.token, r.status) for r in page if r.token in wanted and r.status is status
            )
            if len(found) == len(wanted):
                break
        return found

    def _gets(self, tokens: Iterable[str]) -> dict[str, Status]:
        found: dict[str, Status] = {}
        for token in tokens:
            try:
                found[token] = self._cc.get_status(token).status
            except RequestNotFound:
                continue
        return found


def followed_to(decision: Decision, status: Status | None, seconds: int | None = None) -> Decision:
    """A cancel as recorded once its request reads ``status`` (None: unread): complete on
    positive evidence only, else still ``cancelled`` with the last status seen."""
    if status is Status.CANCEL_COMPLETE:
        return decision.but(
            outcome=Outcome.CANCEL_COMPLETE,
            status_after=status,
            error_code=None,
            error_message=None,
        )
    within = f" within {seconds} s of the cancel" if seconds is not None else ""
    return decision.but(
        outcome=Outcome.CANCELLED,
        status_after=status or decision.status_after,
        error_code=NOT_COMPLETE,
        error_message=f"not seen CANCEL_COMPLETE{within}",
    )
